"""Trials: ``k`` episodes of one task, with the previous action and reward in the observation.

Trial observation layout (a flat ``float32`` Box; ``TrialLayout`` gives the slices)::

    [ obs (obs_dim) | prev_action (act_dim) | prev_reward (1) | episode_end (1) | trial_progress (1) ]

- ``obs``: the inner env's observation, flattened with ``gymnasium.spaces.flatten``
  (a ``Discrete`` observation becomes a one-hot vector).
- ``prev_action``: the action taken at the previous step: one-hot for ``Discrete``
  action spaces; for ``Box`` spaces the action clipped to the box and, in each dimension
  with finite bounds, rescaled to [-1, 1] (the box's centre to 0, its bounds to -1 and 1),
  so the network sees inputs of order 1 whether the env's range is 0.1 or 100; zeros at
  the first step of the trial.
- ``prev_reward``: the reward of the previous step; 0 at the first step of the trial.
- ``episode_end``: 1.0 when the previous step ended an inner episode (so ``obs`` is
  the first observation of the next episode, or the last one of the trial), else 0.
- ``trial_progress``: episodes completed so far divided by ``k`` (0 at the start, 1 at the end).

Inner episode ends are reported in ``info`` (``episode_end``, ``episode_terminated``,
``episode_truncated``, ``episode_return``, ``episode_length``, ``final_inner_obs``);
the trial's own ``terminated``/``truncated`` are those of its last episode.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, MetaRLError, check_int

EXTRA_FEATURES = 3  # prev_reward, episode_end, trial_progress


class TrialLayout:
    """Encodes (obs, prev action, prev reward, flags) into the flat trial observation."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        if isinstance(action_space, spaces.Discrete):
            self.discrete, self.act_dim = True, int(action_space.n)
            self.action_start = int(action_space.start)
            act_low, act_high = np.zeros(self.act_dim), np.ones(self.act_dim)
        elif isinstance(action_space, spaces.Box):
            self.discrete, self.act_dim = False, int(np.prod(action_space.shape))
            act_low, act_high = action_space.low.reshape(-1), action_space.high.reshape(-1)
            self._clip_low, self._clip_high = act_low.astype(np.float32), act_high.astype(np.float32)
            bounded = np.isfinite(act_low) & np.isfinite(act_high) & (act_high > act_low)
            lo, hi = np.where(bounded, act_low, -1.0), np.where(bounded, act_high, 1.0)  # no inf - inf
            self._centre, self._half = ((hi + lo) / 2).astype(np.float32), ((hi - lo) / 2).astype(np.float32)
            act_low, act_high = np.where(bounded, -1.0, act_low), np.where(bounded, 1.0, act_high)
        else:
            raise ConfigError(f"TrialWrapper supports Discrete and Box action spaces, got {action_space}")
        self.inner_observation_space = observation_space
        self._box_obs = isinstance(observation_space, spaces.Box)
        self.action_space = action_space
        flat = spaces.flatten_space(observation_space)
        self.obs_dim = int(flat.shape[0])
        self.dim = self.obs_dim + self.act_dim + EXTRA_FEATURES
        self.obs = slice(0, self.obs_dim)
        self.prev_action = slice(self.obs_dim, self.obs_dim + self.act_dim)
        self.prev_reward = self.obs_dim + self.act_dim
        self.episode_end = self.prev_reward + 1
        self.trial_progress = self.prev_reward + 2
        low = np.concatenate([flat.low, act_low, [-np.inf, 0.0, 0.0]]).astype(np.float32)
        high = np.concatenate([flat.high, act_high, [np.inf, 1.0, 1.0]]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def scaled_action(self, action: np.ndarray) -> np.ndarray:
        """Box actions [..., act_dim] (env units) -> the encoded previous action: clipped to the
        box, then (a - centre) / half-range in each bounded dimension."""
        a = np.minimum(np.maximum(np.asarray(action, dtype=np.float32), self._clip_low), self._clip_high)
        return (a - self._centre) / self._half

    def flatten_obs(self, obs: Any) -> np.ndarray:
        """One inner observation -> flat vector [obs_dim]."""
        if self._box_obs:  # the common case, without gymnasium's generic dispatch
            return np.asarray(obs, dtype=np.float32).reshape(-1)
        return spaces.flatten(self.inner_observation_space, obs).astype(np.float32, copy=False)

    def encode_batch(self, flat_obs: np.ndarray, prev_action: np.ndarray | None, prev_reward: np.ndarray,
                     episode_end: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """Trial observations [B, dim] from flat obs [B, obs_dim], actions [B] (discrete) or
        [B, act_dim] (box) or None (first step), rewards [B], end flags [B], progress [B]."""
        b = flat_obs.shape[0]
        out = np.zeros((b, self.dim), dtype=np.float32)
        out[:, self.obs] = flat_obs
        if prev_action is not None:
            if self.discrete:
                out[np.arange(b), self.obs_dim + self.discrete_index(prev_action).reshape(b)] = 1.0
            else:
                out[:, self.prev_action] = self.scaled_action(np.asarray(prev_action).reshape(b, self.act_dim))
        out[:, self.prev_reward] = prev_reward
        out[:, self.episode_end] = episode_end
        out[:, self.trial_progress] = progress
        return out

    def discrete_index(self, actions: Any) -> np.ndarray:
        """0-based indices (int64, flattened) of Discrete ``actions`` (a scalar or an array);
        ConfigError naming them when any lies outside the action space. The one range check of
        every path: the envs call it before stepping, ``encode`` / ``encode_batch`` when they
        write the one-hot."""
        idx = np.asarray(actions, dtype=np.int64).reshape(-1) - self.action_start
        if idx.size and (idx.min() < 0 or idx.max() >= self.act_dim):
            low = self.action_start
            raise ConfigError(f"discrete action(s) {np.asarray(actions).reshape(-1)[:8].tolist()} outside the "
                              f"action space: accepted integers {low}..{low + self.act_dim - 1}")
        return idx

    def encode(self, obs: Any, prev_action: Any, prev_reward: float, episode_end: bool, progress: float) -> np.ndarray:
        """One trial observation [dim]; ``prev_action=None`` at the first step. Same layout as
        ``encode_batch``, written for one row because it runs at every step of a single env."""
        out = np.zeros(self.dim, dtype=np.float32)
        out[self.obs] = self.flatten_obs(obs)
        if prev_action is not None:
            if self.discrete:
                out[self.obs_dim + int(self.discrete_index(prev_action)[0])] = 1.0
            else:
                out[self.prev_action] = self.scaled_action(np.asarray(prev_action).reshape(-1))
        out[self.prev_reward] = prev_reward
        out[self.episode_end] = float(episode_end)
        out[self.trial_progress] = progress
        return out


class TrialWrapper(gym.Wrapper):
    """One trial = ``episodes`` consecutive episodes of the same task (see module docstring).

    ``reset(options={"task": t})`` switches the inner env to task ``t`` and starts a new trial;
    a plain ``reset()`` starts a new trial of the current task. ``step`` before ``reset`` or
    after the trial's last episode raises a one-line ``MetaRLError``.
    """

    def __init__(self, env: gym.Env, episodes: int) -> None:
        super().__init__(env)
        self.episodes = check_int("episodes", episodes, low=1)
        self.layout = TrialLayout(env.observation_space, env.action_space)
        self.observation_space = self.layout.observation_space
        self._episode = 0
        self._ep_return = 0.0
        self._ep_length = 0
        self._in_trial = False  # between reset() and the trial's last step

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if getattr(self.env.unwrapped, "trial_aware", False):   # an env whose episodes follow a trial plan
            options = {**(options or {}), "trial_start": True}
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode, self._ep_return, self._ep_length = 0, 0.0, 0
        self._in_trial = True
        info = dict(info, episode_index=0)
        return self.layout.encode(obs, None, 0.0, False, 0.0), info

    def step(self, action):
        if not self._in_trial:
            raise MetaRLError("TrialWrapper.step called outside a trial: call reset() first "
                              f"(a trial ends after its {self.episodes} episode(s))")
        if self.layout.discrete:
            self.layout.discrete_index(action)       # before the inner env acts on it
        if not self.layout.discrete and np.asarray(action).dtype.kind == "f" and not np.isfinite(action).all():
            raise FloatingPointError(f"step got a non-finite action {np.asarray(action).tolist()} (a diverged "
                                     f"policy?); actions must be finite numbers in {self.action_space}")
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info, episode_index=self._episode, episode_end=bool(terminated or truncated))
        self._ep_return += float(reward)
        self._ep_length += 1
        if not (terminated or truncated):
            progress = self._episode / self.episodes
            return self.layout.encode(obs, action, reward, False, progress), reward, False, False, info
        info.update(episode_terminated=bool(terminated), episode_truncated=bool(truncated),
                    episode_return=self._ep_return, episode_length=self._ep_length,
                    final_inner_obs=obs)
        self._episode += 1
        self._ep_return, self._ep_length = 0.0, 0
        progress = self._episode / self.episodes
        if self._episode < self.episodes:
            obs, _ = self.env.reset()  # same task, same random stream
            return self.layout.encode(obs, action, reward, True, progress), reward, False, False, info
        self._in_trial = False
        return self.layout.encode(obs, action, reward, True, progress), reward, bool(terminated), bool(truncated), info
