"""RL²'s ``encoder`` option: a per-step tanh MLP in front of the recurrent cell. The unroll
against the hand-written encoder + cell, one encoder per trunk with a separate critic, acting
step by step equals the training unroll (with the memory masks too), default networks are
unchanged, bad widths are refused."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import metarl
from metarl.errors import ConfigError
from metarl.learning.recurrent import RecurrentActorCritic
from test_recurrent import HID, REFERENCES  # (the references read HID)

torch.set_num_threads(1)
OBS, ACT, T, B = 6, 3, 9, 4
FEEDBACK = (2, 5)
WIDTHS = (7, 11)


def make_net(cell: str = "gru", critic: str = "shared", memory: str = "trial",
             encoder: tuple[int, ...] = WIDTHS) -> RecurrentActorCritic:
    torch.manual_seed(0)
    net = RecurrentActorCritic(OBS, ACT, hidden_size=HID, cell=cell, critic=critic, memory=memory,
                               feedback=FEEDBACK, encoder=encoder)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.double()


def encode_by_hand(encoder: torch.nn.Sequential, obs: torch.Tensor) -> torch.Tensor:
    """tanh(W2 tanh(W1 x + b1) + b2), written out: [T, B, OBS] -> [T, B, WIDTHS[-1]]."""
    first, second = encoder[0], encoder[2]
    hidden = torch.tanh(obs @ first.weight.T + first.bias)
    return torch.tanh(hidden @ second.weight.T + second.bias)


def inputs(cell: str, critic: str = "shared"):
    g = torch.Generator().manual_seed(3)
    obs = torch.randn(T, B, OBS, generator=g, dtype=torch.float64)
    width = HID * (2 if cell == "lstm" else 1) * (2 if critic == "separate" else 1)
    resets = torch.zeros(T, B, dtype=torch.float64)
    resets[3, 1] = resets[6, 0] = resets[6, 2] = 1
    return obs, torch.randn(1, B, width, generator=g, dtype=torch.float64), resets


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_unroll_with_resets_equals_the_hand_written_encoder_and_cell(cell):
    net = make_net(cell)
    assert [m.in_features for m in net.encoder if isinstance(m, torch.nn.Linear)] == [OBS, 7]
    assert net.rnn.input_size == WIDTHS[-1]
    obs, h0, resets = inputs(cell)
    with torch.no_grad():
        feats, final = net.unroll(obs, h0, resets)
        ref, ref_final = REFERENCES[cell](net, encode_by_hand(net.encoder, obs), h0, resets)
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-9)
    torch.testing.assert_close(final, ref_final, rtol=0, atol=1e-9)


def test_a_separate_critic_has_its_own_encoder():
    net = make_net(critic="separate")
    assert net.critic_encoder is not net.encoder
    assert not torch.equal(net.critic_encoder[0].weight, net.encoder[0].weight)
    obs, h0, _ = inputs("gru", "separate")
    actor_h0, critic_h0 = h0.split(HID, dim=-1)
    with torch.no_grad():
        feats, _ = net.unroll(obs, h0)
        ref_actor, _ = REFERENCES["gru"](net, encode_by_hand(net.encoder, obs), actor_h0, None)
        critic_view = SimpleNamespace(gru=net.critic_gru)
        ref_critic, _ = REFERENCES["gru"](critic_view, encode_by_hand(net.critic_encoder, obs), critic_h0, None)
    torch.testing.assert_close(feats, torch.cat([ref_actor, ref_critic], dim=-1), rtol=0, atol=1e-9)


@pytest.mark.parametrize("memory", ["trial", "episode", "none"])
@pytest.mark.parametrize("cell,critic", [("gru", "shared"), ("lstm", "separate")])
def test_acting_step_by_step_equals_the_training_unroll(memory, cell, critic):
    net = make_net(cell, critic, memory)
    obs, h0, resets = inputs(cell, critic)
    obs[..., FEEDBACK[1] - 1] = resets  # episode starts where the episode-end column says so
    obs[..., FEEDBACK[1]] = 0.5
    with torch.no_grad():
        pi_seq = net.heads(net.unroll(obs, h0)[0])[0]
        state, steps = h0, []
        for t in range(T):
            pi, state = net.policy_step(obs[t : t + 1], state)
            steps.append(pi)
    torch.testing.assert_close(torch.cat(steps), pi_seq, rtol=0, atol=1e-9)


def test_the_default_network_has_no_encoder_and_unchanged_weights():
    """No encoder unless asked: the same parameter names and seeded values as before the option
    existed, so earlier checkpoints load."""
    torch.manual_seed(0)
    default = RecurrentActorCritic(OBS, ACT, hidden_size=HID)
    torch.manual_seed(0)
    explicit = RecurrentActorCritic(OBS, ACT, hidden_size=HID, encoder=())
    assert not any("encoder" in name for name in default.state_dict())
    assert default.rnn.input_size == OBS
    for (name, a), (_, b) in zip(default.state_dict().items(), explicit.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_agent_records_the_encoder_and_refuses_bad_widths():
    family = metarl.make_family("bandit", arms=2)
    agent = metarl.make_agent("rl2", family, hidden_size=16, encoder=(32,))
    assert agent.config()["encoder"] == [32] and agent.net.rnn.input_size == 32
    assert metarl.make_agent("rl2", family, hidden_size=16).config()["encoder"] == []
    with pytest.raises(ConfigError, match="encoder entry=0"):
        metarl.make_agent("rl2", family, encoder=[64, 0])
    with pytest.raises(ConfigError, match="encoder must be a list of layer widths"):
        metarl.make_agent("rl2", family, encoder=64)
