"""TrialWrapper (k episodes of one task); the vectors of trials are in test_trial_vector.py.

The toy environments here are deterministic (or seeded), so every trial observation
is compared with values worked out by hand.
"""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from metarl import TrialWrapper
from metarl.errors import ConfigError, MetaRLError
from metarl.rollout.trial import TrialLayout

from helpers import one_line


# ---- toy environments --------------------------------------------------------------------
class ScheduleEnv(gym.Env):
    """Deterministic counter. Episode k of a trial lasts ``lengths[k]`` steps and ends by
    termination (``"term"``) or truncation (``"trunc"``) as ``ends[k]`` says.

    obs = [steps taken in this episode, k]; reward = 10 k + t + a / 4 at the t-th step
    (exact in float32). A reset with a seed or options starts the schedule over; a plain
    reset (what TrialWrapper does between episodes) moves to the next episode.
    """

    metadata = {"render_modes": []}

    def __init__(self, lengths=(2, 3, 2), ends=("term", "trunc", "term")) -> None:
        self.lengths, self.ends = tuple(lengths), tuple(ends)
        self.observation_space = spaces.Box(0.0, 10.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.k, self.t, self.resets = -1, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        self.k = 0 if (seed is not None or options or self.k < 0) else self.k + 1
        self.t = 0
        return self._obs(), {"inner_reset": self.resets}

    def _obs(self):
        return np.array([self.t, self.k % len(self.lengths)], dtype=np.float32)

    def step(self, action):
        j = self.k % len(self.lengths)
        self.t += 1
        reward = 10.0 * j + self.t + int(action) / 4
        done = self.t >= self.lengths[j]
        term, trunc = done and self.ends[j] == "term", done and self.ends[j] == "trunc"
        return self._obs(), reward, term, trunc, {"inner": True}


class BoxActionEnv(gym.Env):
    """Box actions in [-1, 1]^2; reward = a0 + 2 a1 of the raw action; episodes of 2 steps."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-5.0, 5.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        a = np.asarray(action, dtype=np.float64)
        return np.array([self.t], dtype=np.float32), float(a[0] + 2 * a[1]), self.t >= 2, False, {}


def row(obs, prev_action, prev_reward, episode_end, progress):
    return np.array([*obs, *prev_action, prev_reward, episode_end, progress], dtype=np.float32)


# ---- TrialWrapper: exact observations ------------------------------------------------------
# k = 3 episodes of lengths 2, 3, 2; actions 0 1 | 2 1 0 | 2 1
ACTIONS = [0, 1, 2, 1, 0, 2, 1]
EXPECTED_OBS = [
    #    obs        prev action  prev r  end  progress
    row([1, 0], [1, 0, 0], 1.0, 0, 0.0),      # ep 0, t=1, a=0: r = 0 + 1 + 0
    row([0, 1], [0, 1, 0], 2.25, 1, 1 / 3),   # ep 0 ends (t=2, a=1); obs = first obs of ep 1
    row([1, 1], [0, 0, 1], 11.5, 0, 1 / 3),   # ep 1, t=1, a=2: r = 10 + 1 + 0.5
    row([2, 1], [0, 1, 0], 12.25, 0, 1 / 3),
    row([0, 2], [1, 0, 0], 13.0, 1, 2 / 3),   # ep 1 ends (truncated) at t=3
    row([1, 2], [0, 0, 1], 21.5, 0, 2 / 3),
    row([2, 2], [0, 1, 0], 22.25, 1, 1.0),    # last episode ends: obs is its last obs
]
EXPECTED_REWARDS = [1.0, 2.25, 11.5, 12.25, 13.0, 21.5, 22.25]
EXPECTED_EPISODE_INDEX = [0, 0, 1, 1, 1, 2, 2]
EXPECTED_ENDS = {1: (True, False, 3.25, 2, [2, 0]),       # step: (terminated, truncated, return, length,
                 4: (False, True, 36.75, 3, [3, 1]),      #        last inner obs)
                 6: (True, False, 43.75, 2, [2, 2])}


@pytest.mark.parametrize("last_end", ["term", "trunc"])
def test_trial_observations_rewards_and_flags_exact(last_end):
    inner = ScheduleEnv(lengths=(2, 3, 2), ends=("term", "trunc", last_end))
    env = TrialWrapper(inner, episodes=3)
    layout = env.layout
    assert (layout.obs_dim, layout.act_dim, layout.dim) == (2, 3, 8)
    assert (layout.obs, layout.prev_action) == (slice(0, 2), slice(2, 5))
    assert (layout.prev_reward, layout.episode_end, layout.trial_progress) == (5, 6, 7)
    assert env.observation_space.shape == (8,) and env.observation_space.dtype == np.float32
    assert env.action_space == inner.action_space

    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, row([0, 0], [0, 0, 0], 0.0, 0, 0.0))
    assert obs.dtype == np.float32 and info["episode_index"] == 0 and info["inner_reset"] == 1

    for i, a in enumerate(ACTIONS):
        obs, reward, terminated, truncated, info = env.step(a)
        np.testing.assert_allclose(obs, EXPECTED_OBS[i], rtol=0, atol=1e-7, err_msg=f"step {i}")
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        assert reward == EXPECTED_REWARDS[i]
        assert info["episode_index"] == EXPECTED_EPISODE_INDEX[i]
        assert info["inner"] is True  # the inner env's info is kept
        if i in EXPECTED_ENDS:
            term, trunc, ret, length, final = EXPECTED_ENDS[i]
            if i == 6:
                term, trunc = last_end == "term", last_end == "trunc"
            assert info["episode_end"] is True
            assert (info["episode_terminated"], info["episode_truncated"]) == (term, trunc)
            assert info["episode_return"] == pytest.approx(ret) and info["episode_length"] == length
            np.testing.assert_array_equal(info["final_inner_obs"], final)
        else:
            assert info["episode_end"] is False
            assert "episode_return" not in info and "episode_terminated" not in info
        if i < 6:  # inner episode ends are not trial ends
            assert (terminated, truncated) == (False, False)
    # the trial's flags are the last episode's
    assert (terminated, truncated) == (last_end == "term", last_end == "trunc")
    assert inner.resets == 3  # one reset per episode: exactly k episodes


def test_exactly_k_episodes_and_a_new_trial_after_reset():
    inner = ScheduleEnv(lengths=(2,), ends=("term",))
    env = TrialWrapper(inner, episodes=4)
    for trial in range(2):
        obs, _ = env.reset(seed=None if trial else 1)  # plain reset: same task, new trial
        assert obs[env.layout.trial_progress] == 0.0 and obs[env.layout.episode_end] == 0.0
        steps, ends, done = 0, 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(1)
            steps, ends, done = steps + 1, ends + info["episode_end"], terminated or truncated
            assert obs[env.layout.trial_progress] == pytest.approx(ends / 4)
            assert steps <= 8
        assert (steps, ends) == (8, 4)
    assert inner.resets == 8


def test_step_outside_a_trial_is_an_error():
    env = TrialWrapper(ScheduleEnv(lengths=(1,), ends=("term",)), episodes=2)
    with pytest.raises(MetaRLError) as e:
        env.step(0)
    assert "reset" in one_line(e)
    env.reset(seed=0)
    env.step(0)
    *_, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(MetaRLError) as e:
        env.step(0)
    assert "reset" in one_line(e)
    env.reset()
    env.step(0)  # a new trial steps again


def test_box_actions_are_clipped_in_the_observation():
    env = TrialWrapper(BoxActionEnv(), episodes=2)
    assert (env.layout.obs_dim, env.layout.act_dim, env.layout.dim) == (1, 2, 6)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, row([0], [0, 0], 0, 0, 0))
    expected = [
        # action          reward   trial obs                                    flags
        ([2.0, -0.5], 1.0, row([1], [1.0, -0.5], 1.0, 0, 0.0), (False, False)),
        ([0.25, -3.0], -5.75, row([0], [0.25, -1.0], -5.75, 1, 0.5), (False, False)),
        ([0.5, 0.5], 1.5, row([1], [0.5, 0.5], 1.5, 0, 0.5), (False, False)),
        ([-0.5, 0.0], -0.5, row([2], [-0.5, 0.0], -0.5, 1, 1.0), (True, False)),
    ]
    for action, r, want, flags in expected:
        obs, reward, terminated, truncated, _ = env.step(np.array(action, dtype=np.float32))
        np.testing.assert_array_equal(obs, want)
        assert reward == r and (terminated, truncated) == flags


def test_box_previous_action_is_rescaled_to_unit_range_per_bounded_dimension():
    """Box [0, 4] x [-0.1, 0.1] x (-inf, inf): bounded dimensions map their centre to 0 and
    bounds to -1 / 1 after clipping; the unbounded one passes as it is. Hand-computed rows."""
    box = spaces.Box(np.array([0.0, -0.1, -np.inf]), np.array([4.0, 0.1, np.inf]), dtype=np.float32)
    layout = TrialLayout(spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32), box)
    np.testing.assert_array_equal(layout.observation_space.low[1:4], [-1, -1, -np.inf])
    np.testing.assert_array_equal(layout.observation_space.high[1:4], [1, 1, np.inf])
    np.testing.assert_allclose(layout.encode([0.5], [1.0, 0.05, 7.0], 0.0, False, 0.0),
                               [0.5, -0.5, 0.5, 7.0, 0, 0, 0], atol=1e-6)
    batch = layout.encode_batch(np.zeros((2, 1), np.float32), np.array([[5.0, -1.0, -3.0], [2.0, 0.0, 0.0]]),
                                np.zeros(2), np.zeros(2), np.zeros(2))
    np.testing.assert_allclose(batch[:, 1:4], [[1.0, -1.0, -3.0], [0.0, 0.0, 0.0]], atol=1e-6)


def test_layout_discrete_spaces_and_action_start():
    layout = TrialLayout(spaces.Discrete(4), spaces.Discrete(3, start=-1))
    assert (layout.obs_dim, layout.act_dim, layout.dim) == (4, 3, 10)
    np.testing.assert_array_equal(layout.encode(2, -1, 0.5, True, 0.25),
                                  [0, 0, 1, 0, 1, 0, 0, 0.5, 1, 0.25])
    np.testing.assert_array_equal(layout.encode(0, 1, -2.0, False, 0.0),
                                  [1, 0, 0, 0, 0, 0, 1, -2.0, 0, 0])
    np.testing.assert_array_equal(layout.encode(3, None, 0.0, False, 0.0), [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ConfigError) as e:
        TrialLayout(spaces.Discrete(2), spaces.MultiDiscrete([2, 2]))
    assert "MultiDiscrete" in one_line(e)


@pytest.mark.parametrize("episodes", [0, -1, 2.5, "3", None, True])
def test_bad_episode_counts(episodes):
    with pytest.raises(ConfigError) as e:
        TrialWrapper(ScheduleEnv(), episodes=episodes)
    msg = one_line(e)
    assert "episodes" in msg and (repr(episodes) in msg or str(episodes) in msg)


@pytest.mark.parametrize("make", [lambda: ScheduleEnv(), lambda: BoxActionEnv()])
def test_check_env_passes(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's advice on wrappers and unbounded boxes
        check_env(TrialWrapper(make(), episodes=3), skip_render_check=True)
