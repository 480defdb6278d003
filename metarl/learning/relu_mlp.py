"""Second-order MAML for a ReLU MLP with its backward passes written out: per-task gradients,
Hessian-vector products and the meta-gradient, all as batched matmuls over a task axis.

Why by hand: on sinusoid-sized problems (2x40 MLP, 25 tasks, 10 points) a meta-step is a few
hundred tiny tensor ops, and their per-op cost, not arithmetic, sets the speed. Autograd's
double-backward graph records and replays about three times the ops the mathematics needs.
``MLPMetaLoss`` (an ``autograd.Function``) computes the meta-gradient directly:

    θ_{j+1} = θ_j - α ⊙ g_j,  g_j = ∇L_s(θ_j)           (inner SGD, ``steps`` times)
    v_J = ∇L_q(θ_J);  v_j = v_{j+1} - H_s(θ_j) (α ⊙ v_{j+1})   (dropped with ``first_order``)
    dL_q/dθ = v_0,   dL_q/dα = -Σ_j g_j ⊙ v_{j+1}

with the Hessian-vector product H_s u by Pearlmutter's R-operator (a forward pass of
directional derivatives and a backward pass; a ReLU's second derivative is zero, so its
mask is a constant, as in autograd). Tested against autograd and finite differences in
tests/test_maml.py.

Layers are ``Linear (ReLU Linear)*`` with biases — what ``functional.mlp`` builds. Shapes:
weights W_l are shared [out, in] or per task [B, out, in], biases [out] or [B, out]; data
x [B, K, in], y [B, K, out]; losses are per task [B] (mean squared error over K x out).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable

Tensors = list[torch.Tensor]


def linear_names(net: nn.Module) -> list[str] | None:
    """Names of the Linear layers of a ``Sequential`` shaped ``Linear (ReLU Linear)*`` with biases
    (what ``functional.mlp`` builds), else None."""
    if not isinstance(net, nn.Sequential):
        return None
    children = list(net.named_children())
    if len(children) % 2 == 0:
        return None
    names = []
    for i, (name, layer) in enumerate(children):
        if i % 2 == 0 and isinstance(layer, nn.Linear) and layer.bias is not None:
            names.append(name)
        elif not (i % 2 == 1 and isinstance(layer, nn.ReLU)):
            return None
    return names


def stacked_linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """h [B, N, in] through a linear layer whose weight is shared (w [out, in], b [out]: one
    matmul over all B*N rows) or per task (w [B, out, in], b [B, out]: a batched matmul)."""
    if w.ndim == 2:
        return torch.nn.functional.linear(h, w, b)
    return torch.bmm(h, w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


def forward(ws: Tensors, bs: Tensors, x: torch.Tensor) -> tuple[Tensors, Tensors, torch.Tensor]:
    """Inputs of each layer [a_0 = x, relu(z_1), ...], the ReLUs' derivatives [None, 1{z_1 > 0},
    ...] as 0/1 floats, and the output z_L [B, N, out]."""
    acts, masks, h = [], [], x
    for i, (w, b) in enumerate(zip(ws, bs)):
        if i:
            h = torch.relu(h)
        acts.append(h)
        # 1 where the ReLU passed (z > 0), as a float made once: `d * (a > 0)` at each use took ~6x `d * mask`
        masks.append(torch.sign(h) if i else None)
        h = stacked_linear(h, w, b)
    return acts, masks, h


def backward(ws: Tensors, acts: Tensors, masks: Tensors, d: torch.Tensor) -> tuple[Tensors, Tensors, Tensors]:
    """Per-task gradients from d = dL/dz_L [B, N, out]: (dL/dW_l [B, out, in], dL/db_l [B, out],
    deltas dL/dz_l [B, N, out_l]), each list in layer order."""
    n = len(ws)
    gw, gb, deltas = [None] * n, [None] * n, [None] * n
    for i in range(n - 1, -1, -1):
        deltas[i] = d
        gw[i] = torch.bmm(d.transpose(1, 2), acts[i])
        gb[i] = d.sum(1)
        if i:
            d = (d @ ws[i]) * masks[i]  # through W_i, then the ReLU that made acts[i]
    return gw, gb, deltas


def mse_grads(ws: Tensors, bs: Tensors, x: torch.Tensor, y: torch.Tensor):
    """Per-task MSE [B], its gradients (``backward``'s three lists) and (layer inputs, ReLU masks)."""
    acts, masks, out = forward(ws, bs, x)
    err = out - y
    losses = (err * err).mean(dim=(1, 2))
    gw, gb, deltas = backward(ws, acts, masks, err * (2.0 / (err.shape[1] * err.shape[2])))
    return losses, gw, gb, deltas, (acts, masks)


def _add_matmul(acc: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """acc + h @ w for acc, h [B, N, .] and w shared [., .] (one addmm over the B*N rows) or per
    task [B, ., .] (one baddbmm)."""
    if w.ndim == 2:
        return torch.addmm(acc.reshape(-1, acc.shape[-1]), h.reshape(-1, h.shape[-1]), w).view(acc.shape)
    return torch.baddbmm(acc, h, w)


def minus_hvp(ws: Tensors, acts: Tensors, masks: Tensors, deltas: Tensors, uw: Tensors, ub: Tensors, scale: float,
              vw: Tensors, vb: Tensors) -> tuple[Tensors, Tensors]:
    """v - H u per task: H is the Hessian of the MSE at the point where ``acts``/``masks``/``deltas``
    were recorded, u = (uw [B, out, in], ub [B, out]) and v = (vw, vb) likewise, per layer;
    ``scale`` = 2 / (N * out), the factor of dL/dz_L. Pearlmutter's R-operator:
    R(z_l) = R(a_{l-1}) W_l^T + a_{l-1} U_l^T + u_l forward, then the backward pass
    differentiated along u. The subtraction is fused into the last matmul of each term."""
    n = len(ws)
    r_acts: list[torch.Tensor | None] = [None]  # R(a_0) = 0: the data does not move
    rz = None
    for i in range(n):
        z = torch.baddbmm(ub[i].unsqueeze(1), acts[i], uw[i].transpose(1, 2))
        rz = _add_matmul(z, r_acts[i], ws[i].transpose(-1, -2)) if i else z
        if i < n - 1:
            r_acts.append(rz * masks[i + 1])
    rd = rz * scale  # R(dL/dz_L)
    out_w, out_b = [None] * n, [None] * n
    for i in range(n - 1, -1, -1):
        w = torch.baddbmm(vw[i], rd.transpose(1, 2), acts[i], alpha=-1.0)
        out_w[i] = torch.baddbmm(w, deltas[i].transpose(1, 2), r_acts[i], alpha=-1.0) if i else w
        out_b[i] = vb[i] - rd.sum(1)
        if i:
            rd = _add_matmul(torch.bmm(deltas[i], uw[i]), rd, ws[i]) * masks[i]
    return out_w, out_b


class MLPMetaLoss(torch.autograd.Function):
    """(post-adaptation query MSE [B], pre-adaptation support MSE [B]) of ``steps`` inner SGD steps
    from shared params, differentiable w.r.t. the params and learning rates with the hand-written
    meta-gradient above (once: no double backward).

    ``apply(steps, first_order, xs, ys, xq, yq, n_layers, *ws, *bs, *lr_ws, *lr_bs)``: the
    learning rates are scalars or tensors shaped like their parameter (Meta-SGD)."""

    @staticmethod
    def forward(ctx, steps: int, first_order: bool, xs, ys, xq, yq, n_layers: int, *tensors):
        ws, bs = list(tensors[:n_layers]), list(tensors[n_layers:2 * n_layers])
        lw, lb = list(tensors[2 * n_layers:3 * n_layers]), list(tensors[3 * n_layers:])
        inner, pre = [], None
        for _ in range(steps):
            losses, gw, gb, deltas, acts = mse_grads(ws, bs, xs, ys)
            pre = losses if pre is None else pre
            inner.append((ws, gw, gb, deltas, acts))
            ws = [torch.addcmul(w, a, g, value=-1.0) for w, a, g in zip(ws, lw, gw)]
            bs = [torch.addcmul(b, a, g, value=-1.0) for b, a, g in zip(bs, lb, gb)]
        acts_q, masks_q, out_q = forward(ws, bs, xq)
        err_q = out_q - yq
        post = (err_q * err_q).mean(dim=(1, 2))
        ctx.save_for_backward(*tensors)
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None
        ctx.inner, ctx.final, ctx.query = inner, ws, (acts_q, masks_q, err_q)
        ctx.first_order, ctx.n_layers, ctx.scale = first_order, n_layers, 2.0 / (ys.shape[1] * ys.shape[2])
        return post, pre

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_post, grad_pre):
        n = ctx.n_layers
        tensors = ctx.saved_tensors
        lw, lb = tensors[2 * n:3 * n], tensors[3 * n:]
        acts_q, masks_q, err_q = ctx.query
        if grad_post is None:
            grad_post = err_q.new_zeros(err_q.shape[0])
        d = err_q * (2.0 / (err_q.shape[1] * err_q.shape[2]) * grad_post)[:, None, None]
        vw, vb, _ = backward(ctx.final, acts_q, masks_q, d)  # v_J = dL/dθ_J per task
        want_lr = any(ctx.needs_input_grad[7 + 2 * n:])
        glw, glb = ([torch.zeros_like(a) for a in lw], [torch.zeros_like(a) for a in lb]) if want_lr else ([], [])
        for ws, gw, gb, deltas, acts in reversed(ctx.inner):
            if want_lr:  # dL/dα += -g_j ⊙ v_{j+1}, summed over tasks
                glw = [acc - _sum_to(g * v, a) for acc, g, v, a in zip(glw, gw, vw, lw)]
                glb = [acc - _sum_to(g * v, a) for acc, g, v, a in zip(glb, gb, vb, lb)]
            if not ctx.first_order:  # v_j = v_{j+1} - H_s(θ_j) (α ⊙ v_{j+1})
                vw, vb = minus_hvp(ws, *acts, deltas, [a * v for a, v in zip(lw, vw)],
                                   [a * v for a, v in zip(lb, vb)], ctx.scale, vw, vb)
        if grad_pre is not None and ctx.inner:  # the support loss before adaptation: + grad_pre ⊙ g_0
            _, gw0, gb0, _, _ = ctx.inner[0]
            vw = [v + g * grad_pre[:, None, None] for v, g in zip(vw, gw0)]
            vb = [v + g * grad_pre[:, None] for v, g in zip(vb, gb0)]
        grads = [v.sum(0) for v in vw] + [v.sum(0) for v in vb] + (glw + glb if want_lr else [None] * (2 * n))
        return (None,) * 7 + tuple(grads)


def _sum_to(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t [B, ...] summed to ``like``'s shape (a per-parameter rate, or a scalar one)."""
    return t.sum(0).sum_to_size(like.shape) if like.ndim else t.sum()


def meta_losses(ws: Sequence[torch.Tensor], bs: Sequence[torch.Tensor], lw: Sequence[torch.Tensor],
                lb: Sequence[torch.Tensor], xs, ys, xq, yq, steps: int, first_order: bool):
    """``MLPMetaLoss.apply`` with the per-layer lists spelled out; returns (post [B], pre [B])."""
    return MLPMetaLoss.apply(steps, first_order, xs, ys, xq, yq, len(ws), *ws, *bs, *lw, *lb)
