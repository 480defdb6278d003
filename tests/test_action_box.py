"""Gaussian samples -> Box actions in env or unit [-1, 1] units (``metarl.learning.action_box``),
and the agents' ``action_units`` option."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

import metarl
from helpers import StandInFamily
from metarl.errors import ConfigError
from metarl.learning.action_box import BoxActions

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
