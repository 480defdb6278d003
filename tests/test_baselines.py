"""Classic baselines reproduce the reference scores (the RL² paper's bandit and tabular-MDP
tables and the project's reference runs).

Scores are mean trial returns over held-out tasks; tolerances are 3 standard errors of the
empirical mean (all draws are seeded, so the test is deterministic).
"""
from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import metarl
from helpers import StandInFamily
from metarl.agents.baselines.bandit import (EpsilonGreedyAgent, GreedyAgent, ThompsonAgent, UCB1Agent,
                                            UCBAgent)
from metarl.agents.baselines.bandit_bayes import BayesOptimalBanditAgent, bayes_optimal_value, count_states
from metarl.agents.baselines.psrl import PSRLAgent
from metarl.agents.baselines.random_agent import RandomAgent
from metarl.errors import ConfigError

BANDIT_TASKS = 10_000   # SE ~0.02 on a (n=10) bandit trial return
MDP_TASKS = 300         # SE ~1.2 on a tabular-MDP (n=10) trial return


def run_trials(agent, family, tasks, episodes: int, seed: int = 0) -> np.ndarray:
    """Run ``agent`` on one trial of ``episodes`` episodes per task; returns trial returns [n_tasks]."""
    env = family.make_vector_env(len(tasks), episodes)
    obs, _ = env.reset(seed=seed, options={"tasks": tasks})
    state = agent.init_state(len(tasks))
    total = np.zeros(len(tasks))
    running = np.ones(len(tasks), dtype=bool)
    while running.any():
        actions, state = agent.act(obs, state)
        obs, reward, terminated, truncated, info = env.step(actions)
        total += np.where(info["active"], reward, 0.0)
        running = info["active"] & ~(terminated | truncated)
    return total


def assert_close(returns: np.ndarray, target: float, what: str) -> None:
    mean, se = returns.mean(), returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(mean - target) <= 3 * se, f"{what}: {mean:.3f} +- {se:.3f} vs reference {target}"


@pytest.fixture(scope="module")
def bandit5():
    family = metarl.make_family("bandit", arms=5)
    return family, family.sample(BANDIT_TASKS, split="test", seed=7)


@pytest.fixture(scope="module")
def bandit10():
    family = metarl.make_family("bandit", arms=10)
    return family, family.sample(BANDIT_TASKS, split="test", seed=8)


# ---- scores ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, options, target", [
    ("random", {}, 5.0),
    ("bandit-greedy", {}, 6.62),          # prior-based greedy (measured, 100k tasks)
    ("bandit-ucb", {}, 6.65),             # prior-based UCB, c in 0.05-0.1
    ("bandit-thompson", {}, 5.83),
    ("bandit-ucb1", {}, 5.67),            # textbook UCB1, c=1
    ("bandit-gittins", {}, 6.660),        # finite-horizon Gittins index: Bayes-optimal at n=10
    ("bandit-bayes-optimal", {}, 6.660),  # exact DP value; horizon read from the trial obs
])
def test_bandit_scores_n10_k5(bandit5, name, options, target):
    family, tasks = bandit5
    assert_close(run_trials(metarl.make_agent(name, family, **options), family, tasks, 10), target, name)


@pytest.mark.parametrize("name, target", [
    ("bandit-greedy", 6.71), ("bandit-ucb", 6.73), ("bandit-thompson", 5.59),
    ("bandit-ucb1", 5.0),  # pulls each of the 10 arms once: exactly random
])
def test_bandit_scores_n10_k10(bandit10, name, target):
    family, tasks = bandit10
    assert_close(run_trials(metarl.make_agent(name, family), family, tasks, 10), target, name)


def test_eps_greedy_near_paper(bandit5):
    family, tasks = bandit5
    returns = run_trials(EpsilonGreedyAgent(family), family, tasks, 10)
    assert abs(returns.mean() - 6.6) < 0.1  # the paper reports 6.6 (one decimal)


def test_bayes_optimal_value_exact():
    assert round(bayes_optimal_value(5, 10), 3) == 6.660
    assert round(bayes_optimal_value(10, 10), 3) == 6.714
    assert bayes_optimal_value(1, 7) == pytest.approx(3.5)        # one arm: n * E[mean]
    assert bayes_optimal_value(3, 1) == pytest.approx(0.5)
    # two pulls, two arms: pull, stay on success (2/3), else switch (1/2): 0.5 + 0.5*2/3 + 0.5*0.5
    assert bayes_optimal_value(2, 2) == pytest.approx(0.5 + 0.5 * 2 / 3 + 0.25)
    assert count_states(5, 10) == 3519 and count_states(10, 10) == 4435


def test_bayes_optimal_explicit_horizon_matches_inferred(bandit5):
    family, tasks = bandit5
    tasks = tasks[:2000]
    explicit = run_trials(BayesOptimalBanditAgent(family, horizon=10, seed=3), family, tasks, 10)
    inferring = BayesOptimalBanditAgent(family, seed=3)
    inferred = run_trials(inferring, family, tasks, 10)
    np.testing.assert_array_equal(explicit, inferred)
    # the inferring agent re-reads the trial length, so the same agent also plays n=5 optimally
    five = run_trials(inferring, family, tasks, 5)
    assert_close(five, bayes_optimal_value(5, 5), "bayes n=5")


def test_psrl_beats_random_on_tabular_mdp():
    family = metarl.make_family("tabular-mdp", states=10, actions=5, horizon=10)
    tasks = family.sample(MDP_TASKS, split="test", seed=3)
    rand = run_trials(RandomAgent(family), family, tasks, 10)
    psrl = run_trials(PSRLAgent(family), family, tasks, 10)
    assert_close(rand, 100.1, "random")
    assert psrl.mean() > 120, psrl.mean()                          # paper: 138.1
    assert psrl.mean() - rand.mean() > 25


# ---- memory updates ---------------------------------------------------------------------------
def test_bandit_counts_update_and_first_step(bandit5):
    family, _ = bandit5
    agent = GreedyAgent(family)
    lay = agent.layout
    state = agent.init_state(3)
    first = lay.encode_batch(np.zeros((3, 1)), None, np.zeros(3), np.zeros(3), np.zeros(3))
    actions, state = agent.act(first, state)
    assert actions.dtype == np.int64 and actions.shape == (3,) and state.sum() == 0  # no prev action yet
    obs = lay.encode_batch(np.zeros((3, 1)), np.array([0, 4, 4]), np.array([1.0, 0.0, 1.0]),
                           np.ones(3), np.full(3, 0.1))
    before = state.copy()
    _, new = agent.act(obs, state)
    np.testing.assert_array_equal(state, before)                    # input memory untouched
    assert new[0, 0].tolist() == [1, 0] and new[1, 4].tolist() == [0, 1] and new[2, 4].tolist() == [1, 0]
    assert new.sum() == 3


def test_psrl_memory_update():
    family = metarl.make_family("tabular-mdp", states=4, actions=2, horizon=3)
    agent = PSRLAgent(family)
    lay, eye = agent.layout, np.eye(4)
    st = agent.init_state(2)
    obs = lay.encode_batch(eye[[0, 0]], None, np.zeros(2), np.zeros(2), np.zeros(2))
    _, st = agent.act(obs, st)
    assert st["q"].shape == (2, 3, 4, 2) and (st["prev_state"] == 0).all()
    # mid-episode step: transition 0 -(a=1)-> 2 observed, reward 0.7
    obs = lay.encode_batch(eye[[2, 2]], np.array([1, 1]), np.full(2, 0.7), np.zeros(2), np.zeros(2))
    q_before = st["q"].copy()
    _, st = agent.act(obs, st)
    assert st["counts"][:, 0, 1, 2].tolist() == [1, 1]
    np.testing.assert_allclose(st["rsum"][:, 0, 1], 0.7, rtol=1e-6)  # float32 obs
    np.testing.assert_array_equal(st["q"], q_before)                # no resampling mid-episode
    # episode end: reward counted, hidden transition not counted, a new MDP is sampled
    obs = lay.encode_batch(eye[[0, 0]], np.array([0, 0]), np.ones(2), np.ones(2), np.full(2, 0.5))
    _, st = agent.act(obs, st)
    assert st["counts"].sum() == 2 and st["rcount"][:, 2, 0].tolist() == [1, 1]
    assert (st["step"] == 0).all() and not np.array_equal(st["q"], q_before)


def test_seeded_and_reproducible(bandit5):
    family, tasks = bandit5
    tasks = tasks[:500]
    a = run_trials(ThompsonAgent(family, seed=1), family, tasks, 10)
    b = run_trials(ThompsonAgent(family, seed=1), family, tasks, 10)
    c = run_trials(ThompsonAgent(family, seed=2), family, tasks, 10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_evaluation_env_streams_do_not_depend_on_batch_size(bandit5):
    """Task i's env slot is seeded with seed + i: a deterministic agent scores the same per
    task whatever the batch size (a sampling agent's own stream is documented to depend on it)."""
    from metarl.evaluation.evaluator import run_trials as evaluator_trials

    family, tasks = bandit5
    agent = metarl.make_agent("rl2", family, hidden_size=8, device="cpu")  # greedy actions: no agent draws
    whole, _ = evaluator_trials(agent, tasks[:20], episodes=10, seed=4, batch_size=20, deterministic=True)
    pieces, _ = evaluator_trials(agent, tasks[:20], episodes=10, seed=4, batch_size=7, deterministic=True)
    np.testing.assert_array_equal(whole, pieces)
    assert whole.sum() > 0


# ---- random agent on Box / offset Discrete spaces --------------------------------------------
def test_random_agent_box_and_discrete_start():
    box = spaces.Box(np.array([-1.0, 0.0, -np.inf], np.float32), np.array([1.0, 5.0, np.inf], np.float32))
    agent = RandomAgent(StandInFamily(box), seed=3)
    acts, state = agent.act(np.zeros((1000, agent.layout.dim), np.float32), agent.init_state(1000))
    assert state is None and acts.shape == (1000, 3) and acts.dtype == np.float32
    assert np.isfinite(acts).all() and box.contains(acts[0])
    assert acts[:, 0].min() >= -1 and acts[:, 0].max() <= 1 and acts[:, 1].min() >= 0 and acts[:, 1].max() <= 5
    disc = RandomAgent(StandInFamily(spaces.Discrete(3, start=-1)))
    acts, _ = disc.act(np.zeros((600, disc.layout.dim), np.float32), None)
    assert acts.dtype == np.int64 and set(acts.tolist()) == {-1, 0, 1}


# ---- options -----------------------------------------------------------------------------------
def test_registry_builds_each_baseline(bandit5):
    family, _ = bandit5
    classes = {"random": RandomAgent, "bandit-greedy": GreedyAgent, "bandit-eps-greedy": EpsilonGreedyAgent,
               "bandit-ucb": UCBAgent, "bandit-ucb1": UCB1Agent, "bandit-thompson": ThompsonAgent,
               "bandit-bayes-optimal": BayesOptimalBanditAgent}
    for name, cls in classes.items():
        assert type(metarl.make_agent(name, family)) is cls
    assert type(metarl.make_agent("psrl", "tabular-mdp")) is PSRLAgent


@pytest.mark.parametrize("name, family, options, needle", [
    ("bandit-eps-greedy", "bandit", {"eps": 1.5}, "eps"),
    ("bandit-ucb", "bandit", {"c": -0.1}, "c"),
    ("bandit-ucb1", "bandit", {"c": "big"}, "c"),
    ("bandit-greedy", "bandit", {"seed": -1}, "seed"),
    ("random", "bandit", {"seed": 1.5}, "seed"),
    ("bandit-thompson", "bandit", {"alpha": 1}, "alpha"),               # unknown option
    ("bandit-bayes-optimal", "bandit", {"horizon": 0}, "horizon"),
    ("bandit-bayes-optimal", "bandit", {"horizon": 100}, "max_states"),  # state space too large
    ("bandit-bayes-optimal", "bandit", {"max_states": 0}, "max_states"),
    ("psrl", "tabular-mdp", {"dirichlet_prior": 0.0}, "dirichlet_prior"),
    ("psrl", "tabular-mdp", {"horizon": 0}, "horizon"),
    ("psrl", "tabular-mdp", {"reward_noise_var": -1.0}, "reward_noise_var"),
    ("psrl", "bandit", {}, "Discrete observation"),                    # bandit obs is a Box
])
def test_bad_options_raise_config_error(name, family, options, needle):
    with pytest.raises(ConfigError) as err:
        metarl.make_agent(name, family, **options)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_bandit_agents_need_discrete_actions():
    box = StandInFamily(spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32))
    for cls in (GreedyAgent, UCBAgent, BayesOptimalBanditAgent):
        with pytest.raises(ConfigError, match="Discrete action space"):
            cls(box)
    with pytest.raises(ConfigError, match="max_states"):
        bayes_optimal_value(5, 40)
    with pytest.raises(ConfigError, match="horizon <= 20"):
        bayes_optimal_value(5, 10**6)   # refused quickly, without counting up to 10**6


def test_psrl_chunked_solve_and_episode_longer_than_horizon():
    family = metarl.make_family("tabular-mdp", states=3, actions=2, horizon=4)
    tasks = family.sample(7, split="test", seed=0)
    agent = PSRLAgent(family, horizon=2, seed=1)   # plans 2 steps, episodes last 4: reuses the last stage
    agent.MAX_TABLE = 1                            # forces one trial per sampling chunk
    returns = run_trials(agent, family, tasks, 3)
    assert returns.shape == (7,) and np.isfinite(returns).all()
