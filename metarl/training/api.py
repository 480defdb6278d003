"""``metarl.train``: the same thing ``metarl train`` does, from Python."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from metarl.errors import ConfigError
from metarl.evaluation.report import EvalReport
from metarl.registry import family_options
from metarl.training.config import Experiment, TrainConfig
from metarl.training.rundir import new_run_dir
from metarl.training.trainer import Trainer


@dataclass
class RunResult:
    """What a training run leaves: the trained agent, its run directory, the held-out report."""

    agent: Any
    run_dir: Path
    report: EvalReport


def train(family, agent: str = "rl2", *, episodes_per_trial: int, total_steps: int, seed: int = 0,
          run_dir: str | None = None, family_kwargs: dict | None = None, experiment_name: str | None = None,
          **options) -> RunResult:
    """Train ``agent`` on ``family`` (a name or a TaskFamily built by ``make_family``).

    ``family_kwargs``: the family's options when ``family`` is a name (e.g. ``{"arms": 10}``);
    a family object already carries its own. ``options`` go to the trainer if they are
    TrainConfig fields (eval_tasks, quiet, ...), otherwise to the family when ``family`` is a
    name and they are its options (arms, ...), otherwise to the agent (hidden_size, lr, ...).
    """
    if not isinstance(family, str):
        spec = getattr(family, "spec", None)
        if spec is None:
            raise ConfigError(f"train: pass a family name or a family built with metarl.make_family, got "
                              f"{type(family).__name__} {family!r:.60}")
        clash = sorted(set(family_kwargs or {}) | (set(options) & set(family_options(spec["name"]))))
        if clash:
            raise ConfigError(f"train: {clash} are options of the family, which was already built as "
                              f"make_family({spec['name']!r}, **{spec['kwargs']}); set them there, or pass the "
                              f"family by name with family_kwargs")
        family, family_kwargs = spec["name"], dict(spec["kwargs"])
    train_keys = {f.name for f in fields(TrainConfig)}
    train_opts = {k: v for k, v in options.items() if k in train_keys}
    agent_opts = {k: v for k, v in options.items() if k not in train_keys}
    exp = Experiment(name=experiment_name or f"{agent}_{family}", family=family, agent=agent,
                     family_kwargs=dict(family_kwargs or {}))
    exp = exp.with_overrides({"episodes_per_trial": episodes_per_trial, "total_steps": total_steps,
                              "seed": seed, **train_opts, **agent_opts})
    trainer = Trainer(exp)  # validates everything before the run directory is created
    rd = new_run_dir(exp, run_dir)
    report = trainer.run(rd)
    return RunResult(trainer.agent, rd, report)
