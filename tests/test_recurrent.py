"""RecurrentActorCritic: the GRU and LSTM unrolls against hand-written cells, resets, gradients,
and the policy heads' sample / log_prob_entropy against closed forms and torch.distributions."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from helpers import DEVICES
from metarl.errors import ConfigError
from metarl.learning.recurrent import RecurrentActorCritic

torch.set_num_threads(1)
OBS, ACT, HID, T, B = 5, 3, 32, 7, 4


def make_net(head: str = "categorical", seed: int = 0, cell: str = "gru", critic: str = "shared") -> RecurrentActorCritic:
    torch.manual_seed(seed)
    net = RecurrentActorCritic(OBS, ACT, hidden_size=HID, head=head, cell=cell, critic=critic)
    with torch.no_grad():  # biases are initialised to 0; make every term of the cell matter
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.double()


def gru_reference(net: RecurrentActorCritic, obs: torch.Tensor, h0: torch.Tensor,
                  resets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step at a time with the GRU equations written out (PyTorch's gate order r, z, n),
    zeroing the memory before step t where ``resets[t]`` is 1."""
    g = net.gru
    w_ir, w_iz, w_in = g.weight_ih_l0.chunk(3)
    w_hr, w_hz, w_hn = g.weight_hh_l0.chunk(3)
    b_ir, b_iz, b_in = g.bias_ih_l0.chunk(3)
    b_hr, b_hz, b_hn = g.bias_hh_l0.chunk(3)
    h, outs = h0[0], []
    for step in range(obs.shape[0]):
        if resets is not None:
            h = h * (1 - resets[step]).unsqueeze(-1)
        x = obs[step]
        r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        n = torch.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs), h.unsqueeze(0)


def lstm_reference(net: RecurrentActorCritic, obs: torch.Tensor, state: torch.Tensor,
                   resets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM equations written out (PyTorch's gate order i, f, g, o); ``state`` is
    [1, B, 2 * hidden] = h and c side by side, both zeroed before step t where ``resets[t]`` is 1."""
    m = net.lstm
    h, c = state[0].split(HID, dim=-1)
    outs = []
    for step in range(obs.shape[0]):
        if resets is not None:
            keep = (1 - resets[step]).unsqueeze(-1)
            h, c = h * keep, c * keep
        gates = obs[step] @ m.weight_ih_l0.T + m.bias_ih_l0 + h @ m.weight_hh_l0.T + m.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), torch.cat([h, c], dim=-1).unsqueeze(0)


REFERENCES = {"gru": gru_reference, "lstm": lstm_reference}


@pytest.fixture(params=["gru", "lstm"])
def cell(request):
    return request.param


def h0_shape(cell: str) -> tuple[int, int, int]:
    return (1, B, HID * (2 if cell == "lstm" else 1))


@pytest.fixture
def data(cell):
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(T, B, OBS, generator=g, dtype=torch.float64)
    h0 = torch.randn(*h0_shape(cell), generator=g, dtype=torch.float64)
    return obs, h0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("resets", ["none", "zeros", "first_only", "inside"])
def test_unroll_matches_step_by_step(data, cell, resets, device):
    """(On CUDA the fused path is cuDNN's kernel; on CPU the LSTM's is oneDNN's.)"""
    net = make_net(cell=cell).to(device)
    assert net.initial_state(B, device).shape == h0_shape(cell)
    obs, h0 = (t.to(device) for t in data)
    r = {"none": None, "zeros": torch.zeros(T, B, dtype=torch.float64),
         "first_only": torch.zeros(T, B, dtype=torch.float64), "inside": torch.zeros(T, B, dtype=torch.float64)}[resets]
    if resets == "first_only":
        r[0, 1] = r[0, 3] = 1            # trials starting at t = 0 in slots 1 and 3 (fused path)
    if resets == "inside":
        r[0, 0] = r[3, 0] = r[5, 0] = 1  # trial starts inside the sequence
        r[1, 2] = 1
    r = None if r is None else r.to(device)
    with torch.no_grad():
        feats, h_final = net.unroll(obs, h0, r)
        ref, ref_final = REFERENCES[cell](net, obs, h0, r)
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(h_final, ref_final, rtol=0, atol=1e-6)


def test_float32_unroll_matches_one_step_calls(cell):
    """In the dtype training uses: the fused batched unroll (no resets, and resets inside)
    equals feeding one step at a time through ``unroll`` and zeroing the memory at resets."""
    net = make_net(cell=cell).float()
    g = torch.Generator().manual_seed(9)
    obs = torch.randn(T, B, OBS, generator=g)
    resets = torch.zeros(T, B)
    resets[2, 0] = resets[5, 3] = 1
    with torch.no_grad():
        for r in (None, resets):
            h, outs = net.initial_state(B, "cpu"), []
            for step in range(T):
                if r is not None:
                    h = h * (1 - r[step]).view(1, -1, 1)
                out, h = net.unroll(obs[step : step + 1], h)
                outs.append(out)
            feats, h_final = net.unroll(obs, net.initial_state(B, "cpu"), r)
            torch.testing.assert_close(feats, torch.cat(outs), rtol=0, atol=1e-6)
            torch.testing.assert_close(h_final, h, rtol=0, atol=1e-6)


def test_unroll_with_resets_equals_fused_segments(data, cell):
    """A reset inside the sequence = two independent fused unrolls (the second from zero)."""
    net = make_net(cell=cell)
    obs, h0 = data
    resets = torch.zeros(T, B, dtype=torch.float64)
    resets[4] = 1  # every slot starts a new trial at t = 4
    with torch.no_grad():
        feats, h_final = net.unroll(obs, h0, resets)
        first, _ = net.unroll(obs[:4], h0)
        second, h2 = net.unroll(obs[4:], torch.zeros_like(h0))
    torch.testing.assert_close(feats, torch.cat([first, second]), rtol=0, atol=1e-6)
    torch.testing.assert_close(h_final, h2, rtol=0, atol=1e-6)


def test_gradient_flows_through_the_whole_sequence_and_stops_at_resets(data, cell):
    net = make_net(cell=cell)
    obs, h0 = data
    obs = obs.clone().requires_grad_(True)
    resets = torch.zeros(T, B, dtype=torch.float64)
    resets[3, 1] = 1  # slot 1: a new trial at t = 3
    feats, _ = net.unroll(obs, h0, resets)
    _, values = net.heads(feats)
    values[-1].sum().backward()  # the value at the last step only
    grad = obs.grad.abs().sum(-1)  # [T, B]
    assert torch.all(grad[:, [0, 2, 3]] > 0), "the last step's value must depend on the first observation"
    assert torch.all(grad[:3, 1] == 0), "memory must not cross a reset"
    assert torch.all(grad[3:, 1] > 0)
    for name, p in net.rnn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_categorical_sample_and_log_prob_entropy():
    net = make_net("categorical")
    g = torch.Generator().manual_seed(2)
    pi = torch.randn(6, ACT, generator=g, dtype=torch.float64)
    a, logp = net.sample(pi, torch.Generator().manual_seed(3))
    assert a.shape == (6,) and a.dtype == torch.long
    logp2, ent = net.log_prob_entropy(pi, a)
    torch.testing.assert_close(logp, logp2, rtol=0, atol=1e-12)
    p = torch.softmax(pi, -1)
    torch.testing.assert_close(logp, p.gather(-1, a[:, None]).squeeze(-1).log(), rtol=0, atol=1e-12)
    torch.testing.assert_close(ent, -(p * p.log()).sum(-1), rtol=0, atol=1e-12)
    torch.testing.assert_close(ent, torch.distributions.Categorical(logits=pi).entropy(), rtol=0, atol=1e-12)
    # the same generator seed draws the same actions; deterministic picks the mode
    a2, _ = net.sample(pi, torch.Generator().manual_seed(3))
    assert torch.equal(a, a2)
    a_det, _ = net.sample(pi, torch.Generator().manual_seed(3), deterministic=True)
    assert torch.equal(a_det, pi.argmax(-1))
    # frequencies follow the softmax
    many = pi[:1].expand(20000, ACT)
    draws, _ = net.sample(many, torch.Generator().manual_seed(4))
    freq = torch.bincount(draws, minlength=ACT).double() / len(draws)
    torch.testing.assert_close(freq, p[0], rtol=0, atol=0.015)


def test_gaussian_sample_and_log_prob_entropy():
    net = make_net("gaussian")
    with torch.no_grad():
        net.log_std.copy_(torch.tensor([-0.5, 0.0, 0.7], dtype=torch.float64))
    g = torch.Generator().manual_seed(5)
    mean = torch.randn(6, ACT, generator=g, dtype=torch.float64)
    a, logp = net.sample(mean, torch.Generator().manual_seed(6))
    assert a.shape == (6, ACT)
    logp2, ent = net.log_prob_entropy(mean, a)
    dist = torch.distributions.Normal(mean, net.log_std.exp())
    torch.testing.assert_close(logp, logp2, rtol=0, atol=1e-12)
    torch.testing.assert_close(logp, dist.log_prob(a).sum(-1), rtol=0, atol=1e-10)
    torch.testing.assert_close(ent, dist.entropy().sum(-1), rtol=0, atol=1e-10)
    assert ent.shape == (6,)
    # log-prob of arbitrary actions too, and the closed form of the entropy
    other = torch.randn(6, ACT, generator=g, dtype=torch.float64)
    torch.testing.assert_close(net.log_prob_entropy(mean, other)[0], dist.log_prob(other).sum(-1),
                               rtol=0, atol=1e-10)
    closed = ACT * (0.5 + 0.5 * math.log(2 * math.pi)) + float(net.log_std.detach().sum())
    assert abs(float(ent[0].detach()) - closed) < 1e-10
    a_det, logp_det = net.sample(mean, torch.Generator().manual_seed(6), deterministic=True)
    assert torch.equal(a_det, mean)
    torch.testing.assert_close(logp_det, dist.log_prob(mean).sum(-1), rtol=0, atol=1e-10)
    # samples have the head's mean and std
    many, _ = net.sample(mean[:1].expand(20000, ACT), torch.Generator().manual_seed(7))
    torch.testing.assert_close(many.mean(0), mean[0], rtol=0, atol=0.05)
    torch.testing.assert_close(many.std(0), net.log_std.exp().detach(), rtol=0.03, atol=0)


def test_unknown_cell_is_rejected_with_the_choices():
    with pytest.raises(ConfigError, match=r"cell='rnn' is not valid; choose one of \['gru', 'lstm'\]"):
        RecurrentActorCritic(OBS, ACT, cell="rnn")


def test_checkpoint_keys_name_the_cell():
    """A GRU checkpoint keeps its ``gru.*`` keys (runs saved before the LSTM option load
    unchanged); an LSTM's are ``lstm.*``, so loading one into the other fails loudly."""
    gru, lstm = make_net(cell="gru"), make_net(cell="lstm")
    assert any(k.startswith("gru.") for k in gru.state_dict())
    assert any(k.startswith("lstm.") for k in lstm.state_dict())
    with pytest.raises(RuntimeError):
        gru.load_state_dict(lstm.state_dict())


def test_lstm_starts_with_forget_gate_bias_one():
    net = RecurrentActorCritic(OBS, ACT, hidden_size=HID, cell="lstm")
    b_ih, b_hh = net.lstm.bias_ih_l0.detach(), net.lstm.bias_hh_l0.detach()
    i, f, g, o = b_ih.chunk(4)
    assert torch.all(f == 1) and not i.any() and not g.any() and not o.any() and not b_hh.any()


# ---- critic="separate": the value head's own recurrent trunk -----------------------------------------
@pytest.mark.parametrize("resets", ["none", "inside"])
def test_separate_critic_runs_two_independent_trunks(data, cell, resets):
    """Features = [actor trunk | critic trunk], each the hand-written cell over its own half of
    the memory (actor's state first), with resets zeroing both."""
    net = make_net(cell=cell, critic="separate")
    assert net.critic_rnn is not None and net.feature_size == 2 * HID
    obs, h_actor = data
    h_critic = torch.randn(h_actor.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    h0 = torch.cat([h_actor, h_critic], dim=-1)
    assert net.initial_state(B, "cpu").shape == h0.shape
    r = None
    if resets == "inside":
        r = torch.zeros(T, B, dtype=torch.float64)
        r[3, 0] = r[5, 2] = 1
    with torch.no_grad():
        feats, h_final = net.unroll(obs, h0, r)
        ref_a, final_a = REFERENCES[cell](net, obs, h_actor, r)
        ref_c, final_c = REFERENCES[cell](SimpleNamespace(**{cell: net.critic_rnn}), obs, h_critic, r)
    torch.testing.assert_close(feats, torch.cat([ref_a, ref_c], dim=-1), rtol=0, atol=1e-6)
    torch.testing.assert_close(h_final, torch.cat([final_a, final_c], dim=-1), rtol=0, atol=1e-6)


def no_grad(p: torch.Tensor) -> bool:
    """No gradient reached ``p`` (None, or exact zeros through a split of the features)."""
    return p.grad is None or not bool(p.grad.any())


@pytest.mark.parametrize("head", ["categorical", "gaussian"])
def test_separate_critic_heads_read_only_their_own_trunk(head):
    """The policy's output has no gradient into the critic's trunk, the value none into the
    actor's trunk or the policy head: the value loss cannot move the policy."""
    net = make_net(head=head, critic="separate")
    obs = torch.randn(T, B, OBS, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    pi, _ = net.heads(net.unroll(obs, net.initial_state(B, "cpu").double())[0])
    pi.sum().backward()
    assert all(no_grad(p) for p in net.critic_rnn.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.rnn.parameters())
    net.zero_grad(set_to_none=True)
    _, values = net.heads(net.unroll(obs, net.initial_state(B, "cpu").double())[0])
    values.sum().backward()
    assert all(no_grad(p) for p in [*net.rnn.parameters(), *net.policy.parameters()])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.critic_rnn.parameters())


def test_critic_choice_is_checked_and_named_in_checkpoint_keys():
    with pytest.raises(ConfigError, match=r"critic='own' is not valid; choose one of \['shared', 'separate'\]"):
        RecurrentActorCritic(OBS, ACT, hidden_size=HID, critic="own")
    shared, separate = make_net(), make_net(critic="separate")
    assert shared.critic_rnn is None and not any(k.startswith("critic_") for k in shared.state_dict())
    assert {k for k in separate.state_dict() if k.startswith("critic_gru.")} == {
        "critic_" + k for k in shared.state_dict() if k.startswith("gru.")}
    with pytest.raises(RuntimeError, match="critic_gru"):
        separate.load_state_dict(shared.state_dict())


@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_policy_step_equals_the_full_step_and_leaves_the_critic_state_alone(data, cell, critic):
    """Acting runs only the actor: the same policy parameters and actor state as ``core`` +
    ``heads`` step by step, while a separate critic's half of the state passes through as given."""
    net = make_net(cell=cell, critic=critic)
    obs, h = data
    state = full = torch.cat([h, -h], dim=-1) if critic == "separate" else h
    with torch.no_grad():
        for t in range(T):
            pi, state = net.policy_step(obs[t : t + 1], state)
            feats, full = net.core(obs[t : t + 1], full)
            torch.testing.assert_close(pi, net.heads(feats)[0], rtol=0, atol=1e-12)
    actor = net.trunk_state_size
    torch.testing.assert_close(state[..., :actor], full[..., :actor], rtol=0, atol=1e-12)
    if critic == "separate":
        assert torch.equal(state[..., actor:], -h)


# ---- task_dim: an asymmetric critic that also reads privileged task features -------------------------
@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_task_critic_value_reads_the_task_and_the_policy_does_not(critic):
    """value = w . tanh(W [critic features | task] + b) + c, by hand; the policy is the same
    for any task, and a missing or mis-sized task is refused."""
    torch.manual_seed(0)
    net = RecurrentActorCritic(OBS, ACT, hidden_size=HID, critic=critic, task_dim=3).double()
    obs = torch.randn(T, B, OBS, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    task = torch.randn(B, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        feats, _ = net.unroll(obs, net.initial_state(B, "cpu").double())
        pi, values = net.heads(feats, task)
        crit = feats[..., -HID:]
        lin = net.task_value[0]
        x = torch.cat([crit, task.unsqueeze(0).expand(T, B, 3)], dim=-1)
        expected = torch.tanh(x @ lin.weight.T + lin.bias) @ net.value.weight[0] + net.value.bias[0]
        torch.testing.assert_close(values, expected, rtol=0, atol=1e-12)
        pi_other, values_other = net.heads(feats, -task)
        assert torch.equal(pi, pi_other) and not torch.allclose(values, values_other)
        torch.testing.assert_close(net.heads(feats[0], task)[1], values[0], rtol=0, atol=1e-12)  # one step [B, H]
    for bad in (None, task[:, :2], task[:1], task[0]):  # missing, too narrow, one row for B trials, 1-D
        with pytest.raises(ValueError, match=rf"reads task features \[B={B}, 3\]"):
            net.heads(feats, bad)


def test_task_critic_keeps_the_other_seeded_weights():
    """The task layer is built last: every other weight equals the plain net's with the same seed."""
    torch.manual_seed(5)
    plain = RecurrentActorCritic(OBS, ACT, hidden_size=HID).state_dict()
    torch.manual_seed(5)
    with_task = RecurrentActorCritic(OBS, ACT, hidden_size=HID, task_dim=4).state_dict()
    assert set(with_task) - set(plain) == {"task_value.0.weight", "task_value.0.bias"}
    assert all(torch.equal(plain[k], with_task[k]) for k in plain)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_reward_clip_clips_only_the_reward_input(cell):
    """reward_input=(i, 1, c): input i enters clipped to [-c, c] (a reward of -100 acts like -2), and
    every other input, and a reward inside the range, is untouched: the same features as an
    unclipped net with the same weights."""
    torch.manual_seed(0)
    plain = RecurrentActorCritic(5, 2, hidden_size=8, cell=cell)
    clipped = RecurrentActorCritic(5, 2, hidden_size=8, cell=cell, reward_input=(3, 1.0, 2.0))
    clipped.load_state_dict(plain.state_dict())
    obs = torch.randn(4, 3, 5)
    h0 = torch.zeros(1, 3, plain.state_size)
    inside = obs.clone()
    inside[..., 3] = inside[..., 3].clamp(-1.5, 1.5)
    torch.testing.assert_close(clipped.core(inside, h0), plain.core(inside, h0))
    far, at_bound = obs.clone(), obs.clone()
    far[..., 3], at_bound[..., 3] = -100.0, -2.0
    torch.testing.assert_close(clipped.core(far, h0), plain.core(at_bound, h0))
    assert not torch.allclose(plain.core(far, h0)[0], plain.core(at_bound, h0)[0])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_reward_scale_scales_the_reward_input_before_the_clip(cell):
    """reward_input=(i, s, c): input i enters as s * r, clipped to [-c, c] in the scaled units:
    the same features as an unscaled net with the same weights fed s * r (clipped by hand)."""
    torch.manual_seed(0)
    plain = RecurrentActorCritic(5, 2, hidden_size=8, cell=cell)
    scaled = RecurrentActorCritic(5, 2, hidden_size=8, cell=cell, reward_input=(3, 0.1, 0.0))
    both = RecurrentActorCritic(5, 2, hidden_size=8, cell=cell, reward_input=(3, 0.1, 0.5))
    scaled.load_state_dict(plain.state_dict())
    both.load_state_dict(plain.state_dict())
    obs = torch.randn(4, 3, 5)
    obs[..., 3] = torch.linspace(-10.0, 10.0, 12).reshape(4, 3)
    h0 = torch.zeros(1, 3, plain.state_size)
    by_hand = obs.clone()
    by_hand[..., 3] = obs[..., 3] * 0.1                    # -1 .. 1
    torch.testing.assert_close(scaled.core(obs, h0), plain.core(by_hand, h0))
    by_hand[..., 3] = by_hand[..., 3].clamp(-0.5, 0.5)     # rewards beyond +-5 reach the clip
    torch.testing.assert_close(both.core(obs, h0), plain.core(by_hand, h0))
    assert not torch.allclose(scaled.core(obs, h0)[0], plain.core(obs, h0)[0])
