"""Families and agents by name: listing, errors, user registration end to end."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import metarl
from metarl import ParamSpace, ParamSpec, Task, TaskFamily, TrialWrapper
from metarl import registry
from metarl.errors import ConfigError, MetaRLError, UnknownNameError

from helpers import one_line


@pytest.fixture(autouse=True)
def restore_registry():
    """Registrations made by a test do not leak into other tests."""
    families, agents = dict(registry._FAMILIES), dict(registry._AGENTS)
    yield
    registry._FAMILIES.clear()
    registry._FAMILIES.update(families)
    registry._AGENTS.clear()
    registry._AGENTS.update(agents)


# ---- a user-defined family ---------------------------------------------------------------
class GoalEnv(gym.Env):
    """Pick the goal arm: reward 1 for ``goal``, else 0; episodes of ``length`` steps."""

    metadata = {"render_modes": []}

    def __init__(self, family: "GoalFamily", task: Task) -> None:
        self.family = family
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(family.size)
        self._set(task)

    def _set(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task, self.goal = task, int(task.params["goal"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._set(options["task"])
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float(int(action) == self.goal)
        done = self.t >= self.family.length
        return np.full(1, self.t / self.family.length, dtype=np.float32), reward, done, False, {}


def define_goal_family(name: str):
    @metarl.register_family(name)
    class GoalFamily(TaskFamily):
        max_episode_steps = 2

        def __init__(self, size: int = 3, length: int = 2) -> None:
            self.size = metarl.errors.check_int("goal: size", size, low=2)
            self.length = metarl.errors.check_int("goal: length", length, low=1, high=2)
            self.params = ParamSpace([ParamSpec("goal", choices=list(range(self.size)), group="reward")])

        def make_env(self, task: Task) -> gym.Env:
            return GoalEnv(self, task)

    return GoalFamily


# ---- listing and unknown names -----------------------------------------------------------
def test_list_families_includes_bandit():
    names = metarl.list_families()
    assert "bandit" in names
    assert names == sorted(names)
    assert all(isinstance(n, str) for n in names)


def test_unknown_family_lists_available_names():
    with pytest.raises(UnknownNameError) as e:
        metarl.make_family("nope")
    msg = one_line(e)
    assert "nope" in msg
    for name in metarl.list_families():
        assert name in msg
    assert not msg.startswith('"')  # not KeyError's quoted repr
    # catchable as the library error, as ValueError and as KeyError
    assert isinstance(e.value, MetaRLError) and isinstance(e.value, ValueError) and isinstance(e.value, KeyError)


@pytest.mark.parametrize("name", [None, 3, "", "Bandit"])
def test_unknown_family_non_string_or_wrong_case(name):
    with pytest.raises(UnknownNameError) as e:
        metarl.make_family(name)
    assert "bandit" in one_line(e)


def test_unknown_option_names_the_option_and_accepted_ones():
    with pytest.raises(ConfigError) as e:
        metarl.make_family("bandit", armz=3)
    msg = one_line(e)
    assert "armz" in msg and "arms" in msg and "bandit" in msg
    assert "self" not in msg


@pytest.mark.parametrize("kwargs, names", [
    ({"arms": 1}, ["arms", "1", "2"]),
    ({"arms": 0}, ["arms", "0"]),
    ({"arms": "x"}, ["arms", "'x'", "integer"]),
    ({"arms": 2.5}, ["arms", "2.5", "integer"]),
    ({"arms": None}, ["arms", "None"]),
    ({"arms": True}, ["arms", "True"]),
])
def test_bad_option_values_give_clear_errors(kwargs, names):
    with pytest.raises(ConfigError) as e:
        metarl.make_family("bandit", **kwargs)
    msg = one_line(e)
    for name in names:
        assert name in msg, (name, msg)


def test_make_family_records_its_spec():
    fam = metarl.make_family("bandit", arms=3)
    assert fam.spec == {"name": "bandit", "kwargs": {"arms": 3}}
    again = registry.family_from_spec(fam.spec)
    assert again.arms == 3 and again.sample(2, seed=0) == fam.sample(2, seed=0)


# ---- registering a user family -----------------------------------------------------------
def test_register_family_end_to_end():
    cls = define_goal_family("test-goal")
    assert cls.name == "test-goal"
    assert "test-goal" in metarl.list_families()
    fam = metarl.make_family("test-goal", size=4)
    assert isinstance(fam, cls) and fam.size == 4

    tasks = fam.sample(6, seed=0)
    assert len(tasks) == 6 and all(t.family == "test-goal" for t in tasks)
    assert all(t.params["goal"] in range(4) for t in tasks)
    assert fam.sample(6, seed=0) == tasks

    task = tasks[0]
    env = TrialWrapper(fam.make_env(task), episodes=3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (1 + 4 + 3,) and info["episode_index"] == 0
    total, steps, ends = 0.0, 0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        obs, r, terminated, truncated, info = env.step(task.params["goal"])
        total, steps, ends = total + r, steps + 1, ends + info["episode_end"]
    assert (steps, ends, total) == (6, 3, 6.0) and terminated and not truncated
    assert env.observation_space.contains(obs)

    # switch task in place
    other = next(t for t in tasks if t.params["goal"] != task.params["goal"])
    env.reset(options={"task": other})
    assert env.unwrapped.goal == other.params["goal"]

    # a task of another family is refused
    with pytest.raises(MetaRLError) as e:
        fam.make_env(metarl.make_family("bandit").sample(1)[0])
    assert "bandit" in one_line(e) and "test-goal" in str(e.value)

    # the family's unknown options are reported like the built-ins'
    with pytest.raises(ConfigError) as e:
        metarl.make_family("test-goal", sise=4)
    msg = one_line(e)
    assert "sise" in msg and "size" in msg and "length" in msg
    with pytest.raises(ConfigError) as e:
        metarl.make_family("test-goal", size=1)
    assert "size" in one_line(e)


def test_register_family_gives_a_subclass_its_own_name():
    from metarl.envs.bandit import BanditFamily

    @metarl.register_family("test-my-bandit")
    class MyBandit(BanditFamily):
        pass

    fam = metarl.make_family("test-my-bandit", arms=3)
    tasks = fam.sample(2, seed=0)
    assert all(t.family == "test-my-bandit" for t in tasks)
    assert metarl.make_family("bandit").name == "bandit"  # the parent keeps its name
    with pytest.raises(MetaRLError):
        metarl.make_family("bandit", arms=3).validate_task(tasks[0])


def test_register_family_keeps_an_explicit_name():
    @metarl.register_family("test-alias")
    class Named(TaskFamily):
        name = "test-original"

    assert metarl.make_family("test-alias").name == "test-original"


def test_register_family_factory():
    class Nameless(TaskFamily):
        params = ParamSpace([ParamSpec("x", 0.0, 1.0)])

    @metarl.register_family("test-factory")
    def factory(scale: float = 1.0):
        return Nameless()

    fam = metarl.make_family("test-factory", scale=2.0)
    assert fam.name == "test-factory"
    assert all(t.family == "test-factory" for t in fam.sample(3, seed=0))
    with pytest.raises(ConfigError) as e:
        metarl.make_family("test-factory", scael=2.0)
    assert "scael" in one_line(e) and "scale" in str(e.value)

    @metarl.register_family("test-broken")
    def broken():
        return "not a family"

    with pytest.raises(ConfigError) as e:
        metarl.make_family("test-broken")
    assert "test-broken" in one_line(e) and "TaskFamily" in str(e.value)


def test_register_family_without_a_name_is_an_error():
    with pytest.raises(ConfigError) as e:
        @metarl.register_family
        class Oops(TaskFamily):
            pass
    assert "name" in one_line(e)
    with pytest.raises(ConfigError):
        metarl.register_family("")


def test_nameless_unregistered_family_cannot_sample():
    class Anonymous(TaskFamily):
        params = ParamSpace([ParamSpec("x", 0.0, 1.0)])

    with pytest.raises(ConfigError) as e:
        Anonymous().sample(1)
    assert "name" in one_line(e)


# ---- agents ------------------------------------------------------------------------------
def test_unknown_agent_lists_available_names():
    fam = metarl.make_family("bandit")
    with pytest.raises(UnknownNameError) as e:
        metarl.make_agent("nope", fam)
    msg = one_line(e)
    assert "nope" in msg
    for name in metarl.list_agents():
        assert name in msg


def test_register_agent_and_make_agent():
    @metarl.register_agent("test-constant")
    class ConstantAgent:
        def __init__(self, family, action: int = 0) -> None:
            self.family, self.action = family, action

        def act(self, obs, state, deterministic=False):
            return np.full(len(obs), self.action), state

    assert "test-constant" in metarl.list_agents()
    agent = metarl.make_agent("test-constant", "bandit", action=2)  # family by name
    assert agent.action == 2 and agent.family.name == "bandit"
    fam = metarl.make_family("bandit", arms=3)
    assert metarl.make_agent("test-constant", fam).family is fam
    with pytest.raises(ConfigError) as e:
        metarl.make_agent("test-constant", fam, actoin=1)
    msg = one_line(e)
    assert "actoin" in msg and "action" in msg and "family" not in msg.split("accepted")[-1]


def test_dir_lists_the_lazy_public_api():
    """``dir(metarl)`` / tab completion show the lazily loaded names (train, evaluate, ...)."""
    names = dir(metarl)
    assert {"train", "evaluate", "generate_suite", "Suite", "evaluate_suite", "make_family"} <= set(names)
    assert "annotations" not in names and all(hasattr(metarl, n) for n in names)
