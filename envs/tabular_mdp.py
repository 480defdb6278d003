"""``tabular-mdp``: random finite-horizon tabular MDPs (Duan et al. 2016, RL², section 4.2).

A task is an MDP with ``states`` states and ``actions`` actions:

- ``reward_means`` [S][A]: mean rewards, each drawn i.i.d. from N(1, 1);
- ``transitions`` [S][A][S]: next-state distributions, each row from a flat Dirichlet(1, ..., 1).

One step from state s with action a draws, from the env's ``np_random`` and in this
order, ``z ~ N(0, 1)`` and ``u ~ U[0, 1)``; the reward is ``reward_means[s][a] + z`` and
the next state is ``searchsorted(cumsum(transitions[s][a]), u, side="right")`` (the
batched env draws the same numbers in the same order from its slot's generator, so
both produce identical trajectories).

Initial state: every episode starts in state 0. Because rewards and transitions are
drawn i.i.d. for every state, state 0 is statistically like any other state, so a fixed
start loses no generality over the task distribution; it keeps ``reset`` free of random
draws.

Episode end: after exactly ``horizon`` steps the episode reports ``terminated=True``,
not ``truncated``. The horizon is part of the task definition (a finite-horizon MDP
whose return is the sum of ``horizon`` rewards, as scored in the paper): there is no
value beyond the last step, so it must not be bootstrapped.

Observation: ``Discrete(states)``, the current state (a trial flattens it to one-hot).
Held-out rule: test tasks are separately seeded draws of rewards and transitions.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_int
from metarl.rollout.vector import NativeTrialVectorEnv
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

ROW_SUM_TOL = 1e-6


def _next_state(cum_row: np.ndarray, u: float) -> int:
    """Index of the next state for a uniform ``u`` given a cumulative row [S]."""
    return min(int(np.searchsorted(cum_row, u, side="right")), cum_row.shape[-1] - 1)


class TabularMDPEnv(gym.Env):
    """One tabular MDP. obs: state index (``Discrete(S)``); action: ``Discrete(A)``."""

    metadata = {"render_modes": []}

    def __init__(self, family: "TabularMDPFamily", task: Task) -> None:
        self.family = family
        self.observation_space = spaces.Discrete(family.states)
        self.action_space = spaces.Discrete(family.actions)
        self._set_task(task)
        self.state, self.t = 0, 0

    def _set_task(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task = task
        self.reward_means = task.param_array("reward_means")               # [S, A]
        self.cum_transitions = np.cumsum(task.param_array("transitions"), axis=-1)  # [S, A, S]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set_task(options["task"])
        self.state, self.t = 0, 0
        return self.state, {}

    def step(self, action):
        a = int(action)
        z = self.np_random.standard_normal()
        u = self.np_random.random()
        reward = float(self.reward_means[self.state, a] + z)
        self.state = _next_state(self.cum_transitions[self.state, a], u)
        self.t += 1
        return self.state, reward, self.t >= self.family.horizon, False, {}


class TabularMDPVectorEnv(NativeTrialVectorEnv):
    """B tabular MDPs stepped in numpy; slot i draws ``z`` then ``u`` from ``rngs[i]``
    exactly as ``TabularMDPEnv`` draws them from its ``np_random``."""

    def __init__(self, family: "TabularMDPFamily", num_envs: int, episodes: int) -> None:
        super().__init__(family, num_envs, episodes, spaces.Discrete(family.states),
                         spaces.Discrete(family.actions))
        self._eye = np.eye(family.states, dtype=np.float32)
        self.state = np.zeros(self.num_envs, dtype=np.int64)
        self.t = np.zeros(self.num_envs, dtype=np.int64)

    def _set_tasks(self, tasks):
        self.reward_means = np.stack([t.param_array("reward_means") for t in tasks])  # [B, S, A]
        self.cum_transitions = np.cumsum(np.stack([t.param_array("transitions") for t in tasks]),
                                         axis=-1)                                  # [B, S, A, S]

    def _reset_inner(self, mask):
        self.state = np.where(mask, 0, self.state)
        self.t = np.where(mask, 0, self.t)
        return self._eye[self.state]

    def _step_inner(self, actions, active):
        b = np.arange(self.num_envs)
        z = np.zeros(self.num_envs)
        u = np.zeros(self.num_envs)
        for i in np.flatnonzero(active):
            z[i] = self.rngs[i].standard_normal()
            u[i] = self.rngs[i].random()
        a = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        reward = self.reward_means[b, self.state, a] + z
        cum = self.cum_transitions[b, self.state, a]                               # [B, S]
        nxt = np.minimum((cum <= u[:, None]).sum(axis=-1), self.family.states - 1)
        self.state = np.where(active, nxt, self.state)
        self.t = self.t + active
        term = self.t >= self.family.horizon
        return self._eye[self.state], reward, term, np.zeros(self.num_envs, dtype=bool), {}


class TabularMDPFamily(TaskFamily):
    """Random tabular MDPs with ``states`` states, ``actions`` actions and episodes of ``horizon`` steps.

    Options: states (2-1000), actions (1-1000), horizon (steps per episode)"""

    name = "tabular-mdp"
    kind = "rl"
    held_out_rule = "test tasks are separately seeded draws of reward means and transition rows"
    baselines = ("random", "psrl")

    def __init__(self, states: int = 10, actions: int = 5, horizon: int = 10) -> None:
        self.states = check_int("tabular-mdp: states", states, low=2, high=1000)
        self.actions = check_int("tabular-mdp: actions", actions, low=1, high=1000)
        self.horizon = check_int("tabular-mdp: horizon", horizon, low=1, high=100_000)
        self.max_episode_steps = self.horizon
        # reward_means ~ N(1, 1): the train box is the +-3 sigma band (draws are Gaussian, see
        # sample_params); transitions are probabilities.
        self.params = ParamSpace([
            ParamSpec("reward_means", -2.0, 4.0, group="reward", hard=(-100.0, 100.0)),
            ParamSpec("transitions", 0.0, 1.0, group="dynamics", hard=(0.0, 1.0)),
        ])

    def sample_params(self, rng, split):
        """reward_means [S][A] ~ N(1, 1); transitions [S][A][S] ~ Dirichlet(1)."""
        s, a = self.states, self.actions
        means = rng.normal(1.0, 1.0, size=(s, a))
        trans = rng.dirichlet(np.ones(s), size=(s, a))
        return {"reward_means": means, "transitions": trans}  # Task stores them as nested tuples

    def validate_task(self, task: Task) -> None:
        """Shapes, hard limits (naming the offending entry) and transition rows summing to 1."""
        if isinstance(task, Task) and task.family == self.name:
            s, a = self.states, self.actions
            for key, shape in (("reward_means", (s, a)), ("transitions", (s, a, s))):
                if key not in task.params:
                    continue  # the base class reports missing parameters
                try:
                    arr = np.asarray(task.params[key], dtype=np.float64)
                except (TypeError, ValueError):
                    raise ConfigError(f"tabular-mdp task {task.task_id!r}: {key} is not a numeric "
                                      f"array of shape {list(shape)}") from None
                if arr.shape != shape:
                    raise ConfigError(f"tabular-mdp task {task.task_id!r}: {key} has shape {list(arr.shape)}; "
                                      f"this family (states={s}, actions={a}) needs {list(shape)}")
                lo, hi = self.params[key].hard
                bad = np.argwhere(~np.isfinite(arr) | (arr < lo) | (arr > hi))
                if len(bad):
                    idx = tuple(int(j) for j in bad[0])
                    where = "".join(f"[{j}]" for j in idx)
                    raise ConfigError(f"parameter {key}{where}={float(arr[idx])!r} is outside its hard limits "
                                      f"[{lo}, {hi}]")
                if key == "transitions":
                    sums = arr.sum(axis=-1)
                    bad = np.argwhere(np.abs(sums - 1.0) > ROW_SUM_TOL)
                    if len(bad):
                        i, j = (int(x) for x in bad[0])
                        raise ConfigError(f"parameter transitions[{i}][{j}] sums to {float(sums[i, j])!r}; "
                                          f"each transition row must sum to 1")
        super().validate_task(task)

    def make_env(self, task: Task) -> gym.Env:
        return TabularMDPEnv(self, task)

    def native_vector_env(self, num_envs: int, episodes: int) -> TabularMDPVectorEnv:
        return TabularMDPVectorEnv(self, num_envs, episodes)
