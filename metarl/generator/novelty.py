"""The novelty space: how far a task's parameters lie outside its family's train box.

Distances are measured per coordinate in *train-box widths* (``ParamSpec.to_unit``: 0 = low,
1 = high; in log space for log-scale specs), so a value half a box width above ``high`` is at
distance 0.5 whatever the parameter's physical unit. A task's distance is the largest over its
numeric coordinates (the L-infinity distance to the box); an array-valued parameter (bandit arm
means, an MDP's reward table) has one coordinate per element.

A coordinate can be moved out of its box only as far as the spec's ``hard`` limits allow (its
*room* below and above the box); a spec whose box already fills its hard limits (bandit means
in [0, 1]), a categorical spec, or one with a zero-width box cannot be moved.

Two consequences of the L-infinity distance: when every element of a large array is moved
into a band (a tabular MDP's 50 reward means), the largest of them lies near the band's top,
so such tasks sit at the top of their band where a two-parameter task spreads over it; and a
family whose training draws are not confined to its box (tabular-mdp's reward means are
N(1, 1), its box the +-3 sigma band) has held-out tasks at a small distance > 0.

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
SIDE = ("both", "above", "below")
_SIGNS = {"both": (-1, 1), "above": (1,), "below": (-1,)}   # the sides (-1 below, +1 above) each SIDE allows


@dataclass(frozen=True)
class Movable:
    """A numeric spec the generator may move: how many box widths its hard limits leave
    below and above the train box (``math.inf`` without hard limits)."""

    spec: ParamSpec
    room_below: float
    room_above: float

    def sides(self, far: float, side: str = "both") -> list[int]:
        """Sides (-1 below, +1 above; only those ``side`` allows) whose room reaches distance ``far``."""
        return [s for s, room in ((-1, self.room_below), (1, self.room_above)) if room >= far and s in _SIGNS[side]]

    def max_distance(self, side: str = "both") -> float:
        return max(room for s, room in ((-1, self.room_below), (1, self.room_above)) if s in _SIGNS[side])


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


def check_vary(family: TaskFamily, vary: "str | list[str]") -> set[str]:
    """The parameter names ``vary`` selects: "all", a group ("dynamics", "reward", "task") or
    parameter names (a list, or one comma-separated string)."""
    names = family.params.names
    if isinstance(vary, str) and vary in VARY:
        return {s.name for s in family.params if vary == "all" or s.group == vary}
    parts = [v.strip() for v in vary.split(",")] if isinstance(vary, str) else vary
    if not isinstance(parts, (list, tuple)) or not parts or not all(isinstance(p, str) and p in names for p in parts):
        raise ConfigError(f"vary={vary!r} is not valid; choose one of {list(VARY)} or parameter names of family "
                          f"{family.name!r} (comma-separated): {names}")
    return set(parts)


def split_specs(family: TaskFamily, vary: "str | list[str]") -> tuple[list[Movable], dict[str, str]]:
    """The specs ``vary`` selects that can move, and why each other spec stays fixed."""
    chosen = check_vary(family, vary)
    moved, fixed = [], {}
    for spec in family.params:
        if spec.name not in chosen:
            fixed[spec.name] = f"not varied (vary={vary!r})"
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
                    far: float, side: str = "both") -> None:
    """ConfigError unless every moved spec can go ``far`` box widths out on some side ``side`` allows."""
    if not moved:
        why = "; ".join(f"{k}: {v}" for k, v in fixed.items()) or "it has no parameters"
        hint = " (e.g. a bandit made with --low 0.25 --high 0.75)" if family.name == "bandit" else ""
        raise ConfigError(f"family {family.name!r} has no parameter the generator can move out of its train box "
                          f"with vary={vary!r} ({why}); build the family with a train box of nonzero width inside "
                          f"its hard limits{hint} or choose another vary from {list(VARY)}")
    short = [m for m in moved if not m.sides(far, side)]
    if short:
        m = min(short, key=lambda m: m.max_distance(side))
        most = math.floor(m.max_distance(side) * 1000) / 1000   # rounded down: the suggested level must work
        others = [x.spec.name for x in moved if x not in short]
        hint = f" or vary only {','.join(others)}" if others else ""
        lo, hi = m.spec.hard
        where = "beyond" if side == "both" else side
        raise ConfigError(f"novelty level {far:g} is beyond what parameter {m.spec.name!r} allows: its hard limits "
                          f"[{lo:g}, {hi:g}] leave at most {most:g} train-box widths {where} its box "
                          f"[{m.spec.low:g}, {m.spec.high:g}]; choose levels <= {most:g}{hint} (vary={vary!r}, "
                          f"side={side!r})")


def move_params(params: dict, moved: list[Movable], band: tuple[float, float], move: str,
                rng: np.random.Generator, side: str = "both") -> dict:
    """A copy of ``params`` with coordinates of the ``moved`` specs pushed out of the train box
    to a distance drawn uniformly from ``band`` = (near, far) box widths, each on a side (below
    or above) drawn uniformly among those ``side`` names and the hard limits allow at ``far``.

    ``move="all"``: every coordinate of every moved spec (Packer et al.'s "Extreme" ranges);
    ``"one"``: one spec drawn uniformly, then one of its elements, the rest as in ``params``
    (so a scalar parameter beside a 50-entry table is picked as often as the table)."""
    check_choice("move", move, MOVE)
    check_choice("side", side, SIDE)
    near, far = band
    values = {m.spec.name: np.asarray(params[m.spec.name], dtype=np.float64) for m in moved}
    sizes = [values[m.spec.name].size for m in moved]
    if move == "one":
        spec = int(rng.integers(len(moved)))
        element = int(rng.integers(sizes[spec]))
        chosen = [(np.arange(n) == element) & (i == spec) for i, n in enumerate(sizes)]
    else:
        chosen = [np.ones(n, dtype=bool) for n in sizes]
    out = dict(params)
    for m, mask in zip(moved, chosen):
        name = m.spec.name
        flat = values[name].reshape(-1).copy()
        n = int(mask.sum())
        if n == 0:
            continue
        sides = np.asarray(m.sides(far, side), dtype=np.float64)
        drawn = sides[rng.integers(len(sides), size=n)]
        dist = rng.uniform(near, far, size=n)
        u = np.where(drawn > 0, 1.0 + dist, -dist)
        new = np.asarray(m.spec.from_unit(u), dtype=np.float64)
        if m.spec.hard is not None:   # rounding in from_unit must not step past a hard limit
            new = np.clip(new, *m.spec.hard)
        flat[mask] = new
        shaped = flat.reshape(values[name].shape)
        out[name] = float(shaped) if shaped.ndim == 0 else shaped.tolist()
    return out
