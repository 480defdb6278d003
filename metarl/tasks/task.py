"""``Task``: one member of a task distribution, as a frozen, JSON-safe value."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metarl.errors import MetaRLError

SPLITS = ("train", "test", "generated")


def _freeze(value: Any, path: str) -> Any:
    """Canonical, hashable, JSON-safe form: lists/arrays -> tuples, numpy scalars -> Python."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise MetaRLError(f"task parameter {path}={value!r} is not finite")
        return value
    raise MetaRLError(
        f"task parameter {path} has type {type(value).__name__}; accepted: numbers, strings, bools, "
        "None and (nested) lists of those")


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Task:
    """A task: the family name, its parameters, an id and the split it was drawn from.

    ``params`` maps parameter names to JSON-safe values (numbers, strings, nested
    lists stored as tuples). Tasks are hashable and compare by value;
    ``Task.from_dict(t.to_dict()) == t``.
    """

    family: str
    params: dict = field(hash=False)
    task_id: str = ""
    split: str = "train"

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise MetaRLError(f"Task.family must be a non-empty string, got {self.family!r}")
        if not isinstance(self.params, dict):
            raise MetaRLError(f"Task.params must be a dict, got {type(self.params).__name__}")
        if self.split not in SPLITS:
            raise MetaRLError(f"Task.split={self.split!r} is not valid; choose one of {list(SPLITS)}")
        frozen = {str(k): _freeze(v, str(k)) for k, v in sorted(self.params.items())}
        object.__setattr__(self, "params", frozen)
        object.__setattr__(self, "task_id", str(self.task_id))

    def __hash__(self) -> int:
        return hash((self.family, tuple(self.params.items()), self.task_id, self.split))

    def param_array(self, name: str, dtype=np.float64) -> np.ndarray:
        """Parameter ``name`` as a numpy array (for list-valued parameters)."""
        return np.asarray(self.params[name], dtype=dtype)

    def to_dict(self) -> dict:
        """JSON-safe dict: {"family", "params", "task_id", "split"}."""
        return {"family": self.family, "params": {k: _thaw(v) for k, v in self.params.items()},
                "task_id": self.task_id, "split": self.split}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        """Inverse of ``to_dict``; a malformed dict raises a one-line MetaRLError."""
        if not isinstance(data, dict):
            raise MetaRLError(f"a task must be a dict with keys family, params, task_id, split; got {type(data).__name__}")
        required, optional = {"family", "params"}, {"task_id", "split"}
        missing = required - data.keys()
        unknown = data.keys() - required - optional
        if missing or unknown:
            raise MetaRLError(
                f"malformed task dict: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
                f"expected {sorted(required)} plus optional {sorted(optional)}")
        return cls(family=data["family"], params=dict(data["params"]) if isinstance(data["params"], dict)
                   else data["params"], task_id=data.get("task_id", ""), split=data.get("split", "train"))

    @classmethod
    def from_json(cls, text: str) -> "Task":
        return cls.from_dict(json.loads(text))
