"""``Suite``: novel task variants at controlled distances from a family's train box.

``generate_suite(family, levels=[0, 0.25, 0.5, 1], per_level=100, seed=0)`` draws
``per_level`` base tasks from the family's held-out test split and, for each level, moves
their parameters out of the train box (``metarl.generator.novelty``): level 0 is the base
tasks themselves (in distribution); a level ``d`` > 0 puts the moved coordinates at distances
drawn uniformly from (previous level, d] train-box widths, so the levels are disjoint rings
around the box. Every level varies the *same* base tasks (a paired design: level-to-level
differences are not blurred by which tasks were drawn).

Each variant passes *validity probes* before it is kept: the family's own ``validate_task``
(shapes, hard limits, e.g. transition rows summing to 1), then ``make_env``, a reset and
``probe_steps`` random actions with finite observations and rewards. A variant that fails is
drawn again (at most ``max_redraws`` times per task, then a one-line error says why).

A Suite saves to and loads from versioned JSON; ``metarl eval RUN_DIR --suite suite.json``
and ``metarl.evaluate_suite`` run an agent on it, level by level.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metarl.errors import ConfigError, MetaRLError, check_choice, check_int, one_line, short_repr
from metarl.files import write_text_atomically
from metarl.generator.novelty import MOVE, SIDE, VARY, check_reachable, move_params, split_specs, task_distance
from metarl.seeding import make_rng
from metarl.tasks import Task, TaskFamily

SUITE_FORMAT = "metarl-suite"
SUITE_VERSION = 1
MAX_LEVELS = 32
MAX_PER_LEVEL = 100_000


@dataclass(frozen=True)
class SuiteEntry:
    """One task of a suite: its novelty level, its measured distance to the train box (box
    widths, L-infinity over the family's numeric parameters) and the base test task it varies."""

    level: float
    distance: float
    base_task_id: str
    task: Task


class Suite:
    """Tasks grouped by novelty level. ``family_spec`` ({"name", "kwargs"}) rebuilds the family
    the distances refer to; ``meta`` records how the suite was generated."""

    def __init__(self, family_spec: dict, levels: Sequence[float], entries: Sequence[SuiteEntry],
                 meta: dict | None = None) -> None:
        if not isinstance(family_spec, dict) or not isinstance(family_spec.get("name"), str) or \
                not isinstance(family_spec.get("kwargs", {}), (dict, type(None))):
            raise MetaRLError(f"a suite's family is {{'name': str, 'kwargs': dict or None}}, got {short_repr(family_spec)}")
        self.family_spec = dict(family_spec)
        self.levels = check_levels(levels)
        self.entries = list(entries)
        self.meta = dict(meta or {})
        counts = {x: 0 for x in self.levels}
        for e in self.entries:
            if e.level not in counts:
                raise MetaRLError(f"suite task {e.task.task_id!r} has level {e.level:g}, not one of the suite's levels "
                                  f"{self.levels}")
            counts[e.level] += 1
        empty = [x for x, n in counts.items() if n == 0]
        if empty:
            raise MetaRLError(f"suite levels {empty} have no tasks (levels {self.levels}, {len(self.entries)} tasks)")

    @property
    def family_name(self) -> str:
        return self.family_spec["name"]

    def tasks(self, level: float | None = None) -> list[Task]:
        """The tasks at ``level`` (one of ``levels``), or all of them."""
        return [e.task for e in self.at(level)] if level is not None else [e.task for e in self.entries]

    def at(self, level: float) -> list[SuiteEntry]:
        """The entries at ``level``; a level the suite lacks is a one-line error."""
        if float(level) not in self.levels:
            raise ConfigError(f"level {level!r} is not in this suite; its levels are {self.levels}")
        return [e for e in self.entries if e.level == float(level)]

    def distances(self, level: float) -> np.ndarray:
        """[n_tasks] measured distances of the tasks at ``level``."""
        return np.asarray([e.distance for e in self.at(level)], dtype=np.float64)

    def family(self) -> TaskFamily:
        """The family the suite was generated from, rebuilt from ``family_spec``."""
        from metarl.registry import family_from_spec

        if self.family_spec.get("kwargs") is None:
            raise ConfigError(f"this suite was generated from a {self.family_name!r} family object not built with "
                              "metarl.make_family, so its options are unknown; evaluate it with an agent built on "
                              "that family (metarl.evaluate_suite(agent, suite, ...))")
        return family_from_spec(self.family_spec)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"<Suite {self.family_name!r}: {len(self)} tasks at levels {self.levels}>"

    # ---- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": SUITE_FORMAT, "version": SUITE_VERSION, "family": self.family_spec,
                "levels": self.levels, "meta": self.meta,
                "tasks": [{"level": e.level, "distance": e.distance, "base_task_id": e.base_task_id,
                           "task": e.task.to_dict()} for e in self.entries]}

    def save(self, path: str | Path) -> Path:
        """Write the suite as compact JSON (atomically: a temp file renamed over ``path``); a
        path that cannot be written is a one-line error."""
        text = json.dumps(self.to_dict(), separators=(",", ":"))
        try:
            return write_text_atomically(path, text)
        except OSError as exc:
            raise ConfigError(f"cannot write the suite to {path}: {one_line(exc, 200)}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Suite":
        """Read a suite written by ``save``; anything else is a one-line error."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read a suite from {path}: {one_line(exc, 200)}") from None
        if not isinstance(d, dict) or d.get("format") != SUITE_FORMAT:
            raise ConfigError(f"{path} is not a metarl suite (no \"format\": \"{SUITE_FORMAT}\"); "
                              "make one with `metarl generate FAMILY -o suite.json`")
        version = d.get("version")
        if not isinstance(version, int) or version > SUITE_VERSION:
            raise ConfigError(f"{path} is a version {version!r} suite; this metarl reads versions up to "
                              f"{SUITE_VERSION} (upgrade metarl)")
        try:
            entries = [SuiteEntry(float(t["level"]), float(t["distance"]), str(t["base_task_id"]),
                                  Task.from_dict(t["task"])) for t in d["tasks"]]
            return cls(d["family"], d["levels"], entries, d.get("meta"))
        except MetaRLError as exc:
            raise ConfigError(f"{path} is a damaged suite: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path} is a damaged suite: {one_line(exc, 200)}") from None


def _finite(x: float) -> float | None:
    """JSON has no infinity: unlimited room is written as null."""
    return None if math.isinf(x) else x


def check_levels(levels: Any) -> list[float]:
    """Levels as a strictly increasing list of finite numbers >= 0 ("0,0.5,1" is accepted)."""
    given = levels
    if isinstance(levels, str):
        levels = levels.replace(" ", "").split(",")
    try:
        if any(isinstance(x, (bool, np.bool_)) or x == "" for x in levels):
            raise ValueError("a boolean or an empty item")
        out = [float(x) for x in levels]
    except (TypeError, ValueError):
        raise ConfigError(f"levels must be numbers >= 0 in increasing order, e.g. 0,0.25,0.5,1; "
                          f"got {short_repr(given)}") from None
    bad = [x for x in out if not np.isfinite(x) or x < 0]
    if not out or bad or any(b <= a for a, b in zip(out, out[1:])) or len(out) > MAX_LEVELS:
        raise ConfigError(f"levels must be 1 to {MAX_LEVELS} finite numbers >= 0 in strictly increasing order "
                          f"(distances in train-box widths, 0 = in distribution), e.g. 0,0.25,0.5,1; "
                          f"got {short_repr(given)}")
    return out


def probe(family: TaskFamily, task: Task, steps: int, seed: int) -> str | None:
    """None if ``task`` is a working task of ``family``, else why not (one line): it must pass
    ``validate_task``, build an env, reset and take ``steps`` random actions with finite
    observations and rewards."""
    try:
        family.validate_task(task)
        env = family.make_env(task)
        try:
            env.action_space.seed(seed)
            obs, _ = env.reset(seed=seed)
            for t in range(steps + 1):
                if not np.all(np.isfinite(np.asarray(obs, dtype=np.float64))):
                    return f"non-finite observation {short_repr(obs, 80)} at probe step {t}"
                if t == steps:
                    break
                obs, reward, term, trunc, _ = env.step(env.action_space.sample())
                if not np.isfinite(float(reward)):
                    return f"non-finite reward {reward!r} at probe step {t + 1}"
                if term or trunc:
                    obs, _ = env.reset()
        finally:
            env.close()
    except Exception as exc:  # noqa: BLE001 - any failure makes the variant invalid; reported if it persists
        return one_line(exc, 200)
    return None


def generate_suite(family: "str | TaskFamily", *, levels: Sequence[float] | str = (0.0, 0.25, 0.5, 1.0),
                   per_level: int = 100, seed: int = 0, vary: str = "all", move: str = "all",
                   side: str = "both", probe_steps: int = 20, max_redraws: int = 20) -> Suite:
    """Novel variants of ``family``'s held-out tasks at controlled distances (module docstring).

    ``vary``: which parameters move: "all", a group ("dynamics", "reward", "task") or parameter
    names ("amplitude", or "goal_x,goal_y"); ``move``: every coordinate of the moved specs
    ("all") or one per task ("one": a spec drawn uniformly, then one of its elements); ``side``:
    each moved coordinate goes below or above its box at random ("both", where its hard limits
    allow), or only "above" or "below" (e.g. only noisier tasks, never calmer ones). ``seed``
    draws the base tasks (``family.sample(per_level, split="test", seed=seed)``: with a run's
    ``eval_seed``, level 0 is the first ``per_level`` of that run's held-out tasks) and the
    variants. Same arguments, same suite (every draw comes from generators derived from ``seed``)."""
    from metarl.registry import make_family

    fam = make_family(family) if isinstance(family, str) else family
    if not isinstance(fam, TaskFamily):
        raise ConfigError(f"generate_suite needs a family name or TaskFamily, got {short_repr(family)}")
    levels = check_levels(levels)
    per_level = check_int("per_level", per_level, low=1, high=MAX_PER_LEVEL)
    seed = check_int("seed", seed, low=0)
    probe_steps = check_int("probe_steps", probe_steps, low=0)
    max_redraws = check_int("max_redraws", max_redraws, low=0)
    check_choice("move", move, MOVE)
    check_choice("side", side, SIDE)
    moved, fixed = split_specs(fam, vary)
    check_reachable(fam, moved, fixed, vary, levels[-1], side)
    base = fam.sample(per_level, split="test", seed=seed)
    bands = [[levels[j - 1] if j else 0.0, level] for j, level in enumerate(levels)]   # (previous level, level]
    entries, redraws = [], 0
    for j, level in enumerate(levels):
        near = bands[j][0]
        rng = make_rng(seed, "generator", fam.name, j)
        for i, b in enumerate(base):
            task_id = f"{fam.name}/generated/s{seed}/L{j}/{i}"
            for attempt in range(max_redraws + 1):
                params = dict(b.params) if level == 0 else move_params(b.params, moved, (near, level), move, rng, side)
                task = Task(fam.name, params, task_id=task_id, split="generated")
                why = probe(fam, task, probe_steps, seed + i)
                if why is None:
                    break
                if level == 0:
                    raise MetaRLError(f"held-out task {b.task_id!r} of family {fam.name!r} fails its probe: {why}")
                redraws += 1
            else:
                raise MetaRLError(f"no valid variant of {b.task_id!r} at novelty level {level:g} in "
                                  f"{max_redraws + 1} draws; the last failed: {why}")
            entries.append(SuiteEntry(level, task_distance(fam, task), b.task_id, task))
    from metarl import __version__

    spec = getattr(fam, "spec", None) or {"name": fam.name, "kwargs": None}
    meta = {"metarl_version": __version__, "seed": seed, "per_level": per_level, "vary": vary, "move": move,
            "side": side, "bands": bands, "moved": [m.spec.name for m in moved],
            "room": {m.spec.name: {"below": _finite(m.room_below), "above": _finite(m.room_above)} for m in moved},
            "fixed": fixed, "probe_steps": probe_steps, "max_redraws": max_redraws, "redraws": redraws,
            "family_description": fam.describe()}
    # in the JSON form (tuples as lists) so a loaded suite equals the generated one
    return Suite(spec, levels, entries, json.loads(json.dumps(meta)))
