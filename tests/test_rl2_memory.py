"""The memory ablations of RL² (``memory="episode"`` / ``"none"``): the masked unrolls against
the hand-written cells, acting step by step equals training over whole sequences, bad values are
refused, and an agent without memory across episodes cannot adapt on bandits."""
from __future__ import annotations

import pytest
import torch

import metarl
from metarl.errors import ConfigError
from metarl.learning.recurrent import RecurrentActorCritic
from test_recurrent import HID, REFERENCES  # (the references read HID)

torch.set_num_threads(1)
OBS, ACT, T, B = 6, 3, 9, 4
FEEDBACK = (2, 5)  # columns 2-3: previous action, 4: episode-end flag (the last feedback column); 5: progress
EPISODE_END, PROGRESS = FEEDBACK[1] - 1, FEEDBACK[1]


def make_net(memory: str, cell: str, critic: str = "shared") -> RecurrentActorCritic:
    torch.manual_seed(0)
    net = RecurrentActorCritic(OBS, ACT, hidden_size=HID, cell=cell, critic=critic, memory=memory, feedback=FEEDBACK)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.double()


def trial_inputs(cell: str, critic: str = "shared") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """obs [T, B, OBS] whose episode-end column marks episode starts at different steps per
    slot (none in slot 3, whose trial ends at step 6: the final observation, episode end with
    trial progress 1, repeated after it, as finished slots do), a non-zero h0, and the starts
    [T, B] (the final observations are none)."""
    g = torch.Generator().manual_seed(3)
    obs = torch.randn(T, B, OBS, generator=g, dtype=torch.float64)
    starts = torch.zeros(T, B, dtype=torch.float64)
    starts[4, 0] = starts[4, 1] = starts[2, 2] = starts[6, 2] = starts[0, 1] = 1
    obs[..., EPISODE_END] = starts
    obs[..., PROGRESS] = torch.rand(T, B, generator=g, dtype=torch.float64) * 0.9
    obs[6:, 3, EPISODE_END] = obs[6:, 3, PROGRESS] = 1.0
    width = HID * (2 if cell == "lstm" else 1) * (2 if critic == "separate" else 1)
    h0 = torch.randn(1, B, width, generator=g, dtype=torch.float64)
    return obs, h0, starts


def zero_feedback(obs: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    out = obs.clone()
    out[..., FEEDBACK[0]:FEEDBACK[1]] *= (1 - where).unsqueeze(-1)
    return out


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("memory", ["episode", "none"])
def test_masked_unroll_equals_the_hand_written_cell(memory, cell):
    """episode: memory and feedback zeroed where an episode starts; none: at every step."""
    net = make_net(memory, cell)
    obs, h0, starts = trial_inputs(cell)
    where = starts if memory == "episode" else torch.ones_like(starts)
    with torch.no_grad():
        feats, h_final = net.unroll(obs, h0)
        ref, ref_final = REFERENCES[cell](net, zero_feedback(obs, where), h0, where)
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-9)
    if memory == "episode":
        torch.testing.assert_close(h_final, ref_final, rtol=0, atol=1e-9)
    else:
        assert not h_final.any(), "no memory: the state handed on is zero"


@pytest.mark.parametrize("cell,critic", [("gru", "shared"), ("lstm", "shared"), ("gru", "separate")])
@pytest.mark.parametrize("memory", ["episode", "none"])
def test_acting_step_by_step_equals_the_training_unroll(memory, cell, critic):
    """What ``act`` computes (one step at a time, carrying the state) is what PPO trains on."""
    net = make_net(memory, cell, critic)
    obs, h0, _ = trial_inputs(cell, critic)
    with torch.no_grad():
        feats, _ = net.unroll(obs, h0)
        pi_seq = net.heads(feats)[0]
        state, steps = h0, []
        for t in range(T):
            pi, state = net.policy_step(obs[t : t + 1], state)
            steps.append(pi)
    torch.testing.assert_close(torch.cat(steps), pi_seq, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bptt_chunk", [0, 5])
@pytest.mark.parametrize("memory", ["episode", "none"])
def test_training_recomputes_what_collecting_recorded(memory, bptt_chunk):
    """Through the agent (separate critic): trials of 3 point-nav episodes of 7 steps, collected
    with the masks applied step by step, re-run as PPO does (whole trials, or 5-step chunks from
    the recorded memory) give the same log-probabilities; the bootstrap value at the trial's end
    is read from the last episode's memory, not a wiped one."""
    family = metarl.make_family("point-nav", horizon=7)
    agent = metarl.make_agent("rl2", family, hidden_size=16, memory=memory, bptt_chunk=bptt_chunk,
                              critic="separate", seed=1)
    venv, seen = family.make_vector_env(6, 3), []
    step = venv.step

    def recording_step(action):
        out = step(action)
        seen.append(out[0].copy())
        return out

    venv.step = recording_step
    batch = agent.collect(venv, family.sample(6, split="train", seed=2), seed=3)
    assert batch.obs.shape[0] == 21 and bool((batch.obs[7, :, agent.layout.episode_end] == 1).all())
    zeros = torch.zeros_like(batch.rewards)
    seq, h0, _ = agent._sequences(batch, zeros, zeros)
    final = torch.as_tensor(seen[-1]).unsqueeze(0)  # [1, 6, D]: episode end, trial progress 1
    assert bool((final[..., agent.layout.episode_end] == 1).all() and (final[..., agent.layout.trial_progress] == 1).all())
    with torch.no_grad():
        feats, _ = agent.net.unroll(seq["obs"], h0)
        logp, _ = agent.net.log_prob_entropy(agent.net.heads(feats)[0], seq["actions"])
        mask = seq["active"] > 0
        torch.testing.assert_close(logp[mask], seq["logp"][mask], rtol=0, atol=1e-5)
        _, memory_at_end = agent.net.unroll(batch.obs, agent.init_state(6))
        kept = agent.net.heads(agent.net.core(final, memory_at_end)[0][0])[1]
        wiped = agent.net.heads(agent.net.core(final, agent.init_state(6))[0][0])[1]
    torch.testing.assert_close(batch.values[-1], kept, rtol=0, atol=1e-5)
    if memory == "episode":
        assert (kept - wiped).abs().max() > 1e-3, "the bootstrap must see the last episode's memory"


def test_the_ablations_remove_exactly_what_they_say():
    obs, h0, starts = trial_inputs("gru")
    changed = obs.clone()
    changed[:4, :, :FEEDBACK[0]] += 1.0  # other observations before step 4
    changed[..., FEEDBACK[0]:EPISODE_END] += 1.0  # other previous actions and rewards everywhere
    with torch.no_grad():
        none_a, _ = make_net("none", "gru").unroll(obs, h0)
        none_b, _ = make_net("none", "gru").unroll(changed, torch.zeros_like(h0))
        torch.testing.assert_close(none_a[4:], none_b[4:], rtol=0, atol=0)  # the past and the feedback: ignored
        ep = make_net("episode", "gru")
        ep_a, _ = ep.unroll(obs, h0)
        ep_b, _ = ep.unroll(changed, h0)
        trial_a, _ = make_net("trial", "gru").unroll(obs, h0)
    # slots 0 and 1 start an episode at step 4: the earlier steps no longer matter from there on
    torch.testing.assert_close(ep_a[4, :2], ep_b[4, :2], rtol=0, atol=0)
    assert not torch.allclose(ep_a[5, :2], ep_b[5, :2]), "inside an episode the feedback still counts"
    assert not torch.allclose(ep_a[4:, 3], ep_b[4:, 3]), "slot 3 never restarts: its past still counts"
    assert not torch.allclose(trial_a[4:], ep_a[4:]), "trial memory is not reset at episode starts"


def test_bad_memory_values_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="'trial', 'episode', 'none'"):
        RecurrentActorCritic(OBS, ACT, memory="step")
    with pytest.raises(ConfigError, match="feedback"):
        RecurrentActorCritic(OBS, ACT, memory="none")
    with pytest.raises(ConfigError, match="memory.*'trial', 'episode', 'none'"):
        metarl.make_agent("rl2", metarl.make_family("bandit", arms=2), memory="episodes")


@pytest.mark.parametrize("memory", ["episode", "none"])
def test_without_memory_across_pulls_bandits_stay_at_the_random_level(tmp_path, memory):
    """On bandits each pull is an episode, so both ablations leave a policy that cannot tell the
    arms apart: the budget with which RL² reaches 5.8 (test_rl2_train.py) ends at the random
    level, 5.0 for 2 arms x 10 pulls, with no gain from the first pull to the last."""
    family = metarl.make_family("bandit", arms=2)
    result = metarl.train(family, "rl2", episodes_per_trial=10, total_steps=150 * 64 * 10, seed=0,
                          run_dir=str(tmp_path / "run"), quiet=True, baselines=False, eval_tasks=100,
                          eval_every=1000, hidden_size=64, trials_per_update=64, minibatches=2, epochs=4, lr=5e-3,
                          lr_final=1e-3, ent_coef=0.005, gamma=1.0, memory=memory)
    assert result.agent.config()["memory"] == memory
    summary = metarl.evaluate(result.agent, family.sample(2000, split="test", seed=7), episodes=10,
                              seed=0).summary
    print(f"\nmemory={memory}: held-out trial return {summary['trial_return']:.3f} "
          f"(first {summary['first']:.3f}, last {summary['last']:.3f})")
    assert abs(summary["trial_return"] - 5.0) < 0.15
    assert abs(summary["last"] - summary["first"]) < 0.05
