"""compute_gae against advantages worked out by hand (gamma 0.9, lambda 0.8: gamma*lambda = 0.72).

Conventions checked: an inner-episode end inside a trial is
*not* a cut (it does not appear in ``terminated``/``trial_end``); a trial ending by
termination is not bootstrapped; one ending by time-limit truncation is bootstrapped
with ``values[t + 1]`` (V of the trial's final observation); steps of a slot after its
trial ended do not leak into the advantages of the trial's real steps.
"""
from __future__ import annotations

import torch

from metarl.rollout.gae import compute_gae

GAMMA, LAM = 0.9, 0.8


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_inner_episode_boundary_termination_and_early_truncation():
    # slot 0: a 5-step trial of two episodes (episode 1 = steps 0-1, episode 2 = steps 2-4; the
    #   boundary after step 1 is deliberately absent from terminated/trial_end), ending by
    #   termination at step 4: values[5] = 3.0 must not be used.
    # slot 1: a 3-step trial ending by truncation at step 2 (bootstrap with values[3] = 2.0);
    #   steps 3-4 are after its end, filled with garbage rewards/values that must not leak.
    rewards = t([[1, 0], [0, 1], [2, 1], [0, 5], [1, 5]])
    values = t([[0.5, 1.0], [1.0, 0.5], [0.0, 0.5], [2.0, 2.0], [1.0, 4.0], [3.0, 7.0]])
    terminated = t([[0, 0], [0, 0], [0, 0], [0, 0], [1, 0]])
    trial_end = t([[0, 0], [0, 0], [0, 1], [0, 0], [1, 0]])

    adv, ret = compute_gae(rewards, values, terminated, trial_end, GAMMA, LAM)

    # slot 0 by hand: delta_t = r_t + 0.9 V_{t+1} (0 at the terminal step) - V_t
    #   delta = [1 + 0.9*1.0 - 0.5, 0 + 0.9*0.0 - 1.0, 2 + 0.9*2.0 - 0.0, 0 + 0.9*1.0 - 2.0, 1 - 1.0]
    #         = [1.4, -1.0, 3.8, -1.1, 0.0]
    #   A4 = 0.0; A3 = -1.1; A2 = 3.8 + 0.72*(-1.1) = 3.008
    #   A1 = -1.0 + 0.72*3.008 = 1.16576   (crosses the episode boundary: no cut)
    #   A0 = 1.4 + 0.72*1.16576 = 2.2393472
    # slot 1 by hand: A2 = 1 + 0.9*2.0 - 0.5 = 2.3 (truncated: bootstrapped, and cut)
    #   A1 = (1 + 0.9*0.5 - 0.5) + 0.72*2.3 = 0.95 + 1.656 = 2.606
    #   A0 = (0 + 0.9*0.5 - 1.0) + 0.72*2.606 = -0.55 + 1.87632 = 1.32632
    expected_0 = [2.2393472, 1.16576, 3.008, -1.1, 0.0]
    expected_1 = [1.32632, 2.606, 2.3]
    torch.testing.assert_close(adv[:, 0], t(expected_0), rtol=0, atol=1e-5)
    torch.testing.assert_close(adv[:3, 1], t(expected_1), rtol=0, atol=1e-5)
    torch.testing.assert_close(ret, adv + values[:-1], rtol=0, atol=0)


def test_steps_after_a_trial_end_do_not_leak():
    rewards = t([[0, 0], [1, 1], [1, 1], [0, 0]])
    values = t([[1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [2.0, 2.0], [0.0, 0.0]])
    terminated = torch.zeros(4, 2)
    trial_end = t([[0, 0], [0, 0], [1, 1], [0, 0]])
    adv, _ = compute_gae(rewards, values, terminated, trial_end, GAMMA, LAM)
    # slot 1: same trial, arbitrary junk after its end (step 3 and the value after it)
    rewards[3, 1], values[4, 1] = 100.0, -50.0
    adv2, _ = compute_gae(rewards, values, terminated, trial_end, GAMMA, LAM)
    torch.testing.assert_close(adv2[:3, 1], adv[:3, 0], rtol=0, atol=0)
    # values[3] (V of the final observation) *is* used: the trial was truncated
    values[3, 1] = 10.0
    adv3, _ = compute_gae(rewards, values, terminated, trial_end, GAMMA, LAM)
    torch.testing.assert_close(adv3[2, 1], adv[2, 0] + GAMMA * (10.0 - 2.0), rtol=0, atol=1e-5)


def test_termination_vs_truncation_at_the_last_step():
    # both slots: same rewards/values; slot 0 terminates at step 3, slot 1 is truncated there
    rewards = t([[1, 1], [0, 0], [0, 0], [1, 1]])
    values = t([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.5, 0.5], [2.0, 2.0]])
    terminated = t([[0, 0], [0, 0], [0, 0], [1, 0]])
    trial_end = t([[0, 0], [0, 0], [0, 0], [1, 1]])
    adv, ret = compute_gae(rewards, values, terminated, trial_end, GAMMA, LAM)
    # delta (without the last step's bootstrap) = [1 + 0.45 - 0, 0 + 0.9 - 0.5, 0 + 0.45 - 1.0, 1 - 0.5]
    #                                           = [1.45, 0.4, -0.55, 0.5]
    # terminated: A3 = 0.5; A2 = -0.55 + 0.36 = -0.19; A1 = 0.4 - 0.1368 = 0.2632; A0 = 1.45 + 0.189504
    # truncated:  A3 = 0.5 + 0.9*2.0 = 2.3; A2 = -0.55 + 1.656 = 1.106; A1 = 0.4 + 0.79632 = 1.19632;
    #             A0 = 1.45 + 0.8613504 = 2.3113504
    torch.testing.assert_close(adv[:, 0], t([1.639504, 0.2632, -0.19, 0.5]), rtol=0, atol=1e-5)
    torch.testing.assert_close(adv[:, 1], t([2.3113504, 1.19632, 1.106, 2.3]), rtol=0, atol=1e-5)
    torch.testing.assert_close(ret, adv + values[:-1], rtol=0, atol=0)


def test_lambda_limits_on_random_data():
    """lambda = 0: one-step TD errors; lambda = 1: discounted return to the trial end minus V."""
    g = torch.Generator().manual_seed(0)
    T, B = 6, 3
    rewards = torch.randn(T, B, generator=g)
    values = torch.randn(T + 1, B, generator=g)
    terminated, trial_end = torch.zeros(T, B), torch.zeros(T, B)
    terminated[5, 0] = trial_end[5, 0] = 1  # slot 0 terminates at the end
    trial_end[5, 1] = 1                     # slot 1 truncated at the end
    trial_end[3, 2] = 1                     # slot 2 truncated early at step 3
    boot = 1 - terminated
    adv0, _ = compute_gae(rewards, values, terminated, trial_end, GAMMA, 0.0)
    torch.testing.assert_close(adv0, rewards + GAMMA * values[1:] * boot - values[:-1])
    adv1, _ = compute_gae(rewards, values, terminated, trial_end, GAMMA, 1.0)
    for b, end in ((0, 5), (1, 5), (2, 3)):
        for s in range(end + 1):
            ret = sum(GAMMA ** (k - s) * rewards[k, b] for k in range(s, end + 1))
            ret = ret + GAMMA ** (end + 1 - s) * values[end + 1, b] * boot[end, b]
            torch.testing.assert_close(adv1[s, b], ret - values[s, b], rtol=0, atol=1e-5)
