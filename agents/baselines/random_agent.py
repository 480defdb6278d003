"""``random``: uniformly random actions, for any family (the floor every agent must beat)."""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError
from metarl.learning.agent import Agent

from ._common import check_seed


class RandomAgent(Agent):
    """Uniform random actions; keeps no memory (``init_state`` returns None).

    - ``Discrete(n, start)``: actions uniform in ``{start, ..., start + n - 1}`` -> [B] int64.
    - ``Box``: uniform in ``[low, high]`` per dimension -> [B, *shape] in the space's dtype;
      an unbounded side is sampled like Gymnasium does (normal if both sides are open,
      ``low + Exp(1)`` / ``high - Exp(1)`` if one is).

    Options: ``seed`` (int >= 0) seeds the agent's own ``np.random.Generator``.
    ``deterministic`` is accepted and ignored: randomness is this agent's policy.
    """

    name = "random"

    def __init__(self, family, seed: int = 0) -> None:
        super().__init__(family)
        self.seed = check_seed(self.name, seed)
        self.rng = np.random.default_rng(self.seed)
        space = self.action_space
        if not isinstance(space, (spaces.Discrete, spaces.Box)):
            raise ConfigError(f"agent 'random' supports Discrete and Box action spaces, got {space}")

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def act(self, obs: np.ndarray, state: Any, deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """obs [B, D] -> actions [B] (Discrete) or [B, *shape] (Box); state passes through."""
        b = int(np.shape(obs)[0])
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            start = int(space.start)
            return self.rng.integers(start, start + int(space.n), size=b, dtype=np.int64), state
        return self._sample_box(space, b), state

    def _sample_box(self, space: spaces.Box, b: int) -> np.ndarray:
        shape = (b,) + tuple(space.shape)
        low = np.broadcast_to(space.low, space.shape).astype(np.float64)
        high = np.broadcast_to(space.high, space.shape).astype(np.float64)
        lo_ok, hi_ok = np.isfinite(low), np.isfinite(high)
        out = self.rng.standard_normal(shape)                      # both sides unbounded
        expo = self.rng.exponential(size=shape)
        out = np.where(lo_ok & ~hi_ok, low + expo, out)
        out = np.where(~lo_ok & hi_ok, high - expo, out)
        both = lo_ok & hi_ok
        # where() evaluates both branches: keep the uniform finite where a side is infinite.
        uni = self.rng.uniform(np.where(both, low, 0.0), np.where(both, high, 1.0), size=shape)
        out = np.where(both, uni, out)
        if np.issubdtype(space.dtype, np.integer):
            out = np.floor(out)
        return out.astype(space.dtype)
