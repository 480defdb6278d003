"""A loss and its gradient replayed as one CUDA graph (``torch.cuda.graph``).

Why: a sinusoid-sized MAML meta-step is a few hundred tiny kernels. On a GPU each costs a
launch from Python (~10 µs), far more than its arithmetic, so eagerly the H100 ran the
preset's meta-step at 218 it/s against 528 on 2 CPU cores (``metarl bench maml``, 2026-11-23).
Captured once, the whole forward and backward replays as a single launch.

``GradGraph(fn, params)`` is called like ``fn``: ``fn(*inputs)`` returns a tuple of tensors
whose first is a scalar loss; the call returns ``(outputs, grads)`` with ``grads`` the
gradients of that loss w.r.t. ``params`` (``torch.autograd.grad``, no accumulation into
``.grad``). On CUDA the first call for each input signature (shapes, dtypes) warms up and
captures a graph; later calls copy the inputs into its static buffers and replay it.
Outputs and grads are then the graph's own static tensors, overwritten by the next replay
(stream-ordered, so ops queued on them before the next call read the right values). On
CPU, for more than ``max_graphs`` signatures, or with ``enabled=False`` it runs eagerly.

``fn`` must be a pure function of its inputs and of ``params`` (no random draws, no host
reads): the graph replays the captured kernels, not the Python code. ``params`` must be
updated in place (an optimizer step, ``load_state_dict``), never rebound.
"""
from __future__ import annotations

import inspect
import warnings
import weakref
from typing import Callable, Sequence

import torch

Tensors = tuple[torch.Tensor, ...]

WARMUP_CALLS = 3  # eager calls on a side stream before capture, as torch.cuda.graph's docs ask


class _Captured:
    """One captured graph: static inputs, outputs and grads."""

    def __init__(self, fn: Callable[..., Tensors], params: Sequence[torch.Tensor], inputs: Tensors) -> None:
        self.device = inputs[0].device
        # On the inputs' GPU, which need not be the current one (cuda:1), with a capture
        # stream of that GPU (torch.cuda.graph's shared default lives on the first GPU used).
        with torch.cuda.device(self.device), warnings.catch_warnings():
            # The params' AccumulateGrad nodes date from eager steps on the default stream; torch
            # warns of a stream mismatch, but ``autograd.grad`` never runs those nodes (tested).
            warnings.filterwarnings("ignore", message="The AccumulateGrad node's stream")
            self.inputs = tuple(t.detach().clone() for t in inputs)
            side = torch.cuda.Stream(device=self.device)
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_CALLS):
                    _eager(fn, params, self.inputs)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=side):
                self.outputs, self.grads = _eager(fn, params, self.inputs)

    def __call__(self, inputs: Tensors) -> tuple[Tensors, Tensors]:
        with torch.cuda.device(self.device):
            for static, t in zip(self.inputs, inputs):
                static.copy_(t)
            self.graph.replay()
        return self.outputs, self.grads


def _eager(fn: Callable[..., Tensors], params: Sequence[torch.Tensor], inputs: Tensors) -> tuple[Tensors, Tensors]:
    with torch.enable_grad():
        outputs = tuple(fn(*inputs))
        grads = tuple(torch.autograd.grad(outputs[0], list(params)))
    return tuple(o.detach() for o in outputs), grads  # the autograd graph is freed here


class GradGraph:
    """``fn``'s outputs and the gradient of its first output w.r.t. ``params``, replayed from a
    CUDA graph per input signature (see the module docstring)."""

    def __init__(self, fn: Callable[..., Tensors], params: Sequence[torch.Tensor], *, enabled: bool = True,
                 max_graphs: int = 4) -> None:
        # A bound method is held weakly: an agent that owns this GradGraph frees it (and its
        # graphs' GPU memory) as soon as the agent is dropped, not at the next GC cycle.
        self._fn = weakref.WeakMethod(fn) if inspect.ismethod(fn) else (lambda: fn)
        self.params = list(params)
        self.enabled = enabled and all(p.is_cuda for p in self.params)
        self.max_graphs = max_graphs
        self._graphs: dict[tuple, _Captured] = {}

    @property
    def fn(self) -> Callable[..., Tensors]:
        fn = self._fn()
        if fn is None:
            raise RuntimeError("GradGraph's function belonged to an object that no longer exists")
        return fn

    def __call__(self, *inputs: torch.Tensor) -> tuple[Tensors, Tensors]:
        if not self.enabled:
            return _eager(self.fn, self.params, inputs)
        key = tuple((tuple(t.shape), t.dtype, t.device) for t in inputs)
        graph = self._graphs.get(key)
        if graph is None:
            if len(self._graphs) >= self.max_graphs:
                return _eager(self.fn, self.params, inputs)
            graph = self._graphs[key] = _Captured(self.fn, self.params, inputs)
        return graph(inputs)

    @property
    def captured(self) -> int:
        """How many input signatures have a captured graph."""
        return len(self._graphs)
