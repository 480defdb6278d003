"""One Gymnasium env over Meta-World's Sawyer envs, switching task (goal and class) in place.

``MetaWorldEnv(family, task)`` holds the raw ``SawyerXYZEnv`` of the task's class and applies
a metarl Task through Meta-World's own ``set_task``: the Task's JSON-safe parameters
(``env_name``, ``rand_vec``, ``partially_observable``) are turned back into a
``metaworld.Task`` whose ``data`` is a pickled dict ``{"rand_vec", "env_cls",
"partially_observable"}`` — exactly the fields Meta-World's ML benchmarks pickle, and the
ones its ``set_task`` reads (it sets ``_last_rand_vec`` and freezes it, so every ``reset``
places the goal and objects from ``rand_vec``).

- Spaces: observation ``Box(39,)`` float64 (Meta-World's: hand, gripper, objects, the
  previous frame, goal), with the three goal bounds widened to (-inf, inf) so one space
  covers hidden goals (zeros, the ML protocol) and visible ones; action ``Box(-1, 1, (4,))``
  float32 (xyz mocap delta, gripper), clipped to the box before simulation (MuJoCo clamps
  the gripper control to the same range).
- Episodes: ``truncated=True`` at ``family.max_episode_steps`` (500, Meta-World's
  ``max_path_length``); Meta-World never terminates (``terminated`` is always False).
  Stepping a finished episode raises a one-line ``MetaRLError`` (the raw env would move the
  mocap and then raise).
- ``info``: Meta-World's keys, with ``success`` as a Python bool (Meta-World gives 0.0/1.0).
- ``reset(options={"task": t})``: same class -> ``set_task`` on the same raw env; another
  class -> the cached raw env of that class, or a new one. Up to ``family.env_cache_size``
  raw envs are kept (least recently used closed first; each costs about 26 MB).
- Seeding: the raw env never draws a random number once the task is set (``rand_vec`` is
  frozen; ``reset(seed)`` is ignored by Meta-World), so a rollout is a function of the task
  and the actions alone. ``reset(seed=s)`` still seeds ``env.np_random`` and the raw envs'
  generators, for code that samples from them.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from metaworld.env_dict import ALL_V3_ENVIRONMENTS
from metaworld.types import Task as MWTask

from metarl.errors import ConfigError, MetaRLError, short_repr
from metarl.tasks import Task

if TYPE_CHECKING:
    from metarl.envs.metaworld_tasks import MetaWorldFamily

#: fields of a pickled Meta-World ML task (``metaworld._make_tasks`` with ``_ML_OVERRIDE``)
TASK_FIELDS = ("rand_vec", "env_cls", "partially_observable")
GOAL_SLICE = slice(36, 39)
ACTION_DIM = 4
#: a frozen rand_vec that breaks a class's reset constraint makes Meta-World's reset loop forever
MAX_RAND_VEC_DRAWS = 100


def metaworld_task(task: Task) -> MWTask:
    """The ``metaworld.Task`` of a metarl Task (``env_name``, pickled ``data``)."""
    name = task.params["env_name"]
    data = {"rand_vec": np.asarray(task.params["rand_vec"], dtype=np.float64),
            "env_cls": ALL_V3_ENVIRONMENTS[name],
            "partially_observable": bool(task.params["partially_observable"])}
    return MWTask(env_name=name, data=pickle.dumps(data))


def task_params(mw_task: MWTask) -> dict[str, Any]:
    """JSON-safe parameters ``{"env_name", "rand_vec", "partially_observable"}`` of a
    ``metaworld.Task`` built by Meta-World's benchmarks (data unpickled: in-process bytes)."""
    data = pickle.loads(mw_task.data)
    extra = sorted(set(data) - set(TASK_FIELDS))
    if extra:
        raise MetaRLError(f"Meta-World task {mw_task.env_name!r} carries fields {extra} that metarl does not "
                          f"store (it keeps {list(TASK_FIELDS)}); this metaworld version is not supported")
    cls = ALL_V3_ENVIRONMENTS.get(mw_task.env_name)
    if cls is None or data["env_cls"] is not cls:
        raise MetaRLError(f"Meta-World task {mw_task.env_name!r} has class {data['env_cls'].__name__}, "
                          f"expected {getattr(cls, '__name__', None)}")
    return {"env_name": mw_task.env_name,
            "rand_vec": [float(x) for x in np.asarray(data["rand_vec"], dtype=np.float64).reshape(-1)],
            "partially_observable": bool(data["partially_observable"])}


class MetaWorldEnv(gym.Env):
    """A Meta-World task as a Gymnasium env (see module docstring).

    obs: float64 [39]; action: float32 [4] in [-1, 1]; reward: float in [0, 10].
    """

    metadata = {"render_modes": []}

    def __init__(self, family: "MetaWorldFamily", task: Task) -> None:
        self.family = family
        self.horizon = int(family.max_episode_steps)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
        self._cache: OrderedDict[str, Any] = OrderedDict()   # env_name -> raw SawyerXYZEnv
        self._raw: Any = None
        self._raw_seed = 0
        self._t: int | None = None        # steps in the current episode; None: reset needed
        self.task: Task | None = None
        self.set_task(task)
        raw_space = self._raw.observation_space
        low, high = raw_space.low.copy(), raw_space.high.copy()
        low[GOAL_SLICE], high[GOAL_SLICE] = -np.inf, np.inf
        self.observation_space = spaces.Box(low, high, dtype=np.float64)

    # ---- raw envs ---------------------------------------------------------------------------
    @property
    def raw_env(self):
        """The Meta-World ``SawyerXYZEnv`` of the current task's class."""
        return self._raw

    def _raw_for(self, name: str):
        """The cached raw env of class ``name`` (built and seeded if missing), now most recent."""
        raw = self._cache.pop(name, None)
        if raw is None:
            raw = ALL_V3_ENVIRONMENTS[name]()
            raw.seed(self._raw_seed)
            raw._get_state_rand_vec = partial(_guarded_rand_vec, raw)
        self._cache[name] = raw          # most recently used last
        return raw

    def _evict(self) -> None:
        """Close the least recently used raw envs beyond ``family.env_cache_size`` (never the current one)."""
        while len(self._cache) > self.family.env_cache_size:
            _, old = self._cache.popitem(last=False)
            old.close()

    # ---- tasks ------------------------------------------------------------------------------
    def set_task(self, task: Task) -> None:
        """Switch to ``task`` (validated first: a rejected task leaves the env unchanged).
        A new episode needs ``reset()``."""
        self.family.validate_task(task)
        raw = self._raw_for(task.params["env_name"])
        dim = raw._random_reset_space.low.size
        if len(task.params["rand_vec"]) != dim:
            raise ConfigError(f"task {task.task_id!r}: rand_vec has {len(task.params['rand_vec'])} values; "
                              f"{task.params['env_name']} needs {dim}")
        raw.set_task(metaworld_task(task))
        self._raw, self.task, self._t = raw, task, None
        self._evict()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._raw_seed = int(seed)
            for raw in self._cache.values():
                raw.seed(self._raw_seed)
        previous = self.task
        if options and "task" in options:
            self.set_task(options["task"])
        self._raw._rand_vec_draws = 0
        try:
            obs, info = self._raw.reset()
        except ConfigError:          # a rand_vec the class cannot place: back to the previous task
            if previous is not None and previous is not self.task:
                self.set_task(previous)
            raise
        self._t = 0
        return obs, dict(info)

    def step(self, action):
        if self._t is None:
            raise MetaRLError("MetaWorldEnv.step called before reset(); reset after creating the env "
                              "or switching task")
        if self._t >= self.horizon:
            raise MetaRLError(f"MetaWorldEnv.step called after the episode was truncated at {self.horizon} "
                              "steps; call reset() first")
        a = np.asarray(action, dtype=np.float32).reshape(ACTION_DIM)
        a = np.minimum(np.maximum(a, -1.0), 1.0)
        obs, reward, terminated, truncated, info = self._raw.step(a)
        self._t += 1
        info = dict(info)
        info["success"] = bool(info.get("success", False))
        return obs, float(reward), bool(terminated), bool(truncated or self._t >= self.horizon), info

    def close(self) -> None:
        for raw in self._cache.values():
            raw.close()
        self._cache.clear()


def _guarded_rand_vec(raw) -> np.ndarray:
    """``raw._get_state_rand_vec`` with a bound on the draws of one reset. Meta-World's reset
    redraws ``rand_vec`` until it meets the class's constraints (e.g. reach-v3: object and goal
    at least 0.15 apart); with a frozen vector that breaks them it would loop forever."""
    raw._rand_vec_draws = getattr(raw, "_rand_vec_draws", 0) + 1
    if raw._rand_vec_draws > MAX_RAND_VEC_DRAWS:
        raise ConfigError(f"rand_vec {short_repr(list(raw._last_rand_vec))} breaks the reset constraints of "
                          f"{type(raw).__name__} (its reset would loop forever); use a goal from the "
                          "family's official task list")
    return type(raw)._get_state_rand_vec(raw)
