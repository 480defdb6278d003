"""Gaussian samples -> Box actions in env or unit [-1, 1] units (``metarl.learning.action_box``),
and the agents' ``action_units`` option."""
from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
import torch

import metarl
from helpers import StandInFamily
from metarl.errors import ConfigError
from metarl.learning.action_box import BoxActions
from metarl.learning.policy_gradient import clipped_gaussian_log_prob

BOX = gymnasium.spaces.Box(np.array([-0.1, 0.0], dtype=np.float32), np.array([0.1, 2.0], dtype=np.float32))


def test_unit_samples_map_affinely_onto_the_box_and_clip_beyond_one():
    box = BoxActions(BOX, "unit", "cpu")
    a = torch.tensor([[-1.0, -1.0], [0.5, 0.0], [1.0, 0.25], [3.0, -7.0]])
    expect = [[-0.1, 0.0], [0.05, 1.0], [0.1, 1.25], [0.1, 0.0]]    # (low + high) / 2 + a (high - low) / 2
    torch.testing.assert_close(box.to_env(a), torch.tensor(expect), rtol=0, atol=1e-7)


def test_env_samples_are_only_clipped():
    a = torch.tensor([[-1.0, 1.0], [0.05, 3.0]])
    assert torch.equal(BoxActions(BOX, "env", "cpu").to_env(a), torch.tensor([[-0.1, 1.0], [0.05, 2.0]]))


def test_unit_and_env_agree_on_the_symmetric_unit_box():
    box = gymnasium.spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    a = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 2
    assert torch.equal(BoxActions(box, "unit", "cpu").to_env(a), BoxActions(box, "env", "cpu").to_env(a))


def test_unit_needs_finite_bounds_and_names_them():
    with pytest.raises(ConfigError, match=r"bounded action box; 'x' has low=\[-inf"):
        BoxActions(gymnasium.spaces.Box(-np.inf, np.inf, shape=(2,)), "unit", "cpu", where="'x'")
    with pytest.raises(ConfigError, match="action_units='raw' is not valid"):
        BoxActions(BOX, "raw", "cpu")


@pytest.mark.parametrize("agent", ["rl2", "maml"])
def test_agents_send_unit_actions_through_the_map(agent):
    """A deterministic zero-mean policy acts at the box's centre in unit mode (0 in point-nav's
    symmetric box either way), and a mean of 0.5 goes to 0.05 in unit mode, 0.1 (clipped) in env."""
    family = metarl.make_family("point-nav", horizon=5)
    for units, expect in (("unit", 0.05), ("env", 0.1)):
        a = metarl.make_agent(agent, family, action_units=units, device="cpu", **({"hidden_size": 8} if agent == "rl2" else {}))
        env_a = a._box.to_env(torch.full((4, 2), 0.5)).numpy()
        np.testing.assert_allclose(env_a, expect, rtol=0, atol=1e-7)
        assert a.config()["action_units"] == units


@pytest.mark.parametrize("agent", ["rl2", "maml"])
def test_bad_action_units_fail_early(agent):
    with pytest.raises(ConfigError, match="action_units"):
        metarl.make_agent(agent, metarl.make_family("point-nav", horizon=5), action_units="normalized")


def test_host_actions_reshape_to_the_space_and_refuse_non_finite_samples():
    box = gymnasium.spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32)
    out = BoxActions(box, "env", "cpu").host_actions(torch.tensor([[0.5, -3.0, 0.0, 2.0]] * 3))
    assert out.shape == (3, 2, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [[0.5, -1.0], [0.0, 1.0]])
    bad = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, float("nan"), 0.0, 0.0]])
    with pytest.raises(FloatingPointError, match="non-finite actions for 1 of 2 envs"):
        BoxActions(box, "unit", "cpu").host_actions(bad)


@pytest.mark.parametrize("space", [gymnasium.spaces.Discrete(3, start=-1),
                                   gymnasium.spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32)],
                         ids=["discrete-offset", "box-2x2"])
@pytest.mark.parametrize("agent_name", ["rl2", "maml"])
def test_agents_hand_the_env_actions_of_its_own_space(space, agent_name):
    """An offset Discrete space gets start + index, a multi-axis Box gets [B, *shape]: the
    stand-in env raises on any action outside its space."""
    from metarl.evaluation.evaluator import run_trials

    family = StandInFamily(space)
    agent = metarl.make_agent(agent_name, family, device="cpu")
    returns, _ = run_trials(agent, family.sample(64, seed=0), episodes=3, seed=0)
    assert returns.shape == (64, 3)
    acts, _ = agent.act(np.zeros((400, agent.layout.dim), np.float32), agent.init_state(400))
    if isinstance(space, gymnasium.spaces.Discrete):
        assert set(np.asarray(acts).tolist()) == {-1, 0, 1}
    else:
        assert np.asarray(acts).shape == (400, 2, 2)


# ---- clipped action log-probabilities (Fujita & Maeda 2018) -------------------------------------
def test_clipped_gaussian_log_prob_by_hand():
    """N(0, 1) clipped to [-1, 1]: inside, the density; at or beyond a bound, log Phi(-1) =
    log 0.15865525; N(2, 0.5^2) beyond high = 1: log Phi(2) = log 0.97724987."""
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    logp = clipped_gaussian_log_prob(torch.zeros(4, 1), torch.zeros(1), torch.tensor([[0.5], [1.3], [1.0], [-2.0]]),
                                     lo, hi)
    expect = [-0.125 - 0.5 * math.log(2 * math.pi), math.log(0.15865525), math.log(0.15865525),
              math.log(0.15865525)]
    torch.testing.assert_close(logp, torch.tensor(expect), rtol=0, atol=1e-6)
    far = clipped_gaussian_log_prob(torch.tensor([[2.0, 0.0]]), torch.tensor([math.log(0.5), 0.0]),
                                    torch.tensor([[3.0, 0.5]]), torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(far, torch.tensor([math.log(0.97724987) - 0.125 - 0.5 * math.log(2 * math.pi)]),
                               rtol=0, atol=1e-6)


def test_clipped_gaussian_is_a_distribution_and_pulls_a_stuck_mean_back():
    """P(low) + integral of the density inside + P(high) = 1; and for a mean far beyond the
    bound, a bad (clipped) action's score moves the mean towards the box, where the plain
    density's score averages to zero over the clipped samples."""
    mean, log_std = torch.tensor([0.3]), torch.tensor([math.log(0.7)])
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    x = torch.linspace(-1.0, 1.0, 200_001)[1:-1].unsqueeze(-1)
    inside = clipped_gaussian_log_prob(mean, log_std, x, lo, hi).exp().mean() * 2.0
    ends = clipped_gaussian_log_prob(mean, log_std, torch.tensor([[-1.0], [1.0]]), lo, hi).exp().sum()
    assert abs(float(inside + ends) - 1.0) < 1e-4
    stuck = torch.tensor([3.0], requires_grad=True)
    clipped_gaussian_log_prob(stuck, torch.zeros(1), torch.tensor([[2.5]]), lo, hi).sum().backward()
    assert float(stuck.grad) > 0  # so a negative advantage lowers the mean towards [-1, 1]


def test_rl2_clipped_log_prob_option():
    """``action_logp="clipped"`` puts the policy's clip bounds (±1 in unit actions, the box in
    env actions) into the net, and is refused where nothing is clipped."""
    nav = metarl.make_agent("rl2", "point-nav", action_units="unit", action_logp="clipped", device="cpu")
    assert nav.net.clipped and nav.net.clip_high.tolist() == [1.0, 1.0]
    env = metarl.make_agent("rl2", "point-nav", action_logp="clipped", device="cpu")
    torch.testing.assert_close(env.net.clip_low, torch.tensor([-0.1, -0.1]))
    assert not metarl.make_agent("rl2", "point-nav", device="cpu").net.clipped
    with pytest.raises(ConfigError, match="action_logp='clipped' is for Box actions"):
        metarl.make_agent("rl2", "bandit", action_logp="clipped")
    with pytest.raises(ConfigError, match="action_logp='clipped' needs a bounded action box"):
        metarl.make_agent("rl2", StandInFamily(gymnasium.spaces.Box(-np.inf, np.inf, shape=(2,))),
                          action_logp="clipped")
    with pytest.raises(ConfigError, match="action_logp='tanh' is not valid"):
        metarl.make_agent("rl2", "point-nav", action_logp="tanh")
