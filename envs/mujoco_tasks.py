"""Reward-variation MuJoCo families on Gymnasium's v5 locomotion envs: ``cheetah-vel``,
``cheetah-dir``, ``ant-dir`` and ``ant-goal`` (Finn et al. 2017 MAML; Rakelly et al. 2019 PEARL).

Each env is ``TimeLimit(TaskRewardWrapper(HalfCheetahEnv | AntEnv), horizon)`` (default
horizon 200, as in MAML and PEARL): the time limit gives ``truncated=True`` (bootstrapped);
only the Ant's unhealthy check (torso height outside [0.2, 1.0], on by default in
``ant-dir``) gives ``terminated=True``. The observation is the Gymnasium env's own
(HalfCheetah [17], Ant [105]), except that ``ant-goal`` puts the torso's ``(x, y)`` in front
(Ant [107], ``observe_position=True``, as PEARL's ``ant_goal``: without it the policy cannot
tell where it stands relative to a goal); the task is not observed. Actions are ``Box(-1, 1)`` ([6] /
[8]); they are clipped to the box before simulation and before the control cost (MuJoCo
clamps controls to the same range, so the clip changes only the cost of out-of-range actions).

Rewards (per step, ``v`` = finite-difference torso velocity over one control step,
``info["x_velocity"]`` / ``info["y_velocity"]``, as in PEARL; ``a`` = the clipped action):

- ``cheetah-vel``: ``-|v_x - velocity| - c |a|^2`` with ``c = ctrl_cost_weight = 0.05``
  (MAML/rllab: ``0.5 * 1e-1 * sum(a^2)``). ``velocity`` ~ U[vel_low, vel_high], default
  U[0, 2] (MAML); PEARL uses U[0, 3] (``vel_high=3.0``).
- ``cheetah-dir``: ``direction * v_x - c |a|^2``, ``direction`` in {1, -1}, ``c = 0.05``.
- ``ant-dir``: ``v . (cos angle, sin angle)`` (``directions="circle"``, angle ~ U[0, 2 pi]) or
  ``direction * v_x`` (``directions="forward-backward"``, default; MAML's ant direction task
  and PEARL's Ant-Fwd-Back), plus Ant-v5's own terms: ``- 0.5 |a|^2 - 5e-4 |clip(cfrc_ext,
  -1, 1)|^2 + 1.0 * healthy`` (PEARL's and Gymnasium's weights; MAML's are
  ``ctrl_cost_weight=0.005, healthy_reward=0.05``).
- ``ant-goal``: ``-||xy - goal||_1 - 0.1 |a|^2 - 5e-4 |clip(cfrc_ext, -1, 1)|^2`` (PEARL's
  ``ant_goal``: L1 distance, no survival bonus, never terminates; ``distance="l2"`` for the
  Euclidean distance). Goals are uniform in the disk of radius ``radius`` = 3 (PEARL);
  ``xy`` is the torso position (``info["x_position"]``, ``info["y_position"]``).

``info`` keeps the Gymnasium env's keys, with ``reward_forward`` replaced by
``reward_task`` (the task term above), so ``reward = reward_task + reward_ctrl`` (+
``reward_contact + reward_survive`` for the Ant). ``reset(options={"task": t})`` switches
the task in place (the MuJoCo model is untouched: these tasks change only the reward).

Held-out rule: test tasks are separately seeded draws from the same distribution (as in
MAML and PEARL; the two-direction families have the same two tasks in both splits).
Tasks beyond the box or the disk, up to the hard limits, can be built by hand (``Task``)
and evaluated, or drawn at controlled distances by the environment generator (``metarl generate``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.wrappers import TimeLimit

from metarl.envs._common import check_scalar_params
from metarl.errors import ConfigError, check_choice, check_float, check_int
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

HARD_VELOCITY = (-10.0, 10.0)  # m/s; a trained HalfCheetah runs at most about 10-15 m/s
HARD_GOAL = (-10.0, 10.0)      # m per coordinate; far beyond what an Ant walks in 200 steps
DIRECTIONS = (1, -1)


# Task reward terms: module-level functions of the step ``info`` (picklable via partial).
def _zero(info: dict) -> float:
    return 0.0


def _velocity_error(target: float, info: dict) -> float:
    return -abs(info["x_velocity"] - target)


def _directed_velocity(cx: float, cy: float, info: dict) -> float:
    if cy == 0.0:  # along x: HalfCheetah reports no y velocity
        return cx * info["x_velocity"]
    return cx * info["x_velocity"] + cy * info["y_velocity"]


def _l1_distance(gx: float, gy: float, info: dict) -> float:
    return -(abs(info["x_position"] - gx) + abs(info["y_position"] - gy))


def _l2_distance(gx: float, gy: float, info: dict) -> float:
    return -math.hypot(info["x_position"] - gx, info["y_position"] - gy)


class MujocoTaskWrapper(gym.Wrapper):
    """Holds the family and the current task; ``reset(options={"task": t})`` validates ``t``
    (a rejected task leaves the env unchanged) and applies it in place with ``_apply``."""

    def __init__(self, env: gym.Env, family: TaskFamily, task: Task) -> None:
        super().__init__(env)
        self.family = family
        self._setup()
        self.set_task(task)

    def __setstate__(self, state: dict) -> None:
        # Gymnasium's MuJoCo envs pickle as constructor arguments (EzPickle), so an unpickled
        # or deep-copied env has the nominal model: re-apply the task.
        self.__dict__.update(state)
        self._apply(self.task)

    def _setup(self) -> None:
        """Hook run once before the first task (e.g. copy nominal model arrays)."""

    def _apply(self, task: Task) -> None:
        raise NotImplementedError

    def set_task(self, task: Task) -> None:
        """Switch to ``task`` now (``reset(options={"task": t})`` also starts a new episode)."""
        self.family.validate_task(task)
        self._apply(task)
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if options and "task" in options:
            self.set_task(options["task"])
            options = {k: v for k, v in options.items() if k != "task"} or None
        return self.env.reset(seed=seed, options=options)


class TaskRewardWrapper(MujocoTaskWrapper):
    """Adds the task's reward term to a Gymnasium MuJoCo env built with
    ``forward_reward_weight=0`` (so its own reward is only the costs / survival bonus)."""

    def _setup(self) -> None:
        space = self.env.action_space
        self._low = space.low.astype(np.float64)
        self._high = space.high.astype(np.float64)
        self._term: Callable[[dict], float] = _zero

    def _apply(self, task: Task) -> None:
        self._term = self.family.task_term(task)

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(self._low.shape)
        a = np.minimum(np.maximum(a, self._low), self._high)  # np.clip, without its overhead
        obs, base, terminated, truncated, info = self.env.step(a)
        info.pop("reward_forward", None)
        term = float(self._term(info))
        info["reward_task"] = term
        return obs, float(base) + term, terminated, truncated, info


class _LocomotionFamily(TaskFamily):
    """Shared construction: horizon, scalar-parameter checks and the wrapped env."""

    kind = "rl"
    step_cost = "heavy"  # MuJoCo: make_vector_env may step large vectors in worker processes
    baselines = ("random",)
    held_out_rule = ("test tasks are separately seeded draws from the same distribution "
                     "(as in MAML and PEARL)")

    def __init__(self, horizon: int) -> None:
        self.max_episode_steps = check_int(f"{self.name}: horizon", horizon, low=1)

    def _base_env(self) -> gym.Env:
        raise NotImplementedError

    def task_term(self, task: Task) -> Callable[[dict[str, Any]], float]:
        """The task's reward term as a function of the step ``info``."""
        raise NotImplementedError

    def validate_task(self, task: Task) -> None:
        if isinstance(task, Task) and task.family == self.name:
            check_scalar_params(task, self.params.names)
        super().validate_task(task)

    def make_env(self, task: Task) -> gym.Env:
        return TimeLimit(TaskRewardWrapper(self._base_env(), self, task), max_episode_steps=self.max_episode_steps)


def _cheetah(ctrl_cost_weight: float) -> HalfCheetahEnv:
    return HalfCheetahEnv(forward_reward_weight=0.0, ctrl_cost_weight=ctrl_cost_weight)


class CheetahVelFamily(_LocomotionFamily):
    """HalfCheetah running at a target velocity ``velocity`` ~ U[vel_low, vel_high] (m/s).

    Options: vel_low -> vel_high (the train box of target velocities, m/s), horizon (steps per
    episode), ctrl_cost_weight (weight of |a|^2)"""

    name = "cheetah-vel"

    def __init__(self, vel_low: float = 0.0, vel_high: float = 2.0, horizon: int = 200,
                 ctrl_cost_weight: float = 0.05) -> None:
        super().__init__(horizon)
        lo, hi = HARD_VELOCITY
        self.vel_low = check_float(f"{self.name}: vel_low", vel_low, low=lo, high=hi)
        self.vel_high = check_float(f"{self.name}: vel_high", vel_high, low=lo, high=hi)
        if self.vel_low > self.vel_high:
            raise ConfigError(f"{self.name}: vel_low={vel_low} is larger than vel_high={vel_high}")
        self.ctrl_cost_weight = check_float(f"{self.name}: ctrl_cost_weight", ctrl_cost_weight, low=0.0)
        self.params = ParamSpace([ParamSpec("velocity", self.vel_low, self.vel_high, group="reward",
                                            hard=HARD_VELOCITY)])

    def _base_env(self) -> gym.Env:
        return _cheetah(self.ctrl_cost_weight)

    def task_term(self, task: Task):
        return partial(_velocity_error, float(task.params["velocity"]))


class CheetahDirFamily(_LocomotionFamily):
    """HalfCheetah running forward (``direction`` = 1) or backward (-1).

    Options: horizon (steps per episode), ctrl_cost_weight (weight of |a|^2)"""

    name = "cheetah-dir"
    held_out_rule = ("test tasks are separately seeded draws of the two directions (the same two "
                     "tasks as training, as in MAML and PEARL)")

    def __init__(self, horizon: int = 200, ctrl_cost_weight: float = 0.05) -> None:
        super().__init__(horizon)
        self.ctrl_cost_weight = check_float(f"{self.name}: ctrl_cost_weight", ctrl_cost_weight, low=0.0)
        self.params = ParamSpace([ParamSpec("direction", choices=DIRECTIONS, group="reward")])

    def _base_env(self) -> gym.Env:
        return _cheetah(self.ctrl_cost_weight)

    def task_term(self, task: Task):
        return partial(_directed_velocity, float(task.params["direction"]), 0.0)


class _AntFamily(_LocomotionFamily):
    def __init__(self, horizon: int, ctrl_cost_weight: float, contact_cost_weight: float,
                 healthy_reward: float, terminate_when_unhealthy: bool, observe_position: bool = False) -> None:
        super().__init__(horizon)
        self.ctrl_cost_weight = check_float(f"{self.name}: ctrl_cost_weight", ctrl_cost_weight, low=0.0)
        self.contact_cost_weight = check_float(f"{self.name}: contact_cost_weight", contact_cost_weight, low=0.0)
        self.healthy_reward = check_float(f"{self.name}: healthy_reward", healthy_reward)
        check_choice(f"{self.name}: terminate_when_unhealthy", terminate_when_unhealthy, (True, False))
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        check_choice(f"{self.name}: observe_position", observe_position, (True, False))
        self.observe_position = bool(observe_position)

    def _base_env(self) -> gym.Env:
        return AntEnv(forward_reward_weight=0.0, ctrl_cost_weight=self.ctrl_cost_weight,
                      contact_cost_weight=self.contact_cost_weight, healthy_reward=self.healthy_reward,
                      terminate_when_unhealthy=self.terminate_when_unhealthy,
                      exclude_current_positions_from_observation=not self.observe_position)


class AntDirFamily(_AntFamily):
    """Ant walking in a direction: ``direction`` in {1, -1} along x (``directions=
    "forward-backward"``) or ``angle`` ~ U[0, 2 pi] on the circle (``directions="circle"``).

    Options: directions ("forward-backward" or "circle"), horizon (steps per episode),
    ctrl_cost_weight (weight of |a|^2), contact_cost_weight (weight of the clipped contact
    forces squared), healthy_reward (bonus per step while the torso is healthy),
    terminate_when_unhealthy (end the episode when the torso leaves [0.2, 1.0])"""

    name = "ant-dir"

    def __init__(self, directions: str = "forward-backward", horizon: int = 200,
                 ctrl_cost_weight: float = 0.5, contact_cost_weight: float = 5e-4,
                 healthy_reward: float = 1.0, terminate_when_unhealthy: bool = True) -> None:
        super().__init__(horizon, ctrl_cost_weight, contact_cost_weight, healthy_reward, terminate_when_unhealthy)
        check_choice(f"{self.name}: directions", directions, ("forward-backward", "circle"))
        self.directions = directions
        if directions == "circle":
            self.params = ParamSpace([ParamSpec("angle", 0.0, 2 * math.pi, group="reward",
                                                hard=(0.0, 2 * math.pi))])
            self.held_out_rule = "test angles are separately seeded draws from U[0, 2 pi] (as in PEARL)"
        else:
            self.params = ParamSpace([ParamSpec("direction", choices=DIRECTIONS, group="reward")])
            self.held_out_rule = CheetahDirFamily.held_out_rule

    def task_term(self, task: Task):
        if self.directions == "circle":
            angle = float(task.params["angle"])
            return partial(_directed_velocity, math.cos(angle), math.sin(angle))
        return partial(_directed_velocity, float(task.params["direction"]), 0.0)


class AntGoalFamily(_AntFamily):
    """Ant walking to a goal ``(goal_x, goal_y)`` drawn uniformly in the disk of radius ``radius``.

    Options: radius (of the goal disk, m), distance ("l1" as PEARL, or "l2"), horizon (steps
    per episode), ctrl_cost_weight (weight of |a|^2), contact_cost_weight (weight of the clipped
    contact forces squared), healthy_reward (bonus per step while healthy; PEARL: 0),
    terminate_when_unhealthy (end the episode when the torso leaves [0.2, 1.0]),
    observe_position (put the torso's x, y at the front of the observation, as PEARL)"""

    name = "ant-goal"
    held_out_rule = ("test goals are separately seeded draws, uniform in the same disk (as in PEARL); "
                     "hard limits +-10 m per coordinate")

    def __init__(self, radius: float = 3.0, distance: str = "l1", horizon: int = 200,
                 ctrl_cost_weight: float = 0.1, contact_cost_weight: float = 5e-4,
                 healthy_reward: float = 0.0, terminate_when_unhealthy: bool = False,
                 observe_position: bool = True) -> None:
        super().__init__(horizon, ctrl_cost_weight, contact_cost_weight, healthy_reward, terminate_when_unhealthy,
                         observe_position)
        self.radius = check_float(f"{self.name}: radius", radius, low=0.0, high=HARD_GOAL[1], low_open=True)
        check_choice(f"{self.name}: distance", distance, ("l1", "l2"))
        self.distance = distance
        self.params = ParamSpace([ParamSpec(n, -self.radius, self.radius, group="reward", hard=HARD_GOAL)
                                  for n in ("goal_x", "goal_y")])

    def sample_params(self, rng: np.random.Generator, split: str) -> dict[str, Any]:
        """Uniform in the disk: angle ~ U[0, 2 pi), radius * sqrt(U[0, 1])."""
        angle, u = rng.random(2)
        r = self.radius * math.sqrt(u)
        return {"goal_x": r * math.cos(2 * math.pi * angle), "goal_y": r * math.sin(2 * math.pi * angle)}

    def task_term(self, task: Task):
        fn = _l1_distance if self.distance == "l1" else _l2_distance
        return partial(fn, float(task.params["goal_x"]), float(task.params["goal_y"]))
