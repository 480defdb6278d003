"""Exact expected trial return of a bandit policy under the U[0, 1] prior (metarl.envs.bandit_exact)."""
from __future__ import annotations

import numpy as np
import pytest

import metarl
from metarl.agents.baselines.bandit_bayes import bayes_optimal_value
from metarl.envs.bandit_exact import MAX_PULLS, ScriptedBanditVectorEnv, exact_trial_value, reward_sequences
from metarl.errors import ConfigError
from metarl.evaluation.evaluator import evaluate
from metarl.registry import make_agent

from helpers import one_line


class ConstantArm:
    """Always pulls arm ``arm``: a policy that ignores rewards earns n/2 in expectation."""

    def __init__(self, family, arm: int = 0) -> None:
        self.family, self.arm = family, arm

    def init_state(self, batch):
        return None

    def act(self, obs, state, deterministic=False):
        return np.full(len(obs), self.arm, dtype=np.int64), state


class StayOnWin:
    """Pulls arm 0, then keeps its last arm after a reward of 1 and moves to the next arm after a 0."""

    def __init__(self, family) -> None:
        self.family = family
        self.layout = metarl.make_family("bandit", arms=family.arms).make_vector_env(1, 1).layout

    def init_state(self, batch):
        return None

    def act(self, obs, state, deterministic=False):
        prev = obs[:, self.layout.prev_action]
        seen = prev.sum(1) > 0.5
        last = prev.argmax(1)
        won = obs[:, self.layout.prev_reward] > 0.5
        arm = np.where(~seen, 0, np.where(won, last, (last + 1) % self.family.arms))
        return arm.astype(np.int64), state


def test_reward_sequences_are_the_bits():
    bits = reward_sequences(3)
    assert bits.shape == (8, 3)
    assert bits[5].tolist() == [1.0, 0.0, 1.0]  # 5 = 0b101, bit t at pull t
    assert sorted(map(tuple, bits.tolist())) == sorted({tuple(r) for r in bits.tolist()})  # all distinct


def test_scripted_env_pays_the_script_whatever_the_arm():
    family = metarl.make_family("bandit", arms=3)
    script = np.array([[1, 0, 1], [0, 0, 1]], dtype=float)
    venv = ScriptedBanditVectorEnv(family, script)
    venv.reset(seed=0, options={"tasks": family.sample(2, seed=1)})
    got = [venv.step(np.array([t % 3, 2]))[1].tolist() for t in range(3)]
    assert np.array(got).T.tolist() == script.tolist()


def test_values_computed_by_hand():
    two = metarl.make_family("bandit", arms=2)
    # greedy on the posterior mean, 2 arms, 2 pulls: 1/2 + 1/2 * 2/3 (stay after a win) + 1/2 * 1/2 (switch)
    assert exact_trial_value(make_agent("bandit-greedy", two), 2)["value"] == pytest.approx(13 / 12, abs=1e-12)
    five = metarl.make_family("bandit", arms=5)
    out = exact_trial_value(ConstantArm(five), 6)
    assert out["value"] == pytest.approx(3.0, abs=1e-12) and out["per_pull"] == pytest.approx([0.5] * 6)
    assert out["sequences"] == 64 and out["pulls"] == 6
    # win-stay / lose-shift on 2 arms, 3 pulls, enumerated by hand over the Beta(1, 1) posteriors:
    # pull 2 pays 2/3 after a win (same arm) or 1/2 after a loss (fresh arm): 7/12 in expectation.
    # Pull 3: after (W, W) 3/4; (W, L) fresh arm 1/2; (L, W) 2/3; (L, L) back to arm 0 with 0 of 1: 1/3.
    p3 = 0.5 * 2 / 3 * 3 / 4 + 0.5 * 1 / 3 * 1 / 2 + 0.5 * 1 / 2 * 2 / 3 + 0.5 * 1 / 2 * 1 / 3
    got = exact_trial_value(StayOnWin(two), 3)
    assert got["per_pull"] == pytest.approx([0.5, 7 / 12, p3], abs=1e-12)


def test_bayes_optimal_agent_scores_the_dp_value():
    family = metarl.make_family("bandit", arms=5)
    out = exact_trial_value(make_agent("bandit-bayes-optimal", family), 8)
    assert out["value"] == pytest.approx(bayes_optimal_value(5, 8), abs=1e-9)
    greedy = exact_trial_value(make_agent("bandit-greedy", family), 8)["value"]
    assert 5.0 < greedy < out["value"]  # near-optimal at short horizons, but not optimal


def test_bad_settings_fail_with_one_line():
    with pytest.raises(ConfigError) as e:
        exact_trial_value(ConstantArm(metarl.make_family("bandit", arms=3, low=0.2, high=0.9)), 4)
    assert "U[0.2, 0.9]" in one_line(e)
    with pytest.raises(ConfigError) as e:
        exact_trial_value(ConstantArm(metarl.make_family("bandit", arms=3)), MAX_PULLS + 1)
    assert str(MAX_PULLS + 1) in one_line(e)
    with pytest.raises(ConfigError) as e:
        exact_trial_value(ConstantArm(metarl.make_family("tabular-mdp")), 4)
    assert "'tabular-mdp'" in one_line(e)


def test_evaluate_reports_the_exact_value_where_the_family_has_one():
    family = metarl.make_family("bandit", arms=2)
    agent = make_agent("bandit-greedy", family)
    tasks = family.sample(50, split="test", seed=3)
    report = evaluate(agent, tasks, episodes=2, exact=True)
    assert report.summary["exact"]["value"] == pytest.approx(13 / 12, abs=1e-12)
    assert "exact" in report.table() and "1.0833" in report.table()
    assert "exact" not in evaluate(agent, tasks, episodes=2).summary  # only when asked
    long = evaluate(agent, tasks, episodes=MAX_PULLS + 1, exact=True).summary["exact"]
    assert "skipped" in long and "pulls" in long["skipped"]
    mdp = metarl.make_family("tabular-mdp")
    assert "exact" not in evaluate(make_agent("random", mdp), mdp.sample(3, seed=0), episodes=1, exact=True).summary
