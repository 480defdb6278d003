"""Task (frozen, JSON-safe value) and ParamSpec / ParamSpace."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle

import numpy as np
import pytest

from metarl import ParamSpace, ParamSpec, Task
from metarl.errors import ConfigError, MetaRLError

from helpers import one_line


# ---- Task: JSON round trip ----------------------------------------------------------------
def rich_task() -> Task:
    return Task("toy", {
        "int": 3,
        "float": 2.5,
        "neg": -0.125,
        "str": "reach-v3",
        "bool": True,
        "none": None,
        "nested": [1, [2.5, -3], [], [[4]]],
        "np_float": np.float32(0.25),
        "np_int": np.int64(7),
        "np_bool": np.bool_(False),
        "np_array": np.arange(6, dtype=np.float64).reshape(2, 3) / 4,
        "tuple": (1, 2),
    }, task_id="toy/train/s0/0", split="test")


EXPECTED_DICT = {
    "family": "toy",
    "params": {
        "bool": True, "float": 2.5, "int": 3, "neg": -0.125, "nested": [1, [2.5, -3], [], [[4]]],
        "none": None, "np_array": [[0.0, 0.25, 0.5], [0.75, 1.0, 1.25]], "np_bool": False,
        "np_float": 0.25, "np_int": 7, "str": "reach-v3", "tuple": [1, 2],
    },
    "task_id": "toy/train/s0/0",
    "split": "test",
}


def test_to_dict_is_plain_json_data():
    d = rich_task().to_dict()
    assert d == EXPECTED_DICT
    # numpy values became Python values; tuples became lists
    assert type(d["params"]["np_float"]) is float
    assert type(d["params"]["np_int"]) is int
    assert type(d["params"]["np_bool"]) is bool
    assert type(d["params"]["np_array"]) is list and type(d["params"]["np_array"][0]) is list
    assert json.loads(json.dumps(d)) == d


def test_dict_round_trip():
    t = rich_task()
    back = Task.from_dict(t.to_dict())
    assert back == t
    assert hash(back) == hash(t)
    assert back.to_dict() == t.to_dict()


def test_json_round_trip():
    t = rich_task()
    text = t.to_json()
    assert json.loads(text) == EXPECTED_DICT
    back = Task.from_json(text)
    assert back == t and hash(back) == hash(t)
    assert back.to_json() == text


def test_nested_lists_are_stored_as_tuples():
    t = rich_task()
    assert t.params["nested"] == (1, (2.5, -3), (), ((4,),))
    assert t.params["np_array"] == ((0.0, 0.25, 0.5), (0.75, 1.0, 1.25))
    np.testing.assert_array_equal(t.param_array("np_array"), np.arange(6).reshape(2, 3) / 4)


def test_numpy_arrays_are_stored_like_the_same_nested_lists():
    rng = np.random.default_rng(0)
    for arr in (rng.normal(size=(3, 4, 5)), np.arange(6).reshape(2, 3), np.array([True, False]), np.zeros((2, 0))):
        a, b = Task("f", {"p": arr}), Task("f", {"p": arr.tolist()})
        assert a == b and a.to_json() == b.to_json()
        assert [type(v) for v in np.ravel(a.params["p"])] == [type(v) for v in np.ravel(b.params["p"])]
    with pytest.raises(MetaRLError, match=r"task parameter p\[1\]\[0\]=nan is not finite"):
        Task("f", {"p": np.array([[1.0, 2.0], [np.nan, 3.0]])})
    if np.dtype(np.longdouble).itemsize > 8:  # not a float64: refused as by the element-wise path
        with pytest.raises(MetaRLError, match=r"task parameter p\[0\] has type longdouble"):
            Task("f", {"p": np.ones(2, dtype=np.longdouble)})


def test_from_dict_defaults_optional_keys():
    t = Task.from_dict({"family": "toy", "params": {"x": 1}})
    assert t == Task("toy", {"x": 1}, task_id="", split="train")


# ---- Task: value semantics ----------------------------------------------------------------
def test_equal_and_hashable_by_value():
    a = Task("toy", {"x": [1, 2], "y": 0.5}, task_id="t0")
    b = Task("toy", {"y": 0.5, "x": (1, 2)}, task_id="t0")  # other order, tuple vs list
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert {a: "v"}[b] == "v"
    assert a != Task("toy", {"x": [1, 2], "y": 0.75}, task_id="t0")
    assert a != Task("toy", {"x": [1, 2], "y": 0.5}, task_id="t1")
    assert a != Task("toy", {"x": [1, 2], "y": 0.5}, task_id="t0", split="test")
    assert a != Task("other", {"x": [1, 2], "y": 0.5}, task_id="t0")


def test_frozen():
    t = Task("toy", {"x": [1, 2]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.family = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.params = {}
    h = hash(t)
    with pytest.raises(TypeError):
        t.params["x"] = 3
    with pytest.raises(TypeError):
        t.params["new"] = 3
    with pytest.raises(TypeError):
        t.params.update(x=3)
    with pytest.raises(TypeError):
        del t.params["x"]
    with pytest.raises(TypeError):
        t.params.pop("x")
    assert t.params == {"x": (1, 2)} and hash(t) == h


def test_task_does_not_alias_the_callers_dict():
    params = {"x": [1, 2]}
    t = Task("toy", params)
    params["x"].append(3)
    params["y"] = 1
    assert t.params == {"x": (1, 2)}


def test_copies_of_params_are_mutable_dicts():
    t = Task("toy", {"x": 1})
    p = dict(t.params)
    p["x"] = 2
    q = t.params.copy()
    q["y"] = 3
    assert dataclasses.replace(t, params=p).params == {"x": 2}
    assert t.params == {"x": 1}


def test_pickle_and_deepcopy():
    t = rich_task()
    for back in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t), copy.copy(t)):
        assert back == t and hash(back) == hash(t)
        with pytest.raises(TypeError):
            back.params["int"] = 4


# ---- Task: malformed input ----------------------------------------------------------------
@pytest.mark.parametrize("data, names", [
    ({"params": {}}, ["missing", "family"]),
    ({"family": "toy"}, ["missing", "params"]),
    ({"family": "toy", "params": {}, "colour": "red"}, ["unknown", "colour"]),
    ({"family": "toy", "params": {}, "seed": 1, "colour": 2}, ["colour", "seed"]),
    (["toy", {}], ["dict", "list"]),
    ("toy", ["dict", "str"]),
    (None, ["dict", "NoneType"]),
    ({"family": "toy", "params": {"x": float("nan")}}, ["x", "nan", "finite"]),
    ({"family": "toy", "params": {"x": float("inf")}}, ["x", "inf", "finite"]),
    ({"family": "toy", "params": {"x": [0.0, [1.0, -math.inf]]}}, ["x[1][1]", "finite"]),
    ({"family": "toy", "params": {"x": {"a": 1}}}, ["x", "dict"]),
    ({"family": "toy", "params": {"x": [1, {2, 3}]}}, ["x[1]", "set"]),
    ({"family": "toy", "params": {"x": 1 + 2j}}, ["x", "complex"]),
    ({"family": "toy", "params": {"x": object()}}, ["x", "object"]),
    ({"family": "toy", "params": [1, 2]}, ["params", "list"]),
    ({"family": "", "params": {}}, ["family"]),
    ({"family": 3, "params": {}}, ["family", "3"]),
    ({"family": "toy", "params": {}, "split": "validation"}, ["split", "validation"]),
    ({"family": "toy", "params": {}, "task_id": None}, ["task_id", "None"]),
    ({"family": "toy", "params": {1: 2}}, ["keys", "1"]),
])
def test_malformed_dict_raises_one_line_error(data, names):
    with pytest.raises(MetaRLError) as e:
        Task.from_dict(data)
    msg = one_line(e)
    for name in names:
        assert name in msg, (name, msg)


def test_malformed_json_raises_one_line_error():
    with pytest.raises(MetaRLError) as e:
        Task.from_json('{"family": "toy", "params": ')
    assert "JSON" in one_line(e)
    with pytest.raises(MetaRLError) as e:
        Task.from_json('{"family": "toy", "params": {"x": NaN}}')
    assert "x" in one_line(e)
    with pytest.raises(MetaRLError) as e:
        Task.from_json("[1, 2]")
    assert "list" in one_line(e)


def test_constructor_checks_like_from_dict():
    with pytest.raises(MetaRLError) as e:
        Task("toy", {"x": np.float64("nan")})
    assert "x" in one_line(e)
    with pytest.raises(MetaRLError) as e:
        Task("toy", {"x": np.array([1.0, np.inf])})
    assert "x[1]" in one_line(e)


# ---- ParamSpec ----------------------------------------------------------------------------
def test_linear_sampling_stays_in_the_train_box():
    spec = ParamSpec("mass", 0.5, 2.0, group="dynamics", hard=(0.1, 10.0))
    rng = np.random.default_rng(0)
    x = spec.sample(rng, size=20_000)
    assert x.shape == (20_000,)
    assert x.min() >= 0.5 and x.max() <= 2.0
    assert abs(x.mean() - 1.25) < 0.02  # uniform
    one = spec.sample(rng)
    assert isinstance(one, float) and 0.5 <= one <= 2.0


def test_log_sampling_is_log_uniform_within_the_box():
    spec = ParamSpec("lr", 1e-3, 10.0, scale="log")
    x = spec.sample(np.random.default_rng(1), size=20_000)
    assert x.min() >= 1e-3 and x.max() <= 10.0
    # log-uniform over 4 decades: a quarter of the mass per decade
    for lo, hi in [(1e-3, 1e-2), (1e-2, 1e-1), (1e-1, 1.0), (1.0, 10.0)]:
        assert abs(np.mean((x >= lo) & (x < hi)) - 0.25) < 0.02
    assert abs(np.median(np.log10(x)) - (-1.0)) < 0.05


def test_same_generator_state_same_sample():
    spec = ParamSpec("mass", 0.5, 2.0)
    a = spec.sample(np.random.default_rng(5), size=4)
    b = spec.sample(np.random.default_rng(5), size=4)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", [ParamSpec("a", -2.0, 3.0), ParamSpec("b", 0.01, 100.0, scale="log"),
                                  ParamSpec("c", 1.0, 1.0)])
def test_to_unit_from_unit_are_inverse(spec):
    if spec.low == spec.high:
        assert spec.to_unit(1.0) == 0.0
        assert spec.from_unit(0.7) == 1.0
        return
    u = np.linspace(-0.5, 1.5, 41)  # also beyond the train box (for the environment generator)
    np.testing.assert_allclose(spec.to_unit(spec.from_unit(u)), u, atol=1e-12)
    values = np.linspace(spec.low, spec.high, 17)
    np.testing.assert_allclose(spec.from_unit(spec.to_unit(values)), values, rtol=1e-12)
    assert spec.from_unit(0.0) == spec.low and spec.from_unit(1.0) == spec.high
    assert spec.to_unit(spec.low) == pytest.approx(0.0) and spec.to_unit(spec.high) == pytest.approx(1.0)
    assert isinstance(spec.from_unit(0.5), float) and isinstance(spec.to_unit(spec.low), float)


def test_scalar_from_unit_equals_the_array_path():
    """The scalar fast path (Python floats) gives the array path's numbers bit for bit."""
    rng = np.random.default_rng(0)
    u = np.concatenate([[0.0, 1.0, 1e-17, 1.0 - 1e-16, -0.25, 1.75], rng.random(200)])
    for spec in (ParamSpec("a", -2.0, 3.0), ParamSpec("b", 0.1, 5.0), ParamSpec("c", 0, 7),
                 ParamSpec("d", 0.01, 100.0, scale="log")):
        arr = spec.from_unit(u)
        for ui, ai in zip(u, arr):
            for scalar in (float(ui), np.float64(ui)):
                out = spec.from_unit(scalar)
                assert isinstance(out, float) and out == ai, (spec, ui)


def test_log_to_unit_is_in_log_space():
    spec = ParamSpec("lr", 1e-3, 1e1, scale="log")
    assert spec.to_unit(1e-1) == pytest.approx(0.5)
    assert spec.from_unit(0.25) == pytest.approx(1e-2)
    assert spec.from_unit(1.25) == pytest.approx(1e2)


def test_from_unit_endpoints_never_round_out_of_the_box():
    # exp(log(x)) != x in floating point; units in [0, 1] must stay inside [low, high]
    for low in np.linspace(0.01, 5.0, 400):
        spec = ParamSpec("x", low, low * 7.3, scale="log", hard=(low, low * 7.3))
        u = np.array([0.0, 1e-17, 0.5, 1.0 - 1e-17, 1.0])
        x = spec.from_unit(u)
        assert x.min() >= spec.low and x.max() <= spec.high
        spec.validate(x)  # hard limits equal to the box
        assert spec.from_unit(0.0) == spec.low and spec.from_unit(1.0) == spec.high


def test_validate_enforces_hard_limits_not_the_train_box():
    spec = ParamSpec("mass", 0.5, 2.0, group="dynamics", hard=(0.1, 10.0))
    spec.validate(5.0)            # outside the train box, inside the hard limits
    spec.validate([0.1, 10.0])    # limits are inclusive
    spec.validate([])             # nothing to check
    with pytest.raises(ConfigError) as e:
        spec.validate(20.0)
    msg = one_line(e)
    for part in ("mass", "20.0", "0.1", "10.0", "hard"):
        assert part in msg
    with pytest.raises(ConfigError) as e:
        spec.validate([1.0, 0.05])
    msg = one_line(e)
    assert "mass" in msg and "0.05" in msg and "0.1" in msg
    with pytest.raises(ConfigError) as e:
        spec.validate(np.arange(1000.0))  # a long array still gives a one-line message
    assert "mass" in one_line(e)


def test_validate_rejects_non_finite_and_non_numeric():
    spec = ParamSpec("mass", 0.5, 2.0)  # no hard limits: anything finite goes
    spec.validate(1e9)
    for bad in (float("nan"), [1.0, float("inf")]):
        with pytest.raises(ConfigError) as e:
            spec.validate(bad)
        assert "mass" in one_line(e) and "finite" in str(e.value)
    with pytest.raises(ConfigError) as e:
        spec.validate("heavy")
    assert "mass" in one_line(e) and "heavy" in str(e.value)


def test_categorical_spec():
    spec = ParamSpec("goal", choices=["left", "right"], group="reward")
    assert spec.is_categorical and spec.choices == ("left", "right")
    rng = np.random.default_rng(0)
    draws = spec.sample(rng, size=200)
    assert set(draws) == {"left", "right"}
    assert spec.sample(rng) in ("left", "right")
    spec.validate("left")
    with pytest.raises(ConfigError) as e:
        spec.validate("up")
    msg = one_line(e)
    assert "goal" in msg and "'up'" in msg and "left" in msg
    with pytest.raises(ConfigError):
        spec.to_unit("left")


def test_list_valued_choices_round_trip_through_tasks():
    # a Task stores lists as tuples; a drawn choice must still validate afterwards
    spec = ParamSpec("goal", choices=[[0, 1], [1, 0], np.array([1, 1])])
    assert spec.choices == ((0, 1), (1, 0), (1, 1))
    space = ParamSpace([spec])
    rng = np.random.default_rng(0)
    for _ in range(10):
        task = Task.from_json(Task("toy", space.sample(rng)).to_json())
        space.validate(task.params)
    spec.validate([1, 0])
    with pytest.raises(ConfigError):
        spec.validate([0, 0])


@pytest.mark.parametrize("args, kwargs, names", [
    (("m", 2.0, 1.0), {}, ["'m'", "2.0", "1.0"]),                              # low > high
    (("m", 0.0, 1.0), {"scale": "log"}, ["'m'", "log", "low"]),                # log, low == 0
    (("m", -1.0, 1.0), {"scale": "log"}, ["'m'", "log", "-1.0"]),              # log, low < 0
    (("m", 0.5, 2.0), {"hard": (0.6, 10.0)}, ["'m'", "hard", "0.6"]),          # hard misses low
    (("m", 0.5, 2.0), {"hard": (0.0, 1.5)}, ["'m'", "hard", "1.5"]),           # hard misses high
    (("m", 0.5, 2.0), {"scale": "log", "hard": (0.0, 10.0)}, ["'m'", "log scale needs hard limits > 0"]),
    (("m", 0.5, 2.0), {"hard": (0.0,)}, ["'m'", "hard"]),                      # not a pair
    (("m", 0.5, 2.0), {"hard": (0.0, "x")}, ["'m'", "hard", "'x'"]),
    (("m", 0.5, 2.0), {"group": "physics"}, ["group", "physics", "dynamics"]),
    (("m", 0.5, 2.0), {"scale": "exp"}, ["scale", "exp", "log"]),
    (("m", 0.5), {}, ["'m'", "low and high"]),
    (("m", 0.5, float("inf")), {}, ["'m'", "inf"]),
    (("m", float("nan"), 1.0), {}, ["'m'", "nan"]),
    (("m", "a", 1.0), {}, ["'m'", "low", "'a'"]),
    (("m", 0.0, 1.0), {"choices": [1, 2]}, ["'m'", "choices"]),
    (("m",), {"choices": []}, ["'m'", "choices"]),
    (("m",), {"choices": [1, 2], "hard": (0, 3)}, ["'m'", "hard"]),
    (("",  0.0, 1.0), {}, ["name"]),
])
def test_bad_specs_raise_config_error(args, kwargs, names):
    with pytest.raises(ConfigError) as e:
        ParamSpec(*args, **kwargs)
    msg = one_line(e)
    for name in names:
        assert name in msg, (name, msg)


def test_spec_is_frozen_and_degenerate_box_is_allowed():
    spec = ParamSpec("m", 1.0, 1.0, hard=(1.0, 1.0))
    assert spec.sample(np.random.default_rng(0)) == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.low = 0.0


# ---- ParamSpace ---------------------------------------------------------------------------
def make_space() -> ParamSpace:
    return ParamSpace([ParamSpec("mass", 0.5, 2.0, group="dynamics", hard=(0.1, 10.0)),
                       ParamSpec("goal", choices=["left", "right"], group="reward"),
                       ParamSpec("friction", 0.1, 1.0, scale="log", group="dynamics")])


def test_param_space_basics():
    space = make_space()
    assert space.names == ["mass", "goal", "friction"]
    assert len(space) == 3 and "mass" in space and "colour" not in space
    assert [s.name for s in space] == space.names
    assert space["goal"].choices == ("left", "right")
    assert [s.name for s in space.group("dynamics")] == ["mass", "friction"]
    assert space.group("task") == []
    draw = space.sample(np.random.default_rng(0))
    assert list(draw) == ["mass", "goal", "friction"]
    assert 0.5 <= draw["mass"] <= 2.0 and draw["goal"] in ("left", "right") and 0.1 <= draw["friction"] <= 1.0
    space.validate(draw)
    space.validate({"unrelated": "ignored"})
    assert space.sample(np.random.default_rng(3)) == space.sample(np.random.default_rng(3))


def test_param_space_duplicates():
    with pytest.raises(ConfigError) as e:
        ParamSpace([ParamSpec("mass", 0, 1), ParamSpec("len", 0, 1), ParamSpec("mass", 1, 2)])
    msg = one_line(e)
    assert "duplicate" in msg and "mass" in msg


def test_param_space_unknown_name():
    with pytest.raises(ConfigError) as e:
        make_space()["colour"]
    msg = one_line(e)
    assert "colour" in msg and "mass" in msg and "friction" in msg


def test_param_space_bad_group_and_members():
    with pytest.raises(ConfigError) as e:
        make_space().group("physics")
    assert "physics" in one_line(e)
    with pytest.raises(ConfigError) as e:
        ParamSpace([ParamSpec("mass", 0, 1), "friction"])
    assert "friction" in one_line(e)


def test_param_space_validate_names_the_bad_parameter():
    with pytest.raises(ConfigError) as e:
        make_space().validate({"mass": 11.0, "goal": "left"})
    assert "mass" in one_line(e) and "11.0" in str(e.value)
    with pytest.raises(ConfigError) as e:
        make_space().validate({"mass": 1.0, "goal": "up"})
    assert "goal" in one_line(e) and "up" in str(e.value)
