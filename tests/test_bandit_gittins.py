"""``bandit-gittins``: the finite-horizon Gittins index table against hand-computed indices,
its exact value against the exact Bayes-optimal DP, and its options."""
from __future__ import annotations

import numpy as np
import pytest

import metarl
from metarl.agents.baselines.bandit_bayes import bayes_optimal_value
from metarl.agents.baselines.bandit_gittins import GittinsBanditAgent, gittins_index_table
from metarl.errors import ConfigError
from test_baselines import run_trials


def test_index_table_by_hand():
    table = gittins_index_table(3, grid=1025)
    # One pull left: the index is the posterior mean (s + 1) / (s + f + 2).
    for s, f in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0)]:
        assert table[1, s, f] == pytest.approx((s + 1) / (s + f + 2), abs=1e-9)
    # Two pulls left, untried arm: pull it now, then keep it on success (2/3) or take the known arm
    # lam on failure (lam >= 1/3): 0.5 (1 + 2/3) + 0.5 lam = 2 lam  =>  lam = 5/9.
    assert table[2, 0, 0] == pytest.approx(5 / 9, abs=1e-9)
    # After a success, two pulls left: 2/3 (1 + 3/4) + 1/3 lam = 2 lam (lam in [1/2, 3/4]) => 7/10.
    assert table[2, 1, 0] == pytest.approx(0.7, abs=1e-9)
    # More pulls left -> more information value: the index never falls as r grows.
    assert table[1, 0, 0] < table[2, 0, 0] < table[3, 0, 0] < 1.0
    assert not table.flags.writeable


def _index_by_bisection(s: int, f: int, r: int) -> float:
    """Reference: the calibration root for one state by bisection, each probe a plain recursion."""
    from functools import lru_cache

    def gap(lam: float) -> float:
        @lru_cache(maxsize=None)
        def w(s: int, f: int, left: int) -> float:
            if left == 0:
                return 0.0
            p = (s + 1) / (s + f + 2)
            return max(left * lam, p * (1 + w(s + 1, f, left - 1)) + (1 - p) * w(s, f + 1, left - 1))
        p = (s + 1) / (s + f + 2)
        return p * (1 + w(s + 1, f, r - 1)) + (1 - p) * w(s, f + 1, r - 1) - r * lam

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def test_index_table_matches_an_independent_bisection():
    table = gittins_index_table(8)                       # default grid
    for r, s, f in [(8, 0, 0), (5, 2, 1), (4, 0, 3), (3, 4, 1), (2, 5, 0), (7, 1, 0)]:
        assert table[r, s, f] == pytest.approx(_index_by_bisection(s, f, r), abs=5e-4), (r, s, f)


def test_index_grid_converges():
    coarse, fine = gittins_index_table(20, grid=257), gittins_index_table(20, grid=4097)
    assert np.abs(coarse - fine).max() < 2e-3


@pytest.mark.parametrize("arms, pulls", [(5, 10), (10, 10)])
def test_exact_value_equals_bayes_optimal_at_n10(arms, pulls):
    """Measured: at n=10 the index policy is Bayes-optimal (exact value = DP value)."""
    family = metarl.make_family("bandit", arms=arms)
    value = family.exact_value(GittinsBanditAgent(family), pulls)["value"]
    assert value == pytest.approx(bayes_optimal_value(arms, pulls), abs=1e-6)


def test_exact_value_not_above_bayes_optimal():
    family = metarl.make_family("bandit", arms=2)
    value = family.exact_value(GittinsBanditAgent(family), 12)["value"]
    optimum = bayes_optimal_value(2, 12)
    assert optimum - 0.01 < value <= optimum + 1e-9      # measured 7.2915 against 7.2924


def test_explicit_horizon_matches_inferred_and_beats_ucb_at_n30():
    family = metarl.make_family("bandit", arms=5)
    tasks = family.sample(3000, split="test", seed=11)
    explicit = run_trials(GittinsBanditAgent(family, horizon=30, seed=2), family, tasks, 30)
    inferred = run_trials(GittinsBanditAgent(family, seed=2), family, tasks, 30)
    np.testing.assert_array_equal(explicit, inferred)
    ucb = run_trials(metarl.make_agent("bandit-ucb", family, seed=2), family, tasks, 30)
    assert explicit.mean() > ucb.mean()                   # same tasks and reward draws


def test_past_the_horizon_it_is_greedy():
    family = metarl.make_family("bandit", arms=3)
    agent = GittinsBanditAgent(family, horizon=2)
    lay = agent.layout
    counts = np.zeros((1, 3, 2))
    counts[0, 2] = [1, 0]                 # arm 2 paid once, arm 0 failed once
    counts[0, 0] = [0, 1]                 # with the failure of arm 1 below: 3 pulls > horizon 2
    obs = lay.encode_batch(np.zeros((1, 1)), np.array([1]), np.zeros(1), np.ones(1), np.ones(1))
    actions, new = agent.act(obs, counts)
    assert new[0, 1].tolist() == [0, 1] and actions.tolist() == [2]   # posterior means 1/3, 1/3, 2/3


@pytest.mark.parametrize("options, needle", [
    ({"horizon": 0}, "horizon"), ({"horizon": 300}, "max_horizon=200"), ({"grid": 2}, "grid"),
    ({"grid": 5000}, "grid=5000"), ({"horizon": 200, "grid": 4097}, "GiB of working memory"),
    ({"max_horizon": 0}, "max_horizon"), ({"seed": -1}, "seed"),
])
def test_bad_options(options, needle):
    with pytest.raises(ConfigError) as err:
        metarl.make_agent("bandit-gittins", "bandit", **options)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_inferred_horizon_over_the_cap_is_a_config_error():
    family = metarl.make_family("bandit", arms=2)
    agent = GittinsBanditAgent(family, max_horizon=5)
    with pytest.raises(ConfigError, match="horizon=8 is over max_horizon=5"):
        run_trials(agent, family, family.sample(4, split="test", seed=0), 8)


def test_listed_as_a_bandit_baseline():
    family = metarl.make_family("bandit")
    assert "bandit-gittins" in family.baselines
    assert type(metarl.make_agent("bandit-gittins", family)) is GittinsBanditAgent
