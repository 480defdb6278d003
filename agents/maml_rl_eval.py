"""The adaptation curve of gradient-based RL agents: return after 0, 1, ..., n inner steps.

MAML paper protocol: for each held-out task, sample N episodes with the current
parameters, record their mean return, take one inner policy-gradient step on them, and
repeat. Works for any agent with ``stack`` / ``sample_tasks`` / ``advantages`` /
``inner_step`` (``MAMLRLAgent`` and ``MetaSGDRLAgent``; a ``meta=False`` agent is the
fine-tuned multi-task baseline).
"""
from __future__ import annotations

import numpy as np
import torch

from metarl.errors import MetaRLError, check_int
from metarl.evaluation.stats import per_column_ci
from metarl.seeding import derive_seeds


def inner_step_returns(agent, tasks, *, steps: int = 3, trajectories: int | None = None, seed: int = 0,
                       slots: int = 1000) -> tuple[np.ndarray, np.ndarray | None]:
    """Per task mean episode return after 0..``steps`` inner steps [n, steps + 1], and the
    fraction of successful episodes (same shape; None if the family defines no success).
    Tasks run ``slots // trajectories`` at a time; chunk c, step s is seeded from (seed, c, s)."""
    steps = check_int("steps", steps, low=0)
    n_traj = check_int("trajectories", agent.config()["trajectories"] if trajectories is None else trajectories,
                       low=1)
    tasks = list(tasks)
    if not tasks:
        raise MetaRLError("inner_step_returns needs at least one task")
    agent.reseed(seed)
    per_chunk = max(1, slots // n_traj)
    returns = np.zeros((len(tasks), steps + 1))
    success = np.zeros((len(tasks), steps + 1)) if agent.family.has_success else None
    for c, start in enumerate(range(0, len(tasks), per_chunk)):
        chunk = tasks[start:start + per_chunk]
        venv = agent.family.make_vector_env(len(chunk) * n_traj, 1)
        seeds = derive_seeds(seed, steps + 1, "inner-step-curve", c)
        p = agent.stack(len(chunk), detach=True)
        for s in range(steps + 1):
            eps = agent.sample_tasks(venv, chunk, p, seeds[s], agent.act_generator)
            returns[start:start + len(chunk), s] = eps.returns.mean(1).cpu().numpy()
            if success is not None:
                success[start:start + len(chunk), s] = eps.success.float().mean(1).cpu().numpy()
            if s < steps:
                p = {k: v.detach() for k, v in agent.inner_step(p, eps, agent.advantages(eps),
                                                                create_graph=False).items()}
        venv.close()
    return returns, success


def inner_step_curve(agent, tasks, *, steps: int = 3, trajectories: int | None = None, seed: int = 0) -> dict:
    """``inner_step_returns`` summarised: {"metric": "return", "steps": [0..n], "trajectories": N,
    "n_tasks", "per_step": [{mean, ci_low, ci_high, stderr}, ...] (95% bootstrap CI over tasks),
    "success_per_step": [...] (if defined)}."""
    trajectories = agent.config()["trajectories"] if trajectories is None else trajectories
    with torch.no_grad():
        r, s = inner_step_returns(agent, tasks, steps=steps, trajectories=trajectories, seed=seed)
    out = {"metric": "return", "steps": list(range(r.shape[1])),
           "trajectories": int(trajectories), "n_tasks": int(r.shape[0]),
           "per_step": per_column_ci(r, seed=seed), "ci": "95% bootstrap CI over tasks"}
    if s is not None:
        out["success_per_step"] = [float(v) for v in s.mean(0)]
    return out


def outer_surrogate_loop(agent, batch, first_order: bool | None = None) -> torch.Tensor:
    """Reference for ``agent.outer_terms(batch)[0]``: the MAML surrogate computed task by task
    with single-task ``functional_call`` forwards, ``torch.distributions`` log-probabilities
    and one ``autograd.grad`` per task and inner step (no stacked parameters). Used by the
    tests (batched == loop) and by ``metarl bench maml`` (the speed reference)."""
    from torch.distributions import Categorical, Normal

    from metarl.learning import functional as F

    first_order = agent.config()["first_order"] if first_order is None else first_order
    rounds, advs = batch.rounds, batch.advs
    m_tasks = rounds[0].mask.shape[0]

    def logp(p, eps, m):
        net_p = {k: v for k, v in p.items() if k != "log_std"}
        obs = eps.obs[m].flatten(0, 1).to(next(iter(net_p.values())).dtype)
        out = F.forward(agent.net, net_p, obs)
        act = eps.actions[m].flatten(0, 1)
        if agent.discrete:
            return Categorical(logits=out).log_prob(act.long())
        return Normal(out, p["log_std"].exp()).log_prob(act).sum(-1)

    total = 0.0
    for m in range(m_tasks):
        p = dict(agent.params)
        for eps, adv in zip(rounds[:-1], advs[:-1]):
            mask = eps.mask[m].flatten()
            loss = -(logp(p, eps, m) * adv[m].flatten() * mask).sum() / mask.sum().clamp_min(1)
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=not first_order)
            p = {k: v - agent.lrs[k] * g for (k, v), g in zip(p.items(), grads)}
        q, mask = rounds[-1], rounds[-1].mask[m].flatten()
        ratio = torch.exp(logp(p, q, m) - batch.old_logp[m])
        total = total + (ratio * advs[-1][m].flatten() * mask).sum() / mask.sum().clamp_min(1) / m_tasks
    return total
