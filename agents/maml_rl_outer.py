"""Outer (meta) updates of RL MAML / Meta-SGD: TRPO (the MAML paper's) and a PPO-clipped
surrogate with Adam (ProMP-like). Both differentiate through the inner adaptation via
``agent.outer_terms`` / ``agent.adapted``; see ``metarl.agents.maml_rl``."""
from __future__ import annotations

import math

import torch

from metarl.learning import policy_gradient as pg
from metarl.learning.policy_gradient import per_task_mean
from metarl.learning.trpo import conjugate_gradient, flat, hessian_vector_product, line_search, unflat


def _assign(params: list[torch.Tensor], vector: torch.Tensor) -> None:
    with torch.no_grad():
        for p, v in zip(params, unflat(vector, params)):
            p.copy_(v)


def first_order_metric(agent, batch, damping: float, subsample: float = 1.0):
    """``v -> J^T F J v + damping * v`` where F is the policy's Fisher matrix (mean over each task's
    query steps, mean over tasks) w.r.t. each task's adapted parameters theta'_m, and J the inner
    steps' Jacobian d theta'_m / d theta with its second-order term dropped (identity for the
    policy parameters; ``-diag(sum of inner gradients)`` for Meta-SGD's step sizes). Where the
    new policy equals the collecting one, as in ``trpo_step``, F is the Hessian of the mean KL.
    About 10x cheaper than ``exact`` (which differentiates the KL three times through the inner
    steps); the line search still checks the exact KL, so the trust region holds either way.
    ``subsample``: the fraction of each task's query episodes the metric is estimated on (as
    rllab's TRPO ``subsample_factor``).

    F v is computed as the network's Jacobian-vector product (forward mode, ``torch.func.jvp``),
    the distribution's Fisher in output space (``policy_gradient.*_fisher_product``), then one
    backward pass: half the work of autograd's double backward through the KL's gradient."""
    grad_sum: dict = {}
    with torch.no_grad():
        adapted = agent.adapted(batch, create_graph=False, grad_sum=grad_sum)
    p = {k: v.detach().requires_grad_(True) for k, v in adapted.items()}
    q = batch.rounds[-1]
    n_eps, steps = q.mask.shape[1], q.mask.shape[2]
    keep = max(1, math.ceil(subsample * n_eps)) * steps  # episodes are i.i.d.: the first ones are a sample
    x, mask = q.obs.flatten(1, 2)[:, :keep], q.mask.flatten(1, 2)[:, :keep]
    step_w = mask / mask.sum(1, keepdim=True).clamp_min(1) / mask.shape[0]    # [M, S]: per_task_mean's weights
    names = list(agent.params)
    new = agent.dist(p, x)                                                    # graph to p, reused by every v
    fixed = tuple(t.detach() for t in new)
    weights = tuple(step_w.unsqueeze(-1) if o.shape[1] == step_w.shape[1] else step_w.sum(1, keepdim=True).unsqueeze(-1)
                    for o in new)                                             # log std [M, 1, a]: all steps
    primals = tuple(v.detach().contiguous() for v in p.values())  # meta=False: theta expanded [M, ...] (stride 0)
    like = agent.meta_parameters()
    learn_lr = agent.learn_lr and bool(grad_sum)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        parts = unflat(v.detach(), like)
        jv = tuple((parts[i].expand_as(p[k]) - (grad_sum[k] * parts[len(names) + i] if learn_lr else 0.0))
                   .contiguous() for i, k in enumerate(names))  # forward-mode AD takes no expanded tangents
        _, t_out = torch.func.jvp(lambda *ps: agent.dist(dict(zip(names, ps)), x), primals, jv)
        f_out = (pg.categorical_fisher_product(fixed[0], t_out[0]),) if agent.discrete else \
            pg.gaussian_fisher_product(fixed[1], *t_out)
        s = sum((o * (f * w).detach()).sum() for o, f, w in zip(new, f_out, weights))
        hv = torch.autograd.grad(s, list(p.values()), retain_graph=True)
        out = [h.sum(0) for h in hv]
        if agent.learn_lr:
            out += [-(grad_sum[k] * h).sum(0) if learn_lr else torch.zeros_like(h[0]) for k, h in zip(names, hv)]
        return flat(out) + damping * v
    return matvec


def trpo_step(agent, batch) -> dict[str, float]:
    """One TRPO step on theta: natural-gradient direction by conjugate gradient with
    Hessian-vector products of the mean KL between the collecting and the new adapted
    policies (``metric``: "exact" through the inner steps, or "first-order", see
    ``first_order_metric``), scaled to the KL bound, then a backtracking line search that
    requires a better surrogate and KL <= ``max_kl``."""
    c = agent.config()
    theta = agent.meta_parameters()
    surr, kl = agent.outer_terms(batch, create_graph=True)
    if not torch.isfinite(surr):
        raise FloatingPointError(f"non-finite MAML surrogate {float(surr.detach())}")
    g = flat(torch.autograd.grad(surr, theta, retain_graph=c["metric"] == "exact"))
    if c["metric"] == "exact":
        grad_kl = torch.autograd.grad(kl, theta, create_graph=True)
        hvp = hessian_vector_product(grad_kl, theta, damping=c["cg_damping"])
    else:
        hvp = first_order_metric(agent, batch, c["cg_damping"], c["cg_subsample"])
    direction = conjugate_gradient(hvp, g, iters=c["cg_iters"])
    shs = float(direction @ hvp(direction))
    x0 = flat(theta).detach().clone()
    out = {"surrogate": float(surr.detach()), "grad_norm": float(g.norm())}
    if not (math.isfinite(shs) and shs > 0):
        out.update(kl=0.0, backtracks=-1.0, step_accepted=0.0)
        return out
    step = math.sqrt(2.0 * c["max_kl"] / shs) * direction

    def evaluate(x: torch.Tensor) -> tuple[float, float]:
        _assign(theta, x)
        with torch.no_grad():
            s, k = agent.outer_terms(batch, create_graph=False)
        return float(s), float(k)

    x, obj, kl_new, j = line_search(evaluate, x0, step, max_kl=c["max_kl"], baseline=out["surrogate"])
    _assign(theta, x)
    out.update(surrogate_new=obj, kl=kl_new, backtracks=float(j), step_accepted=float(j >= 0))
    return out


def ppo_steps(agent, batch) -> dict[str, float]:
    """``outer_epochs`` Adam steps on the PPO-clipped surrogate of the adapted policies (each
    step replays the inner adaptation from the current theta)."""
    c = agent.config()
    adv, mask = batch.advs[-1].flatten(1, 2), batch.rounds[-1].mask.flatten(1, 2)
    per_task = lambda v: per_task_mean(v, mask)  # noqa: E731
    sums = {"surrogate": 0.0, "kl": 0.0, "clip_fraction": 0.0}
    for _ in range(c["outer_epochs"]):
        new, ratio = agent.query_ratio(batch, create_graph=True)
        clipped = ratio.clamp(1 - c["clip"], 1 + c["clip"])
        surr = per_task(torch.minimum(ratio * adv, clipped * adv))
        if not torch.isfinite(surr):
            raise FloatingPointError(f"non-finite MAML surrogate {float(surr.detach())}")
        agent.optimizer.zero_grad(set_to_none=True)
        (-surr).backward()
        agent.optimizer.step()
        with torch.no_grad():
            sums["surrogate"] += float(surr)
            sums["kl"] += float(per_task(agent.kl(batch.old_dist, new)))
            sums["clip_fraction"] += float(per_task(((ratio - 1).abs() > c["clip"]).float()))
    return {k: v / c["outer_epochs"] for k, v in sums.items()}
