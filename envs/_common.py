"""Helpers shared by the built-in task families."""
from __future__ import annotations

import numbers

import numpy as np

from metarl.errors import ConfigError
from metarl.rollout.vector import NativeTrialVectorEnv
from metarl.tasks import Task


def check_scalar_params(task: Task, names: list[str]) -> None:
    """Raise a one-line ConfigError unless each of ``names`` present in ``task.params`` is one real
    number (``ParamSpec.validate`` accepts a list wherever a number is expected)."""
    for name in names:
        value = task.params.get(name)
        if value is None and name not in task.params:
            continue  # the base class reports missing parameters
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            text = repr(value)
            text = text if len(text) <= 60 else text[:57] + "..."
            raise ConfigError(f"parameter {name}={text} of task {task.task_id!r} must be a single number")


class PredrawnTrialVectorEnv(NativeTrialVectorEnv):
    """A native vector env for one-step families whose examples do not depend on the actions
    (supervised: sinusoid, few-shot classification): each slot's whole trial is drawn when the
    trial starts, in the single env's order, by ``_draw_trials() -> {name: [B, k, ...]}``, and
    episode e of slot i shows row e (``self.now[name]``: the current example's values [B, ...]).

    One difference from stepping the single env: a trial cut short by ``reset(seed=None)`` has
    used up its k draws, where the single env would continue its stream from the last
    episode it played."""

    def reset(self, *, seed=None, options=None):
        self._trial_start = True
        return super().reset(seed=seed, options=options)

    def _draw_trials(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _observation(self) -> np.ndarray:
        """Flat observations [B, obs_dim] of the current examples."""
        raise NotImplementedError

    def _reset_inner(self, mask):
        if self._trial_start:
            self._trial = self._draw_trials()
            self.now = {name: np.zeros_like(a[:, 0]) for name, a in self._trial.items()}
            self._next = np.zeros(self.num_envs, dtype=np.int64)
            self._trial_start = False
        rows = np.flatnonzero(mask)
        for name, a in self._trial.items():
            self.now[name][rows] = a[rows, self._next[rows]]
        self._next[rows] += 1
        return self._observation()
