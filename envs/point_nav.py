"""``point-nav``: 2D point navigation to a hidden goal (Finn et al. 2017, MAML, section 5.3).

A task is a goal ``(goal_x, goal_y)``, drawn uniformly from ``[goal_low, goal_high]^2``
(default ``[-0.5, 0.5]^2``, the paper's unit square). Every episode starts at the
origin; the action is a displacement, clipped to ``[-0.1, 0.1]`` per coordinate; the
reward is minus the Euclidean distance to the goal *after* the move (``reward="distance"``, as
in the MAML authors' code), or minus its square (``reward="squared"``, as in the MAML paper's
text). The observation is the position [2] (the goal is not observed; ``observe_goal=True`` appends it, [4]: the
"oracle" setting of the MAML paper, where no adaptation is needed). Episodes are cut at ``horizon`` (100)
steps as a time limit (``truncated=True``; there is no terminal state, so the value at
the cut is bootstrapped). ``info["success"]`` is ``distance < success_radius`` (0.05)
after the move; reaching the goal does not end the episode.

Dynamics are deterministic (no random draws), so the batched env matches the single
env trivially. Held-out rule: test goals are separately seeded draws from the same box.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_choice, check_float, check_int
from metarl.envs._common import check_scalar_params
from metarl.rollout.vector import NativeTrialVectorEnv
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

MAX_STEP = 0.1
HARD_GOAL = (-5.0, 5.0)
REWARDS = ("distance", "squared")


def _spaces(observe_goal: bool = False) -> tuple[spaces.Box, spaces.Box]:
    obs = spaces.Box(-np.inf, np.inf, shape=(4 if observe_goal else 2,), dtype=np.float32)
    act = spaces.Box(-MAX_STEP, MAX_STEP, shape=(2,), dtype=np.float32)
    return obs, act


class PointNavEnv(gym.Env):
    """A point in the plane moving towards a hidden goal. obs: position [2]; action: step [2]."""

    metadata = {"render_modes": []}

    def __init__(self, family: "PointNavFamily", task: Task) -> None:
        self.family = family
        self.observation_space, self.action_space = _spaces(family.observe_goal)
        self._set_task(task)
        self.pos, self.t = np.zeros(2), 0

    def _set_task(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task = task
        self.goal = np.array([task.params["goal_x"], task.params["goal_y"]], dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set_task(options["task"])
        self.pos, self.t = np.zeros(2), 0
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        pos = self.pos.astype(np.float32)
        return np.concatenate([pos, self.goal.astype(np.float32)]) if self.family.observe_goal else pos

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -MAX_STEP, MAX_STEP)
        self.pos = self.family.inside_walls(self.pos + a)
        self.t += 1
        dist = float(np.sqrt(np.sum(np.square(self.pos - self.goal), axis=-1)))
        truncated = self.t >= self.family.horizon
        return (self._obs(), self.family.reward_of(dist), False, truncated,
                {"success": dist < self.family.success_radius})


class PointNavVectorEnv(NativeTrialVectorEnv):
    """B point-navigation tasks stepped in numpy (same arithmetic as ``PointNavEnv``)."""

    def __init__(self, family: "PointNavFamily", num_envs: int, episodes: int) -> None:
        super().__init__(family, num_envs, episodes, *_spaces(family.observe_goal))
        self.pos = np.zeros((self.num_envs, 2))
        self.t = np.zeros(self.num_envs, dtype=np.int64)

    def _set_tasks(self, tasks):
        self.goal = np.array([[t.params["goal_x"], t.params["goal_y"]] for t in tasks],
                             dtype=np.float64)                                     # [B, 2]

    def _reset_inner(self, mask):
        self.pos = np.where(mask[:, None], 0.0, self.pos)
        self.t = np.where(mask, 0, self.t)
        return self._obs()

    def _obs(self) -> np.ndarray:
        pos = self.pos.astype(np.float32)
        return np.concatenate([pos, self.goal.astype(np.float32)], 1) if self.family.observe_goal else pos

    def _step_inner(self, actions, active):
        a = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2), -MAX_STEP, MAX_STEP)
        self.pos = np.where(active[:, None], self.family.inside_walls(self.pos + a), self.pos)
        self.t = self.t + active
        dist = np.sqrt(np.sum(np.square(self.pos - self.goal), axis=-1))
        trunc = self.t >= self.family.horizon
        return (self._obs(), self.family.reward_of(dist), np.zeros(self.num_envs, dtype=bool), trunc,
                {"success": dist < self.family.success_radius})


class PointNavFamily(TaskFamily):
    """Goals uniform in ``[goal_low, goal_high]^2``; episodes of ``horizon`` steps.

    Options: goal_low -> goal_high (the goal box per coordinate), horizon (steps per episode),
    success_radius (distance that counts as at the goal), observe_goal (append the goal to the
    observation: the oracle), reward ("distance": -d, or "squared": -d^2), arena (walls at
    [-arena, arena]^2; None: the open plane)"""

    name = "point-nav"
    kind = "rl"
    has_success = True
    held_out_rule = "test goals are separately seeded uniform draws from the same goal box"
    baselines = ("random",)

    def __init__(self, goal_low: float = -0.5, goal_high: float = 0.5, horizon: int = 100,
                 success_radius: float = 0.05, observe_goal: bool = False, reward: str = "distance",
                 arena: float | None = None) -> None:
        check_choice("point-nav: reward", reward, REWARDS)
        self.reward = reward
        if not isinstance(observe_goal, (bool, np.bool_)):
            raise ConfigError(f"point-nav: observe_goal must be true or false, got {observe_goal!r}")
        self.observe_goal = bool(observe_goal)
        goal_low = check_float("point-nav: goal_low", goal_low, low=HARD_GOAL[0], high=HARD_GOAL[1])
        goal_high = check_float("point-nav: goal_high", goal_high, low=HARD_GOAL[0], high=HARD_GOAL[1])
        if goal_low >= goal_high:
            raise ConfigError(f"point-nav: goal box [{goal_low}, {goal_high}] is empty; need goal_low < goal_high")
        self.horizon = check_int("point-nav: horizon", horizon, low=1, high=100_000)
        self.max_episode_steps = self.horizon
        self.success_radius = check_float("point-nav: success_radius", success_radius, low=0.0, low_open=True)
        if arena is not None:
            # the walls must hold every goal: half-width >= the goal box's largest |coordinate| (> 0)
            arena = check_float("point-nav: arena (half-width of the walls around the goal box; None: no walls)",
                                arena, low=max(abs(goal_low), abs(goal_high)))
        self.arena = arena
        # with walls, a goal beyond them cannot be reached: they are the goals' hard limits
        hard = HARD_GOAL if arena is None else (max(-arena, HARD_GOAL[0]), min(arena, HARD_GOAL[1]))
        self.params = ParamSpace([
            ParamSpec("goal_x", goal_low, goal_high, group="reward", hard=hard),
            ParamSpec("goal_y", goal_low, goal_high, group="reward", hard=hard),
        ])

    def inside_walls(self, pos: np.ndarray) -> np.ndarray:
        """Positions [..., 2] stopped at the walls of ``[-arena, arena]^2`` (unchanged if arena is None)."""
        return pos if self.arena is None else np.clip(pos, -self.arena, self.arena)

    def reward_of(self, dist):
        """Reward for the distance(s) to the goal after the move: -d, or -d^2 (``reward``)."""
        return -dist * dist if self.reward == "squared" else -dist

    def validate_task(self, task: Task) -> None:
        if isinstance(task, Task) and task.family == self.name:
            check_scalar_params(task, self.params.names)
            # before the hard-limit check of the base class, which would not say why
            goal = [task.params[k] for k in ("goal_x", "goal_y") if k in task.params]
            if self.arena is not None and len(goal) == 2 and max(abs(goal[0]), abs(goal[1])) > self.arena:
                raise ConfigError(f"point-nav: goal ({task.params['goal_x']:g}, {task.params['goal_y']:g}) lies "
                                  f"outside the walls at +-{self.arena:g} (arena), so it cannot be reached")
        super().validate_task(task)

    def make_env(self, task: Task) -> gym.Env:
        return PointNavEnv(self, task)

    def native_vector_env(self, num_envs: int, episodes: int) -> PointNavVectorEnv:
        return PointNavVectorEnv(self, num_envs, episodes)
