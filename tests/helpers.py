"""Small helpers shared by the test modules (importable because pytest puts tests/ on sys.path)."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from metarl.tasks import ParamSpace, TaskFamily

# Device parametrisation for the tests that must also hold on a GPU: the CUDA case runs
# wherever torch sees one (and is reported as skipped on CPU-only machines such as CI).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                               reason="needs CUDA"))]


def one_line(exc_info) -> str:
    """The message of a ``pytest.raises`` result, asserting it is a single non-empty line."""
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


def cli(argv: list[str]) -> int:
    """``metarl ARGV`` in this process, as its exit code (argparse's own exits included)."""
    from metarl.cli import main as cli_main

    try:
        return cli_main(argv)
    except SystemExit as exc:  # argparse's own --help / usage errors
        return int(exc.code or 0)


class StandInEnv(gym.Env):
    """One-step episodes with a 2-d zero observation and a given action space; an action
    outside that space (wrong shape, dtype or offset) raises instead of being ignored."""

    def __init__(self, action_space):
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        return np.zeros(2, dtype=np.float32), 0.0, True, False, {}


class StandInFamily(TaskFamily):
    """A parameterless family over ``StandInEnv``: for agents on unusual action spaces."""

    name = "stand-in"
    params = ParamSpace([])

    def __init__(self, action_space):
        self._space = action_space

    def make_env(self, task):
        return StandInEnv(self._space)
