"""``ParamSpec`` / ``ParamSpace``: the parameters that define a family's tasks.

A spec has a *train box* ``[low, high]`` (where training tasks are drawn), optional
*hard* physical limits (what the simulator accepts; hand-made tasks may go beyond the
train box up to them, and the environment generator, ``metarl.generator``, draws them there),
a linear or log scale and a group (``dynamics``, ``reward`` or ``task``). Categorical specs use ``choices``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from metarl.errors import ConfigError, check_choice, short_repr

GROUPS = ("dynamics", "reward", "task")
SCALES = ("linear", "log")


def _canonical(value: Any) -> Any:
    """Choices in the form a Task stores them: lists/arrays -> tuples, numpy scalars -> Python."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number(name: str, what: str, value: Any) -> float:
    if isinstance(value, (bool, str, bytes)):
        raise ConfigError(f"ParamSpec({name!r}).{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"ParamSpec({name!r}).{what} must be a number, got {short_repr(value)}") from None


@dataclass(frozen=True)
class ParamSpec:
    """One task parameter. ``low``/``high``: train box; ``hard``: (min, max) physical limits."""

    name: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    scale: str = "linear"
    group: str = "task"
    hard: tuple[float, float] | None = None

    def __init__(self, name: str, low: float | None = None, high: float | None = None, *,
                 choices: Iterable[Any] | None = None, scale: str = "linear", group: str = "task",
                 hard: tuple[float, float] | None = None) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass init)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"ParamSpec name must be a non-empty string, got {short_repr(name)}")
        set_("name", name)
        check_choice(f"ParamSpec({name!r}).scale", scale, SCALES)
        check_choice(f"ParamSpec({name!r}).group", group, GROUPS)
        set_("scale", scale)
        set_("group", group)
        if choices is not None:
            if isinstance(choices, (str, bytes)):
                raise ConfigError(f"ParamSpec({name!r}).choices must be a list of values, got {choices!r}")
            choices = tuple(_canonical(c) for c in choices)
            if not choices or low is not None or high is not None:
                raise ConfigError(f"ParamSpec({name!r}): give either non-empty choices or low/high, not both")
            if hard is not None:
                raise ConfigError(f"ParamSpec({name!r}): hard limits apply to numeric parameters, not to choices")
            if scale != "linear":
                raise ConfigError(f"ParamSpec({name!r}): scale={scale!r} applies to numeric parameters, not to choices")
            set_("choices", choices)
            set_("low", None)
            set_("high", None)
            set_("hard", None)
            return
        if low is None or high is None:
            raise ConfigError(f"ParamSpec({name!r}) needs low and high (or choices)")
        low, high = _number(name, "low", low), _number(name, "high", high)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError(f"ParamSpec({name!r}): train box [{low}, {high}] is empty or not finite "
                              "(need finite low <= high)")
        if scale == "log" and low <= 0:
            raise ConfigError(f"ParamSpec({name!r}): log scale needs low > 0, got low={low}")
        if hard is not None:
            if isinstance(hard, (str, bytes)) or not hasattr(hard, "__len__") or len(hard) != 2:
                raise ConfigError(f"ParamSpec({name!r}).hard must be a (min, max) pair, got {short_repr(hard)}")
            hard = (_number(name, "hard[0]", hard[0]), _number(name, "hard[1]", hard[1]))
            if math.isnan(hard[0]) or math.isnan(hard[1]) or not (hard[0] <= low and high <= hard[1]):
                raise ConfigError(f"ParamSpec({name!r}): hard limits {hard} must contain the train box [{low}, {high}]")
            if scale == "log" and hard[0] <= 0:
                raise ConfigError(f"ParamSpec({name!r}): log scale needs hard limits > 0 (its unit scale is "
                                  f"log(value)), got hard={hard}")
        set_("choices", None)
        set_("low", low)
        set_("high", high)
        set_("hard", hard)

    @property
    def is_categorical(self) -> bool:
        return self.choices is not None

    def sample(self, rng: np.random.Generator, size: int | None = None):
        """Uniform draw from the train box (log-uniform for log scale) or the choices."""
        if self.is_categorical:
            idx = rng.integers(len(self.choices), size=size)
            return self.choices[int(idx)] if size is None else [self.choices[int(i)] for i in idx]
        u = rng.random(size=size)
        return self.from_unit(u)

    def _require_numeric(self, what: str) -> None:
        if self.is_categorical:
            raise ConfigError(f"ParamSpec({self.name!r}).{what}: a categorical parameter has no unit scale")

    def to_unit(self, value):
        """Map a value to train-box units: 0 = low, 1 = high (log scale: in log space)."""
        self._require_numeric("to_unit")
        v = np.asarray(value, dtype=np.float64)
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log(v)
        else:
            lo, hi = self.low, self.high
        out = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
        return float(out) if np.ndim(out) == 0 else out

    def from_unit(self, u):
        """Inverse of ``to_unit``. Units in [0, 1] land exactly inside the train box
        (no rounding past ``low``/``high``); units outside it go beyond the box."""
        self._require_numeric("from_unit")
        if self.scale == "linear" and isinstance(u, (float, np.floating)):  # scalar fast path, same numbers
            u = float(u)
            if u == 0.0 or u == 1.0:
                return float(self.low if u == 0.0 else self.high)
            out = self.low + u * (self.high - self.low)
            return float(min(max(out, self.low), self.high) if 0.0 <= u <= 1.0 else out)
        u = np.asarray(u, dtype=np.float64)
        if self.scale == "log":
            out = np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            out = self.low + u * (self.high - self.low)
        inside = (u >= 0.0) & (u <= 1.0)
        out = np.where(inside, np.clip(out, self.low, self.high), out)
        out = np.where(u == 0.0, self.low, np.where(u == 1.0, self.high, out))
        return float(out) if out.ndim == 0 else out

    def validate(self, value: Any) -> None:
        """Raise ConfigError if ``value`` is outside the hard limits (or not a valid choice)."""
        if self.is_categorical:
            check_choice(f"parameter {self.name}", _canonical(value), self.choices)
            return
        if type(value) in (float, int, np.float64):  # scalar fast path (every reset checks its tasks)
            v = float(value)
            if math.isfinite(v) and (self.hard is None or self.hard[0] <= v <= self.hard[1]):
                return
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"parameter {self.name}={short_repr(value)} is not numeric") from None
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"parameter {self.name}={short_repr(value)} is not finite")
        if self.hard is not None and arr.size and (arr.min() < self.hard[0] or arr.max() > self.hard[1]):
            raise ConfigError(
                f"parameter {self.name}={short_repr(value)} is outside its hard limits "
                f"[{self.hard[0]}, {self.hard[1]}] (train box [{self.low}, {self.high}])")


class ParamSpace:
    """An ordered collection of ParamSpecs with unique names."""

    def __init__(self, specs: Iterable[ParamSpec]) -> None:
        if isinstance(specs, ParamSpec):
            specs = [specs]
        self.specs = tuple(specs)
        bad = [s for s in self.specs if not isinstance(s, ParamSpec)]
        if bad:
            raise ConfigError(f"ParamSpace takes ParamSpec objects, got {short_repr(bad)}")
        names = [s.name for s in self.specs]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ConfigError(f"ParamSpace has duplicate parameter names {dups} (names: {names})")
        self._by_name = {s.name: s for s in self.specs}

    def __iter__(self):
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> ParamSpec:
        if name not in self._by_name:
            raise ConfigError(f"unknown parameter {name!r}; known: {list(self._by_name)}")
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def group(self, group: str) -> list[ParamSpec]:
        check_choice("group", group, GROUPS)
        return [s for s in self.specs if s.group == group]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One draw of every parameter from its train box, in spec order."""
        return {s.name: s.sample(rng) for s in self.specs}

    def validate(self, params: dict[str, Any]) -> None:
        """Check every parameter this space declares that appears in ``params``."""
        for name, value in params.items():
            if name in self._by_name:
                self._by_name[name].validate(value)

    def __repr__(self) -> str:
        return f"ParamSpace({list(self.specs)!r})"
