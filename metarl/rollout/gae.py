"""Generalised advantage estimation over whole trials.

Conventions: inner-episode ends inside a trial are *not*
cuts — the recurrent agent's return runs across them. At the end of a trial the
value is bootstrapped when the last episode was truncated by a time limit and not
when it terminated.
"""
from __future__ import annotations

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor,
                trial_end: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, both [T, B].

    Args:
        rewards: [T, B] reward of step t.
        values: [T + 1, B] V(obs_t); ``values[t + 1]`` at a trial's last step t is V of the
            trial's final observation (used only if that step was truncated).
        terminated: [T, B] 1 where step t ended the trial by termination (no bootstrap).
        trial_end: [T, B] 1 where step t was the trial's last step (terminated or truncated);
            the recursion does not cross it. Steps after a trial's end are ignored by the
            caller (mask them), their advantages are whatever the recursion gives.
        gamma, lam: discount and GAE lambda.
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(rewards[0])
    boot = 1.0 - terminated.to(rewards.dtype)
    cont = 1.0 - trial_end.to(rewards.dtype)
    for t in range(T - 1, -1, -1):
        delta = rewards[t] + gamma * values[t + 1] * boot[t] - values[t]
        next_adv = delta + gamma * lam * cont[t] * next_adv
        adv[t] = next_adv
    return adv, adv + values[:-1]
