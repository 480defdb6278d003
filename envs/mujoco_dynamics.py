"""Dynamics-variation MuJoCo families on Gymnasium's v5 envs: ``cheetah-dynamics``
(HalfCheetah), ``hopper-dynamics`` (Hopper) and ``walker-dynamics`` (Walker2d).

A task is four global multiplicative scales of the nominal model (all in the ``dynamics``
group, log scale):

- ``mass_scale``: every body's mass *and* rotational inertia (``body_mass``,
  ``body_inertia``) times the scale, i.e. the same shapes with a different density;
- ``friction_scale``: every geom's friction (sliding, torsional, rolling) times the scale,
  the floor included: MuJoCo takes the larger of the two surfaces' friction, so scaling
  only the robot would leave contacts with the floor unchanged wherever the floor's is larger;
- ``damping_scale``: every degree of freedom's joint damping (``dof_damping``) times the scale.

Train box: ``1.5^U(-L, L)`` for mass and friction and ``1.3^U(-L, L)`` for damping with
``L = log_scale_limit = 3`` (the ``rand_param_envs`` setting of PEARL and ProMP), i.e.
log-uniform on [0.296, 3.375] and [0.455, 2.197]. Hard limits 0.1x-10x for every scale
(where MuJoCo stays stable for these robots). ``rand_param_envs`` draws an independent
multiplier per body / geom / dof; here one scalar per quantity is drawn, which gives the
variants four interpretable axes and a stronger per-task signal.

Parameters are applied in place on ``env.unwrapped.model`` (the env is built once and
never re-created per task): the nominal arrays are copied at construction, each task
writes ``nominal * scale`` (never cumulative) and ``mujoco.mj_setConst`` recomputes the
derived constants (subtree masses, inverse weights, mean inertia) in a scratch ``MjData``
(the env's own ``data`` is not touched; a switch mid-episode changes the model at once,
``reset`` gives a clean start). A task with every
scale 1.0 (``family.nominal_task()``) restores the nominal model bit for bit, so its
rollouts equal those of the unmodified Gymnasium env.

Each env is ``TimeLimit(DynamicsWrapper(HalfCheetahEnv | HopperEnv | Walker2dEnv), horizon)``,
horizon 200 by default (ProMP's setting); observations, actions, rewards and termination
(Hopper and Walker2d fall -> ``terminated=True``) are the Gymnasium env's own: HalfCheetah
obs [17] / action [6], Hopper obs [11] / action [3], Walker2d obs [17] / action [6].

Held-out rule: test tasks are separately seeded draws from the same train box;
tasks beyond it, up to the hard limits, can be built by hand (``Task``) and evaluated, or drawn
at controlled distances by the environment generator (``metarl generate``).
"""
from __future__ import annotations

import math

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.wrappers import TimeLimit

from metarl.envs._common import check_scalar_params
from metarl.envs.mujoco_tasks import MujocoTaskWrapper
from metarl.errors import check_float, check_int
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

HARD_SCALE = (0.1, 10.0)
#: parameter -> (base of the multiplicative box, model arrays it scales)
SCALES = {"mass_scale": (1.5, ("body_mass", "body_inertia")),
          "friction_scale": (1.5, ("geom_friction",)),
          "damping_scale": (1.3, ("dof_damping",))}
MAX_LOG_LIMIT = math.log(HARD_SCALE[1]) / math.log(1.5)  # the widest box that fits the hard limits


class DynamicsWrapper(MujocoTaskWrapper):
    """Applies a task's scales to ``env.unwrapped.model`` in place (see module docstring)."""

    def _setup(self) -> None:
        model = self.env.unwrapped.model
        self._nominal = {field: getattr(model, field).copy()
                         for _, fields in SCALES.values() for field in fields}
        self._scratch = mujoco.MjData(model)  # mj_setConst's workspace, so env.data keeps its state

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_scratch"}

    def __setstate__(self, state: dict) -> None:
        state["_scratch"] = mujoco.MjData(state["env"].unwrapped.model)
        super().__setstate__(state)

    def _apply(self, task: Task) -> None:
        model = self.env.unwrapped.model
        for name, (_, fields) in SCALES.items():
            scale = float(task.params[name])
            for field in fields:
                np.multiply(self._nominal[field], scale, out=getattr(model, field))
        mujoco.mj_setConst(model, self._scratch)


class _DynamicsFamily(TaskFamily):
    """Shared construction; subclasses set ``name`` and ``ENV`` (a Gymnasium MuJoCo env class).

    Options: log_scale_limit (L: mass and friction scales 1.5^U(-L, L), damping 1.3^U(-L, L)),
    horizon (steps per episode)
    """

    kind = "rl"
    step_cost = "heavy"  # MuJoCo: make_vector_env may step large vectors in worker processes
    baselines = ("random",)
    held_out_rule = ("test tasks are separately seeded log-uniform draws from the same train box "
                     "(mass, friction x 1.5^U(-L, L), damping x 1.3^U(-L, L)); hard limits "
                     "0.1x-10x")
    ENV: type = HalfCheetahEnv

    def __init__(self, log_scale_limit: float = 3.0, horizon: int = 200) -> None:
        self.log_scale_limit = check_float(f"{self.name}: log_scale_limit", log_scale_limit,
                                           low=0.0, high=MAX_LOG_LIMIT)
        self.max_episode_steps = check_int(f"{self.name}: horizon", horizon, low=1)
        lim = self.log_scale_limit
        self.params = ParamSpace([
            ParamSpec(name, base ** -lim, base ** lim, scale="log", group="dynamics", hard=HARD_SCALE)
            for name, (base, _) in SCALES.items()])

    def validate_task(self, task: Task) -> None:
        if isinstance(task, Task) and task.family == self.name:
            check_scalar_params(task, self.params.names)
        super().validate_task(task)

    def nominal_task(self) -> Task:
        """The unmodified Gymnasium model as a task (every scale 1.0; id ``<name>/nominal``)."""
        return Task(self.name, {name: 1.0 for name in SCALES}, task_id=f"{self.name}/nominal", split="test")

    def make_env(self, task: Task) -> gym.Env:
        return TimeLimit(DynamicsWrapper(self.ENV(), self, task), max_episode_steps=self.max_episode_steps)


class CheetahDynamicsFamily(_DynamicsFamily):
    """HalfCheetah-v5 with body mass/inertia, friction and joint damping scaled per task."""

    name = "cheetah-dynamics"
    ENV = HalfCheetahEnv


class HopperDynamicsFamily(_DynamicsFamily):
    """Hopper-v5 with body mass/inertia, friction and joint damping scaled per task."""

    name = "hopper-dynamics"
    ENV = HopperEnv


class Walker2dDynamicsFamily(_DynamicsFamily):
    """Walker2d-v5 with body mass/inertia, friction and joint damping scaled per task."""

    name = "walker-dynamics"
    ENV = Walker2dEnv
