"""Vectors of trials: ``num_envs`` trials stepped together, one task per slot.

Two implementations share the ``TrialVectorEnv`` API (a Gymnasium ``VectorEnv`` with
autoreset ``DISABLED``: a slot whose trial ended stays ended until the next ``reset``):

- ``NativeTrialVectorEnv``: for numpy task families (bandit, tabular-mdp, point-nav,
  sinusoid). The family's dynamics step all slots in one numpy call; each slot keeps
  its own ``np.random.Generator`` so it produces exactly the transitions a single
  ``TrialWrapper(family.make_env(task))`` seeded the same way would.
- ``SyncTrialVectorEnv``: for everything else (classic control, MuJoCo, Meta-World):
  a loop over ``TrialWrapper`` envs. Gymnasium's ``SyncVectorEnv`` is not used because
  it cannot give each slot a different task at reset, and its autoreset would start a
  new trial of the old task; the loop here is the same cost.

``TaskFamily.make_vector_env`` picks: numpy families override it to return their native
env, all others get ``SyncTrialVectorEnv``, or, for large vectors of simulator families,
``ProcessTrialVectorEnv`` (``metarl.rollout.multiproc``: worker processes, each stepping a
block of slots as a ``SyncTrialVectorEnv``; rules in ``metarl.rollout.sampler``).

``reset(seed=s, options={"tasks": [t_0, ..., t_{B-1}]})`` starts B new trials (slot i
seeded with ``s + i``; ``seed=None`` continues each slot's stream). ``step(actions)``
returns ``obs [B, D]``, ``reward [B]``, ``terminated [B]``, ``truncated [B]`` and an
info dict of arrays: ``active`` (slot was inside its trial for this step),
``episode_index`` (episode the step belonged to; ``episodes`` for a finished slot),
``episode_end``, and ``success`` / ``target`` where the family defines them (zeros /
False for finished slots). A finished slot repeats its last observation and its trial's
``terminated``/``truncated`` flags with reward 0; the actions given for it are ignored.
``step`` before the first ``reset`` raises a one-line ``MetaRLError``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from metarl.errors import ConfigError, MetaRLError, check_int, short_repr
from metarl.rollout.trial import TrialLayout, TrialWrapper

if TYPE_CHECKING:
    from metarl.tasks import Task, TaskFamily


def _slot_seeds(seed: int | Sequence[int] | None, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {seed}")
        return [int(seed) + i for i in range(n)]
    try:
        seeds = list(seed)
    except TypeError:
        raise ConfigError(f"seed must be an int, a list of {n} ints or None, got {short_repr(seed)}") from None
    if len(seeds) != n:
        raise ConfigError(f"got {len(seeds)} seeds for {n} envs")
    return [None if s is None else check_int("seed", s, low=0) for s in seeds]


class TrialVectorEnv(VectorEnv):
    """Base class: B trials of ``episodes`` episodes each (see module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.DISABLED}

    def __init__(self, family: "TaskFamily", num_envs: int, episodes: int,
                 inner_observation_space: gym.Space, inner_action_space: gym.Space) -> None:
        self.family = family
        self.num_envs = check_int("num_envs", num_envs, low=1)
        self.episodes = check_int("episodes", episodes, low=1)
        self.layout = TrialLayout(inner_observation_space, inner_action_space)
        self.single_observation_space = self.layout.observation_space
        self.single_action_space = inner_action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.tasks: list[Task] = []

    def _check_tasks(self, options: dict | None) -> list["Task"]:
        from metarl.tasks import Task

        if options is not None and not isinstance(options, dict):
            raise ConfigError(f'reset options must be a dict like {{"tasks": [...]}}, got {short_repr(options)}')
        tasks = (options or {}).get("tasks")
        if tasks is None:
            if not self.tasks:
                raise ConfigError(f'the first reset needs options={{"tasks": [...]}} with one task per env '
                                  f'(num_envs={self.num_envs})')
            return self.tasks
        if isinstance(tasks, Task) or isinstance(tasks, (str, bytes, dict)) or not hasattr(tasks, "__iter__"):
            raise ConfigError(f'options["tasks"] must be a list of {self.num_envs} Tasks, got {short_repr(tasks)}')
        tasks = list(tasks)
        if len(tasks) != self.num_envs:
            raise ConfigError(f"reset got {len(tasks)} tasks for num_envs={self.num_envs}; give one task per env")
        for t in tasks:
            self.family.validate_task(t)
        return tasks

    def _check_actions(self, actions) -> np.ndarray:
        if not hasattr(self, "_done"):
            raise MetaRLError("step() called before reset(); the first reset needs options={\"tasks\": [...]}")
        actions = np.asarray(actions)
        if actions.ndim == 0 or actions.shape[0] != self.num_envs:
            raise ConfigError(f"step got actions of shape {actions.shape}; expected {self.num_envs} actions "
                              f"(one per env) for action space {self.single_action_space}")
        return actions

    def _check_action_values(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Actions of the running slots must lie in the action space (Discrete: its integer
        range; Box: its shape). Finished slots may hold any placeholder."""
        space = self.single_action_space
        if isinstance(space, spaces.Discrete):
            self.layout.discrete_index(actions[active])
        elif isinstance(space, spaces.Box):
            if actions.shape[1:] != space.shape and actions[0].size != int(np.prod(space.shape)):
                raise ConfigError(f"step got actions of shape {actions.shape}; expected [{self.num_envs}, "
                                  f"{', '.join(map(str, space.shape))}] for action space {space}")
            # np.clip would pass NaN into the env's state (float arrays only: other dtypes pass as given)
            if actions.dtype.kind == "f" and not np.isfinite(actions[active]).all():
                bad = np.flatnonzero(active & ~np.isfinite(actions.reshape(self.num_envs, -1)).all(axis=1))
                raise FloatingPointError(f"step got non-finite actions for slot(s) {bad[:8].tolist()} (a "
                                         f"diverged policy?); actions must be finite numbers in {space}")

    def _neutral_actions(self, actions: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``actions`` with the rows of finished slots replaced by a valid action, so a
        placeholder action there (ignored anyway) cannot index out of range."""
        if active.all():
            return actions
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            return np.where(active, actions, int(space.start)).astype(actions.dtype, copy=False)
        if isinstance(space, gym.spaces.Box) and int(np.prod(actions.shape[1:])) == int(np.prod(space.shape)):
            neutral = np.clip(np.zeros(space.shape), space.low, space.high)
            mask = active.reshape((-1,) + (1,) * (actions.ndim - 1))
            return np.where(mask, actions, neutral.reshape(actions.shape[1:])).astype(actions.dtype, copy=False)
        return actions

    @property
    def max_trial_steps(self) -> int:
        return self.episodes * self.family.max_episode_steps


class NativeTrialVectorEnv(TrialVectorEnv):
    """Trial logic over a family's batched numpy dynamics.

    Subclasses implement ``_set_tasks(tasks)``, ``_reset_inner(mask) -> flat obs [B, obs_dim]``
    (rows outside ``mask`` are ignored) and ``_step_inner(actions, active) -> (flat obs
    [B, obs_dim], reward [B], terminated [B], truncated [B], info dict of [B] arrays)``,
    drawing randomness for slot i only from ``self.rngs[i]`` and only for active rows,
    in the same order as the single env.
    """

    def reset(self, *, seed=None, options: dict | None = None):
        self.tasks = self._check_tasks(options)
        for i, s in enumerate(_slot_seeds(seed, self.num_envs)):
            if s is not None or not hasattr(self, "rngs"):
                if not hasattr(self, "rngs"):
                    self.rngs = [None] * self.num_envs
                self.rngs[i] = np.random.default_rng(s)
        self._set_tasks(self.tasks)
        b = self.num_envs
        self._episode = np.zeros(b, dtype=np.int64)
        self._done = np.zeros(b, dtype=bool)
        self._last_term = np.zeros(b, dtype=bool)
        self._last_trunc = np.zeros(b, dtype=bool)
        flat = self._reset_inner(np.ones(b, dtype=bool))
        z = np.zeros(b)
        self._last_obs = self.layout.encode_batch(flat, None, z, z, z)
        return self._last_obs.copy(), {"episode_index": np.zeros(b, dtype=np.int64)}

    def step(self, actions):
        actions = self._check_actions(actions)
        active = ~self._done
        self._check_action_values(actions, active)      # before any slot steps
        actions = self._neutral_actions(actions, active)
        flat, reward, term, trunc, info = self._step_inner(actions, active)
        reward = np.where(active, reward, 0.0).astype(np.float32)
        ended = active & (term | trunc)
        episode_index = self._episode.copy()
        self._episode += ended
        trial_end = ended & (self._episode >= self.episodes)
        cont = ended & ~trial_end
        if cont.any():
            fresh = self._reset_inner(cont)
            flat = np.where(cont[:, None], fresh, flat)
        obs = self.layout.encode_batch(flat, actions, reward, ended, self._episode / self.episodes)
        obs = np.where(active[:, None], obs, self._last_obs)
        self._last_term = np.where(active, trial_end & term, self._last_term)
        self._last_trunc = np.where(active, trial_end & trunc, self._last_trunc)
        self._done |= trial_end
        self._last_obs = obs
        info = {k: _mask_rows(v, active) for k, v in info.items()}  # finished slots: zeros / False
        info.update(active=active, episode_index=episode_index, episode_end=ended)
        return obs.copy(), reward, self._last_term.copy(), self._last_trunc.copy(), info

    # -- to implement -----------------------------------------------------------------------
    def _set_tasks(self, tasks: list["Task"]) -> None:
        raise NotImplementedError

    def _reset_inner(self, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _step_inner(self, actions: np.ndarray, active: np.ndarray):
        raise NotImplementedError


class SyncTrialVectorEnv(TrialVectorEnv):
    """A loop over ``TrialWrapper(family.make_env(task))``, one per slot; envs are built once
    and switched to new tasks with ``reset(options={"task": t})``."""

    INFO_KEYS = ("success", "target")

    def __init__(self, family: "TaskFamily", num_envs: int, episodes: int) -> None:
        self._envs: list[TrialWrapper | None] = [None] * check_int("num_envs", num_envs, low=1)
        probe = family.make_env(family.sample(1, seed=0)[0])
        super().__init__(family, num_envs, episodes, probe.observation_space, probe.action_space)
        self._envs[0] = TrialWrapper(probe, episodes)
        self._info_fill: dict[str, np.ndarray] = {}

    def reset(self, *, seed=None, options: dict | None = None):
        self.tasks = self._check_tasks(options)
        obs = np.zeros((self.num_envs, self.layout.dim), dtype=np.float32)
        for i, (task, s) in enumerate(zip(self.tasks, _slot_seeds(seed, self.num_envs))):
            if self._envs[i] is None:
                self._envs[i] = TrialWrapper(self.family.make_env(task), self.episodes)
            obs[i], _ = self._envs[i].reset(seed=s, options={"task": task})
        self._done = np.zeros(self.num_envs, dtype=bool)
        self._episode = np.zeros(self.num_envs, dtype=np.int64)
        self._last = (obs, np.zeros(self.num_envs, dtype=bool), np.zeros(self.num_envs, dtype=bool))
        return obs.copy(), {"episode_index": np.zeros(self.num_envs, dtype=np.int64)}

    def step(self, actions):
        actions = self._check_actions(actions)
        b = self.num_envs
        obs, term, trunc = (x.copy() for x in self._last)
        reward = np.zeros(b, dtype=np.float32)
        active = ~self._done
        self._check_action_values(actions, active)      # before any slot steps
        # like the native env: a finished slot reports episode_index == episodes
        episode_index = self._episode.copy()
        episode_end = np.zeros(b, dtype=bool)
        extra: dict[str, list[Any]] = {k: [None] * b for k in self.INFO_KEYS}
        for i in np.flatnonzero(active):
            o, r, te, tr, inf = self._envs[i].step(actions[i])
            obs[i], reward[i], term[i], trunc[i] = o, r, te, tr
            episode_index[i], episode_end[i] = inf["episode_index"], inf["episode_end"]
            self._episode[i] += bool(inf["episode_end"])
            for k in self.INFO_KEYS:
                extra[k][i] = inf.get(k)
            if te or tr:
                self._done[i] = True
        self._last = (obs, term, trunc)
        info: dict[str, Any] = {"active": active, "episode_index": episode_index, "episode_end": episode_end}
        for k, vals in extra.items():
            present = [v for v in vals if v is not None]
            if present:
                self._info_fill[k] = np.zeros_like(np.asarray(present[0]))
            if k in self._info_fill:  # once seen, a key stays (also when every slot has finished)
                info[k] = _stack_info(vals, self._info_fill[k])
        return obs.copy(), reward, term.copy(), trunc.copy(), info

    def close_extras(self, **kwargs: Any) -> None:
        for env in self._envs:
            if env is not None:
                env.close()


def _mask_rows(value: Any, active: np.ndarray) -> Any:
    """Zero the rows of finished slots in a per-slot info array (other values pass through)."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == active.shape[0] \
            and value.dtype != object:
        mask = active.reshape((-1,) + (1,) * (value.ndim - 1))
        return np.where(mask, value, np.zeros((), dtype=value.dtype))
    return value


def _stack_info(vals: list[Any], fill: np.ndarray) -> np.ndarray:
    """Per-slot info values (None for slots that did not step) as one array; the
    missing ones are ``fill`` (zeros, False for booleans, of the values' shape)."""
    try:
        return np.stack([fill if v is None else np.asarray(v) for v in vals])
    except ValueError:  # ragged values: keep them as objects
        out = np.empty(len(vals), dtype=object)
        for i, v in enumerate(vals):
            out[i] = fill if v is None else v
        return out
