"""``ResamplingTrialEnv``: an endless stream of trials, a new task drawn at every reset.

For learners that expect one ordinary Gymnasium env and know nothing of tasks —
stable-baselines3 and sb3-contrib algorithms (e.g. ``RecurrentPPO`` as an RL²-style
baseline): each ``reset`` draws the next task of ``split`` from a generator seeded once,
and runs one trial (``TrialWrapper``) of ``episodes`` episodes of it.
"""
from __future__ import annotations

import gymnasium as gym

from metarl.rollout.trial import TrialWrapper
from metarl.seeding import make_rng


class ResamplingTrialEnv(gym.Wrapper):
    """Trials of ``episodes`` episodes; task i+1 is drawn when trial i ends and ``reset`` is called."""

    def __init__(self, family, episodes: int, *, split: str = "train", seed: int = 0) -> None:
        self._rng = make_rng(seed, "resampling-trials", split)
        self.family, self.split = family, split
        first = family.sample(1, split=split, seed=self._rng)[0]
        super().__init__(TrialWrapper(family.make_env(first), episodes))
        self.task = first
        self._fresh = True

    def reset(self, *, seed=None, options=None):
        if not self._fresh:
            self.task = self.family.sample(1, split=self.split, seed=self._rng)[0]
        self._fresh = False
        opts = dict(options or {}, task=self.task)
        obs, info = self.env.reset(seed=seed, options=opts)
        info["task_id"] = self.task.task_id
        return obs, info
