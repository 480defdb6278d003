"""Helpers shared by the built-in task families."""
from __future__ import annotations

import numbers

from metarl.errors import ConfigError
from metarl.tasks import Task


def check_scalar_params(task: Task, names: list[str]) -> None:
    """Raise a one-line ConfigError unless each of ``names`` present in ``task.params`` is one real
    number (``ParamSpec.validate`` accepts a list wherever a number is expected)."""
    for name in names:
        value = task.params.get(name)
        if value is None and name not in task.params:
            continue  # the base class reports missing parameters
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            text = repr(value)
            text = text if len(text) <= 60 else text[:57] + "..."
            raise ConfigError(f"parameter {name}={text} of task {task.task_id!r} must be a single number")
