"""PPO's KL early stop in RL² (``target_kl``): the update ends at the first minibatch whose
approximate KL from the collecting policy exceeds 1.5 x target_kl, before that minibatch's step."""
import pytest
import torch

import metarl


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _update(target_kl):
    fam = metarl.make_family("point-nav", horizon=7)
    agent = metarl.make_agent("rl2", fam, hidden_size=16, trials_per_update=4, minibatches=2, epochs=4,
                              target_kl=target_kl, device="cpu", seed=3)
    batch = agent.collect(fam.make_vector_env(4, 3), fam.sample(4, seed=1), seed=5)
    batch.stats["progress"] = 0.0
    before = [p.detach().clone() for p in agent.net.parameters()]
    metrics = agent.update(batch)
    moved = any(not torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))
    return metrics, moved


def test_without_target_kl_every_epoch_and_minibatch_steps():
    metrics, moved = _update(0.0)
    assert metrics["minibatch_steps"] == 4 * 2 and moved


def test_a_tiny_target_kl_stops_after_the_first_step():
    """The first minibatch is scored by the collecting policy itself (KL ~ 0), so it steps; one
    Adam step then moves the policy far more than 1.5e-9, so the second minibatch stops the update."""
    metrics, moved = _update(1e-9)
    assert metrics["minibatch_steps"] == 1 and moved
    assert metrics["approx_kl"] > 0 and torch.isfinite(torch.tensor(metrics["grad_norm"]))


def test_a_loose_target_kl_changes_nothing():
    assert _update(10.0)[0] == _update(0.0)[0]


def test_bad_target_kl_is_rejected():
    with pytest.raises(metarl.errors.ConfigError, match="target_kl"):
        metarl.make_agent("rl2", metarl.make_family("bandit", arms=2), target_kl=-0.01)
