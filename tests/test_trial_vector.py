"""Vectors of trials (``NativeTrialVectorEnv``, ``SyncTrialVectorEnv``): every slot must step
exactly like its own ``TrialWrapper``; finished slots stay finished; bad sizes and seeds fail
with one line. The TrialWrapper itself is tested in test_trial.py."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import metarl
from metarl import ParamSpace, ParamSpec, Task, TaskFamily, TrialWrapper
from metarl import registry
from metarl.errors import ConfigError, MetaRLError
from metarl.rollout.vector import NativeTrialVectorEnv, SyncTrialVectorEnv

from helpers import one_line


# ---- vectors of trials -------------------------------------------------------------------
def run_against_singles(venv, singles, tasks, seed, steps, rng, extra_keys=("success",)):
    """Step ``venv`` and one TrialWrapper per slot with the same actions; every active
    transition must be identical, and a finished slot must stay finished.
    Returns the number of steps each slot's trial lasted."""
    b = venv.num_envs
    obs, info = venv.reset(seed=seed, options={"tasks": tasks})
    slot_seeds = [None] * b if seed is None else [seed + i for i in range(b)]
    want = np.stack([s.reset(seed=slot_seeds[i], options={"task": tasks[i]})[0] for i, s in enumerate(singles)])
    np.testing.assert_array_equal(obs, want)
    np.testing.assert_array_equal(info["episode_index"], np.zeros(b))
    assert obs.shape == (b, venv.layout.dim) and venv.observation_space.contains(obs)

    lengths = [0] * b
    flags = [None] * b
    last = obs
    for _ in range(steps):
        actions = venv.action_space.sample() if rng is None else rng.integers(0, venv.single_action_space.n, b)
        obs, reward, term, trunc, info = venv.step(actions)
        assert reward.shape == (b,) and term.shape == (b,) and trunc.shape == (b,)
        for i in range(b):
            if flags[i] is not None:  # trial over: the slot stays inactive
                assert not info["active"][i]
                assert reward[i] == 0.0
                np.testing.assert_array_equal(obs[i], last[i])
                assert (bool(term[i]), bool(trunc[i])) == flags[i]
                assert not info["episode_end"][i]
                assert info["episode_index"][i] == venv.episodes
                for k in extra_keys:
                    assert not info[k][i]
                continue
            o, r, te, tr, inf = singles[i].step(actions[i])
            lengths[i] += 1
            assert info["active"][i]
            np.testing.assert_array_equal(obs[i], o)
            assert reward[i] == np.float32(r)
            assert (bool(term[i]), bool(trunc[i])) == (te, tr)
            assert info["episode_index"][i] == inf["episode_index"]
            assert info["episode_end"][i] == inf["episode_end"]
            for k in extra_keys:
                assert info[k][i] == inf[k]
            if te or tr:
                flags[i] = (te, tr)
        last = obs
    assert all(f is not None for f in flags), "every trial should have ended"
    return lengths


def test_native_vector_env_matches_single_trial_wrappers():
    fam = metarl.make_family("bandit", arms=4)
    b, k = 5, 6
    venv = fam.make_vector_env(b, k)
    assert isinstance(venv, NativeTrialVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    assert venv.single_observation_space == TrialWrapper(fam.make_env(fam.sample(1)[0]), k).observation_space
    assert venv.observation_space.shape == (b, 1 + 4 + 3) and venv.max_trial_steps == k
    tasks = fam.sample(b, seed=1)
    singles = [TrialWrapper(fam.make_env(t), k) for t in tasks]
    rng = np.random.default_rng(0)
    lengths = run_against_singles(venv, singles, tasks, seed=100, steps=k + 3, rng=rng)
    assert lengths == [k] * b
    # a new trial on new tasks continuing each slot's random stream (seed=None) ...
    tasks2 = fam.sample(b, seed=2)
    assert run_against_singles(venv, singles, tasks2, seed=None, steps=k + 1, rng=rng) == [k] * b
    # ... and a plain reset reuses the current tasks
    obs, _ = venv.reset(seed=7)
    assert venv.tasks == tasks2
    for i, s in enumerate(singles):
        np.testing.assert_array_equal(obs[i], s.reset(seed=7 + i)[0])


def test_native_vector_env_ignores_actions_of_finished_slots():
    fam = metarl.make_family("bandit", arms=3)
    venv = fam.make_vector_env(2, 1)
    venv.reset(seed=0, options={"tasks": fam.sample(2, seed=0)})
    venv.step(np.array([0, 2]))
    obs_before = venv.step(np.array([0, 1]))[0]
    obs, reward, term, _, info = venv.step(np.array([99, -5]))  # placeholders: the trials are over
    assert not info["active"].any() and (reward == 0).all() and term.all()
    np.testing.assert_array_equal(obs, obs_before)


def test_native_vector_env_seed_list_and_bad_seeds():
    fam = metarl.make_family("bandit", arms=3)
    tasks = fam.sample(3, seed=0)
    venv = fam.make_vector_env(3, 2)
    singles = [TrialWrapper(fam.make_env(t), 2) for t in tasks]
    venv.reset(seed=[5, 9, 2], options={"tasks": tasks})
    for s, seed in zip(singles, [5, 9, 2]):
        s.reset(seed=seed)
    acts = np.array([1, 2, 0])
    _, reward, *_ = venv.step(acts)
    assert list(reward) == [np.float32(s.step(a)[1]) for s, a in zip(singles, acts)]
    with pytest.raises(ConfigError) as e:
        venv.reset(seed=[1, 2], options={"tasks": tasks})
    assert "2 seeds" in one_line(e)
    with pytest.raises(ConfigError):
        venv.reset(seed=-1, options={"tasks": tasks})


# a registered toy family for the generic (loop) vector env
class ToyTaskEnv(gym.Env):
    """Episodes of ``length`` steps; reward = bonus + action + U[0, 1) from the env's seeded
    generator; success when the episode ends."""

    metadata = {"render_modes": []}

    def __init__(self, family, task: Task) -> None:
        self.family = family
        self.observation_space = spaces.Box(0.0, 3.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._set(task)

    def _set(self, task: Task) -> None:
        self.family.validate_task(task)
        self.length, self.bonus = int(task.params["length"]), float(task.params["bonus"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set(options["task"])
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = self.bonus + int(action) + float(self.np_random.random())
        done = self.t >= self.length
        return np.array([self.t], dtype=np.float32), reward, done, False, {"success": done}


class ToyFamily(TaskFamily):
    """Registered as "test-trial-toy" by the ``toy_family`` fixture; uses the generic
    (loop) vector env."""

    name = "test-trial-toy"
    max_episode_steps = 3
    params = ParamSpace([ParamSpec("length", choices=(1, 2, 3)),
                         ParamSpec("bonus", 0.0, 1.0, group="reward", hard=(0.0, 5.0))])

    def make_env(self, task: Task) -> gym.Env:
        return ToyTaskEnv(self, task)


class ToyNativeVectorEnv(NativeTrialVectorEnv):
    """ToyTaskEnv's arithmetic over B slots, drawing slot i's noise from ``rngs[i]``."""

    def __init__(self, family, num_envs, episodes):
        super().__init__(family, num_envs, episodes, spaces.Box(0.0, 3.0, shape=(1,), dtype=np.float32),
                         spaces.Discrete(2))
        self.t = np.zeros(self.num_envs, dtype=np.int64)

    def _set_tasks(self, tasks):
        self.length = np.array([t.params["length"] for t in tasks])
        self.bonus = np.array([t.params["bonus"] for t in tasks], dtype=np.float64)

    def _reset_inner(self, mask):
        self.t = np.where(mask, 0, self.t)
        return np.zeros((self.num_envs, 1), dtype=np.float32)

    def _step_inner(self, actions, active):
        u = np.zeros(self.num_envs)
        for i in np.flatnonzero(active):
            u[i] = self.rngs[i].random()
        self.t = self.t + active
        a = np.asarray(actions, dtype=np.int64)
        reward = self.bonus + a + u
        done = self.t >= self.length
        # "success" is computed for every row and stays True in finished slots: the core masks it
        return (self.t[:, None].astype(np.float32), reward, done, np.zeros(self.num_envs, dtype=bool),
                {"success": done.copy()})


class ToyNativeFamily(ToyFamily):
    def native_vector_env(self, num_envs, episodes):
        return ToyNativeVectorEnv(self, num_envs, episodes)


@pytest.fixture
def toy_family():
    saved = dict(registry._FAMILIES)
    metarl.register_family("test-trial-toy")(ToyFamily)
    yield metarl.make_family("test-trial-toy")
    registry._FAMILIES.clear()
    registry._FAMILIES.update(saved)


def toy_tasks(lengths, bonus=0.5):
    return [Task("test-trial-toy", {"length": n, "bonus": bonus + 0.1 * i}, task_id=f"toy/{i}")
            for i, n in enumerate(lengths)]


@pytest.mark.parametrize("kind", ["sync", "native"])
def test_vector_env_matches_single_trial_wrappers(kind, toy_family):
    """Both implementations against single TrialWrappers, with trials of different lengths:
    slots finish at different steps and stay finished; a second reset continues the streams."""
    fam = toy_family if kind == "sync" else ToyNativeFamily()
    b, k = 4, 2
    venv = fam.make_vector_env(b, k)
    assert isinstance(venv, SyncTrialVectorEnv if kind == "sync" else ToyNativeVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    assert venv.max_trial_steps == 6 and venv.single_observation_space.shape == (1 + 2 + 3,)
    tasks = toy_tasks([1, 2, 3, 2])
    singles = [TrialWrapper(fam.make_env(t), k) for t in tasks]
    rng = np.random.default_rng(3)
    assert run_against_singles(venv, singles, tasks, seed=10, steps=7, rng=rng) == [2, 4, 6, 4]
    tasks2 = toy_tasks([3, 1, 1, 2], bonus=0.2)
    assert run_against_singles(venv, singles, tasks2, seed=None, steps=7, rng=rng) == [6, 2, 2, 4]
    venv.close()


def test_sync_and_native_agree_on_a_numpy_family():
    fam = metarl.make_family("bandit", arms=3)
    tasks = fam.sample(3, seed=4)
    native, sync = fam.make_vector_env(3, 4), SyncTrialVectorEnv(fam, 3, 4)
    a, _ = native.reset(seed=11, options={"tasks": tasks})
    b, _ = sync.reset(seed=11, options={"tasks": tasks})
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    for _ in range(5):
        acts = rng.integers(0, 3, 3)
        out_n, out_s = native.step(acts), sync.step(acts)
        for x, y in zip(out_n[:4], out_s[:4]):
            np.testing.assert_array_equal(x, y)
        for key in ("active", "episode_index", "episode_end", "success"):
            np.testing.assert_array_equal(out_n[4][key], out_s[4][key], err_msg=key)


@pytest.mark.parametrize("kind", ["native", "sync"])
def test_vector_env_errors(kind, toy_family):
    if kind == "native":
        fam = metarl.make_family("bandit", arms=3)
        tasks = fam.sample(3, seed=0)
        venv = fam.make_vector_env(3, 2)
        foreign = toy_tasks([1, 1, 1])
    else:
        fam, tasks = toy_family, toy_tasks([1, 2, 3])
        venv = fam.make_vector_env(3, 2)
        foreign = metarl.make_family("bandit", arms=3).sample(3, seed=0)

    with pytest.raises(MetaRLError) as e:
        venv.step(np.zeros(3, dtype=np.int64))
    assert "reset" in one_line(e)
    for options in (None, {}, {"tasks": None}):
        with pytest.raises(ConfigError) as e:
            venv.reset(seed=0, options=options)
        assert "tasks" in one_line(e)
    with pytest.raises(ConfigError) as e:
        venv.reset(seed=0, options={"tasks": tasks[:2]})
    msg = one_line(e)
    assert "2 tasks" in msg and "num_envs=3" in msg
    with pytest.raises(ConfigError) as e:
        venv.reset(seed=0, options={"tasks": tasks[0]})
    assert "tasks" in one_line(e)
    with pytest.raises(MetaRLError) as e:
        venv.reset(seed=0, options={"tasks": foreign})
    assert fam.name in one_line(e)

    venv.reset(seed=0, options={"tasks": tasks})
    with pytest.raises(ConfigError) as e:
        venv.step(np.zeros(2, dtype=np.int64))
    assert "3" in one_line(e)
    venv.step(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("num_envs, episodes", [(0, 1), (2, 0), (2, 1.5)])
def test_vector_env_bad_sizes(num_envs, episodes):
    fam = metarl.make_family("bandit", arms=3)
    with pytest.raises(ConfigError):
        fam.make_vector_env(num_envs, episodes)
    with pytest.raises(ConfigError):
        SyncTrialVectorEnv(fam, num_envs, episodes)
