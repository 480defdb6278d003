"""TRPO's step machinery (Schulman et al. 2015): conjugate gradient with Hessian-vector
products, and a backtracking line search under a KL constraint.

Parameters are handled as a list of tensors and flattened where the algebra needs one
vector. Written here because no maintained library exposes a TRPO step that works on an
arbitrary differentiable objective (the MAML objective differentiates through the inner
adaptation); sb3-contrib's TRPO is tied to its own policy classes and rollout buffer.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one vector."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflat(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split ``vector`` into tensors shaped like ``like``."""
    out, i = [], 0
    for t in like:
        out.append(vector[i:i + t.numel()].view_as(t))
        i += t.numel()
    return out


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int = 10,
                       residual_tol: float = 1e-10) -> torch.Tensor:
    """Approximate solution x of A x = b for a symmetric positive-definite A given as
    ``matvec(v) = A v`` (b and x: [n]); stops after ``iters`` iterations or when the squared
    residual falls below ``residual_tol``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr <= residual_tol:
            break
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def hessian_vector_product(grad_fn_output: Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                           damping: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> H v + damping * v`` where H is the Jacobian of ``grad_fn_output`` (gradients of
    a scalar w.r.t. ``params``, computed with ``create_graph=True``) w.r.t. ``params``."""
    g = flat(grad_fn_output)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(g @ v.detach(), list(params), retain_graph=True)
        return flat(hv).detach() + damping * v
    return matvec


def line_search(evaluate: Callable[[torch.Tensor], tuple[float, float]], x0: torch.Tensor, step: torch.Tensor,
                *, max_kl: float, baseline: float, backtracks: int = 15, ratio: float = 0.5
                ) -> tuple[torch.Tensor, float, float, int]:
    """Backtracking: try ``x0 + ratio^j * step`` for j = 0, 1, ...; accept the first point
    whose objective (to maximise) exceeds ``baseline`` with KL <= ``max_kl``.

    ``evaluate(x) -> (objective, kl)``. Returns (x, objective, kl, j) for the accepted point,
    or (x0, baseline, 0.0, -1) if none was accepted (the step is rejected)."""
    for j in range(backtracks):
        x = x0 + (ratio ** j) * step
        obj, kl = evaluate(x)
        if obj > baseline and kl <= max_kl and torch.isfinite(torch.as_tensor(obj)):
            return x, obj, kl, j
    return x0, baseline, 0.0, -1
