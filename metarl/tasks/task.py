"""``Task``: one member of a task distribution, as a frozen, JSON-safe value."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metarl.errors import MetaRLError, short_repr

SPLITS = ("train", "test", "generated")


class FrozenParams(dict):
    """A read-only dict: a Task's parameters. Mutating it raises ``TypeError``.

    It is a ``dict`` subclass so ``json.dumps``, ``dict(...)`` and ``==`` with plain dicts
    work; copies (``dict(p)``, ``p.copy()``) are ordinary, mutable dicts.
    """

    __slots__ = ()

    def _readonly(self, *args, **kwargs):
        raise TypeError("Task.params is read-only; build a new Task (e.g. dataclasses.replace) instead")

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def copy(self) -> dict:
        return dict(self)

    def __reduce__(self):  # pickle / deepcopy without going through __setitem__
        return (FrozenParams, (dict(self),))


def _freeze(value: Any, path: str) -> Any:
    """Canonical, hashable, JSON-safe form: lists/arrays -> tuples, numpy scalars -> Python."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind  # bool, ints, floats up to float64 (a longdouble's tolist() is not a float)
        if value.ndim and (kind in "biu" or (kind == "f" and value.dtype.itemsize <= 8 and np.isfinite(value).all())):
            # the same tuples as the element-wise path below, built a row at a time: a tabular
            # MDP's 550 numbers took ~1 ms element-wise (2 s for a 2048-task batch)
            return _tuples(value.tolist())
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise MetaRLError(f"task parameter {path}={value!r} is not finite; parameters must be finite numbers")
        return value
    raise MetaRLError(
        f"task parameter {path} has type {type(value).__name__}; accepted: numbers, strings, bools, "
        "None and (nested) lists of those")


def _tuples(rows: list) -> tuple:
    """A rectangular nested list (``ndarray.tolist()``) as nested tuples."""
    return tuple(_tuples(r) for r in rows) if rows and isinstance(rows[0], list) else tuple(rows)


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
            raise MetaRLError(f"Task.family must be a non-empty string, got {short_repr(self.family)}")
        if not isinstance(self.params, dict):
            raise MetaRLError(f"Task.params must be a dict, got {type(self.params).__name__}")
        bad_keys = [k for k in self.params if not isinstance(k, str)]
        if bad_keys:
            raise MetaRLError(f"Task.params keys must be strings, got {short_repr(bad_keys)}")
        if not isinstance(self.split, str) or self.split not in SPLITS:
            raise MetaRLError(f"Task.split={short_repr(self.split)} is not valid; choose one of {list(SPLITS)}")
        if self.task_id is None or isinstance(self.task_id, (bool, float)) or \
                not isinstance(self.task_id, (str, int, np.integer)):
            raise MetaRLError(f"Task.task_id must be a string, got {short_repr(self.task_id)}")
        frozen = FrozenParams((k, _freeze(v, k)) for k, v in sorted(self.params.items()))
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
        missing = sorted(required - data.keys())
        unknown = sorted((k for k in data if k not in required | optional), key=str)
        if missing or unknown:
            problems = ([f"missing keys {missing}"] if missing else []) + \
                       ([f"unknown keys {short_repr(unknown)}"] if unknown else [])
            raise MetaRLError(f"malformed task dict: {'; '.join(problems)}; "
                              f"expected {sorted(required)} plus optional {sorted(optional)}")
        return cls(family=data["family"], params=dict(data["params"]) if isinstance(data["params"], dict)
                   else data["params"], task_id=data.get("task_id", ""), split=data.get("split", "train"))

    @classmethod
    def from_json(cls, text: "str | bytes") -> "Task":
        """Inverse of ``to_json``; text that is not JSON raises a one-line MetaRLError."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            msg = " ".join(str(e).split())
            raise MetaRLError(f"task JSON could not be parsed: {msg}") from None
        return cls.from_dict(data)
