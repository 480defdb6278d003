"""``cartpole-dynamics`` / ``pendulum-dynamics``: Gymnasium's CartPole and Pendulum with
physical constants set per task.

Each task scales the simulator's constants: CartPole ``gravity``, ``masscart``,
``masspole``, ``length`` (half the pole length, as in Gymnasium) and ``force_mag``;
Pendulum ``g``, ``m``, ``l`` and ``max_torque``. Training tasks draw every constant
log-uniformly from ``[min_scale, max_scale]`` x its nominal value (default 0.5x-2x);
the hard limits are 0.1x-10x. All parameters
are in the ``dynamics`` group (rewards are Gymnasium's own).

CartPole's ``force_sign="both"`` adds a parameter ``force_sign`` drawn from {+1, -1}: on -1
tasks the push goes the other way (action 1 pushes left). Within the default scale ranges a
memoryless policy balances every cart-pole (docs/results.md), so these tasks need no
adaptation; with reversed tasks mixed in, no single policy of the state alone balances both
kinds, and an agent must find out from its first steps which kind it faces.

Environments are ``TimeLimit(CartPoleEnv subclass, 500)`` and
``TimeLimit(PendulumEnv subclass, 200)``, so the time limit gives ``truncated=True``
(bootstrapped) and CartPole's pole falling gives ``terminated=True``.
``reset(options={"task": t})`` applies the new constants in place. CartPole caches
``total_mass`` and ``polemass_length``; they are recomputed on every task change.

Pendulum's action space is fixed at construction and must be the same for every task
(vector envs and agents share one space): it is ``Box(-B, B)`` with ``B`` the upper end
of the ``max_torque`` train box (nominal 2 x ``max_scale`` = 4 by default). The task's
``max_torque`` is the clip applied in ``step`` (as in Gymnasium), so a weaker actuator
saturates earlier. ``max_torque``'s hard upper limit is ``B`` itself: a larger value
could not be commanded through the action space.

Held-out rule: test tasks are separately seeded draws from the same train box;
tasks beyond it, up to the hard limits, can be built by hand (``Task``) and evaluated, or drawn
at controlled distances by the environment generator (``metarl generate``).
These families use the default ``SyncTrialVectorEnv`` (no native batched env).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from gymnasium.wrappers import TimeLimit

from metarl.envs._common import check_scalar_params
from metarl.errors import ConfigError, check_choice, check_float
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

HARD_SCALE = (0.1, 10.0)


def _split_options(options: dict | None) -> tuple[Task | None, dict | None]:
    """(task or None, the remaining options for Gymnasium's reset or None)."""
    if not options:
        return None, options
    rest = {k: v for k, v in options.items() if k != "task"}
    return options.get("task"), (rest or None)


class CartPoleTaskEnv(CartPoleEnv):
    """Gymnasium's CartPole with per-task constants. obs [4]; action Discrete(2)."""

    def __init__(self, family: "CartPoleDynamicsFamily", task: Task) -> None:
        super().__init__()
        self.family = family
        self.set_task(task)

    def set_task(self, task: Task) -> None:
        """Apply ``task``'s constants and recompute CartPole's cached derived quantities."""
        self.family.validate_task(task)
        self.task = task
        for name in ("gravity", "masscart", "masspole", "length", "force_mag"):
            setattr(self, name, float(task.params[name]))
        # Gymnasium pushes with +force_mag for action 1 and -force_mag for action 0
        self.force_mag *= float(task.params.get("force_sign", 1))
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length

    def reset(self, *, seed=None, options=None):
        task, rest = _split_options(options)
        if task is not None:
            self.set_task(task)
        return super().reset(seed=seed, options=rest)


class PendulumTaskEnv(PendulumEnv):
    """Gymnasium's Pendulum with per-task constants. obs [3]; action Box(-B, B, (1,)) for every task."""

    def __init__(self, family: "PendulumDynamicsFamily", task: Task) -> None:
        super().__init__()
        self.family = family
        bound = family.torque_bound
        self.action_space = spaces.Box(-bound, bound, shape=(1,), dtype=np.float32)
        self.set_task(task)

    def set_task(self, task: Task) -> None:
        """Apply ``task``'s constants; ``max_torque`` is the clip used by ``PendulumEnv.step``."""
        self.family.validate_task(task)
        self.task = task
        for name in ("g", "m", "l", "max_torque"):
            setattr(self, name, float(task.params[name]))

    def reset(self, *, seed=None, options=None):
        task, rest = _split_options(options)
        if task is not None:
            self.set_task(task)
        return super().reset(seed=seed, options=rest)


class _PhysicsFamily(TaskFamily):
    """Shared construction: log-uniform multiplicative boxes around nominal constants.

    Options: min_scale -> max_scale (each constant is drawn log-uniformly from [min_scale,
    max_scale] x its nominal value)
    """

    kind = "rl"
    baselines = ("random",)
    held_out_rule = ("test tasks are separately seeded log-uniform draws from the same train box "
                     "(constants x [min_scale, max_scale] of nominal); hard limits 0.1x-10x")
    NOMINAL: dict[str, float] = {}

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0) -> None:
        lo, hi = HARD_SCALE
        self.min_scale = check_float(f"{self.name}: min_scale", min_scale, low=lo, high=hi)
        self.max_scale = check_float(f"{self.name}: max_scale", max_scale, low=lo, high=hi)
        if self.min_scale > self.max_scale:
            raise ConfigError(f"{self.name}: min_scale={min_scale} is larger than max_scale={max_scale}")
        self.params = ParamSpace([
            ParamSpec(name, v * self.min_scale, v * self.max_scale, scale="log", group="dynamics",
                      hard=self._hard(name, v))
            for name, v in self.NOMINAL.items()])

    def _hard(self, name: str, nominal: float) -> tuple[float, float]:
        return nominal * HARD_SCALE[0], nominal * HARD_SCALE[1]

    def validate_task(self, task: Task) -> None:
        if isinstance(task, Task) and task.family == self.name:
            check_scalar_params(task, self.params.names)
        super().validate_task(task)

    def nominal_task(self) -> Task:
        """The unmodified Gymnasium environment as a task (id ``<name>/nominal``)."""
        return Task(self.name, dict(self.NOMINAL), task_id=f"{self.name}/nominal", split="test")


class CartPoleDynamicsFamily(_PhysicsFamily):
    """CartPole-v1 (500-step time limit) with gravity, masses, pole length and force varied.

    Options: force_sign ("positive": Gymnasium's direction of push; "both": each task also
    draws ``force_sign`` +1 or -1 with equal odds and -1 reverses the push)
    """

    name = "cartpole-dynamics"
    max_episode_steps = 500
    NOMINAL = {"gravity": 9.8, "masscart": 1.0, "masspole": 0.1, "length": 0.5, "force_mag": 10.0}
    FORCE_SIGNS = ("positive", "both")

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0, force_sign: str = "positive") -> None:
        super().__init__(min_scale, max_scale)
        check_choice(f"{self.name}: force_sign", force_sign, self.FORCE_SIGNS)
        self.force_sign = force_sign
        if force_sign == "both":
            self.params = ParamSpace([*self.params, ParamSpec("force_sign", choices=(1, -1), group="dynamics")])

    def nominal_task(self) -> Task:
        task = super().nominal_task()
        return task if self.force_sign == "positive" else Task(self.name, {**task.params, "force_sign": 1},
                                                               task_id=task.task_id, split=task.split)

    def make_env(self, task: Task) -> gym.Env:
        return TimeLimit(CartPoleTaskEnv(self, task), max_episode_steps=self.max_episode_steps)


class PendulumDynamicsFamily(_PhysicsFamily):
    """Pendulum-v1 (200-step time limit) with gravity, mass, length and torque limit varied."""

    name = "pendulum-dynamics"
    max_episode_steps = 200
    NOMINAL = {"g": 10.0, "m": 1.0, "l": 1.0, "max_torque": 2.0}

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0) -> None:
        super().__init__(min_scale, max_scale)
        self.torque_bound = float(self.params["max_torque"].high)

    def _hard(self, name: str, nominal: float) -> tuple[float, float]:
        lo, hi = super()._hard(name, nominal)
        if name == "max_torque":  # the action space ends at the train box's upper bound
            hi = nominal * self.max_scale
        return lo, hi

    def make_env(self, task: Task) -> gym.Env:
        return TimeLimit(PendulumTaskEnv(self, task), max_episode_steps=self.max_episode_steps)
