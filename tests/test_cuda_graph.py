"""``metarl.learning.cuda_graph.GradGraph``: replayed losses and gradients equal eager ones, for
new input values, for parameters changed in place, and past ``max_graphs`` signatures (eager)."""
from __future__ import annotations

import pytest
import torch

from helpers import DEVICES
from metarl.learning.cuda_graph import GradGraph


def _fn(w, b):
    def fn(x, y):
        err = torch.tanh(x @ w + b) - y  # x [N, 3], w [3, 2], y [N, 2]
        per_row = (err * err).sum(1)
        return per_row.mean(), per_row
    return fn


@pytest.mark.parametrize("device", DEVICES)
def test_replayed_losses_and_gradients_equal_eager_ones(device):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, generator=gen).to(device).requires_grad_(True)
    b = torch.randn(2, generator=gen).to(device).requires_grad_(True)
    graphed = GradGraph(_fn(w, b), [w, b], max_graphs=2)
    eager = GradGraph(_fn(w, b), [w, b], enabled=False)
    for n in (5, 5, 7, 5, 9, 7):  # signatures N=5, 7 are captured; N=9 runs eagerly
        x, y = torch.randn(n, 3, generator=gen).to(device), torch.randn(n, 2, generator=gen).to(device)
        (loss, rows), grads = graphed(x, y)
        (loss_e, rows_e), grads_e = eager(x, y)
        hand = 2 * (torch.tanh(x @ w + b) - y) * (1 - torch.tanh(x @ w + b) ** 2) / n  # d loss / d (xw + b)
        torch.testing.assert_close(loss, loss_e)
        torch.testing.assert_close(rows, rows_e)
        torch.testing.assert_close(grads[0], x.T @ hand.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads[1], hand.detach().sum(0), rtol=1e-5, atol=1e-6)
        for g, ge in zip(grads, grads_e):
            torch.testing.assert_close(g, ge)
        with torch.no_grad():  # an optimizer's in-place step: the next replay must see it
            w.sub_(0.1 * grads[0])
            b.sub_(0.1 * grads[1])
    assert graphed.captured == (2 if device == "cuda" else 0)
    assert eager.captured == 0


def test_an_agents_bound_method_is_held_weakly():
    import gc
    import weakref

    class Owner:
        def __init__(self):
            self.w = torch.ones(2, requires_grad=True)
            self.graph = GradGraph(self.loss, [self.w])

        def loss(self, x):
            return ((self.w * x).sum(),)

    owner = Owner()
    (loss,), (grad,) = owner.graph(torch.tensor([2.0, 3.0]))
    assert float(loss) == 5.0 and grad.tolist() == [2.0, 3.0]
    ref = weakref.ref(owner)
    gc.disable()
    try:
        del owner
        assert ref() is None  # freed by reference counting alone: no cycle through the GradGraph
    finally:
        gc.enable()
