"""``TrialBatch``: B whole trials collected side by side, as preallocated [T, B, ...] tensors."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class TrialBatch:
    """Experience of B trials, time-major; all tensors on the agent's device.

    obs [T, B, D] trial observations; actions [T, B] (discrete) or [T, B, A];
    logp [T, B] log-probabilities at collection; values [T + 1, B] (row T+1 is the value
    of the observation after the step, see ``compute_gae``); rewards [T, B];
    active [T, B] 1 while the slot was inside its trial; terminated / trial_end [T, B]
    mark a trial's last step. ``advantages`` and ``returns`` [T, B] are filled by the agent.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    active: torch.Tensor
    terminated: torch.Tensor
    trial_end: torch.Tensor
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None
    stats: dict = field(default_factory=dict)
    hidden: torch.Tensor | None = None  # [n_chunks, B, H] recorded memory at chunk starts (truncated BPTT)
    task: torch.Tensor | None = None  # [B, F] privileged task features for an asymmetric critic

    @property
    def num_steps(self) -> int:
        """Environment steps in the batch (active steps only)."""
        return int(self.stats.get("env_steps", self.active.sum().item()))

    def trials(self, idx: torch.Tensor) -> "TrialBatch":
        """The sub-batch of trials ``idx`` (whole trials, all time steps)."""
        pick = lambda x: None if x is None else x[:, idx]  # noqa: E731
        return TrialBatch(pick(self.obs), pick(self.actions), pick(self.logp), pick(self.values),
                          pick(self.rewards), pick(self.active), pick(self.terminated), pick(self.trial_end),
                          pick(self.advantages), pick(self.returns),
                          task=None if self.task is None else self.task[idx])
