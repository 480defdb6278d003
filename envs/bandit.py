"""``bandit``: Bernoulli multi-armed bandits (Duan et al. 2016, RL², section 4.1).

Each task is a k-armed bandit with arm means drawn i.i.d. from U[0, 1]. One episode
is one pull (a one-step episode that terminates), so a trial of n episodes is n pulls
and its return is the paper's score. The observation is a constant 0 (a bandit has
no state); everything the agent learns comes from the trial's previous action and
reward. Held-out rule: test tasks are separately seeded draws of arm means.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_float, check_int, short_repr
from metarl.rollout.vector import NativeTrialVectorEnv
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily


class BanditEnv(gym.Env):
    """One Bernoulli bandit; reward 1 with probability ``means[a]``. obs: [0.0] (shape [1])."""

    metadata = {"render_modes": []}

    def __init__(self, family: "BanditFamily", task: Task) -> None:
        self.family = family
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(family.arms)
        self._set_task(task)

    def _set_task(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task = task
        self.means = task.param_array("means")

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set_task(options["task"])
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        u = self.np_random.random()
        reward = float(u < self.means[int(action)])
        return np.zeros(1, dtype=np.float32), reward, True, False, {"success": reward > 0}


class BanditVectorEnv(NativeTrialVectorEnv):
    """B bandits in one numpy step; slot i draws its uniform from ``rngs[i]`` like BanditEnv."""

    def __init__(self, family: "BanditFamily", num_envs: int, episodes: int) -> None:
        super().__init__(family, num_envs, episodes, spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
                         spaces.Discrete(family.arms))

    def _set_tasks(self, tasks):
        self.means = np.stack([t.param_array("means") for t in tasks])  # [B, arms]

    def _reset_inner(self, mask):
        return np.zeros((self.num_envs, 1), dtype=np.float32)

    def _step_inner(self, actions, active):
        u = np.ones(self.num_envs)
        for i in np.flatnonzero(active):
            u[i] = self.rngs[i].random()
        a = np.asarray(actions, dtype=np.int64)
        reward = (u < self.means[np.arange(self.num_envs), a]).astype(np.float64)
        done = np.ones(self.num_envs, dtype=bool)
        return (np.zeros((self.num_envs, 1), dtype=np.float32), reward, done, ~done,
                {"success": reward > 0})


class BanditFamily(TaskFamily):
    """k-armed Bernoulli bandits; ``arms`` >= 2. Arm means ~ U[low, high] (default U[0, 1]).

    Options: arms (k >= 2), low -> high (the box arm means are drawn from)"""

    name = "bandit"
    kind = "rl"
    max_episode_steps = 1
    held_out_rule = "test tasks are separately seeded draws of the arm means"
    baselines = ("random", "bandit-greedy", "bandit-eps-greedy", "bandit-ucb", "bandit-ucb1",
                 "bandit-thompson", "bandit-gittins", "bandit-bayes-optimal")

    def __init__(self, arms: int = 5, low: float = 0.0, high: float = 1.0) -> None:
        self.arms = check_int("bandit: arms", arms, low=2, high=10_000)
        low, high = check_float("bandit: low", low), check_float("bandit: high", high)
        if not (0.0 <= low < high <= 1.0):
            raise ConfigError(f"bandit: arm-mean range [{low}, {high}] must satisfy 0 <= low < high <= 1")
        self.params = ParamSpace([ParamSpec("means", low, high, group="reward", hard=(0.0, 1.0))])

    def sample_params(self, rng, split):
        spec = self.params["means"]
        return {"means": spec.from_unit(rng.random(self.arms)).tolist()}

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        means = np.shape(task.params["means"])
        if means != (self.arms,):
            raise ConfigError(f"bandit task has arm means of shape {means} ({short_repr(task.params['means'])}); "
                              f"this family has arms={self.arms}: give a list of {self.arms} means")

    def make_env(self, task: Task) -> gym.Env:
        return BanditEnv(self, task)

    def native_vector_env(self, num_envs: int, episodes: int) -> BanditVectorEnv:
        return BanditVectorEnv(self, num_envs, episodes)

    def exact_value(self, agent, episodes: int) -> dict:
        """Exact expected trial return of ``agent``'s greedy policy over ``episodes`` pulls under
        this family's prior (``metarl.envs.bandit_exact``): {"value", "per_pull", "pulls",
        "sequences"}. ConfigError where it cannot be computed (means not U[0, 1]; more than
        ``MAX_PULLS`` pulls)."""
        from .bandit_exact import exact_trial_value

        return exact_trial_value(agent, episodes)
