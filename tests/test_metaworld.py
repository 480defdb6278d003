"""Meta-World families (ml1, ml10, ml45): official splits, JSON-safe tasks that reproduce
rollouts, seeding, the Gymnasium env (500-step truncation, success, in-place task switch,
per-class env cache) and clear errors. ML10's benchmark (~16 s) is built once per session;
ML45's (~1 min) only in the slow test."""
from __future__ import annotations

import pickle
import warnings

import metaworld
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metarl
from metarl.envs import metaworld_tasks
from metarl.errors import ConfigError, MetaRLError
from metarl.rollout.vector import SyncTrialVectorEnv

ML10_TEST = {"drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3"}
ML10_TRAIN = {"reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-close-v3",
              "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "sweep-v3", "basketball-v3"}
ML45_TEST = {"bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3", "door-unlock-v3"}


@pytest.fixture(scope="module")
def ml1():
    return metarl.make_family("ml1", env_name="reach-v3")


@pytest.fixture(scope="module")
def ml10():
    return metarl.make_family("ml10")


def rand_vecs(mw_tasks):
    return [pickle.loads(t.data)["rand_vec"].tolist() for t in mw_tasks]


def actions(n, seed=0):
    """``n`` actions overshooting the [-1, 1] box by 25% (the env clips them)."""
    return np.random.default_rng(seed).uniform(-1.25, 1.25, size=(n, 4)).astype(np.float32)


def rollout(env, acts, *, options=None):
    obs, _ = env.reset(seed=0, options=options)
    seen, rewards = [obs], []
    for a in acts:
        obs, r, _, _, _ = env.step(a)
        seen.append(obs)
        rewards.append(r)
    return np.array(seen), np.array(rewards)


# ---- registry, options, errors ---------------------------------------------------------------
def test_registered_with_options():
    assert {"ml1", "ml10", "ml45"} <= set(metarl.list_families())
    assert metarl.registry.family_options("ml1")["env_name"] == "reach-v3"
    assert "env_name" not in metarl.registry.family_options("ml10")


@pytest.mark.parametrize("bad", ["reach", "reach-v2", "", 3])
def test_unknown_env_name_is_a_clear_config_error(bad):
    with pytest.raises(ConfigError) as err:
        metarl.make_family("ml1", env_name=bad)
    msg = str(err.value)
    assert "\n" not in msg and repr(bad) in msg and "env_name" in msg
    assert all(name in msg for name in ("reach-v3", "pick-place-v3", "window-close-v3"))
    if bad == "reach":
        assert "did you mean 'reach-v3'" in msg


@pytest.mark.parametrize("name,kwargs", [("ml10", {"env_name": "reach-v3"}), ("ml45", {"env_name": "x"}),
                                         ("ml1", {"horizon": 501}), ("ml1", {"benchmark_seed": -1}),
                                         ("ml10", {"env_cache_size": 0})])
def test_bad_family_options(name, kwargs):
    with pytest.raises(ConfigError) as err:
        metarl.make_family(name, **kwargs)
    assert "\n" not in str(err.value) and next(iter(kwargs)) in str(err.value)


def test_family_attributes(ml1):
    assert (ml1.kind, ml1.has_success, ml1.max_episode_steps, ml1.baselines) == ("rl", True, 500, ("random",))
    assert ml1.params.names == ["env_name"] and ml1.params["env_name"].choices == ("reach-v3",)
    d = ml1.describe()
    assert "test_tasks" in d["held_out"] and d["benchmark"]["metaworld_version"] == metaworld_tasks._metaworld_version()


# ---- official splits -------------------------------------------------------------------------
def test_ml1_splits_are_metaworlds_train_and_test_tasks(ml1):
    bench = metaworld.ML1("reach-v3", seed=0)        # built independently of the family's cache
    for split, official in (("train", bench.train_tasks), ("test", bench.test_tasks)):
        ours = ml1.official_tasks(split)
        assert [list(t.params["rand_vec"]) for t in ours] == rand_vecs(official)
        assert all(t.params["partially_observable"] is True and t.split == split for t in ours)
        drawn = ml1.sample(50, split=split, seed=4)   # 50 = the whole list, each goal once
        assert sorted(list(t.params["rand_vec"]) for t in drawn) == sorted(rand_vecs(official))
    train = {tuple(v) for v in rand_vecs(bench.train_tasks)}
    assert not train & {tuple(t.params["rand_vec"]) for t in ml1.sample(20, split="test", seed=1)}


def test_ml10_splits_hold_the_official_classes(ml10):
    bench = ml10.benchmark
    assert set(bench.test_classes) == ML10_TEST and set(bench.train_classes) == ML10_TRAIN
    test = ml10.sample(10, split="test", seed=0)
    train = ml10.sample(20, split="train", seed=0)
    # stratified: every class of the split, twice each
    assert sorted(t.params["env_name"] for t in test) == sorted(2 * sorted(ML10_TEST))
    assert sorted(t.params["env_name"] for t in train) == sorted(2 * sorted(ML10_TRAIN))
    for tasks, official in ((test, bench.test_tasks), (train, bench.train_tasks)):
        goals = {(t.env_name, tuple(v)) for t, v in zip(official, rand_vecs(official))}
        assert all((t.params["env_name"], tuple(t.params["rand_vec"])) in goals for t in tasks)
    assert len(ml10.official_tasks("test")) == 250 and len(ml10.official_tasks("train")) == 500


def test_same_seed_same_tasks(ml1):
    a = ml1.sample(8, split="test", seed=3)
    assert a == metarl.make_family("ml1", env_name="reach-v3").sample(8, split="test", seed=3)
    assert [t.params for t in a] != [t.params for t in ml1.sample(8, split="test", seed=4)]
    assert [t.params for t in a] != [t.params for t in ml1.sample(8, split="train", seed=3)]
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert ml1.sample(4, seed=g1) == ml1.sample(4, seed=g2)
    ids = [t.task_id for t in ml1.sample(4, seed=g1) + ml1.sample(4, seed=g1)]
    assert len(set(ids)) == len(ids)
    for t in a:
        ml1.validate_task(t)


# ---- the env ---------------------------------------------------------------------------------
def test_check_env_plain_and_trial(ml1):
    task = ml1.sample(1, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(ml1.make_env(task), skip_render_check=True)
        check_env(metarl.TrialWrapper(ml1.make_env(task), 2), skip_render_check=True)


def test_task_json_round_trip_reproduces_the_rollout(ml1):
    task = ml1.sample(1, split="test", seed=2)[0]
    back = metarl.Task.from_json(task.to_json())
    assert back == task
    acts = actions(40)
    obs, rew = rollout(ml1.make_env(task), acts)
    obs2, rew2 = rollout(ml1.make_env(back), acts)
    np.testing.assert_array_equal(obs, obs2)
    np.testing.assert_array_equal(rew, rew2)
    # ... and equals Meta-World's own env given the official (pickled) task
    i = [t.params for t in ml1.official_tasks("test")].index(task.params)
    raw = metaworld.env_dict.ALL_V3_ENVIRONMENTS["reach-v3"]()
    raw.set_task(ml1.benchmark.test_tasks[i])
    obs3 = [raw.reset()[0]] + [raw.step(np.clip(a, -1, 1))[0] for a in acts]
    np.testing.assert_array_equal(obs, np.array(obs3))


def test_reset_task_switches_goal_in_place(ml1):
    a, b = ml1.sample(2, seed=0)
    env = ml1.make_env(a)
    raw = env.raw_env
    acts = actions(30, seed=1)
    obs_a, rew_a = rollout(env, acts)
    goal_a = raw._target_pos.copy()
    obs_b, rew_b = rollout(env, acts, options={"task": b})
    assert env.raw_env is raw and env.task == b                       # same class: same raw env
    np.testing.assert_allclose(raw._target_pos, b.params["rand_vec"][3:])
    assert not np.allclose(goal_a, raw._target_pos) and not np.array_equal(rew_a, rew_b)
    obs_b2, rew_b2 = rollout(ml1.make_env(b), acts)                  # == a fresh env for b
    np.testing.assert_array_equal(obs_b, obs_b2)
    np.testing.assert_array_equal(rew_b, rew_b2)
    obs_a2, rew_a2 = rollout(env, acts, options={"task": a})          # back to a
    np.testing.assert_array_equal(obs_a, obs_a2)
    np.testing.assert_array_equal(rew_a, rew_a2)


def test_class_switch_uses_a_cached_env_per_class(ml10):
    door, drawer = (next(t for t in ml10.official_tasks("test") if t.params["env_name"] == n)
                    for n in ("door-close-v3", "drawer-open-v3"))
    fam = metarl.make_family("ml10", env_cache_size=2)
    env = fam.make_env(door)
    raw_door = env.raw_env
    env.reset(options={"task": drawer})
    assert type(env.raw_env).__name__ != type(raw_door).__name__
    env.step(np.zeros(4, dtype=np.float32))
    env.reset(options={"task": door})
    assert env.raw_env is raw_door                                   # cached, not rebuilt
    one = metarl.make_family("ml10", env_cache_size=1).make_env(door)
    one.reset(options={"task": drawer})
    assert list(one._cache) == ["drawer-open-v3"] and one.reset()[0].shape == (39,)
    # the same params under ml45 (door-close is an ML45 train class): no ML45 benchmark is built
    key = ("ML45", None, 0)
    had = key in metaworld_tasks._BENCHMARKS
    ml45 = metarl.make_family("ml45")
    env45 = ml45.make_env(metarl.Task("ml45", dict(door.params)))
    obs, _ = env45.reset()
    assert obs.shape == (39,) and (key in metaworld_tasks._BENCHMARKS) == had


def test_truncation_at_500_and_success_flag(ml1):
    task = ml1.sample(1, seed=0)[0]
    env = ml1.make_env(task)
    env.reset()
    raw = env.raw_env
    hits = []
    for t in range(1, 501):
        # a proportional controller on the (hidden) goal reaches it well within 500 steps
        a = np.clip((raw._target_pos - raw.tcp_center) * 50.0, -1, 1)
        _, r, term, trunc, info = env.step(np.append(a, 0.0).astype(np.float32))
        assert isinstance(info["success"], bool) and not term and trunc == (t == 500)
        hits.append(info["success"])
    assert not hits[0] and any(hits)
    with pytest.raises(MetaRLError, match="truncated at 500"):
        env.step(np.zeros(4, dtype=np.float32))
    env.reset()
    env.step(np.zeros(4, dtype=np.float32))
    short = metarl.make_family("ml1", horizon=3).make_env(task)
    short.reset()
    assert [short.step(np.zeros(4, dtype=np.float32))[3] for _ in range(3)] == [False, False, True]


def test_bad_tasks_are_rejected(ml1):
    good = ml1.sample(1, seed=0)[0]
    p = dict(good.params)
    for params, word in [({**p, "rand_vec": p["rand_vec"][:5]}, "rand_vec"),
                         ({**p, "rand_vec": [0.1, "x", 0.2, 0.0, 0.8, 0.2]}, "rand_vec"),
                         ({**p, "partially_observable": 1}, "partially_observable"),
                         ({**p, "env_name": "push-v3"}, "env_name"),
                         ({k: v for k, v in p.items() if k != "rand_vec"}, "rand_vec")]:
        with pytest.raises(MetaRLError) as err:
            ml1.make_env(metarl.Task("ml1", params, task_id="bad"))
        assert "\n" not in str(err.value) and word in str(err.value)
    # object and goal closer than reach-v3's 0.15: Meta-World's reset would loop forever
    env = ml1.make_env(good)
    bad = metarl.Task("ml1", {**p, "rand_vec": [0.0, 0.8, 0.02, 0.0, 0.85, 0.2]}, task_id="close")
    with pytest.raises(ConfigError, match="reset constraints"):
        env.reset(options={"task": bad})
    assert env.task == good
    obs, _ = env.reset()
    assert obs.shape == (39,)


def test_vector_env_and_success_info(ml1):
    venv = ml1.make_vector_env(2, 1)
    assert isinstance(venv, SyncTrialVectorEnv) and venv.max_trial_steps == 500
    obs, _ = venv.reset(seed=0, options={"tasks": ml1.sample(2, split="test", seed=0)})
    assert obs.shape == (2, 39 + 4 + 3)
    for _ in range(3):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
    assert info["success"].dtype == bool and info["success"].shape == (2,)
    venv.close()


def test_evaluation_reports_success_per_held_out_class(ml10):
    """ML10's evaluation groups held-out tasks by class; the per-class numbers recombine to the total."""
    fam = metarl.make_family("ml10", horizon=10)
    tasks = fam.sample(10, split="test", seed=3)        # stratified: 2 per held-out class
    rep = metarl.evaluate(metarl.make_agent("random", fam, seed=0), tasks, episodes=2, seed=0)
    per = rep.summary["per_class"]
    assert set(per) == ML10_TEST and all(c["n_tasks"] == 2 for c in per.values())
    for cls, c in per.items():
        rows = [i for i, t in enumerate(tasks) if t.params["env_name"] == cls]
        np.testing.assert_allclose(c["return_per_episode"], rep.episode_returns[rows].mean(0))
        np.testing.assert_allclose(c["success_per_episode"], rep.success[rows].mean(0))
    np.testing.assert_allclose(np.mean([c["trial_return"] for c in per.values()]), rep.summary["trial_return"])
    assert "success rate per episode index, per class" in rep.table()
    assert "per_class" not in metarl.evaluate(metarl.make_agent("random", metarl.make_family("bandit"), seed=0),
                                              metarl.make_family("bandit").sample(3), episodes=2).summary


def test_official_lists_are_cached_on_disk(ml1, tmp_path, monkeypatch):
    monkeypatch.setenv("METARL_CACHE_DIR", str(tmp_path))
    first = metarl.make_family("ml1", env_name="reach-v3")
    want = first.sample(20, split="test", seed=5) + first.official_tasks("train")
    files = list(tmp_path.rglob("*.json"))
    assert [f.relative_to(tmp_path).parts[:2] for f in files] == [("metaworld", metaworld_tasks._metaworld_version())]
    assert files[0].name == "ML1-reach-v3-seed0.json"
    # a fresh process's family (no benchmark in memory) reads the lists without building Meta-World
    with monkeypatch.context() as m:
        m.setattr(metaworld_tasks, "_BENCHMARKS", {})
        m.setattr(metaworld_tasks.ML1Family, "_build_benchmark",
                  lambda self: pytest.fail("the benchmark was built although the cache holds the lists"))
        second = metarl.make_family("ml1", env_name="reach-v3")
        assert second.sample(20, split="test", seed=5) + second.official_tasks("train") == want
    # an unreadable cache file is ignored and rewritten; "off" writes nothing
    files[0].write_text("{not json")
    third = metarl.make_family("ml1", env_name="reach-v3")
    assert third._cached_lists() is None
    assert third.sample(20, split="test", seed=5) == want[:20] and third._cached_lists() is not None
    monkeypatch.setenv("METARL_CACHE_DIR", "off")
    files[0].unlink()
    assert metarl.make_family("ml1", env_name="reach-v3").official_tasks("test") and not files[0].exists()


def test_ml45_construction_is_lazy():
    key = ("ML45", None, 0)
    had = key in metaworld_tasks._BENCHMARKS
    fam = metarl.make_family("ml45", benchmark_seed=0)
    assert len(fam.classes("train")) == 45 and set(fam.classes("test")) == ML45_TEST
    assert set(fam.params["env_name"].choices) == set(fam.classes("train")) | ML45_TEST
    assert "bin-picking" in fam.describe()["held_out"]
    assert (key in metaworld_tasks._BENCHMARKS) == had            # nothing built yet
    assert fam.sample(0, split="test") == []


@pytest.mark.slow
def test_ml45_sampling_covers_the_official_classes():
    fam = metarl.make_family("ml45")
    test = fam.sample(10, split="test", seed=0)
    assert sorted(t.params["env_name"] for t in test) == sorted(2 * sorted(ML45_TEST))
    train = fam.sample(45, split="train", seed=0)
    assert {t.params["env_name"] for t in train} == set(fam.benchmark.train_classes) and len(train) == 45


# ---- Meta-World's official evaluation protocol through the adapter -------------------------
class CountingAgent:
    """Records the trial observations it sees; actions 2.0 (clipped to 1 in prev_action);
    memory = number of acts since init_state."""

    def __init__(self, layout):
        self.layout, self.seen = layout, []

    def init_state(self, b):
        return np.zeros(b, dtype=np.int64)

    def act(self, obs, state, deterministic=False):
        self.seen.append(obs.copy())
        return np.full((obs.shape[0], 4), 2.0, dtype=np.float32), state + 1

    def reseed(self, seed):
        pass


def test_adapter_builds_trial_observations_and_keeps_memory():
    from gymnasium import spaces
    from metaworld.evaluation import Timestep

    from metarl.agents.metaworld_adapter import MetaWorldAgentAdapter
    from metarl.rollout.trial import TrialLayout

    layout = TrialLayout(spaces.Box(-np.inf, np.inf, (39,)), spaces.Box(-1.0, 1.0, (4,), dtype=np.float32))
    agent = CountingAgent(layout)
    ad = MetaWorldAgentAdapter(agent, episodes_per_trial=4)
    obs = np.arange(2 * 39, dtype=np.float64).reshape(2, 39)
    f = lambda x: (x[:, 39:43], x[:, 43], x[:, 44], x[:, 45])      # noqa: E731  prev a, r, end, progress
    ts = lambda r, trunc: Timestep(obs, None, np.array(r), np.zeros(2, bool), np.array(trunc), {})  # noqa: E731
    a, aux = ad.adapt_action(obs)
    assert a.shape == (2, 4) and a.dtype == np.float64 and aux == {}
    x = agent.seen[-1]
    assert x.shape == (2, layout.dim) and np.array_equal(x[:, :39], obs)
    assert all(np.all(v == 0) for v in f(x))
    ad.step(ts([1.0, 2.0], [False, False]))
    ad.adapt_action(obs)
    pa, pr, end, prog = f(agent.seen[-1])
    assert np.all(pa == 1.0) and list(pr) == [1, 2] and np.all(end == 0) and np.all(prog == 0)
    ad.step(ts([3.0, 4.0], [True, True]))                            # both episodes end
    ad.adapt_action(obs)
    _, pr, end, prog = f(agent.seen[-1])
    assert list(pr) == [3, 4] and np.all(end == 1) and np.all(prog == 0.25)
    ad.step(ts([5.0, 6.0], [True, False]))
    ad.adapt()
    ad.reset(np.array([True, True]))             # env 0's end was already counted in step()
    ad.eval_action(obs)
    _, pr, end, prog = f(agent.seen[-1])
    assert list(pr) == [5, 6] and np.all(end == 1) and list(prog) == [0.5, 0.5]
    ad.eval_action(obs)                          # no reward is passed in evaluation: 0
    assert np.all(f(agent.seen[-1])[1] == 0) and not ad.eval_rewards_seen
    assert list(ad._state) == [5, 5]                                 # memory kept through adapt/reset
    wide = np.concatenate([obs, np.zeros((2, 4)), [[0.7], [0.2]], np.zeros((2, 1))], axis=1)
    ad.eval_action(wide)                         # Meta-World's recurrent layout carries reward / 10
    assert np.allclose(f(agent.seen[-1])[1], [7.0, 2.0]) and ad.eval_rewards_seen
    ad.init()
    ad.adapt_action(obs)
    assert list(ad._state) == [1, 1] and np.all(f(agent.seen[-1])[3] == 0)
    with pytest.raises(ConfigError, match="expected"):
        ad.adapt_action(np.zeros((2, 40)))
    # parameter-adapting agents: adapt_fn gets the recorded adaptation steps, its agent evaluates
    adapted, got = CountingAgent(layout), {}
    ad = MetaWorldAgentAdapter(agent, adapt_fn=lambda ag, traj: (got.update(traj), adapted)[1])
    for _ in range(3):
        ad.adapt_action(obs)
        ad.step(ts([1.0, 1.0], [False, False]))
    ad.adapt()
    assert got["obs"].shape == (3, 2, layout.dim) and got["actions"].shape == (3, 2, 4)
    assert got["rewards"].shape == got["truncated"].shape == (3, 2)
    ad.eval_action(obs)
    assert len(adapted.seen) == 1 and list(ad._state) == [1, 1]


def test_official_metalearning_evaluation_with_random_agent(ml1):
    from metarl.agents.metaworld_adapter import MetaWorldAgentAdapter, official_metalearning_evaluation

    class Recording(MetaWorldAgentAdapter):
        def step(self, timestep):
            self.rewards.append(np.asarray(timestep.reward, dtype=np.float32).copy())
            super().step(timestep)

    agent = metarl.make_agent("random", ml1, seed=0)
    seen = []
    act = agent.act
    agent.act = lambda x, s, deterministic=False: (seen.append(x.copy()), act(x, s, deterministic))[1]
    ad = Recording(agent, episodes_per_trial=2)
    ad.rewards = []
    out = official_metalearning_evaluation(ad, ml1, num_evals=1, meta_batch_size=1, adaptation_episodes=1,
                                           evaluation_episodes=1, seed=0)
    assert 0.0 <= out["success_rate"] <= 1.0 and set(out["success_rate_per_task"]) == {"reach-v3"}
    assert out["settings"]["adaptation_episodes"] == 1 and out["metaworld_version"]
    x = np.concatenate(seen)                                         # [steps, 46]: B = 1
    assert x.shape[1] == 39 + 4 + 3 and ad.last_trial_obs.shape == (1, 46)
    assert len(ad.rewards) == 500 and 501 <= len(x) <= 1000          # 1 adaptation + 1 eval episode
    r = np.concatenate(ad.rewards)
    np.testing.assert_allclose(x[1:501, 43], r)                      # prev_reward = the step's reward
    assert np.flatnonzero(x[:, 44]).tolist() == [500]                # episode_end: first eval step
    assert np.all(x[:500, 45] == 0) and np.all(x[500:, 45] == 0.5) and list(ad._episodes) == [2]
