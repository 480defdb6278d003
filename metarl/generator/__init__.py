"""The environment generator: novel task variants (reward and dynamics) at controlled
distances from a family's train box, as a ``Suite`` the evaluator runs any agent on."""
from metarl.generator.novelty import task_distance
from metarl.generator.suite import Suite, SuiteEntry, generate_suite

__all__ = ["Suite", "SuiteEntry", "generate_suite", "task_distance"]
