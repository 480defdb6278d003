"""Batches of whole episodes, several per task, for policy-gradient meta-learners (MAML).

``sample_episodes`` runs one episode in each of B slots of a family's vector env built
with ``episodes=1`` (so a slot is one episode of its task) and returns padded tensors
``[B, T, ...]`` with a mask; the caller lays the B slots out as [tasks, episodes per task].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch


@dataclass
class Episodes:
    """B episodes padded to T steps. obs [B, T, d] (inner observation before each action),
    actions [B, T, a] (Box: as sampled, before the env's clip) or [B, T] (Discrete, int64),
    rewards [B, T], mask [B, T] (1 on real steps), success [B] (the success flag was set at
    some step; False where the family defines none). From ``sample_episodes`` also
    final_obs [B, d] (the inner observation after each episode's last step, to bootstrap a
    time-limit cut) and terminated [B] (the episode ended by termination, not truncation)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    success: torch.Tensor
    final_obs: torch.Tensor | None = None
    terminated: torch.Tensor | None = None

    def view(self, m: int, n: int) -> "Episodes":
        """The same episodes laid out [m, n, T, ...] (m tasks x n episodes, slot = task * n + episode)."""
        return Episodes(*(None if t is None else t.reshape(m, n, *t.shape[1:]) for t in
                          (self.obs, self.actions, self.rewards, self.mask, self.success, self.final_obs,
                           self.terminated)))

    @property
    def returns(self) -> torch.Tensor:
        """Undiscounted return of each episode, shape of ``mask`` without the T axis."""
        return (self.rewards * self.mask).sum(-1)

    @property
    def num_steps(self) -> int:
        return int(self.mask.sum())


def sample_episodes(venv, tasks: Sequence, policy: Callable[[torch.Tensor], tuple[torch.Tensor, np.ndarray]],
                    *, seed: int | None, device: torch.device | str = "cpu") -> Episodes:
    """One episode per slot of ``venv`` (a TrialVectorEnv with ``episodes=1``; ``tasks`` has
    one task per slot, slot i seeded ``seed + i``).

    ``policy(obs [B, d] float32 tensor on device) -> (actions tensor [B, ...] as stored,
    env actions np.ndarray)`` — called once per step on all slots (finished ones included:
    their actions are ignored by the env and masked out here)."""
    if venv.episodes != 1:
        raise ValueError(f"sample_episodes needs a vector env with episodes=1, got episodes={venv.episodes}")
    obs, _ = venv.reset(seed=seed, options={"tasks": list(tasks)})
    layout = venv.layout
    b = venv.num_envs
    obs_l, act_l, rew_l, mask_l = [], [], [], []
    success = np.zeros(b, dtype=bool)
    active = np.ones(b, dtype=bool)
    term = np.zeros(b, dtype=bool)
    for _ in range(venv.max_trial_steps):
        x = torch.as_tensor(obs[:, layout.obs], device=device)
        actions, env_actions = policy(x)
        obs, reward, term, trunc, info = venv.step(env_actions)
        active = np.asarray(info["active"], dtype=bool)
        obs_l.append(x)
        act_l.append(actions)
        rew_l.append(np.where(active, reward, 0.0))
        mask_l.append(active)
        if "success" in info:
            success |= active & np.asarray(info["success"], dtype=bool)
        if bool(np.all(term | trunc)):
            break
    as_t = lambda a: torch.as_tensor(np.stack(a, 1), dtype=torch.float32, device=device)  # noqa: E731
    # a finished slot repeats its last observation and its episode's terminated flag
    return Episodes(torch.stack(obs_l, 1), torch.stack(act_l, 1), as_t(rew_l), as_t(mask_l),
                    torch.as_tensor(success, device=device),
                    torch.as_tensor(obs[:, layout.obs], dtype=torch.float32, device=device),
                    torch.as_tensor(np.asarray(term, dtype=bool), device=device))
