"""Truncated BPTT in RL²: chunks restarted from the recorded memory reproduce the full unroll."""
import numpy as np
import pytest
import torch

import metarl


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _collect(bptt_chunk, critic="shared", task_critic=False):
    fam = metarl.make_family("point-nav", horizon=7)
    agent = metarl.make_agent("rl2", fam, hidden_size=16, trials_per_update=4, minibatches=2,
                              bptt_chunk=bptt_chunk, critic=critic, task_critic=task_critic, seed=3)
    venv = fam.make_vector_env(4, 3)  # trials of 21 steps
    batch = agent.collect(venv, fam.sample(4, seed=1), seed=5)
    return agent, batch


@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_chunks_restart_from_recorded_memory_and_match_full_unroll(critic):
    """(With a separate critic the recorded memory holds both trunks' states, 2 x 16 wide.)"""
    agent, batch = _collect(bptt_chunk=5, critic=critic)
    T, B = batch.active.shape
    assert T == 21 and batch.hidden.shape == (5, B, 16 * (2 if critic == "separate" else 1))
    zeros = torch.zeros_like(batch.rewards)
    seq, h0, _ = agent._sequences(batch, zeros, zeros)
    with torch.no_grad():
        full, _ = agent.net.unroll(batch.obs, agent.net.initial_state(B, batch.obs.device))
        chunk_feats, _ = agent.net.unroll(seq["obs"], h0)
    # sequence s = chunk * B + b covers steps [chunk * 5, chunk * 5 + 5) of trial b; the last chunk is padded
    for s in range(h0.shape[1]):
        c, b = divmod(s, B)
        steps = range(c * 5, min(T, c * 5 + 5))
        for i, t in enumerate(steps):
            torch.testing.assert_close(chunk_feats[i, s], full[t, b], atol=1e-5, rtol=1e-5)
        assert seq["active"][len(steps):, s].sum() == 0  # padding is masked out


@pytest.mark.parametrize("bptt_chunk", [0, 5])
def test_task_critic_sequences_carry_their_trials_task(bptt_chunk):
    """Each training sequence (a whole trial, or chunk c of trial b at c * B + b) carries the
    task features of its own trial, and the collected values are those of the task-reading critic."""
    agent, batch = _collect(bptt_chunk=bptt_chunk, task_critic=True)
    fam = agent.family
    expected = torch.as_tensor(fam.task_features(fam.sample(4, seed=1)))
    assert torch.equal(batch.task, expected)
    zeros = torch.zeros_like(batch.rewards)
    seq, h0, task = agent._sequences(batch, zeros, zeros)
    B = batch.active.shape[1]
    assert task.shape == (h0.shape[1], 2)
    for s in range(h0.shape[1]):
        assert torch.equal(task[s], expected[s % B])
    with torch.no_grad():
        feats, _ = agent.net.unroll(batch.obs, agent.net.initial_state(B, batch.obs.device))
        _, values = agent.net.heads(feats, batch.task)
    torch.testing.assert_close(batch.values[:-1] * batch.active, values * batch.active, atol=1e-5, rtol=1e-5)
    batch.stats["progress"] = 0.0
    assert np.isfinite(agent.update(batch)["value_loss"])


def test_task_critic_dropped_chunks_keep_tasks_aligned():
    """When a trial ends early its later chunks are dropped; every kept chunk still carries its
    own trial's task (trials tagged by index in the first observation coordinate)."""
    agent, batch = _collect(bptt_chunk=5, task_critic=True)
    T, B = batch.active.shape
    batch.active[7:, 1] = 0  # trial 1 ends after step 6: its chunks 2, 3 and 4 carry nothing
    batch.obs[..., 0] = torch.arange(B, dtype=batch.obs.dtype)
    batch.task = torch.arange(B, dtype=batch.task.dtype)[:, None].repeat(1, 2) * 10
    zeros = torch.zeros_like(batch.rewards)
    seq, h0, task = agent._sequences(batch, zeros, zeros)
    assert h0.shape[1] == 5 * B - 3 == task.shape[0]
    torch.testing.assert_close(task[:, 0], seq["obs"][0, :, 0] * 10, rtol=0, atol=0)


def test_chunked_update_runs_and_whole_trial_path_is_default():
    agent, batch = _collect(bptt_chunk=0)
    assert batch.hidden is None
    batch.stats["progress"] = 0.0
    metrics = agent.update(batch)
    assert np.isfinite(metrics["policy_loss"])
    agent, batch = _collect(bptt_chunk=4)
    batch.stats["progress"] = 0.0
    metrics = agent.update(batch)
    assert all(np.isfinite(v) for k, v in metrics.items() if k != "explained_variance")


def test_task_critic_options_are_checked():
    with pytest.raises(metarl.errors.ConfigError, match=r"task_critic must be true or false, got 'yes'"):
        metarl.make_agent("rl2", metarl.make_family("bandit", arms=2), task_critic="yes")
    from metarl.tasks import TaskFamily

    class NoParams(TaskFamily):
        name = "no-params"

        def make_env(self, task):
            return metarl.make_family("bandit", arms=2).make_env(metarl.Task("bandit", {"means": [0.1, 0.9]}))

    with pytest.raises(metarl.errors.ConfigError, match=r"task_critic=True needs task features, and family "
                                                        r"'no-params' gives 0 columns"):
        metarl.make_agent("rl2", NoParams(), task_critic=True)


def test_bad_bptt_chunk_is_rejected():
    fam = metarl.make_family("bandit", arms=2)
    with pytest.raises(metarl.errors.ConfigError, match="bptt_chunk"):
        metarl.make_agent("rl2", fam, bptt_chunk=-1)
