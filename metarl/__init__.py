"""metarl: meta-reinforcement learning on task distributions.

Public API::

    metarl.list_families(), metarl.make_family(name, **kw), metarl.register_family(name)
    metarl.ParamSpec, metarl.ParamSpace, metarl.Task, metarl.TaskFamily, metarl.TrialWrapper
    metarl.list_agents(), metarl.make_agent(name, family, **config), metarl.register_agent(name),
    metarl.Agent (base class of agents)
    metarl.train(...), metarl.evaluate(...)
    metarl.compare([run_dir_or_report, ...]) -> dict (the difference from the first, paired over shared test
    tasks, and the settings that differ: ``metarl compare``)
    metarl.generate_suite(family, levels=..., per_level=..., seed=...) -> metarl.Suite,
    metarl.evaluate_suite(agent, suite, episodes=...) -> metarl.SuiteReport
"""
from __future__ import annotations

from metarl.learning.agent import Agent
from metarl.registry import (list_agents, list_families, make_agent, make_family, register_agent,
                             register_family)
from metarl.rollout.trial import TrialWrapper
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

__version__ = "0.1.0"

_LAZY = {
    "train": "metarl.training.api:train",
    "RunResult": "metarl.training.api:RunResult",
    "evaluate": "metarl.evaluation.evaluator:evaluate",
    "EvalReport": "metarl.evaluation.report:EvalReport",
    "compare": "metarl.evaluation.compare:compare",
    "generate_suite": "metarl.generator.suite:generate_suite",
    "Suite": "metarl.generator.suite:Suite",
    "evaluate_suite": "metarl.evaluation.suite_eval:evaluate_suite",
    "SuiteReport": "metarl.evaluation.suite_eval:SuiteReport",
}

__all__ = ["Agent", "list_families", "make_family", "register_family", "list_agents", "make_agent", "register_agent",
           "ParamSpec", "ParamSpace", "Task", "TaskFamily", "TrialWrapper", *_LAZY]


def __getattr__(name: str):
    # Heavy pieces (torch, tensorboard) load only when used.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name].split(":")
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'metarl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, lazy ones included (tab completion, ``dir(metarl)``)."""
    return sorted(set(__all__) | {n for n in globals() if not n.startswith("_") and n != "annotations"})
