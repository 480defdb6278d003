"""Gaussian policy samples -> actions inside a Box action space, in one of two unit systems.

- ``"env"``: the policy's Gaussian lives in the env's own action units; a sample is clipped
  to [low, high].
- ``"unit"``: it lives in [-1, 1] per coordinate; clip(a, -1, 1) is mapped affinely onto
  [low, high] (what rllab's ``normalize`` env wrapper does, which the MAML authors' code
  wraps every env in; stable-baselines3 recommends the same). Where the box is [-1, 1]
  already the two are identical. Where it is small (point-nav's [-0.1, 0.1]), "env" makes a
  unit standard deviation ten times the action range, so the policy acts as clipped noise.

Written here rather than as gymnasium's ``RescaleAction`` wrapper: the agents step the
families' own batched vector envs (not gymnasium wrappers), and the stored action (for
log-probabilities) must stay the unclipped sample while only the env sees the mapped one.
"""
from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from metarl.errors import ConfigError, check_choice

ACTION_UNITS = ("env", "unit")


class BoxActions:
    """Maps samples [..., act_dim] (torch, on ``device``) to env actions for ``space``."""

    def __init__(self, space: spaces.Box, units: str, device: torch.device | str, where: str = "") -> None:
        check_choice("action_units", units, ACTION_UNITS)
        low, high = space.low.reshape(-1), space.high.reshape(-1)
        if units == "unit" and not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ConfigError(f"action_units='unit' needs a bounded action box; {where or 'the family'} has "
                              f"low={low.tolist()}, high={high.tolist()} (use action_units='env')")
        self.units, self.shape = units, space.shape
        self.low, self.high = (torch.as_tensor(a, dtype=torch.float32, device=device) for a in (low, high))
        self.centre, self.half_range = 0.5 * (self.high + self.low), 0.5 * (self.high - self.low)

    def sample_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high) [act_dim] in the policy's own units: where a sample gets clipped
        (±1 with ``"unit"``, the box with ``"env"``; infinite where the box is unbounded)."""
        if self.units == "unit":
            return -torch.ones_like(self.low), torch.ones_like(self.high)
        return self.low, self.high

    def to_env(self, a: torch.Tensor) -> torch.Tensor:
        """Samples [..., act_dim] -> actions inside [low, high], same shape."""
        if self.units == "unit":  # [-1, 1] -> [low, high]; the final clip only absorbs rounding
            a = self.centre + a.clamp(-1.0, 1.0) * self.half_range  # exactly a on [-1, 1]
        return torch.maximum(torch.minimum(a, self.high), self.low)

    def host_actions(self, a: torch.Tensor) -> np.ndarray:
        """Samples [B, act_dim] -> env actions as a host array [B, *space.shape].

        A non-finite sample (a diverged policy) raises ``FloatingPointError`` here, where it
        is still the policy's fault, instead of reaching the env: ``clamp`` keeps NaN, and
        a simulator fed NaN fails later with an error about its own state."""
        out = self.to_env(a).cpu().numpy()
        if not np.isfinite(out).all():
            bad = int((~np.isfinite(out)).any(axis=-1).sum())
            raise FloatingPointError(f"the policy produced non-finite actions for {bad} of {len(out)} envs "
                                     "(diverged parameters?)")
        return out.reshape(-1, *self.shape)
