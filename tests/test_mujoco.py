"""Tests for the Gymnasium MuJoCo families (cheetah-vel, cheetah-dir, ant-dir, ant-goal,
cheetah/hopper/walker-dynamics): Gymnasium API, in-place dynamics changes and exact
restoration, hard limits, task JSON round trips and pickling, reward formulas, vector env and seeding."""
from __future__ import annotations

import copy
import math
import pickle
import warnings

import mujoco
import numpy as np
import pytest
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeLimit

import metarl
from metarl.errors import MetaRLError
from metarl.rollout.vector import SyncTrialVectorEnv

REWARD = ["cheetah-vel", "cheetah-dir", "ant-dir", "ant-goal"]
DYNAMICS = ["cheetah-dynamics", "hopper-dynamics", "walker-dynamics"]
ALL = REWARD + DYNAMICS
GYM_ENV = {"cheetah-dynamics": HalfCheetahEnv, "hopper-dynamics": HopperEnv, "walker-dynamics": Walker2dEnv}
# every model array the dynamics tasks write, and derived constants mj_setConst recomputes
MODEL_FIELDS = ["body_mass", "body_inertia", "geom_friction", "dof_damping", "body_subtreemass",
                "dof_invweight0", "body_invweight0", "actuator_acc0"]


def actions_for(env, n, seed=0):
    """``n`` actions from a seeded generator, overshooting the box by 25% to exercise clipping."""
    low, high = env.action_space.low, env.action_space.high
    span = high - low
    return np.random.default_rng(seed).uniform(low - 0.25 * span, high + 0.25 * span,
                                               size=(n, *low.shape)).astype(np.float32)


def rollout(env, actions, *, seed=None, options=None):
    """(observations, rewards) of one pass through ``actions``, resetting at episode ends."""
    obs, _ = env.reset(seed=seed, options=options)
    seen, rewards = [obs], []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        seen.append(obs)
        rewards.append(r)
        if term or trunc:
            obs, _ = env.reset()
            seen.append(obs)
    return np.array(seen, dtype=np.float64), np.array(rewards, dtype=np.float64)


def model_arrays(env):
    model = env.unwrapped.model
    arrays = {f: getattr(model, f).copy() for f in MODEL_FIELDS}
    arrays["meaninertia"] = np.array(model.stat.meaninertia)
    return arrays


# ---- Gymnasium API --------------------------------------------------------------------------
def test_registered():
    assert set(ALL) <= set(metarl.list_families())


@pytest.mark.parametrize("name", ALL)
def test_check_env_plain_and_trial(name):
    fam = metarl.make_family(name)
    task = fam.sample(1, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(fam.make_env(task), skip_render_check=True)
        check_env(metarl.TrialWrapper(fam.make_env(task), 2), skip_render_check=True)
    json = fam.describe()
    assert json["name"] == name and json["held_out"]
    assert all(p["group"] == ("dynamics" if name in DYNAMICS else "reward") for p in json["params"])


@pytest.mark.parametrize("name", ["cheetah-vel", "ant-goal", "hopper-dynamics"])
def test_time_limit_truncates_at_horizon(name):
    fam = metarl.make_family(name, horizon=7)
    env = fam.make_env(fam.sample(1)[0])
    env.reset(seed=0)
    for t in range(1, 8):
        _, _, term, trunc, _ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        assert not term and trunc == (t == 7)


# ---- dynamics: in place, never cumulative, exact restoration --------------------------------
@pytest.mark.parametrize("name", DYNAMICS)
def test_dynamics_in_place_change_and_exact_restore(name):
    fam = metarl.make_family(name)
    task_a, task_b = fam.sample(2, seed=3)
    nominal = fam.nominal_task()
    env = fam.make_env(task_a)
    model = env.unwrapped.model
    actions = actions_for(env, 60)
    obs_a, rew_a = rollout(env, actions, seed=5)
    obs_n, rew_n = rollout(env, actions, seed=5, options={"task": nominal})
    assert env.unwrapped.model is model                      # switched in place, not re-created
    assert not np.array_equal(obs_a, obs_n)
    # nominal after another task == a fresh unmodified Gymnasium env, bit for bit
    fresh = TimeLimit(GYM_ENV[name](), max_episode_steps=fam.max_episode_steps)
    obs_f, rew_f = rollout(fresh, actions, seed=5)
    np.testing.assert_array_equal(obs_n, obs_f)
    np.testing.assert_array_equal(rew_n, rew_f)
    for field, value in model_arrays(fresh).items():
        np.testing.assert_array_equal(model_arrays(env)[field], value, err_msg=field)
    # a -> b equals a fresh env built for b (scales are applied to nominal, never cumulatively)
    rollout(env, actions[:5], seed=5, options={"task": task_b})
    obs_b, rew_b = rollout(env, actions, seed=5)
    obs_b2, rew_b2 = rollout(fam.make_env(task_b), actions, seed=5)
    np.testing.assert_array_equal(obs_b, obs_b2)
    np.testing.assert_array_equal(rew_b, rew_b2)
    # back to a reproduces a's rollout
    obs_a2, rew_a2 = rollout(env, actions, seed=5, options={"task": task_a})
    np.testing.assert_array_equal(obs_a, obs_a2)
    np.testing.assert_array_equal(rew_a, rew_a2)


def test_dynamics_scales_every_array_including_floor():
    fam = metarl.make_family("hopper-dynamics")
    env = fam.make_env(fam.nominal_task())
    nominal = model_arrays(env)
    task = metarl.Task(fam.name, {"mass_scale": 2.0, "friction_scale": 0.5, "damping_scale": 3.0})
    env.reset(seed=0, options={"task": task})
    model = env.unwrapped.model
    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    assert floor >= 0 and model.geom_friction[floor, 0] == nominal["geom_friction"][floor, 0] * 0.5
    np.testing.assert_array_equal(model.geom_friction, nominal["geom_friction"] * 0.5)
    np.testing.assert_array_equal(model.body_mass, nominal["body_mass"] * 2.0)
    np.testing.assert_array_equal(model.body_inertia, nominal["body_inertia"] * 2.0)
    np.testing.assert_array_equal(model.dof_damping, nominal["dof_damping"] * 3.0)
    np.testing.assert_allclose(model.body_subtreemass, nominal["body_subtreemass"] * 2.0, rtol=1e-12)
    env.step(np.ones(3, dtype=np.float32))
    state = env.unwrapped.state_vector()
    env.env.set_task(fam.nominal_task())   # a switch mid-episode leaves the simulator state alone
    np.testing.assert_array_equal(env.unwrapped.state_vector(), state)


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,param,value", [("cheetah-dynamics", "mass_scale", 12.5),
                                              ("hopper-dynamics", "friction_scale", 0.05),
                                              ("walker-dynamics", "damping_scale", 10.5),
                                              ("cheetah-vel", "velocity", 25.0),
                                              ("ant-goal", "goal_y", -40.0)])
def test_out_of_hard_limits_raises(name, param, value):
    fam = metarl.make_family(name)
    good = fam.sample(1, seed=0)[0]
    bad = metarl.Task(fam.name, dict(good.params, **{param: value}), task_id="bad")
    with pytest.raises(MetaRLError) as err:
        fam.make_env(bad)
    msg = str(err.value)
    assert "\n" not in msg and param in msg and repr(value) in msg and "hard limits" in msg
    env = fam.make_env(good)
    before = model_arrays(env)
    with pytest.raises(MetaRLError, match=param):
        env.reset(options={"task": bad})
    assert env.env.task == good
    for field, value in before.items():   # a rejected task leaves the model untouched
        np.testing.assert_array_equal(model_arrays(env)[field], value)


@pytest.mark.parametrize("name,params", [("cheetah-dir", {"direction": 2}), ("cheetah-dir", {"direction": True}),
                                         ("ant-dir", {"direction": 0.5}),
                                         ("hopper-dynamics", {"mass_scale": [1.0, 2.0], "friction_scale": 1.0,
                                                              "damping_scale": 1.0})])
def test_bad_task_values_rejected(name, params):
    fam = metarl.make_family(name)
    with pytest.raises(MetaRLError) as err:
        fam.make_env(metarl.Task(fam.name, params))
    assert "\n" not in str(err.value) and next(iter(params)) in str(err.value)


@pytest.mark.parametrize("name,kwargs", [("cheetah-vel", {"vel_low": 2.0, "vel_high": 1.0}),
                                         ("cheetah-vel", {"vel_high": 50.0}), ("cheetah-dir", {"horizon": 0}),
                                         ("ant-dir", {"directions": "diagonal"}), ("ant-goal", {"radius": 0.0}),
                                         ("ant-goal", {"distance": "l3"}),
                                         ("walker-dynamics", {"log_scale_limit": 6.0})])
def test_bad_family_options(name, kwargs):
    with pytest.raises(MetaRLError) as err:
        metarl.make_family(name, **kwargs)
    assert "\n" not in str(err.value)


# ---- JSON round trip, seeding, splits -------------------------------------------------------
@pytest.mark.parametrize("name", ["cheetah-vel", "ant-goal", "walker-dynamics"])
def test_task_json_round_trip_and_pickle_same_rollout(name):
    fam = metarl.make_family(name)
    task = fam.sample(1, split="test", seed=4)[0]
    back = metarl.Task.from_json(task.to_json())
    assert back == task
    env = fam.make_env(task)
    actions = actions_for(env, 40, seed=1)
    obs, rew = rollout(env, actions, seed=2)
    for other in (fam.make_env(back), pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        obs2, rew2 = rollout(other, actions, seed=2)   # pickling keeps the task (and its model)
        np.testing.assert_array_equal(obs, obs2)
        np.testing.assert_array_equal(rew, rew2)


@pytest.mark.parametrize("name", ALL)
def test_seeding_same_seed_same_tasks(name):
    fam = metarl.make_family(name)
    assert fam.sample(6, seed=7) == fam.sample(6, seed=7)
    assert metarl.make_family(name).sample(6, split="test", seed=7) == fam.sample(6, split="test", seed=7)
    if name not in ("cheetah-dir", "ant-dir"):   # two-task families repeat their tasks
        train = [t.params for t in fam.sample(6, seed=7)]
        assert train != [t.params for t in fam.sample(6, split="test", seed=7)]
        assert train != [t.params for t in fam.sample(6, seed=8)]
    for t in fam.sample(20, seed=0) + fam.sample(20, split="test", seed=0):
        fam.validate_task(t)


def test_sample_distributions():
    goals = np.array([[t.params["goal_x"], t.params["goal_y"]] for t in metarl.make_family("ant-goal").sample(2000)])
    r = np.hypot(goals[:, 0], goals[:, 1])
    assert r.max() <= 3.0 and abs(np.mean(r <= 1.5) - 0.25) < 0.04     # uniform in the disk
    vel = [t.params["velocity"] for t in metarl.make_family("cheetah-vel", vel_high=3.0).sample(500)]
    assert 0.0 <= min(vel) and max(vel) <= 3.0 and abs(np.mean(vel) - 1.5) < 0.15
    dirs = [t.params["direction"] for t in metarl.make_family("cheetah-dir").sample(200)]
    assert set(dirs) == {1, -1}
    scales = np.array([t.params["mass_scale"] for t in metarl.make_family("cheetah-dynamics").sample(2000)])
    exps = np.log(scales) / np.log(1.5)
    assert exps.min() >= -3 and exps.max() <= 3 and abs(exps.mean()) < 0.15 and abs(exps.std() - math.sqrt(3)) < 0.1


# ---- reward formulas ------------------------------------------------------------------------
def test_cheetah_vel_reward_formula():
    fam = metarl.make_family("cheetah-vel")
    task = metarl.Task(fam.name, {"velocity": 1.25})
    env = fam.make_env(task)
    _, info = env.reset(seed=0)
    x_before, dt = info["x_position"], env.unwrapped.dt
    for a in actions_for(env, 30):
        _, r, _, _, info = env.step(a)
        v = (info["x_position"] - x_before) / dt
        assert info["x_velocity"] == pytest.approx(v, abs=1e-9)
        a_clip = np.clip(a.astype(np.float64), -1.0, 1.0)
        assert r == pytest.approx(-abs(v - 1.25) - 0.05 * np.sum(a_clip ** 2), abs=1e-9)
        assert info["reward_task"] == pytest.approx(-abs(v - 1.25), abs=1e-9)
        assert "reward_forward" not in info
        x_before = info["x_position"]


def test_direction_and_goal_rewards():
    for name, params, term in [
            ("cheetah-dir", {"direction": -1}, lambda i: -i["x_velocity"]),
            ("ant-dir", {"direction": 1}, lambda i: i["x_velocity"]),
            ("ant-goal", {"goal_x": 1.0, "goal_y": -2.0},
             lambda i: -abs(i["x_position"] - 1.0) - abs(i["y_position"] + 2.0))]:
        fam = metarl.make_family(name)
        env = fam.make_env(metarl.Task(fam.name, params))
        env.reset(seed=1)
        for a in actions_for(env, 10):
            _, r, _, _, info = env.step(a)
            assert info["reward_task"] == pytest.approx(term(info), abs=1e-12)
            rest = sum(v for k, v in info.items() if k.startswith("reward_") and k != "reward_task")
            assert r == pytest.approx(info["reward_task"] + rest, abs=1e-12)
    fam = metarl.make_family("ant-dir", directions="circle")
    assert fam.params.names == ["angle"]
    env = fam.make_env(metarl.Task(fam.name, {"angle": math.pi / 3}))
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.zeros(8, dtype=np.float32))
    want = 0.5 * info["x_velocity"] + math.sqrt(3) / 2 * info["y_velocity"]
    assert info["reward_task"] == pytest.approx(want, abs=1e-12)


def test_ant_dir_terminates_when_unhealthy_and_ant_goal_does_not():
    for name, expect in [("ant-dir", True), ("ant-goal", False)]:
        fam = metarl.make_family(name)
        env = fam.make_env(fam.sample(1)[0])
        env.reset(seed=0)
        env.unwrapped.data.qpos[2] = 2.0   # torso above healthy_z_range (0.2, 1.0)
        _, _, term, _, _ = env.step(np.zeros(8, dtype=np.float32))
        assert term == expect


def test_ant_goal_observes_the_torso_position_and_ant_dir_does_not():
    """A goal task needs the position in the observation (PEARL's ant_goal: full qpos)."""
    fam = metarl.make_family("ant-goal")
    env = fam.make_env(fam.sample(1)[0])
    obs, _ = env.reset(seed=0)
    assert obs.shape == (107,) == env.observation_space.shape
    for a in actions_for(env, 10):
        obs, _, _, _, info = env.step(a)
    assert obs[:2] == pytest.approx([info["x_position"], info["y_position"]], abs=1e-12)
    assert np.hypot(*obs[:2]) > 0.0
    for name, options in [("ant-dir", {}), ("ant-goal", {"observe_position": False})]:
        other = metarl.make_family(name, **options)
        assert other.make_env(other.sample(1)[0]).reset(seed=0)[0].shape == (105,)
    with pytest.raises(MetaRLError, match="observe_position"):
        metarl.make_family("ant-goal", observe_position="yes")


# ---- vector env -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cheetah-vel", "ant-goal", "walker-dynamics"])
def test_sync_vector_env_runs(name):
    fam = metarl.make_family(name)
    venv = fam.make_vector_env(2, 2)
    assert isinstance(venv, SyncTrialVectorEnv)
    assert venv.max_trial_steps == 2 * 200
    obs, _ = venv.reset(seed=0, options={"tasks": fam.sample(2, seed=0)})
    assert obs.shape == (2, venv.layout.dim) and np.isfinite(obs).all()
    for _ in range(5):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert obs.shape == (2, venv.layout.dim) and rew.shape == (2,) and info["active"].all()
    obs2, _ = venv.reset(seed=0, options={"tasks": fam.sample(2, seed=1)})
    assert obs2.shape == obs.shape
    venv.close()
