"""PPO loss pieces over masked [T, B] batches (shared by every PPO-trained agent)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is 1 (same shape).

    Masked-out entries are selected away, not multiplied by 0, so an inf or nan there
    (a padded step after a trial's end) cannot turn the mean into nan.
    """
    keep = mask.bool()
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum() / keep.sum().clamp_min(1)


def normalize(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean).pow(2), mask)
    return (x - mean) / (var.sqrt() + eps)


@dataclass
class PPOLoss:
    """The terms of one PPO minibatch loss; ``total`` is what is minimised."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor


def ppo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
             returns: torch.Tensor, entropy: torch.Tensor, mask: torch.Tensor, *, clip: float,
             vf_coef: float, ent_coef: float) -> PPOLoss:
    """Clipped surrogate + squared value error - entropy bonus, all [T, B] with ``mask`` [T, B].

    policy = -E[min(r A, clip(r, 1-c, 1+c) A)], value = 0.5 E[(V - R)^2],
    approx_kl = E[(r - 1) - log r] (the low-variance estimator).
    Entries where ``mask`` is 0 (steps after a trial's end) contribute nothing, not even
    through the gradient: their log-ratio is zeroed *before* ``exp`` (a ``where`` after it
    would still give ``0 * inf = nan`` gradients).
    """
    keep = mask.bool()
    zero = torch.zeros((), dtype=new_logp.dtype, device=new_logp.device)
    log_ratio = torch.where(keep, new_logp - old_logp, zero)
    advantages = torch.where(keep, advantages, zero)
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)
    policy = -masked_mean(surrogate, mask)
    value = 0.5 * masked_mean(torch.where(keep, values - returns, zero).pow(2), mask)
    ent = masked_mean(entropy, mask)
    with torch.no_grad():
        approx_kl = masked_mean((ratio - 1.0) - log_ratio, mask)
        clip_fraction = masked_mean(((ratio - 1.0).abs() > clip).to(ratio.dtype), mask)
    total = policy + vf_coef * value - ent_coef * ent
    return PPOLoss(total, policy, value, ent, approx_kl, clip_fraction)


def explained_variance(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var[target - pred] / Var[target] over masked entries (nan if Var[target] = 0)."""
    var_t = masked_mean((target - masked_mean(target, mask)).pow(2), mask)
    resid = target - pred
    var_r = masked_mean((resid - masked_mean(resid, mask)).pow(2), mask)
    return float("nan") if float(var_t) == 0.0 else float(1.0 - var_r / var_t)
