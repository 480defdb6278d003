"""Meta-World task families ``ml1``, ``ml10`` and ``ml45`` (Yu et al. 2019), on Meta-World's
own benchmark classes and their official train/test tasks.

- ``ml1`` (``env_name``, default ``"reach-v3"``): one class; train goals are
  ``metaworld.ML1(env_name, seed=benchmark_seed).train_tasks``, test goals its ``test_tasks``
  (50 each; Meta-World draws the test goals with ``seed + 1`` from the same box: no spatial
  hold-out).
- ``ml10``: ``metaworld.ML10(seed=benchmark_seed)``: 10 train classes, 5 held-out test classes
  (drawer-open, door-close, shelf-place, sweep-into, lever-pull), 50 goals per class.
- ``ml45``: ``metaworld.ML45(seed=benchmark_seed)``: 45 train classes, 5 held-out test classes
  (bin-picking, box-close, hand-insert, door-lock, door-unlock), 50 goals per class.

The ``gymnasium.make_vec("Meta-World/ML1-train")`` ids are not used (in metaworld 3.1.1 they
return the test split).

**Tasks** are JSON-safe: ``params = {"env_name": "reach-v3", "rand_vec": [floats],
"partially_observable": True}`` — Meta-World's goal vector (object and goal positions, its
length depends on the class) instead of the pickled bytes of a ``metaworld.Task``;
``metarl.envs.metaworld_env.metaworld_task`` rebuilds the ``metaworld.Task``.

**Sampling rule** (``family.sample(n, split=..., seed=...)``, every draw from the generator
derived from ``(seed, family name, split)`` or the Generator passed in): tasks are drawn from
the split's official list, stratified by class: the i-th task takes the next class of a
random permutation of the split's classes (a fresh permutation after each pass), then the next
goal of that class from a random permutation of its 50 official goals (a fresh permutation when
they are used up). So ``n`` = k x (number of classes) gives k tasks per class, no goal repeats
before all 50 of its class were drawn, and ``sample(50 x classes)`` is the whole official
list. ``family.official_tasks(split)`` returns that list in Meta-World's order.

**ParamSpace**: a single categorical ``env_name`` over the benchmark's classes (train then
test). The goal is not a ParamSpec: Meta-World's goals are a fixed finite list per class drawn
by Meta-World's own seeded generator, with no box a generator could sample or extrapolate
from; ``validate_task`` checks ``rand_vec`` (finite numbers; its length is checked against the
class when the env applies it) and ``partially_observable`` (a bool) separately.

**Cost**: building the official task lists means building Meta-World's benchmark (every class
built and reset 50 times: about 1 s per class on 2 cores, so ml1 ~2.5 s, ml10 ~16 s, ml45
~1 min). It happens once per machine: the lists (JSON, the same params as the tasks) are
cached in ``$METARL_CACHE_DIR`` (default ``$XDG_CACHE_HOME/metarl`` or ``~/.cache/metarl``;
``off`` disables) under ``metaworld/<metaworld version>/``, written atomically and rebuilt
if unreadable; within a process the benchmark object is shared. ``make_env`` needs no
benchmark: it builds only the classes its tasks use. Episodes are 500 steps.

Randomness: metarl draws tasks only from its seeded generators. Meta-World itself draws its
goal lists from numpy's global generator, which its benchmark classes seed with
``benchmark_seed`` and restore afterwards; the envs draw nothing once a task is set.
"""
from __future__ import annotations

import difflib
import json
import numbers
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import metaworld
import numpy as np
from metaworld import env_dict as mw_env_dict

from metarl.envs.metaworld_env import MetaWorldEnv, metaworld_task, task_params
from metarl.errors import ConfigError, MetaRLError, check_choice, check_int, short_repr
from metarl.seeding import make_rng
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

ENV_NAMES: tuple[str, ...] = tuple(mw_env_dict.ALL_V3_ENVIRONMENTS)
MAX_PATH_LENGTH = 500          # Meta-World's max_path_length: the raw env raises past it
SPLITS = ("train", "test")

#: (benchmark, env_name or None, seed) -> metaworld.Benchmark, shared by every family instance
_BENCHMARKS: dict[tuple[str, str | None, int], Any] = {}


def cache_dir() -> Path | None:
    """Where metarl caches derived data (None: caching is off), from ``METARL_CACHE_DIR``."""
    env = os.environ.get("METARL_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metarl"


def _metaworld_version() -> str:
    try:
        from importlib.metadata import version

        return version("metaworld")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "unknown"


class MetaWorldFamily(TaskFamily):
    """Base of the Meta-World families: official tasks, stratified sampling, the env.

    Options: ``benchmark_seed`` (int >= 0, the ``seed`` of Meta-World's benchmark class: it
    fixes the official goal lists), ``horizon`` (episode length, 1..500, default 500 as in
    Meta-World's protocol), ``env_cache_size`` (raw Meta-World envs one metarl env keeps, one
    per class, least recently used closed first; about 26 MB each).
    """

    kind = "rl"
    has_success = True
    step_cost = "heavy"  # MuJoCo: make_vector_env may step large vectors in worker processes
    max_episode_steps = MAX_PATH_LENGTH
    baselines = ("random",)
    benchmark_name = ""        # "ML1" | "ML10" | "ML45"

    def __init__(self, benchmark_seed: int = 0, horizon: int = MAX_PATH_LENGTH, env_cache_size: int = 8) -> None:
        self.benchmark_seed = check_int(f"{self.name}: benchmark_seed", benchmark_seed, low=0)
        self.max_episode_steps = check_int(f"{self.name}: horizon", horizon, low=1, high=MAX_PATH_LENGTH)
        self.env_cache_size = check_int(f"{self.name}: env_cache_size", env_cache_size, low=1)
        self._official: dict[str, OrderedDict[str, list[dict[str, Any]]]] = {}
        self._goal_range_cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self.params = ParamSpace([ParamSpec("env_name", choices=self.classes("train") + tuple(
            c for c in self.classes("test") if c not in self.classes("train")), group="task")])

    # ---- the benchmark ----------------------------------------------------------------------
    def classes(self, split: str) -> tuple[str, ...]:
        """Meta-World names of the split's classes, in the benchmark's order (no build needed)."""
        raise NotImplementedError

    def _build_benchmark(self):
        raise NotImplementedError

    def _cache_key(self) -> tuple[str, str | None, int]:
        return (self.benchmark_name, None, self.benchmark_seed)

    @property
    def benchmark(self):
        """Meta-World's benchmark object (built on first use, then shared in this process)."""
        key = self._cache_key()
        if key not in _BENCHMARKS:
            bench = self._build_benchmark()
            for split, got in (("train", bench.train_classes), ("test", bench.test_classes)):
                if tuple(got) != self.classes(split):
                    raise MetaRLError(f"{self.name}: metaworld's {self.benchmark_name} {split} classes "
                                      f"{list(got)} differ from {list(self.classes(split))}")
            _BENCHMARKS[key] = bench
        return _BENCHMARKS[key]

    def _pools(self, split: str) -> OrderedDict[str, list[dict[str, Any]]]:
        """class -> official task params of the split, in Meta-World's order (from the disk
        cache when it holds them, else from the benchmark, which then fills the cache)."""
        if split not in self._official:
            lists = self._cached_lists()
            if lists is None:
                bench = self.benchmark
                lists = {s: [task_params(t) for t in (bench.train_tasks if s == "train" else bench.test_tasks)]
                         for s in SPLITS}
                self._write_cache(lists)
            for s in SPLITS:
                pools: OrderedDict[str, list[dict[str, Any]]] = OrderedDict((c, []) for c in self.classes(s))
                for params in lists[s]:
                    pools[params["env_name"]].append(params)
                self._official[s] = pools
        return self._official[split]

    def _cache_path(self) -> Path | None:
        root = cache_dir()
        if root is None:
            return None
        bench, env_name, seed = self._cache_key()
        name = f"{bench}{'-' + env_name if env_name else ''}-seed{seed}.json"
        return root / "metaworld" / _metaworld_version() / name

    def _cached_lists(self) -> dict[str, list[dict[str, Any]]] | None:
        """The cached official lists, or None (no cache, unreadable, or not this benchmark's classes)."""
        path = self._cache_path()
        if path is None or not path.is_file():
            return None
        try:
            lists = json.loads(path.read_text())
            ok = all({p["env_name"] for p in lists[s]} == set(self.classes(s)) and
                     all(isinstance(p["rand_vec"], list) for p in lists[s]) for s in SPLITS)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return lists if ok else None

    def _write_cache(self, lists: dict[str, list[dict[str, Any]]]) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:  # a cache is an optimisation: a read-only home only costs the rebuild next time
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(lists))
            tmp.replace(path)
        except OSError:
            pass

    def official_tasks(self, split: str = "train") -> list[Task]:
        """Every official task of ``split`` in Meta-World's order (ids ``<name>/<split>/official/<i>``)."""
        check_choice("split", split, SPLITS)
        flat = [p for pool in self._pools(split).values() for p in pool]
        return [Task(self.name, p, task_id=f"{self.name}/{split}/official/{i}", split=split)
                for i, p in enumerate(flat)]

    # ---- sampling ---------------------------------------------------------------------------
    def sample(self, n: int, *, split: str = "train",
               seed: "int | np.random.Generator" = 0) -> list[Task]:
        """``n`` official tasks of ``split``, stratified by class (rule in the module docstring)."""
        n = check_int("n", n, low=0)
        check_choice("split", split, SPLITS)
        rng = make_rng(seed, self.name, split)
        tag = f"s{seed}" if isinstance(seed, (int, np.integer)) else f"r{int(rng.integers(2**32)):08x}"
        pools = self._pools(split) if n else OrderedDict()
        classes = list(pools)
        class_order: list[int] = []
        goal_order: dict[str, list[int]] = {c: [] for c in classes}
        tasks = []
        for i in range(n):
            if not class_order:
                class_order = [int(j) for j in rng.permutation(len(classes))]
            cls = classes[class_order.pop(0)]
            if not goal_order[cls]:
                goal_order[cls] = [int(j) for j in rng.permutation(len(pools[cls]))]
            params = pools[cls][goal_order[cls].pop(0)]
            tasks.append(Task(self.name, params, task_id=f"{self.name}/{split}/{tag}/{i}", split=split))
        return tasks

    # ---- tasks and envs ---------------------------------------------------------------------
    def required_params(self) -> list[str]:
        return ["env_name", "rand_vec", "partially_observable"]

    def task_group(self, task: Task) -> str:
        """The task's Meta-World class (``env_name``): the evaluator reports success per class."""
        return str(task.params["env_name"])

    def task_features(self, tasks: list[Task]) -> np.ndarray:
        """float32 [n_tasks, F] for RL²'s ``task_critic``: the class one-hot (the base class's;
        nothing for ML1's single class) followed by the goal vector ``rand_vec`` mapped per
        class and coordinate onto [-1, 1] over that class's official train goals (its test goals
        for a test-only class; a coordinate that never varies gives 0), zero-padded to the
        longest goal vector among the benchmark's classes."""
        onehot = super().task_features(tasks)  # also checks each task has its parameters
        ranges = self._goal_ranges()
        goals = np.zeros((len(tasks), max(len(lo) for lo, _ in ranges.values())), dtype=np.float32)
        for i, task in enumerate(tasks):
            cls, vec = task.params["env_name"], np.asarray(task.params["rand_vec"], dtype=np.float64)
            if cls not in ranges or vec.shape != ranges[cls][0].shape:
                lengths = {c: len(lo) for c, (lo, _) in ranges.items()}
                raise ConfigError(f"task {task.task_id!r}: env_name={cls!r} with a rand_vec of length "
                                  f"{vec.size} is not one of {self.name}'s classes and goal lengths {lengths}")
            lo, hi = ranges[cls]
            span = hi - lo
            goals[i, : vec.size] = np.where(span > 0, 2.0 * (vec - lo) / np.where(span > 0, span, 1.0) - 1.0, 0.0)
        return np.concatenate([onehot, goals], axis=1)

    def _goal_ranges(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """class -> (low, high) [goal length] of its official goals (train split first)."""
        if self._goal_range_cache is None:
            ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for split in SPLITS:
                for cls, pool in self._pools(split).items():
                    if cls not in ranges:
                        vecs = np.asarray([p["rand_vec"] for p in pool], dtype=np.float64)
                        ranges[cls] = (vecs.min(axis=0), vecs.max(axis=0))
            self._goal_range_cache = ranges
        return self._goal_range_cache

    def validate_task(self, task: Task) -> None:
        """Class among the benchmark's, ``rand_vec`` a non-empty list of finite numbers,
        ``partially_observable`` a bool; one-line ConfigError naming the bad value otherwise."""
        if isinstance(task, Task) and task.family == self.name:
            p = task.params
            vec = p.get("rand_vec")
            if "rand_vec" in p and (not isinstance(vec, tuple) or not vec or not all(
                    isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(x) for x in vec)):
                raise ConfigError(f"task {task.task_id!r}: rand_vec={short_repr(vec)} must be a non-empty "
                                  "list of finite numbers (Meta-World's goal vector)")
            po = p.get("partially_observable")
            if "partially_observable" in p and not isinstance(po, bool):
                raise ConfigError(f"task {task.task_id!r}: partially_observable={short_repr(po)} must be "
                                  "True or False")
        super().validate_task(task)

    def make_env(self, task: Task) -> MetaWorldEnv:
        """A ``MetaWorldEnv`` (obs float64 [39], action float32 [4], 500-step episodes)."""
        return MetaWorldEnv(self, task)

    def to_metaworld_task(self, task: Task):
        """The ``metaworld.Task`` (env_name, pickled data) equivalent to ``task``."""
        self.validate_task(task)
        return metaworld_task(task)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["benchmark"] = {"name": self.benchmark_name, "seed": self.benchmark_seed,
                            "train_classes": list(self.classes("train")),
                            "test_classes": list(self.classes("test")),
                            "metaworld_version": _metaworld_version()}
        return out


def _check_env_name(env_name: Any) -> str:
    if isinstance(env_name, str) and env_name in ENV_NAMES:
        return env_name
    close = difflib.get_close_matches(str(env_name), ENV_NAMES, n=1) if isinstance(env_name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"ml1: env_name={short_repr(env_name)} is not a Meta-World v3 environment{hint}; "
                      f"accepted: {', '.join(ENV_NAMES)}")


class ML1Family(MetaWorldFamily):
    """Meta-World ML1: one class (``env_name``), official train goals / test goals.

    Options: env_name (the Meta-World class, e.g. "reach-v3"), and those of MetaWorldFamily"""

    name = "ml1"
    benchmark_name = "ML1"

    def __init__(self, env_name: str = "reach-v3", benchmark_seed: int = 0, horizon: int = MAX_PATH_LENGTH,
                 env_cache_size: int = 8) -> None:
        self.env_name = _check_env_name(env_name)
        super().__init__(benchmark_seed, horizon, env_cache_size)
        self.held_out_rule = (f"Meta-World ML1 official split: test tasks are metaworld.ML1({self.env_name!r}, "
                              f"seed={self.benchmark_seed}).test_tasks (50 goals drawn with seed+1 from the "
                              "same box as the train goals; no spatial hold-out)")

    def classes(self, split: str) -> tuple[str, ...]:
        return (self.env_name,)

    def _cache_key(self):
        return (self.benchmark_name, self.env_name, self.benchmark_seed)

    def _build_benchmark(self):
        return metaworld.ML1(self.env_name, seed=self.benchmark_seed)


class _HeldOutClassFamily(MetaWorldFamily):
    """ML10 / ML45: the test split holds task classes never seen in training."""

    _classes: dict[str, Any] = {}

    def __init__(self, benchmark_seed: int = 0, horizon: int = MAX_PATH_LENGTH, env_cache_size: int = 8) -> None:
        super().__init__(benchmark_seed, horizon, env_cache_size)
        self.held_out_rule = (f"Meta-World {self.benchmark_name} official split: test tasks are the "
                              f"{len(self.classes('test'))} held-out classes "
                              f"({', '.join(c.removesuffix('-v3') for c in self.classes('test'))}), never "
                              "seen in training, 50 official goals each")

    def classes(self, split: str) -> tuple[str, ...]:
        check_choice("split", split, SPLITS)
        return tuple(self._classes[split])

    def _build_benchmark(self):
        return getattr(metaworld, self.benchmark_name)(seed=self.benchmark_seed)


class ML10Family(_HeldOutClassFamily):
    """Meta-World ML10: 10 train classes, 5 held-out test classes."""

    name = "ml10"
    benchmark_name = "ML10"
    _classes = mw_env_dict.ML10_V3


class ML45Family(_HeldOutClassFamily):
    """Meta-World ML45: 45 train classes, 5 held-out test classes."""

    name = "ml45"
    benchmark_name = "ML45"
    _classes = mw_env_dict.ML45_V3
