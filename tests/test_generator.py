"""The environment generator: distances, variants, validity probes and Suite JSON."""
from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from helpers import one_line

import metarl
from metarl.errors import ConfigError, MetaRLError
from metarl.generator.novelty import Movable, move_params, room, task_distance, unit_distance
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily


def test_distance_in_train_box_widths_by_hand():
    lin = ParamSpec("x", 2.0, 4.0, hard=(0.5, 10.0))
    assert unit_distance(lin, 3.0) == 0.0 and unit_distance(lin, 4.0) == 0.0
    assert unit_distance(lin, 5.0) == pytest.approx(0.5)          # (5 - 4) / 2
    assert unit_distance(lin, 1.0) == pytest.approx(0.5)          # (2 - 1) / 2
    assert unit_distance(lin, [3.0, 7.0, 1.5]) == pytest.approx(1.5)   # an array: its farthest element
    assert room(lin) == (pytest.approx(0.75), pytest.approx(3.0))      # (2 - 0.5) / 2, (10 - 4) / 2
    log = ParamSpec("g", 1.0, 4.0, scale="log", hard=(0.25, 64.0))
    assert unit_distance(log, 16.0) == pytest.approx(1.0)         # log16 / log4 - 1
    assert unit_distance(log, 0.5) == pytest.approx(0.5)          # -log0.5 / log4
    assert room(log) == (pytest.approx(1.0), pytest.approx(2.0))
    assert room(ParamSpec("free", 0.0, 1.0)) == (math.inf, math.inf)
    fam = metarl.make_family("point-nav")
    assert task_distance(fam, Task("point-nav", {"goal_x": 1.0, "goal_y": -0.75})) == pytest.approx(0.5)


def test_move_params_all_and_one():
    specs = [ParamSpec("a", 0.0, 1.0, hard=(-0.5, 3.0)), ParamSpec("v", 0.0, 2.0)]
    moved = [Movable(s, *room(s)) for s in specs]
    base = {"a": 0.5, "v": [1.0, 1.0, 1.0]}
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = move_params(base, moved, (0.4, 0.8), "all", rng)
        d_a, d_v = unit_distance(specs[0], out["a"]), np.asarray(out["v"])
        assert 0.4 <= d_a <= 0.8 and out["a"] > 1.0   # below the box there is room for 0.5 only, not 0.8
        per_v = np.maximum(-d_v / 2, d_v / 2 - 1)
        assert np.all((per_v >= 0.4) & (per_v <= 0.8))
    changed = []
    for _ in range(200):
        out = move_params(base, moved, (0.4, 0.8), "one", rng)
        flat_old = [base["a"], *base["v"]]
        flat_new = [out["a"], *out["v"]]
        changed.append(sum(o != n for o, n in zip(flat_old, flat_new)))
    assert set(changed) == {1}


def test_suite_levels_are_rings_around_the_held_out_tasks():
    fam = metarl.make_family("point-nav")
    suite = metarl.generate_suite(fam, levels=[0, 0.5, 1, 2], per_level=40, seed=3)
    assert len(suite) == 160 and suite.levels == [0.0, 0.5, 1.0, 2.0]
    base = fam.sample(40, split="test", seed=3)
    assert [dict(t.params) for t in suite.tasks(0)] == [dict(t.params) for t in base]   # level 0: in distribution
    for near, far in [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0)]:
        d = suite.distances(far)
        assert np.all((d >= near) & (d <= far + 1e-12)) and d.max() > near + 0.5 * (far - near)
        assert [e.base_task_id for e in suite.at(far)] == [t.task_id for t in base]     # paired design
        for t in suite.tasks(far):   # every coordinate is outside the box (move="all")
            assert abs(t.params["goal_x"]) > 0.5 and abs(t.params["goal_y"]) > 0.5
    ids = [t.task_id for t in suite.tasks()]
    assert len(set(ids)) == len(ids) and {t.split for t in suite.tasks()} == {"generated"}
    again = metarl.generate_suite("point-nav", levels="0,0.5,1,2", per_level=40, seed=3)
    assert again.to_dict()["tasks"] == suite.to_dict()["tasks"]
    other = metarl.generate_suite("point-nav", levels=[0, 0.5, 1, 2], per_level=40, seed=4)
    assert other.to_dict()["tasks"] != suite.to_dict()["tasks"]


@pytest.mark.parametrize("name, options, levels", [
    ("cartpole-dynamics", {}, [0, 0.3, 1.0]), ("pendulum-dynamics", {}, [0, 0.5, 1.0]),
    ("sinusoid", {}, [0, 0.2, 0.5]), ("bandit", {"arms": 3, "low": 0.25, "high": 0.75}, [0, 0.25, 0.5]),
    ("tabular-mdp", {"states": 3, "actions": 2, "horizon": 4}, [0.5, 1.0, 3.0]),
    ("fewshot-classification", {}, [0, 0.5, 2.0]),
])
def test_bands_and_recorded_distances_in_every_family(name, options, levels):
    """Each task's recorded distance is its measured one and lies in its level's band (log-scale
    cartpole / pendulum, the periodic phase, arrays); level 0 is inside the box."""
    fam = metarl.make_family(name, **options)
    suite = metarl.generate_suite(fam, levels=levels, per_level=25, seed=7)
    for j, level in enumerate(levels):
        near = levels[j - 1] if j else 0.0
        d = np.asarray([task_distance(fam, e.task) for e in suite.at(level)])
        assert np.array_equal(d, suite.distances(level))
        assert np.all(d == 0) if level == 0 else np.all((d > near) & (d <= level + 1e-9)), (level, d.min(), d.max())
    for t in suite.tasks():
        fam.validate_task(t)   # hard limits (bandit [0, 1], phase one period, pendulum torque bound)


def test_move_one_spreads_over_parameters_and_vary_takes_names():
    cart = metarl.make_family("cartpole-dynamics")
    suite = metarl.generate_suite(cart, levels=[1.0], per_level=60, seed=0, move="one")
    moved = [next(s.name for s in cart.params if unit_distance(s, t.params[s.name]) > 0) for t in suite.tasks()]
    assert set(moved) == set(cart.params.names)       # every parameter gets picked, not only the first
    sin = metarl.generate_suite("sinusoid", levels=[0, 1.0], per_level=20, seed=0, vary="amplitude")
    assert sin.meta["moved"] == ["amplitude"] and "not varied" in sin.meta["fixed"]["phase"]
    assert [t.params["phase"] for t in sin.tasks(1.0)] == [t.params["phase"] for t in sin.tasks(0)]
    assert all(t.params["amplitude"] > 5.0 for t in sin.tasks(1.0))   # below the box there is no room for 1.0
    with pytest.raises(ConfigError) as e:
        metarl.generate_suite("sinusoid", levels=[0, 1.0])
    msg = one_line(e)
    assert "'phase' allows" in msg and "at most 0.5 " in msg and "vary only amplitude" in msg


def test_groups_and_fixed_parameters():
    mdp = metarl.make_family("tabular-mdp", states=3, actions=2, horizon=4)
    suite = metarl.generate_suite(mdp, levels=[0, 1], per_level=10, seed=0)
    assert suite.meta["moved"] == ["reward_means"] and "transitions" in suite.meta["fixed"]
    for base, var in zip(suite.tasks(0), suite.tasks(1)):
        assert var.params["transitions"] == base.params["transitions"]   # a probability table is not moved
        r = np.asarray(var.params["reward_means"])
        assert np.all((r < -2.0) | (r > 4.0))
    cart = metarl.make_family("cartpole-dynamics")
    one = metarl.generate_suite(cart, levels=[0.5], per_level=20, seed=0, move="one")
    nominal_box = [s for s in cart.params]
    for t in one.tasks():
        outside = [s.name for s in nominal_box if unit_distance(s, t.params[s.name]) > 0]
        assert len(outside) == 1
    with pytest.raises(ConfigError) as e:
        metarl.generate_suite(cart, vary="reward")
    assert "no parameter the generator can move" in one_line(e) and "not varied" in str(e.value)


@pytest.mark.parametrize("call, words", [
    (lambda: metarl.generate_suite("bandit"), ["family 'bandit' has no parameter", "fills its hard limits",
                                               "--low 0.25 --high 0.75"]),
    (lambda: metarl.generate_suite("cartpole-dynamics", levels=[0, 2]),
     ["novelty level 2 is beyond", "'gravity'", "1.16", "choose levels <= 1.16"]),
    (lambda: metarl.generate_suite("point-nav", levels=[0, 1, 0.5]), ["strictly increasing", "[0, 1, 0.5]"]),
    (lambda: metarl.generate_suite("point-nav", levels=[-1]), ["levels must be", ">= 0"]),
    (lambda: metarl.generate_suite("point-nav", levels="a,b"), ["levels must be numbers", "'a,b'"]),
    (lambda: metarl.generate_suite("point-nav", per_level=0), ["per_level=0"]),
    (lambda: metarl.generate_suite("point-nav", vary="physics"), ["vary='physics'", "dynamics", "goal_x"]),
    (lambda: metarl.generate_suite("point-nav", levels=[True]), ["levels must be numbers"]),
    (lambda: metarl.generate_suite("point-nav", levels="0,,1"), ["levels must be numbers", "'0,,1'"]),
    (lambda: metarl.generate_suite(metarl.make_family("cartpole-dynamics", min_scale=0.6), levels=[0, 1.49]),
     ["at most 1.488 ", "levels <= 1.488"]),                                   # rounded down: 1.488 works
    (lambda: metarl.generate_suite(metarl.make_family("point-nav", arena=0.6), levels=[0, 1]),
     ["'goal_x' allows", "[-0.6, 0.6]", "at most 0.1 "]),
    (lambda: metarl.generate_suite("point-nav", move="some"), ["move='some'", "one"]),
    (lambda: metarl.generate_suite("no-such-family"), ["unknown family", "point-nav"]),
])
def test_bad_generator_input_is_one_line(call, words):
    with pytest.raises(MetaRLError) as e:
        call()
    msg = one_line(e)
    assert all(w in msg for w in words), msg


def test_narrow_bandit_box_can_be_varied():
    fam = metarl.make_family("bandit", arms=4, low=0.25, high=0.75)
    suite = metarl.generate_suite(fam, levels=[0, 0.5], per_level=30, seed=1)
    m = np.asarray([t.params["means"] for t in suite.tasks(0.5)])
    assert np.all(((m >= 0.0) & (m < 0.25)) | ((m > 0.75) & (m <= 1.0)))   # within the hard limits [0, 1]


class _FragileEnv(gym.Env):
    """Reward NaN where the parameter x leaves [lo, hi]: an invalid variant to be caught."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, x, lo, hi):
        self.x, self.ok = x, lo <= x <= hi

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), (1.0 if self.ok else float("nan")), False, False, {}


class _FragileFamily(TaskFamily):
    name = "fragile"
    params = ParamSpace([ParamSpec("x", 0.0, 1.0)])

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def make_env(self, task):
        return _FragileEnv(task.params["x"], self.lo, self.hi)


def test_validity_probes_redraw_invalid_variants_and_report_persistent_failure():
    fam = _FragileFamily(-10.0, 1.5)       # above the box, only x <= 1.5 works: about half the upper draws fail
    suite = metarl.generate_suite(fam, levels=[0, 1], per_level=60, seed=0)
    xs = np.asarray([t.params["x"] for t in suite.tasks(1)])
    assert np.all(xs <= 1.5) and suite.meta["redraws"] > 0 and np.any(xs > 1.0) and np.any(xs < 0.0)
    with pytest.raises(MetaRLError) as e:
        metarl.generate_suite(_FragileFamily(0.0, 1.0), levels=[0, 0.5], per_level=3, max_redraws=4)
    msg = one_line(e)
    assert "no valid variant" in msg and "in 5 draws" in msg and "non-finite reward nan" in msg


def test_suite_json_round_trip_and_bad_files(tmp_path):
    suite = metarl.generate_suite("sinusoid", levels=[0, 0.5], per_level=5, seed=2)
    path = suite.save(tmp_path / "s.json")
    back = metarl.Suite.load(path)
    assert back.to_dict() == suite.to_dict() and back.tasks() == suite.tasks()
    assert back.family().name == "sinusoid" and repr(back) == "<Suite 'sinusoid': 10 tasks at levels [0.0, 0.5]>"
    d = json.loads(path.read_text())
    cases = {"garbage": "{not json", "report": json.dumps({"version": 1, "summary": {}}),
             "newer": json.dumps({**d, "version": 99}), "damaged": json.dumps({**d, "tasks": [{"level": 0}]})}
    words = {"garbage": "cannot read a suite", "report": "is not a metarl suite", "newer": "version 99 suite",
             "damaged": "damaged suite"}
    for name, text in cases.items():
        (tmp_path / f"{name}.json").write_text(text)
        with pytest.raises(ConfigError) as e:
            metarl.Suite.load(tmp_path / f"{name}.json")
        assert words[name] in one_line(e)
    with pytest.raises(ConfigError) as e:
        back.at(0.25)
    assert "level 0.25 is not in this suite" in one_line(e)
    damaged = {"unsorted": {**d, "levels": [0.5, 0.0]}, "empty level": {**d, "levels": [0.0, 0.5, 1.0]},
               "bad family": {**d, "family": "sinusoid"}}
    for name, content in damaged.items():
        (tmp_path / "d.json").write_text(json.dumps(content))
        with pytest.raises(ConfigError) as e:
            metarl.Suite.load(tmp_path / "d.json")
        assert "damaged suite" in one_line(e), name
    assert metarl.generate_suite(metarl.make_family("cartpole-dynamics", min_scale=0.6), levels=[0, 1.488],
                                 per_level=2).levels == [0.0, 1.488]


def test_side_keeps_every_moved_coordinate_on_one_side_of_its_box():
    fam = metarl.make_family("fewshot-classification")
    above = metarl.generate_suite(fam, levels=[0, 1, 4], per_level=60, seed=2, vary="noise", side="above")
    below = metarl.generate_suite(fam, levels=[0, 1, 2], per_level=60, seed=2, vary="noise", side="below")
    assert above.meta["side"] == "above" and below.meta["side"] == "below"
    for suite, level, inside in ((above, 1, lambda v: v > 0.35), (above, 4, lambda v: v > 0.35),
                                 (below, 2, lambda v: v < 0.25)):
        noise = np.array([e.task.params["noise"] for e in suite.at(level)])
        assert inside(noise).all(), (level, noise.min(), noise.max())
        assert np.all(suite.distances(level) > 0)
    both = metarl.generate_suite(fam, levels=[0, 1], per_level=200, seed=2, vary="noise")
    noise = np.array([e.task.params["noise"] for e in both.at(1)])
    assert (noise < 0.25).any() and (noise > 0.35).any()     # "both": either side
    with pytest.raises(ConfigError) as e:   # 0.25 below a 0.1-wide box: 2.5 widths of room to the hard limit 0
        metarl.generate_suite(fam, levels=[0, 3], per_level=5, vary="noise", side="below")
    assert "at most 2.5 train-box widths below" in one_line(e) and "side='below'" in one_line(e)
    with pytest.raises(ConfigError) as e:
        metarl.generate_suite(fam, levels=[0, 1], per_level=5, side="up")
    assert "side='up'" in one_line(e) and "'above'" in one_line(e)
