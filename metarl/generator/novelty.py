"""The novelty space: how far a task's parameters lie outside its family's train box.

Distances are measured per coordinate in *train-box widths* (``ParamSpec.to_unit``: 0 = low,
1 = high; in log space for log-scale specs), so a value half a box width above ``high`` is at
distance 0.5 whatever the parameter's physical unit. A task's distance is the largest over its
numeric coordinates (the L-infinity distance to the box); an array-valued parameter (bandit arm
means, an MDP's reward table) has one coordinate per element.

A coordinate can be moved out of its box only as far as the spec's ``hard`` limits allow (its
*room* below and above the box); a spec whose box already fills its hard limits (bandit means
in [0, 1]), a categorical spec, or one with a zero-width box cannot be moved.

Why hand-written: no maintained library defines novelty over a Gymnasium task family's
parameters; the closest published protocol (Packer et al. 2018, "Assessing Generalization in
Deep RL": Random vs Extreme parameter ranges) is a fixed per-environment table, which this
generalises to any ParamSpace with distance bands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metarl.errors import ConfigError, check_choice
from metarl.tasks import ParamSpec, Task, TaskFamily
from metarl.tasks.params import GROUPS

VARY = ("all", *GROUPS)
MOVE = ("all", "one")


@dataclass(frozen=True)
class Movable:
    """A numeric spec the generator may move: how many box widths its hard limits leave
    below and above the train box (``math.inf`` without hard limits)."""

    spec: ParamSpec
    room_below: float
    room_above: float

    def sides(self, far: float) -> list[int]:
        """Sides (-1 below, +1 above) whose room reaches distance ``far``."""
        return [s for s, room in ((-1, self.room_below), (1, self.room_above)) if room >= far]

    @property
    def max_distance(self) -> float:
        return max(self.room_below, self.room_above)


def room(spec: ParamSpec) -> tuple[float, float]:
    """(below, above): box widths between the train box and the hard limits."""
    if spec.hard is None:
        return math.inf, math.inf
    return max(0.0, -spec.to_unit(spec.hard[0])), max(0.0, spec.to_unit(spec.hard[1]) - 1.0)


def unit_distance(spec: ParamSpec, value) -> float:
    """Largest distance (box widths) of ``value``'s elements outside ``spec``'s train box;
    0 inside it. A categorical or zero-width spec has no distance (0)."""
    if spec.is_categorical or spec.high <= spec.low:
        return 0.0
    u = np.asarray(spec.to_unit(value), dtype=np.float64)
    if u.size == 0:
        return 0.0
    return float(np.max(np.maximum(0.0, np.maximum(-u, u - 1.0))))


def task_distance(family: TaskFamily, task: Task) -> float:
    """The task's L-infinity distance to the family's train box, in train-box widths."""
    return max((unit_distance(s, task.params[s.name]) for s in family.params if s.name in task.params),
               default=0.0)


def split_specs(family: TaskFamily, vary: str) -> tuple[list[Movable], dict[str, str]]:
    """The specs of the groups in ``vary`` that can move, and why each other spec stays fixed."""
    check_choice("vary", vary, VARY)
    moved, fixed = [], {}
    for spec in family.params:
        if vary != "all" and spec.group != vary:
            fixed[spec.name] = f"group {spec.group!r}, not varied (vary={vary!r})"
        elif spec.is_categorical:
            fixed[spec.name] = "categorical (novel choices cannot be made up)"
        elif spec.high <= spec.low:
            fixed[spec.name] = "zero-width train box (no unit of distance)"
        else:
            below, above = room(spec)
            if below <= 0 and above <= 0:
                fixed[spec.name] = f"its train box [{spec.low:g}, {spec.high:g}] fills its hard limits {spec.hard}"
            else:
                moved.append(Movable(spec, below, above))
    return moved, fixed


def check_reachable(family: TaskFamily, moved: list[Movable], fixed: dict[str, str], vary: str,
                    far: float) -> None:
    """ConfigError unless every moved spec can go ``far`` box widths out on some side."""
    if not moved:
        why = "; ".join(f"{k}: {v}" for k, v in fixed.items()) or "it has no parameters"
        hint = " (e.g. a bandit made with --low 0.25 --high 0.75)" if family.name == "bandit" else ""
        raise ConfigError(f"family {family.name!r} has no parameter the generator can move out of its train box "
                          f"with vary={vary!r} ({why}); build the family with a train box narrower than its hard "
                          f"limits{hint} or choose another vary from {list(VARY)}")
    short = [m for m in moved if not m.sides(far)]
    if short:
        m = min(short, key=lambda m: m.max_distance)
        raise ConfigError(f"novelty level {far:g} is beyond what parameter {m.spec.name!r} allows: its hard limits "
                          f"{m.spec.hard} leave at most {m.max_distance:.3g} train-box widths beyond its box "
                          f"[{m.spec.low:g}, {m.spec.high:g}]; choose levels <= {m.max_distance:.3g} or a vary "
                          f"without it (vary={vary!r}; choices {list(VARY)})")


def move_params(params: dict, moved: list[Movable], band: tuple[float, float], move: str,
                rng: np.random.Generator) -> dict:
    """A copy of ``params`` with coordinates of the ``moved`` specs pushed out of the train box
    to a distance drawn uniformly from ``band`` = (near, far) box widths, each on a side (below
    or above) drawn uniformly among those the hard limits allow at ``far``.

    ``move="all"``: every coordinate of every moved spec (Packer et al.'s "Extreme" ranges);
    ``"one"``: a single coordinate drawn uniformly over all of them, the rest as in ``params``."""
    check_choice("move", move, MOVE)
    near, far = band
    values = {m.spec.name: np.asarray(params[m.spec.name], dtype=np.float64) for m in moved}
    sizes = [values[m.spec.name].size for m in moved]
    if move == "one":
        pick = int(rng.integers(sum(sizes)))
        chosen = [np.arange(n) == pick - start for n, start in zip(sizes, np.cumsum([0, *sizes[:-1]]))]
    else:
        chosen = [np.ones(n, dtype=bool) for n in sizes]
    out = dict(params)
    for m, mask in zip(moved, chosen):
        name = m.spec.name
        flat = values[name].reshape(-1).copy()
        n = int(mask.sum())
        if n == 0:
            continue
        sides = np.asarray(m.sides(far), dtype=np.float64)
        side = sides[rng.integers(len(sides), size=n)]
        dist = rng.uniform(near, far, size=n)
        u = np.where(side > 0, 1.0 + dist, -dist)
        new = np.asarray(m.spec.from_unit(u), dtype=np.float64)
        if m.spec.hard is not None:   # rounding in from_unit must not step past a hard limit
            new = np.clip(new, *m.spec.hard)
        flat[mask] = new
        shaped = flat.reshape(values[name].shape)
        out[name] = float(shaped) if shaped.ndim == 0 else shaped.tolist()
    return out
