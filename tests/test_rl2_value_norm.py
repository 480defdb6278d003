"""RL²'s ``value_norm``: the value head learns standardised returns; collected values and
bootstraps are mapped back to return units; the running statistics are checkpointed."""
import numpy as np
import pytest
import torch

import metarl
from metarl.errors import ConfigError
from metarl.rollout.gae import compute_gae


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _agent(value_norm=True, **kw):
    fam = metarl.make_family("point-nav", horizon=6)
    agent = metarl.make_agent("rl2", fam, hidden_size=8, trials_per_update=4, minibatches=2, epochs=1,
                              value_norm=value_norm, value_scale=0.5, device="cpu", seed=2, **kw)
    return agent, fam


def test_statistics_are_those_of_the_active_returns_and_values_come_back_in_return_units():
    agent, fam = _agent()
    venv, tasks = fam.make_vector_env(4, 2), fam.sample(4, seed=1)
    batch = agent.collect(venv, tasks, seed=5)
    with torch.no_grad():  # before any update the statistics are (0, 1): values are the head's output
        feats, _ = agent.net.unroll(batch.obs, agent.net.initial_state(4, "cpu"))
        raw = agent.net.heads(feats)[1]
    torch.testing.assert_close(batch.values[:-1], raw, rtol=0, atol=1e-6)
    _, ret = compute_gae(batch.rewards * 0.5, batch.values, batch.terminated, batch.trial_end, 0.99, 0.95)
    active = ret[batch.active.bool()].double().numpy()
    batch.stats["progress"] = 0.0
    agent.update(batch)
    eps = 1e-4  # RunningMeanStd's prior count: mean 0, variance 1
    n = active.size
    mean = active.mean() * n / (n + eps)
    var = (eps * 1.0 + n * active.var() + active.mean() ** 2 * eps * n / (n + eps)) / (n + eps)
    assert agent.return_stats.mean == pytest.approx(mean, rel=1e-5)
    assert agent.return_stats.var == pytest.approx(var, rel=1e-5)
    batch2 = agent.collect(venv, tasks, seed=6)
    with torch.no_grad():
        feats, _ = agent.net.unroll(batch2.obs, agent.net.initial_state(4, "cpu"))
        raw = agent.net.heads(feats)[1]
    std = np.sqrt(var + 1e-8)
    torch.testing.assert_close(batch2.values[:-1], (raw * std + mean).float(), rtol=0, atol=1e-4)


def test_statistics_round_trip_and_a_plain_checkpoint_is_refused():
    agent, fam = _agent()
    batch = agent.collect(fam.make_vector_env(4, 2), fam.sample(4, seed=1), seed=5)
    batch.stats["progress"] = 0.0
    agent.update(batch)
    other, _ = _agent()
    other.load_state_dict(agent.state_dict())
    assert (other.return_stats.mean, other.return_stats.var, other.return_stats.count) == (
        agent.return_stats.mean, agent.return_stats.var, agent.return_stats.count)
    plain, _ = _agent(value_norm=False)
    assert "return_stats" not in plain.state_dict()
    with pytest.raises(ConfigError, match="trained without value_norm"):
        other.load_state_dict(plain.state_dict())
    with pytest.raises(ConfigError, match="value_norm must be true or false, got 'yes'"):
        _agent(value_norm="yes")
