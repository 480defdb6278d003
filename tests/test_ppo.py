"""ppo_loss, normalize and explained_variance against numbers worked out by hand."""
from __future__ import annotations

import math

import torch

from metarl.learning.ppo import explained_variance, masked_mean, normalize, ppo_loss

CLIP, VF, ENT = 0.2, 0.5, 0.01


def batch():
    """[T=2, B=2]; entry (1, 1) is masked out (a step after its trial ended).

    entry   ratio  A     surrogate min(rA, clip(r)A)     clipped?  V    R     entropy
    (0,0)   1.5    2.0   min(3.0, 1.2*2.0) = 2.4         yes       1.0  2.0   1.0
    (0,1)   0.5   -1.0   min(-0.5, 0.8*-1.0) = -0.8      yes       0.0 -1.0   2.0
    (1,0)   1.0    0.5   0.5                             no        0.5  0.5   3.0
    """
    new_logp = torch.tensor([[math.log(1.5), math.log(0.5)], [0.0, 3.0]], requires_grad=True)
    old_logp = torch.zeros(2, 2)
    adv = torch.tensor([[2.0, -1.0], [0.5, 100.0]])
    values = torch.tensor([[1.0, 0.0], [0.5, 0.0]], requires_grad=True)
    returns = torch.tensor([[2.0, -1.0], [0.5, 1000.0]])
    entropy = torch.tensor([[1.0, 2.0], [3.0, 50.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    return new_logp, old_logp, adv, values, returns, entropy, mask


def loss_of(new_logp, old_logp, adv, values, returns, entropy, mask):
    return ppo_loss(new_logp, old_logp, adv, values, returns, entropy, mask, clip=CLIP, vf_coef=VF, ent_coef=ENT)


def test_ppo_loss_terms_by_hand():
    inputs = batch()
    loss = loss_of(*inputs)
    policy = -(2.4 - 0.8 + 0.5) / 3                                  # -0.7
    value = 0.5 * ((1.0 - 2.0) ** 2 + (0.0 + 1.0) ** 2 + 0.0) / 3    # 1/3
    entropy = (1.0 + 2.0 + 3.0) / 3                                  # 2.0
    # approx_kl = mean((r - 1) - log r) = ((0.5 - ln 1.5) + (-0.5 + ln 2) + 0) / 3
    approx_kl = (0.5 - 0.4054651081 - 0.5 + 0.6931471806) / 3       # 0.0958940242
    assert abs(loss.policy.item() - policy) < 1e-6
    assert abs(loss.value.item() - value) < 1e-6
    assert abs(loss.entropy.item() - entropy) < 1e-6
    assert abs(loss.approx_kl.item() - approx_kl) < 1e-6
    assert abs(loss.clip_fraction.item() - 2 / 3) < 1e-6
    assert abs(loss.total.item() - (policy + VF * value - ENT * entropy)) < 1e-6  # -0.5533333

    # gradients: only the unclipped entry (1,0) moves the policy: d(-rA/3)/dlogp = -r A / 3 = -1/6;
    # the clipped ones (r above 1+c with A > 0, below 1-c with A < 0) and the masked one get 0.
    loss.total.backward()
    new_logp, _, _, values, _, ent, _ = inputs
    torch.testing.assert_close(new_logp.grad, torch.tensor([[0.0, 0.0], [-1 / 6, 0.0]]), rtol=0, atol=1e-6)
    # d(VF * 0.5 * mean((V - R)^2))/dV = VF * (V - R) / 3
    torch.testing.assert_close(values.grad, VF * torch.tensor([[-1.0, 1.0], [0.0, 0.0]]) / 3, rtol=0, atol=1e-6)
    torch.testing.assert_close(ent.grad, -ENT * torch.tensor([[1.0, 1.0], [1.0, 0.0]]) / 3, rtol=0, atol=1e-6)


def test_masked_entries_do_not_matter_even_when_non_finite():
    ref = loss_of(*batch())
    for junk in (-7.0, 1e4, float("inf"), float("nan")):
        new_logp, old_logp, adv, values, returns, entropy, mask = batch()
        with torch.no_grad():
            for x in (new_logp, values, entropy):
                x[1, 1] = junk
        old_logp[1, 1], adv[1, 1], returns[1, 1] = junk, junk, -junk
        loss = loss_of(new_logp, old_logp, adv, values, returns, entropy, mask)
        for name in ("total", "policy", "value", "entropy", "approx_kl", "clip_fraction"):
            assert getattr(loss, name).item() == getattr(ref, name).item(), (junk, name)
        loss.total.backward()
        for x in (new_logp, values, entropy):
            assert torch.isfinite(x.grad).all(), junk
            assert x.grad[1, 1] == 0


def test_normalize_and_masked_mean():
    x = torch.tensor([[1.0, 2.0], [3.0, float("nan")]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    assert masked_mean(x, mask).item() == 2.0
    z = normalize(x, mask)
    # mean 2, population variance 2/3 over the three real entries
    torch.testing.assert_close(z[mask.bool()], torch.tensor([-1.0, 0.0, 1.0]) / math.sqrt(2 / 3), rtol=0, atol=1e-6)
    assert masked_mean(x, torch.zeros(2, 2)).item() == 0.0  # nothing to average: 0, not nan


def test_explained_variance_known_inputs():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0, 99.0])
    mask = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    assert explained_variance(target, target, mask) == 1.0
    assert abs(explained_variance(torch.full_like(target, 2.5), target, mask)) < 1e-7  # the mean: 0
    # residual [0, 0, 0, -1]: Var = 0.1875; Var[target] = 1.25 -> 1 - 0.15 = 0.85
    pred = torch.tensor([1.0, 2.0, 3.0, 5.0, -1e6])
    assert abs(explained_variance(pred, target, mask) - 0.85) < 1e-6
    # a constant offset is not penalised (variance of the residual)
    assert abs(explained_variance(target + 3.0, target, mask) - 1.0) < 1e-6
    assert math.isnan(explained_variance(pred, torch.ones(5), mask))
