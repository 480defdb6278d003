"""Contract tests for the built-in task families (bandit, tabular-mdp, point-nav,
cartpole-dynamics, pendulum-dynamics, sinusoid): Gymnasium API, native batched env
equivalence, in-place task switching, hard limits, seeding and family-specific maths."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import metarl
from metarl.errors import MetaRLError
from metarl.rollout.vector import NativeTrialVectorEnv, SyncTrialVectorEnv

ALL = ["bandit", "tabular-mdp", "point-nav", "cartpole-dynamics", "pendulum-dynamics", "sinusoid"]
NATIVE = ["bandit", "tabular-mdp", "point-nav", "sinusoid"]
# (family, parameter, value outside the hard limits)
OUT_OF_LIMITS = [("bandit", "means", [0.5, 0.5, 0.5, 0.5, 1.5]),
                 ("point-nav", "goal_x", 7.25),
                 ("cartpole-dynamics", "masspole", 12.5),
                 ("pendulum-dynamics", "max_torque", 8.5),
                 ("pendulum-dynamics", "g", -3.5),
                 ("sinusoid", "amplitude", 37.5)]


def family(name):
    return metarl.make_family(name)


def random_actions(space, rng, n):
    """``n`` actions from a seeded generator; Box actions overshoot the box to exercise clipping."""
    if isinstance(space, spaces.Discrete):
        return rng.integers(space.n, size=n) + space.start
    low, high = space.low, space.high
    span = high - low
    return rng.uniform(low - 0.25 * span, high + 0.25 * span, size=(n, *space.shape)).astype(np.float32)


def rollout(env, actions, *, seed=None, options=None):
    """Step through ``actions`` (resetting at episode ends); (obs, rewards) as arrays."""
    obs, _ = env.reset(seed=seed, options=options)
    seen, rewards = [np.asarray(obs, dtype=np.float64).ravel()], []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        seen.append(np.asarray(obs, dtype=np.float64).ravel())
        rewards.append(float(r))
        if term or trunc:
            obs, _ = env.reset()
            seen.append(np.asarray(obs, dtype=np.float64).ravel())
    return np.concatenate(seen), np.array(rewards)


# ---- Gymnasium API --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_check_env_plain_and_trial(name):
    fam = family(name)
    task = fam.sample(1, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(fam.make_env(task), skip_render_check=True)
        check_env(metarl.TrialWrapper(fam.make_env(task), 3), skip_render_check=True)


@pytest.mark.parametrize("name", ALL)
def test_action_space_same_for_all_tasks(name):
    fam = family(name)
    envs = [fam.make_env(t) for t in fam.sample(3, seed=0) + fam.sample(3, split="test", seed=0)]
    assert all(e.action_space == envs[0].action_space for e in envs)
    assert all(e.observation_space == envs[0].observation_space for e in envs)


# ---- native batched env == B single TrialWrapper envs ---------------------------------------
@pytest.mark.parametrize("name", NATIVE)
def test_native_vector_env_matches_single_envs(name):
    fam, b, k, seed = family(name), 4, 3, 11
    venv = fam.make_vector_env(b, k)
    assert isinstance(venv, NativeTrialVectorEnv)
    singles = [metarl.TrialWrapper(fam.make_env(t), k) for t in fam.sample(b, seed=0)]
    rng = np.random.default_rng(123)
    for trial in range(2):  # the second trial switches tasks and continues the streams (seed=None)
        tasks = fam.sample(b, seed=trial)
        s = seed if trial == 0 else None
        obs, _ = venv.reset(seed=s, options={"tasks": tasks})
        for i, env in enumerate(singles):
            o, _ = env.reset(seed=None if s is None else s + i, options={"task": tasks[i]})
            np.testing.assert_array_equal(obs[i], o)
        done = np.zeros(b, dtype=bool)
        for _ in range(venv.max_trial_steps):
            actions = random_actions(venv.single_action_space, rng, b)
            obs, rew, term, trunc, info = venv.step(actions)
            for i in np.flatnonzero(~done):
                o, r, te, tr, inf = singles[i].step(actions[i])
                np.testing.assert_array_equal(obs[i], o)
                np.testing.assert_array_equal(rew[i], np.float32(r))
                assert (bool(term[i]), bool(trunc[i])) == (te, tr)
                assert bool(info["episode_end"][i]) == inf["episode_end"]
                for key in ("success", "target"):
                    if key in inf:
                        np.testing.assert_array_equal(info[key][i], inf[key])
                done[i] = te or tr
            if done.all():
                break
        assert done.all()


# ---- reset(options={"task": t}) switches the task in place ----------------------------------
@pytest.mark.parametrize("name", ALL)
def test_reset_task_switches_in_place(name):
    fam = family(name)
    task_a, task_b = fam.sample(2, seed=5)
    env = fam.make_env(task_a)
    actions = random_actions(env.action_space, np.random.default_rng(0), 300)
    obs_a, rew_a = rollout(env, actions, seed=3)
    obs_b, rew_b = rollout(env, actions, seed=3, options={"task": task_b})
    assert not (np.array_equal(rew_a, rew_b) and np.array_equal(obs_a, obs_b))
    obs_a2, rew_a2 = rollout(env, actions, seed=3, options={"task": task_a})
    np.testing.assert_array_equal(obs_a, obs_a2)
    np.testing.assert_array_equal(rew_a, rew_a2)
    obs_b2, rew_b2 = rollout(fam.make_env(task_b), actions, seed=3)  # a fresh env agrees
    np.testing.assert_array_equal(obs_b, obs_b2)
    np.testing.assert_array_equal(rew_b, rew_b2)


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,param,value", OUT_OF_LIMITS)
def test_out_of_hard_limits_raises(name, param, value):
    fam = family(name)
    good = fam.sample(1, seed=0)[0]
    bad = metarl.Task(fam.name, dict(good.params, **{param: value}), task_id="bad")
    for make in (lambda: fam.make_env(bad), lambda: fam.make_env(good).reset(options={"task": bad})):
        with pytest.raises(MetaRLError) as err:
            make()
        msg = str(err.value)
        assert "\n" not in msg and param in msg and "hard limits" in msg
        assert repr(value[-1] if isinstance(value, list) else value) in msg


@pytest.mark.parametrize("name,param", [("point-nav", "goal_y"), ("sinusoid", "phase"),
                                        ("cartpole-dynamics", "length"), ("pendulum-dynamics", "m")])
def test_non_scalar_param_rejected(name, param):
    fam = family(name)
    for value in ([0.1, 0.2], "heavy", True):
        bad = metarl.Task(fam.name, dict(fam.sample(1)[0].params, **{param: value}))
        with pytest.raises(MetaRLError, match=param):
            fam.make_env(bad)


def test_tabular_mdp_bad_tasks():
    fam = family("tabular-mdp")
    good = fam.sample(1, seed=0)[0]
    trans = np.array(good.params["transitions"])
    bad_value = trans.copy()
    bad_value[2, 1, 3] = 1.5
    bad_sum = trans.copy()
    bad_sum[4, 0] *= 0.5
    means = np.array(good.params["reward_means"])
    means[1, 2] = 250.0
    cases = [({"transitions": bad_value.tolist()}, "transitions[2][1][3]=1.5"),
             ({"transitions": bad_sum.tolist()}, "transitions[4][0] sums to"),
             ({"transitions": trans[:, :3].tolist()}, "shape [10, 3, 10]"),
             ({"reward_means": means.tolist()}, "reward_means[1][2]=250.0")]
    for change, text in cases:
        with pytest.raises(MetaRLError) as err:
            fam.make_env(metarl.Task(fam.name, dict(good.params, **change)))
        assert text in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name,kwargs", [("tabular-mdp", {"states": 1}), ("point-nav", {"goal_low": 1.0}),
                                         ("point-nav", {"horizon": 0}), ("cartpole-dynamics", {"max_scale": 50.0}),
                                         ("pendulum-dynamics", {"min_scale": 3.0}),
                                         ("point-nav", {"reward": "l1"}), ("point-nav", {"arena": 0.3}),
                                         ("point-nav", {"arena": "wide"})])
def test_bad_family_options(name, kwargs):
    with pytest.raises(MetaRLError):
        metarl.make_family(name, **kwargs)


def test_wrong_family_task_rejected():
    with pytest.raises(MetaRLError, match="point-nav"):
        family("sinusoid").make_env(family("point-nav").sample(1)[0])


# ---- seeding and splits ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_tasks_and_splits_differ(name):
    fam = family(name)
    assert fam.sample(4, seed=7) == fam.sample(4, seed=7)
    train = [t.params for t in fam.sample(4, seed=7)]
    test = [t.params for t in fam.sample(4, split="test", seed=7)]
    other = [t.params for t in fam.sample(4, seed=8)]
    assert train != test and train != other
    # a numpy Generator as the seed: the same generator state gives different train and test
    # tasks, and the same tasks again for the same split
    rng_train = [t.params for t in fam.sample(4, seed=np.random.default_rng(7))]
    rng_test = [t.params for t in fam.sample(4, split="test", seed=np.random.default_rng(7))]
    assert rng_train != rng_test and rng_test == [t.params for t in fam.sample(4, split="test",
                                                                            seed=np.random.default_rng(7))]
    for t in fam.sample(2, split="test", seed=7):
        back = metarl.Task.from_json(t.to_json())
        assert back == t
        fam.make_env(back)
    json.dumps(fam.describe())
    assert fam.held_out_rule


# ---- family-specific behaviour --------------------------------------------------------------
def test_tabular_mdp_statistics():
    fam = family("tabular-mdp")
    tasks = fam.sample(200, seed=0)
    means = np.array([t.params["reward_means"] for t in tasks])             # [200, S, A]
    trans = np.array([t.params["transitions"] for t in tasks])               # [200, S, A, S]
    assert means.shape == (200, 10, 5) and trans.shape == (200, 10, 5, 10)
    assert abs(means.mean() - 1.0) < 0.05 and abs(means.std() - 1.0) < 0.05
    np.testing.assert_allclose(trans.sum(-1), 1.0, atol=1e-12)
    assert trans.min() >= 0 and abs(trans.mean() - 0.1) < 1e-9
    # simulated rewards and transitions follow the task's tables
    env, task = fam.make_env(tasks[0]), tasks[0]
    m, p = np.array(task.params["reward_means"]), np.array(task.params["transitions"])
    counts, noise = np.zeros_like(p), []
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(30_000):
        a = int(rng.integers(5))
        nxt, r, term, trunc, _ = env.step(a)
        noise.append(r - m[obs, a])
        counts[obs, a, nxt] += 1
        assert not trunc and term == (env.t == 10)
        obs = env.reset()[0] if term else nxt
    assert abs(np.mean(noise)) < 0.03 and abs(np.std(noise) - 1.0) < 0.03
    visited = counts.sum(-1) >= 300
    freq = counts[visited] / counts[visited].sum(-1, keepdims=True)
    assert np.abs(freq - p[visited]).max() < 0.12
    assert env.reset()[0] == 0


def test_point_nav_dynamics():
    fam = family("point-nav")
    task = metarl.Task("point-nav", {"goal_x": 0.3, "goal_y": -0.2})
    env = fam.make_env(task)
    assert env.reset(seed=0)[0].tolist() == [0.0, 0.0]
    obs, r, term, trunc, info = env.step(np.array([0.5, -0.05], dtype=np.float32))   # clipped to 0.1
    np.testing.assert_allclose(obs, [0.1, -0.05], atol=1e-7)
    assert r == pytest.approx(-math.hypot(0.2, 0.15)) and not info["success"]
    for t in range(2, 101):
        step = {2: [0.1, -0.1], 3: [0.1, -0.05]}.get(t, [0.0, 0.0])   # arrives at the goal at t=3
        obs, r, term, trunc, info = env.step(np.array(step))
        assert not term and trunc == (t == 100)
    assert info["success"] and r == pytest.approx(0.0, abs=1e-6)


def test_point_nav_squared_reward_in_the_single_and_the_batched_env():
    fam = metarl.make_family("point-nav", reward="squared")
    task = metarl.Task("point-nav", {"goal_x": 0.3, "goal_y": -0.2})
    _, r, *_ = fam.make_env(task).step(np.array([0.5, -0.05]))                # to (0.1, -0.05)
    assert r == pytest.approx(-(0.2 ** 2 + 0.15 ** 2))
    venv = fam.make_vector_env(2, 1)
    venv.reset(seed=0, options={"tasks": [task, metarl.Task("point-nav", {"goal_x": 0.0, "goal_y": 0.1})]})
    _, rv, *_ = venv.step(np.array([[0.5, -0.05], [0.0, 0.0]]))
    np.testing.assert_allclose(rv, [r, -0.01], rtol=1e-6)  # the batched env takes float32 actions


def test_point_nav_arena_walls_stop_the_point_in_the_single_and_the_batched_env():
    """With arena=0.25 (goals in [-0.2, 0.2]^2), moving right for 4 steps ends at the wall x=0.25,
    not at 0.4; y moves freely inside. Without walls the same moves reach x=0.4."""
    task = metarl.Task("point-nav", {"goal_x": 0.2, "goal_y": 0.0})
    moves = [np.array([0.1, 0.05])] * 4
    for arena, x_end in ((0.25, 0.25), (None, 0.4)):
        fam = metarl.make_family("point-nav", goal_low=-0.2, goal_high=0.2, reward="squared", arena=arena)
        env = fam.make_env(task)
        env.reset(seed=0)
        venv = fam.make_vector_env(2, 1)
        venv.reset(seed=0, options={"tasks": [task, task]})
        for a in moves:
            obs, r, *_ = env.step(a)
            vobs, vr, *_ = venv.step(np.stack([a, np.zeros(2)]))
        np.testing.assert_allclose(obs, [x_end, 0.2], atol=1e-7)
        assert r == pytest.approx(-((x_end - 0.2) ** 2 + 0.2 ** 2))
        np.testing.assert_allclose(vobs[0, :2], obs, atol=1e-7)             # batched env (trial obs): same walls
        np.testing.assert_allclose(vr[0], r, rtol=1e-6)
        np.testing.assert_allclose(vr[1], -0.04, rtol=1e-6)                # the idle point stays at the origin
    assert "arena" in str(pytest.raises(MetaRLError, metarl.make_family, "point-nav", arena=0.3).value)


def test_cartpole_derived_quantities_and_time_limit():
    fam = family("cartpole-dynamics")
    env = fam.make_env(fam.sample(1, seed=0)[0])
    params = {"gravity": 5.0, "masscart": 1.7, "masspole": 0.35, "length": 0.8, "force_mag": 12.0}
    env.reset(seed=0, options={"task": metarl.Task(fam.name, params)})
    u = env.unwrapped
    assert (u.gravity, u.masscart, u.masspole, u.length, u.force_mag) == (5.0, 1.7, 0.35, 0.8, 12.0)
    assert u.total_mass == pytest.approx(0.35 + 1.7) and u.polemass_length == pytest.approx(0.35 * 0.8)
    nominal = fam.nominal_task()
    env.reset(seed=0, options={"task": nominal})
    assert u.total_mass == pytest.approx(1.1) and u.polemass_length == pytest.approx(0.05)
    # Balanced by a bang-bang controller, nominal CartPole reaches the 500-step time limit.
    obs, _ = env.reset(seed=0)
    for t in range(1, 501):
        obs, _, term, trunc, _ = env.step(int(obs[2] + 0.5 * obs[3] > 0))
        assert not term and trunc == (t == 500)


def test_cartpole_force_sign_both_reverses_the_push_on_half_the_tasks():
    """``force_sign="both"``: -1 tasks push the other way (action 1 accelerates the cart to the
    left), the sign is drawn per task, and the controller that balances +1 tasks drops the pole
    of the same cart-pole reversed within a few steps."""
    both = metarl.make_family("cartpole-dynamics", force_sign="both")
    signs = [t.params["force_sign"] for t in both.sample(400, split="train", seed=0)]
    assert set(signs) == {1, -1} and abs(np.mean(signs)) < 0.15
    plain = family("cartpole-dynamics")
    assert "force_sign" not in plain.params.names and "force_sign" not in plain.sample(1, seed=3)[0].params
    assert both.nominal_task().params["force_sign"] == 1
    lengths = {}
    for sign in (1, -1):
        task = metarl.Task(both.name, {**both.nominal_task().params, "force_sign": sign})
        env = both.make_env(task)
        obs, _ = env.reset(seed=0, options={"task": task})
        assert env.unwrapped.force_mag == 10.0 * sign
        first, *_ = env.step(1)
        assert np.sign(first[1] - obs[1]) == sign   # the cart's velocity after pushing "right"
        obs = first
        for t in range(2, 501):
            obs, _, term, trunc, _ = env.step(int(obs[2] + 0.5 * obs[3] > 0))
            if term or trunc:
                break
        lengths[sign] = t
    assert lengths == {1: 500, -1: lengths[-1]} and lengths[-1] < 30, lengths
    with pytest.raises(MetaRLError, match=r"force_sign='left' is not valid; choose one of \['positive', 'both'\]"):
        metarl.make_family("cartpole-dynamics", force_sign="left")


def test_pendulum_torque_clip_and_shared_action_space():
    fam = family("pendulum-dynamics")
    assert fam.torque_bound == 4.0 and fam.params["max_torque"].hard[1] == 4.0
    weak = metarl.Task(fam.name, {"g": 10.0, "m": 1.0, "l": 1.0, "max_torque": 1.0})
    env = fam.make_env(weak)
    assert env.action_space == spaces.Box(-4.0, 4.0, (1,), np.float32)
    big, _ = rollout(env, [np.array([4.0], dtype=np.float32)] * 5, seed=2)
    one, _ = rollout(env, [np.array([1.0], dtype=np.float32)] * 5, seed=2)
    np.testing.assert_array_equal(big, one)   # torque clipped to the task's max_torque
    _, _, _, _, _ = env.step(np.zeros(1, dtype=np.float32))
    assert env.unwrapped.g == 10.0 and env.unwrapped.max_torque == 1.0


def test_sinusoid_targets_and_rewards():
    fam = family("sinusoid")
    assert fam.kind == "supervised"
    task = metarl.Task("sinusoid", {"amplitude": 2.5, "phase": 1.0})
    env = fam.make_env(task)
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        x = float(obs[0])
        assert -5.0 <= x <= 5.0
        pred = np.array([0.7], dtype=np.float32)
        obs2, r, term, trunc, info = env.step(pred)
        y = 2.5 * math.sin(x - 1.0)
        assert term and not trunc and info["target"] == pytest.approx(y, abs=1e-12)
        assert r == pytest.approx(-(float(pred[0]) - y) ** 2)
        assert fam.function(task, x) == pytest.approx(y)
        obs, _ = env.reset()


# ---- the default synchronous vector env on classic control ----------------------------------
@pytest.mark.parametrize("name,term_expected", [("cartpole-dynamics", True), ("pendulum-dynamics", False)])
def test_sync_vector_env_trial_flags(name, term_expected):
    fam, b, k = family(name), 3, 2
    venv = fam.make_vector_env(b, k)
    assert isinstance(venv, SyncTrialVectorEnv)
    obs, _ = venv.reset(seed=0, options={"tasks": fam.sample(b, seed=0)})
    assert obs.shape == (b, venv.layout.dim)
    rng = np.random.default_rng(0)
    ends, ended_at = np.zeros(b, dtype=int), np.full(b, -1)
    for step in range(venv.max_trial_steps + 1):
        active_before = ended_at < 0
        obs, rew, term, trunc, info = venv.step(random_actions(venv.single_action_space, rng, b))
        np.testing.assert_array_equal(info["active"], active_before)
        ends += info["episode_end"] & active_before
        finished = (term | trunc) & active_before
        ended_at[finished] = step
        if (ended_at >= 0).all():
            break
    assert (ended_at >= 0).all() and (ends == k).all()
    assert term.all() == term_expected and trunc.all() != term_expected
    assert (obs[:, venv.layout.trial_progress] == 1.0).all()
    if not term_expected:
        assert (ended_at == venv.max_trial_steps - 1).all()


# ---- task_features: privileged task descriptions for an asymmetric critic --------------------------------
def test_task_features_are_the_parameters_in_train_box_units():
    """Numeric parameters map to [-1, 1] across the train box (log scale in log space), arrays
    flattened in ParamSpace order; categorical ones are one-hot; one choice gives nothing."""
    bandit = metarl.make_family("bandit", arms=3)
    task = metarl.Task("bandit", {"means": [0.0, 0.25, 1.0]})
    np.testing.assert_allclose(bandit.task_features([task]), [[-1.0, -0.5, 1.0]], atol=1e-7)
    cart = metarl.make_family("cartpole-dynamics")  # each parameter in [0.5, 2] x nominal, log scale
    nominal = {s.name: math.sqrt(s.low * s.high) for s in cart.params}  # the box's log-midpoint
    params = dict(nominal, **{cart.params.names[0]: cart.params.specs[0].high,
                              cart.params.names[1]: cart.params.specs[1].low * 0.5})  # beyond the box
    feats = cart.task_features([metarl.Task("cartpole-dynamics", params)])
    np.testing.assert_allclose(feats, [[1.0, -1.0 - 2 * math.log(2) / math.log(4)] + [0.0] * (len(params) - 2)],
                               atol=1e-6)
    mdp = metarl.make_family("tabular-mdp", states=2, actions=2)
    t = metarl.Task("tabular-mdp", {"reward_means": [[-2.0, 1.0], [4.0, 0.0]],
                                    "transitions": [[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.25, 0.75]]]})
    np.testing.assert_allclose(mdp.task_features([t]), [[-1, 0, 1, -1 / 3, 1, -1, 0, 0, -1, 1, -0.5, 0.5]],
                               atol=1e-6)
    assert mdp.task_feature_size() == 12 and bandit.task_feature_size() == 3
    assert bandit.task_features([task, task]).dtype == np.float32


def test_task_features_one_hot_categorical_and_empty():
    from metarl.tasks import ParamSpace, ParamSpec, TaskFamily

    class Toy(TaskFamily):
        name = "toy-features"
        params = ParamSpace([ParamSpec("kind", choices=["a", "b", "c"]), ParamSpec("only", choices=[7]),
                             ParamSpec("x", 0.0, 2.0)])

    toy = Toy()
    feats = toy.task_features([metarl.Task("toy-features", {"kind": "c", "only": 7, "x": 0.5}),
                               metarl.Task("toy-features", {"kind": "a", "only": 7, "x": 2.0})])
    np.testing.assert_allclose(feats, [[0, 0, 1, -0.5], [1, 0, 0, 1]])

    class Empty(TaskFamily):
        name = "toy-empty"

    assert Empty().task_features([metarl.Task("toy-empty", {})] * 2).shape == (2, 0)
    with pytest.raises(ValueError, match=r"task_features needs at least one task"):
        toy.task_features([])
    with pytest.raises(ValueError, match=r"task 'odd' lacks parameters \['x'\]; family 'toy-features' needs"):
        toy.task_features([metarl.Task("toy-features", {"kind": "a", "only": 7}, task_id="odd")])


def test_hand_made_tasks_with_unknown_or_misshapen_parameters_are_rejected():
    cart = metarl.make_family("cartpole-dynamics")
    typo = metarl.Task("cartpole-dynamics", {**cart.nominal_task().params, "Gravity": 200.0})
    with pytest.raises(MetaRLError, match=r"unknown parameters \['Gravity'\]; family 'cartpole-dynamics' takes"):
        cart.make_env(typo)
    bandit = metarl.make_family("bandit", arms=3)
    for means in (0.5, [0.1, 0.2]):
        with pytest.raises(MetaRLError, match="give a list of 3 means"):
            bandit.make_env(metarl.Task("bandit", {"means": means}))
    walled = metarl.make_family("point-nav", arena=1.0)
    with pytest.raises(MetaRLError, match=r"goal \(3, 0\) lies outside the walls"):
        walled.make_env(metarl.Task("point-nav", {"goal_x": 3.0, "goal_y": 0.0}))
    walled.make_env(metarl.Task("point-nav", {"goal_x": 0.9, "goal_y": -1.0}))   # on the wall: reachable
