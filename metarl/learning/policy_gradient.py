"""Policy-gradient pieces for gradient-based meta-RL (MAML / Meta-SGD on RL families).

Episodes of a meta-batch are stored per task: ``[M, N, T, ...]`` = M tasks, N episodes
each, T steps (padded to the longest episode; ``mask`` [M, N, T] is 1 on real steps).

- ``returns_to_go``: discounted return from each step to the end of its episode.
- ``linear_baseline``: the MAML paper's linear feature baseline (Duan et al. 2016), fitted
  per task by ridge regression on features ``[o, o^2, t, t^2, t^3, 1]`` (o clipped to
  [-10, 10], t = step / 100) of that task's episodes, and evaluated on them.
- ``advantages``: returns-to-go minus the baseline (GAE with lambda = 1, as the paper),
  optionally standardised per task.
- Policy distributions as plain tensors (``Gaussian`` with a state-independent log std,
  ``Categorical`` logits): log-probabilities and the KL divergence used by TRPO.

Written here rather than taken from a library: garage / rllab (where these live) are
unmaintained, and stable-baselines3 has no per-task batched baseline.
"""
from __future__ import annotations

import math

import torch


def returns_to_go(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted returns [..., T] of rewards [..., T]; steps where ``mask`` is 0 count as 0."""
    r = rewards * mask
    out = torch.zeros_like(r)
    running = torch.zeros_like(r[..., 0])
    for t in range(r.shape[-1] - 1, -1, -1):
        running = r[..., t] + gamma * running
        out[..., t] = running
    return out


def baseline_features(obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Features [M, N, T, 2d + 4] of obs [M, N, T, d]: [o, o^2, t, t^2, t^3, 1] (t = step / 100),
    zero where ``mask`` is 0."""
    o = obs.clamp(-10.0, 10.0)
    t = torch.arange(obs.shape[2], dtype=obs.dtype, device=obs.device) / 100.0
    t = t.view(1, 1, -1, 1).expand(*obs.shape[:3], 1)
    feats = torch.cat([o, o * o, t, t * t, t ** 3, torch.ones_like(t)], dim=-1)
    return feats * mask.unsqueeze(-1)


def linear_baseline(obs: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                    reg: float = 1e-5) -> torch.Tensor:
    """Per-task ridge fit of ``returns`` [M, N, T] on ``baseline_features``; the fitted values
    [M, N, T] (0 on masked steps). Solved in float64; the ridge term grows x10 (up to 5
    times) if a task's system is singular, as in rllab's LinearFeatureBaseline."""
    x = baseline_features(obs, mask).double().flatten(1, 2)            # [M, N*T, F]
    y = (returns * mask).double().flatten(1, 2).unsqueeze(-1)           # [M, N*T, 1]
    xtx, xty = x.transpose(1, 2) @ x, x.transpose(1, 2) @ y
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    for _ in range(5):
        coef, info = torch.linalg.solve_ex(xtx + reg * eye, xty)
        if bool((info == 0).all()) and bool(torch.isfinite(coef).all()):
            break
        reg *= 10.0
    fitted = (x @ coef).squeeze(-1).view_as(returns)
    return fitted.to(returns.dtype) * mask


def task_normalize(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Standardise x [M, ...] over the masked entries of each task (axis 0) separately."""
    dims = tuple(range(1, x.ndim))
    n = mask.sum(dims, keepdim=True).clamp_min(1)
    mean = (x * mask).sum(dims, keepdim=True) / n
    var = (((x - mean) * mask) ** 2).sum(dims, keepdim=True) / n
    return (x - mean) / (var.sqrt() + eps) * mask


def advantages(obs: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor, gamma: float,
               normalize: bool = True) -> torch.Tensor:
    """Returns-to-go minus the per-task linear baseline, [M, N, T] (0 on masked steps),
    standardised per task if ``normalize``."""
    ret = returns_to_go(rewards, mask, gamma)
    adv = (ret - linear_baseline(obs, ret, mask)) * mask
    return task_normalize(adv, mask) if normalize else adv


def per_task_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over tasks of each task's mean over its real steps: v, mask [M, S] -> scalar."""
    return ((v * mask).sum(1) / mask.sum(1).clamp_min(1)).mean()


# ---- distributions --------------------------------------------------------------------------
def sample_categorical(probs: torch.Tensor, generator: torch.Generator, deterministic: bool = False) -> torch.Tensor:
    """Actions [...] (long) for probabilities [..., n]: the argmax, or one draw per row from
    ``generator`` (every agent samples from its own seeded generator, never the global one)."""
    if deterministic:
        return probs.argmax(-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])


def sample_gaussian(mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator,
                    deterministic: bool = False) -> torch.Tensor:
    """Actions [..., a] from N(mean [..., a], std (broadcast to it)): the mean, or a draw from
    ``generator``."""
    if deterministic:
        return mean
    return mean + std * torch.randn(mean.shape, generator=generator, device=mean.device)


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """log N(action; mean, exp(log_std)^2) summed over the last axis. mean / action [..., a];
    log_std broadcastable to them."""
    z = (action - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def clipped_gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, action: torch.Tensor,
                              low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log-probability of the action the env takes when a Gaussian sample is clipped to
    [low, high] (the clipped action policy gradient of Fujita & Maeda, ICML 2018), summed
    over the last axis. mean / action [..., a] (``action`` is the unclipped sample), log_std,
    low, high broadcastable; bounds must be finite.

    A coordinate sampled at or beyond ``high`` has probability P(x >= high) =
    Phi((mean - high) / std) (likewise Phi((low - mean) / std) at ``low``); one inside has
    the normal density. Unlike the density of the unclipped sample, this gives a gradient
    that moves a mean stuck beyond the bound back when the clipped action does badly: with
    the plain density, samples beyond the bound all reach the env as the same action, so
    their score terms average to zero and the mean stays where it is."""
    std_inv = torch.exp(-log_std)
    inside = -0.5 * ((action - mean) * std_inv) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    below = torch.special.log_ndtr((low - mean) * std_inv)
    above = torch.special.log_ndtr((mean - high) * std_inv)
    logp = torch.where(action <= low, below, torch.where(action >= high, above, inside))
    return logp.sum(-1)


def gaussian_kl(mean0: torch.Tensor, log_std0: torch.Tensor, mean1: torch.Tensor,
                log_std1: torch.Tensor) -> torch.Tensor:
    """KL(N0 || N1) of diagonal Gaussians, summed over the last axis."""
    var0, var1 = torch.exp(2 * log_std0), torch.exp(2 * log_std1)
    return (log_std1 - log_std0 + (var0 + (mean0 - mean1) ** 2) / (2 * var1) - 0.5).sum(-1)


def categorical_log_prob(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[action]: logits [..., n], integer action [...] -> [...]."""
    return torch.log_softmax(logits, -1).gather(-1, action.long().unsqueeze(-1)).squeeze(-1)


def categorical_kl(logits0: torch.Tensor, logits1: torch.Tensor) -> torch.Tensor:
    """KL(p0 || p1) of categorical distributions given by logits [..., n] -> [...]."""
    lp0, lp1 = torch.log_softmax(logits0, -1), torch.log_softmax(logits1, -1)
    return (lp0.exp() * (lp0 - lp1)).sum(-1)


def gaussian_fisher_product(log_std: torch.Tensor, t_mean: torch.Tensor, t_log_std: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The Fisher matrix of a diagonal Gaussian in its (mean, log std) coordinates, times a
    tangent: (t_mean / std^2, 2 t_log_std). It is the Hessian of KL(old || new) in new's
    coordinates where new = old, which is where TRPO takes it."""
    return t_mean * torch.exp(-2 * log_std), 2.0 * t_log_std


def categorical_fisher_product(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(diag(p) - p p^T) t for p = softmax(logits) [..., n], t [..., n]: the Hessian of
    KL(old || new) in new's logits (at any old), times t."""
    p = torch.softmax(logits, -1)
    pt = p * t
    return pt - p * pt.sum(-1, keepdim=True)
