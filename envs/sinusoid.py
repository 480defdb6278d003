"""``sinusoid``: few-shot sinusoid regression (Finn et al. 2017, MAML, section 5.1) as
one-step episodes.

A task is ``y = amplitude * sin(x - phase)`` with amplitude ~ U[0.1, 5] and phase ~
U[0, pi] (the sign convention of the MAML reference code). Each episode is one example:
``reset`` draws ``x ~ U[-5, 5)`` from the env's ``np_random`` (observation ``[x]``,
``Box(-5, 5, (1,))``, float32; the target is computed from the float32 ``x`` the agent
sees); the action is the prediction ``Box(-10, 10, (1,))`` (clipped to it: targets of
tasks within the hard limits never leave it); the reward is ``-(prediction - y)^2``; the
step terminates the episode and ``info["target"]`` holds ``y`` (float). A trial of k
episodes is k examples of one function: support set first, then queries.

``y`` is computed with ``math.sin`` on one scalar in both the single and the batched env,
so both give bit-identical targets. Held-out rule: test tasks are separately seeded
draws of amplitude and phase (as in the paper).
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.envs._common import PredrawnTrialVectorEnv, check_scalar_params
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

X_LOW, X_HIGH = -5.0, 5.0
PRED_BOUND = 10.0


def _spaces() -> tuple[spaces.Box, spaces.Box]:
    obs = spaces.Box(X_LOW, X_HIGH, shape=(1,), dtype=np.float32)
    act = spaces.Box(-PRED_BOUND, PRED_BOUND, shape=(1,), dtype=np.float32)
    return obs, act


def _target(amplitude: float, phase: float, x: np.float32) -> float:
    """y = amplitude * sin(x - phase) for the float32 x the agent sees, with ``math.sin`` on one
    scalar, so the single and the batched env give bit-identical targets."""
    return amplitude * math.sin(float(x) - phase)


def _draw(rng: np.random.Generator, amplitude: float, phase: float) -> tuple[np.float32, float]:
    """One example: x (float32, as observed) and its target."""
    x = np.float32(rng.uniform(X_LOW, X_HIGH))
    return x, _target(amplitude, phase, x)


class SinusoidEnv(gym.Env):
    """One sinusoid; each episode is one (x, y) example. obs [1]; action (prediction) [1]."""

    metadata = {"render_modes": []}

    def __init__(self, family: "SinusoidFamily", task: Task) -> None:
        self.family = family
        self.observation_space, self.action_space = _spaces()
        self._set_task(task)
        self.x, self.y = np.float32(0.0), 0.0

    def _set_task(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task = task
        self.amplitude = float(task.params["amplitude"])
        self.phase = float(task.params["phase"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set_task(options["task"])
        self.x, self.y = _draw(self.np_random, self.amplitude, self.phase)
        return np.array([self.x], dtype=np.float32), {}

    def step(self, action):
        pred = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -PRED_BOUND, PRED_BOUND))
        reward = -((pred - self.y) ** 2)
        return np.array([self.x], dtype=np.float32), float(reward), True, False, {"target": float(self.y)}


class SinusoidVectorEnv(PredrawnTrialVectorEnv):
    """B sinusoids; slot i draws its x from ``rngs[i]``, like ``SinusoidEnv``.

    A trial of k episodes draws exactly k values of x from its slot's stream, one per episode,
    so all k are drawn in one call when the trial starts (numpy's ``uniform(size=k)`` yields
    the same numbers as k scalar draws; tested against the single env in tests/test_trial_vector.py):
    about 10x cheaper per step than a scalar draw per slot and episode."""

    def __init__(self, family: "SinusoidFamily", num_envs: int, episodes: int) -> None:
        super().__init__(family, num_envs, episodes, *_spaces())

    def _set_tasks(self, tasks):
        self.amplitude = np.array([float(t.params["amplitude"]) for t in tasks])   # [B]
        self.phase = np.array([float(t.params["phase"]) for t in tasks])           # [B]

    def _draw_trials(self) -> dict[str, np.ndarray]:
        """Every slot's k inputs [B, k] (float32, as observed) and their targets [B, k]."""
        k = self.episodes
        xs = np.stack([rng.uniform(X_LOW, X_HIGH, size=k) for rng in self.rngs]).astype(np.float32)
        ys = np.array([[_target(a, p, x) for x in row] for a, p, row in zip(self.amplitude, self.phase, xs)])
        return {"x": xs, "y": ys}

    def _observation(self) -> np.ndarray:
        return self.now["x"][:, None].copy()

    def _step_inner(self, actions, active):
        a = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, -1)[:, 0]
        pred = np.clip(a, -PRED_BOUND, PRED_BOUND)
        reward = -((pred - self.now["y"]) ** 2)
        done = np.ones(self.num_envs, dtype=bool)
        return self._observation(), reward, done, ~done, {"target": self.now["y"].copy()}


class SinusoidFamily(TaskFamily):
    """Sinusoid regression tasks; ``kind="supervised"`` (one-step episodes, label in ``info["target"]``)."""

    name = "sinusoid"
    kind = "supervised"
    max_episode_steps = 1
    held_out_rule = "test tasks are separately seeded draws of amplitude and phase"
    baselines = ("random",)

    def __init__(self) -> None:
        # phase is periodic (2 pi): hard limits of one period centred on the box, so a phase's
        # distance beyond [0, pi] (at most half a box width) is its true distance on the circle
        # (a phase of 2 pi - e beyond the box would be the same function as -e, just outside it)
        self.params = ParamSpace([
            ParamSpec("amplitude", 0.1, 5.0, group="task", hard=(0.0, PRED_BOUND)),
            ParamSpec("phase", 0.0, math.pi, group="task", hard=(-0.5 * math.pi, 1.5 * math.pi)),
        ])

    @staticmethod
    def function(task: Task, x: np.ndarray) -> np.ndarray:
        """The task's regression function at inputs ``x`` (any shape): ``A sin(x - phase)``."""
        return float(task.params["amplitude"]) * np.sin(np.asarray(x, dtype=np.float64) - float(task.params["phase"]))

    def validate_task(self, task: Task) -> None:
        if isinstance(task, Task) and task.family == self.name:
            check_scalar_params(task, self.params.names)
        super().validate_task(task)

    def make_env(self, task: Task) -> gym.Env:
        return SinusoidEnv(self, task)

    def native_vector_env(self, num_envs: int, episodes: int) -> SinusoidVectorEnv:
        return SinusoidVectorEnv(self, num_envs, episodes)
