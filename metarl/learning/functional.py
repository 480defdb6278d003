"""Functional parameters for gradient-based meta-learning (MAML, Meta-SGD).

A network is used through ``torch.func.functional_call(net, params, (x,))`` with a
parameter dict ``{name: tensor}``, so adapted parameters are plain tensors connected to
the meta-parameters' graph — no module surgery. Shapes below are for one task; the
``vmap``-batched versions add a leading task axis ``[B, ...]`` to data (and to params
when they are per-task).

- ``inner_sgd(net, params, lrs, x, y, steps, first_order)``: ``steps`` gradient steps
  ``p <- p - lr * grad L_support(p)``; ``lrs`` maps each name to a scalar or a tensor of
  the parameter's shape (Meta-SGD). With ``first_order`` the inner gradients are
  detached, which drops exactly the second-order term of the meta-gradient (the
  learning rates still get their gradient ``-g * dL/dp'``).
- ``meta_losses(...)``: per-task (query loss after adaptation, support loss before) [B],
  the meta-batch processed with ``torch.func.vmap`` over tasks.
- ``meta_losses_stacked(...)``: the same with per-task parameter stacks [B, ...] and batched
  matmuls (no ``vmap``); for a ReLU ``mlp`` the inner gradients, Hessian-vector products and
  meta-gradient are written out (``relu_mlp``), the fastest path on CPU.
- ``meta_losses_loop(...)``: the same with a Python loop and ``torch.autograd.grad``
  (an independent reference, used by tests and benchmarks).

Every loss takes ``loss``: ``"mse"`` (regression: squared error averaged over examples and
outputs) or ``"cross_entropy"`` (classification: targets are one-hot (or soft) label rows
[..., N, classes], the loss is ``-sum(y * log_softmax(out))`` averaged over examples).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from metarl.errors import MetaRLError
from metarl.learning import relu_mlp

Params = dict[str, torch.Tensor]


def mlp(in_dim: int, out_dim: int, hidden_sizes: tuple[int, ...]) -> nn.Sequential:
    """ReLU MLP in_dim -> hidden_sizes -> out_dim (linear output)."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def forward(net: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """net(x) with ``params`` in place of the module's own: x [N, in] -> [N, out]."""
    return functional_call(net, dict(params), (x,))


LOSSES = ("mse", "cross_entropy")


def loss_of(out: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """Mean loss of outputs ``out`` [..., N, out] against targets y [..., N, out] over the last
    two axes -> [...] (a scalar for one task): see the module docstring for ``loss``."""
    if loss == "mse":
        return ((out - y) ** 2).mean(dim=(-2, -1))
    if loss == "cross_entropy":
        return -(y * torch.log_softmax(out, -1)).sum(-1).mean(-1)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def net_loss(net: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
        loss: str = "mse") -> torch.Tensor:
    """Loss of net(x) against y [N, out] (a scalar): the mean squared error unless ``loss``
    names another one of ``LOSSES``."""
    return loss_of(forward(net, params, x), y, loss)


def inner_sgd(net: nn.Module, params: Params, lrs: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
              steps: int, first_order: bool = False, loss: str = "mse") -> tuple[Params, torch.Tensor]:
    """Adapted params after ``steps`` SGD steps on the support set (x [K, in], y [K, out]),
    and the support loss before adaptation. Works under ``vmap`` (uses ``torch.func``)."""
    loss_fn = lambda p: net_loss(net, p, x, y, loss)  # noqa: E731
    loss0 = None
    for _ in range(steps):
        grads, value = grad_and_value(loss_fn)(params)
        if loss0 is None:
            loss0 = value
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        params = {k: p - lrs[k] * grads[k] for k, p in params.items()}
    return params, loss0


def task_losses(net: nn.Module, params: Params, lrs: Mapping[str, torch.Tensor], xs: torch.Tensor, ys: torch.Tensor,
                xq: torch.Tensor, yq: torch.Tensor, steps: int, first_order: bool, loss: str = "mse"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One task: (query loss after adaptation, support loss before adaptation), scalars."""
    adapted, support0 = inner_sgd(net, params, lrs, xs, ys, steps, first_order, loss)
    return net_loss(net, adapted, xq, yq, loss), support0


def meta_losses(net: nn.Module, params: Params, lrs: Mapping[str, torch.Tensor], xs: torch.Tensor, ys: torch.Tensor,
                xq: torch.Tensor, yq: torch.Tensor, steps: int, first_order: bool = False, loss: str = "mse"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task losses [B] for a meta-batch (xs [B, K, in], ys [B, K, out], xq [B, Q, in],
    yq [B, Q, out]), vmapped over tasks; differentiable w.r.t. ``params`` and ``lrs``."""
    fn = lambda x_s, y_s, x_q, y_q: task_losses(net, params, lrs, x_s, y_s, x_q, y_q, steps, first_order,  # noqa: E731
                                                loss)
    return vmap(fn)(xs, ys, xq, yq)


def meta_losses_loop(net: nn.Module, params: Params, lrs: Mapping[str, torch.Tensor], xs: torch.Tensor,
                     ys: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor, steps: int, first_order: bool = False,
                     loss: str = "mse") -> tuple[torch.Tensor, torch.Tensor]:
    """Reference for ``meta_losses``: a loop over tasks with ``torch.autograd.grad``."""
    post, pre = [], []
    for i in range(xs.shape[0]):
        p = dict(params)
        for s in range(steps):
            support = net_loss(net, p, xs[i], ys[i], loss)
            if s == 0:
                pre.append(support)
            grads = torch.autograd.grad(support, list(p.values()), create_graph=not first_order)
            p = {k: v - lrs[k] * g for (k, v), g in zip(p.items(), grads)}
        post.append(net_loss(net, p, xq[i], yq[i], loss))
    return torch.stack(post), torch.stack(pre)


def stacked_forward(net: nn.Sequential, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Per-task forward of a ``Sequential`` of ``Linear`` and parameter-free layers (as built by
    ``mlp``) with params shared ([...]) or per task ([B, ...]) and x [B, N, in] -> [B, N, out]."""
    h = x
    for name, layer in net.named_children():
        if isinstance(layer, nn.Linear):
            h = relu_mlp.stacked_linear(h, params[f"{name}.weight"], params.get(f"{name}.bias"))
        elif not any(True for _ in layer.parameters()):
            h = layer(h)
        else:
            raise TypeError(f"stacked_forward supports Linear and parameter-free layers, got {type(layer).__name__}")
    return h


def _by_layer(tensors: Mapping[str, torch.Tensor], names: list[str]
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(weights, biases) of the named Linear layers, from a ``{"<name>.weight": ..., ...}`` dict."""
    return [tensors[f"{n}.weight"] for n in names], [tensors[f"{n}.bias"] for n in names]


def stacked_mse_grads(net: nn.Sequential, params: Params, x: torch.Tensor, y: torch.Tensor
                      ) -> tuple[torch.Tensor, Params]:
    """Per-task MSE [B] and its gradient w.r.t. per-task params [B, ...] for an ``mlp``
    (x [B, K, in], y [B, K, out]), by the explicit batched backward pass of ``relu_mlp``.
    Tested equal to ``autograd.grad`` in tests/test_maml.py."""
    names = relu_mlp.linear_names(net)
    if names is None:
        raise TypeError("stacked_mse_grads needs a Sequential shaped Linear (ReLU Linear)* with biases")
    losses, gw, gb, _, _ = relu_mlp.mse_grads(*_by_layer(params, names), x, y)
    return losses, {**{f"{n}.weight": g for n, g in zip(names, gw)}, **{f"{n}.bias": g for n, g in zip(names, gb)}}


def meta_losses_stacked(net: nn.Sequential, params: Params, lrs: Mapping[str, torch.Tensor], xs: torch.Tensor,
                        ys: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor, steps: int, first_order: bool = False,
                        loss: str = "mse") -> tuple[torch.Tensor, torch.Tensor]:
    """``meta_losses`` with stacked per-task parameters [B, ...] and batched matmuls, no ``vmap``.
    For a ReLU ``mlp`` (``Linear (ReLU Linear)*``) the losses and their meta-gradient are
    ``relu_mlp.MLPMetaLoss``: inner gradients, Hessian-vector products and the outer gradient
    written out as batched matmuls (a meta-step with its Adam update took 1.45 ms against 2.3 ms
    with autograd through the same stacked ops on 2 CPU cores; see ``metarl bench maml``).
    Other ``Sequential`` nets expand the shared params to [B, ...], so ``autograd.grad`` of the
    summed per-task losses w.r.t. the stack is each task's own gradient, and the outer gradient
    is autograd's, as for the cross-entropy loss."""
    names = relu_mlp.linear_names(net)
    if loss == "mse" and names is not None and not any(t.requires_grad for t in (xs, ys, xq, yq)):
        return relu_mlp.meta_losses(*_by_layer(params, names), *_by_layer(lrs, names), xs, ys, xq, yq, steps,
                                    first_order)
    b = xs.shape[0]
    with torch.enable_grad():  # the inner gradients need a graph even under no_grad
        p = {k: v.expand(b, *v.shape) for k, v in params.items()}
        p = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in p.items()}
        pre = None
        for _ in range(steps):
            losses = loss_of(stacked_forward(net, p, xs), ys, loss)  # [B]
            grads = torch.autograd.grad(losses.sum(), list(p.values()), create_graph=not first_order)
            pre = losses if pre is None else pre
            p = {k: torch.addcmul(v, lrs[k], g, value=-1.0) for (k, v), g in zip(p.items(), grads)}
        return loss_of(stacked_forward(net, p, xq), yq, loss), pre


def sgd_path(net: nn.Module, params: Params, lrs: Mapping[str, torch.Tensor], xs: torch.Tensor, ys: torch.Tensor,
             steps: int, loss: str = "mse") -> list[Params]:
    """Per-task params after 0, 1, ..., ``steps`` SGD steps (no graph kept), each a dict of
    [B, ...] tensors, for a batch of support sets xs [B, K, in], ys [B, K, out]. ``params``
    are shared (no task axis)."""
    b = xs.shape[0]
    cur = {k: v.detach().unsqueeze(0).expand(b, *v.shape).clone() for k, v in params.items()}
    lrs = {k: torch.as_tensor(v).detach() for k, v in lrs.items()}
    step = vmap(lambda p, x, y: inner_sgd(net, p, lrs, x, y, 1, True, loss)[0])
    path = [cur]
    for _ in range(steps):
        cur = {k: v.detach() for k, v in step(cur, xs, ys).items()}
        path.append(cur)
    return path


def batched_forward(net: nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Per-task forward: params of [B, ...], x [B, N, in] -> [B, N, out]."""
    return vmap(lambda p, xi: forward(net, p, xi))(params, x)


def rates_state(lrs: Mapping[str, torch.Tensor], learned: bool) -> Params:
    """The inner learning rates a checkpoint keeps: Meta-SGD's learned per-parameter rates
    (copies), or nothing for MAML, whose fixed step is the ``inner_lr`` option."""
    return {k: v.detach().clone() for k, v in lrs.items()} if learned else {}


def load_rates(lrs: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor], learned: bool) -> None:
    """Copy learned rates from a checkpoint's ``rates_state`` into ``lrs`` in place. MAML's
    fixed step is left as configured (``metarl eval --agent-option inner_lr=...`` may change
    it), even where an older checkpoint saved it."""
    if not learned:
        return
    missing = sorted(set(lrs) - set(saved))
    if missing:
        raise MetaRLError(f"the checkpoint has no learned inner learning rates for {missing}: "
                         "was it written by a MAML run rather than Meta-SGD?")
    with torch.no_grad():
        for k in lrs:
            lrs[k].copy_(saved[k])
