"""Meta-World task features for RL²'s ``task_critic``: class one-hot plus the goal vector
``rand_vec`` scaled per class onto [-1, 1] over the official goals, zero-padded."""
from __future__ import annotations

import numpy as np
import pytest

import metarl
from metarl.errors import ConfigError, MetaRLError


@pytest.fixture(scope="module")
def ml1():
    return metarl.make_family("ml1", env_name="reach-v3")


def test_ml1_features_span_the_train_goals(ml1):
    """ML1 has one class, so no one-hot: 6 goal columns (object xyz, goal xyz). Over the 50
    official train goals every varying coordinate reaches exactly -1 and +1; reach-v3's object
    height is always 0.02, which gives 0. One value by hand: 2 (v - min) / (max - min) - 1."""
    tasks = ml1.official_tasks("train")
    x = ml1.task_features(tasks)
    assert x.shape == (50, 6) and x.dtype == np.float32 and ml1.task_feature_size() == 6
    vecs = np.array([t.params["rand_vec"] for t in tasks])
    varies = vecs.max(0) > vecs.min(0)
    assert varies.tolist() == [True, True, False, True, True, True]
    np.testing.assert_allclose(x.min(0)[varies], -1.0, atol=1e-6)
    np.testing.assert_allclose(x.max(0)[varies], 1.0, atol=1e-6)
    assert (x[:, ~varies] == 0).all()
    v, lo, hi = vecs[7, 4], vecs[:, 4].min(), vecs[:, 4].max()
    assert x[7, 4] == pytest.approx(2 * (v - lo) / (hi - lo) - 1, abs=1e-6)
    test = ml1.task_features(ml1.official_tasks("test"))  # the test goals use the train goals' scale
    assert np.abs(test).max() < 1.2 and not np.allclose(test[:, 0], test[0, 0])


def test_ml10_features_one_hot_then_padded_goals():
    """ML10: 15 one-hot columns (10 train classes, then 5 test classes) and 6 goal columns; a
    class with a 3-number goal leaves the last three zero; test-only classes are scaled over
    their own (test) goals."""
    ml10 = metarl.make_family("ml10")
    classes = ml10.params["env_name"].choices
    for split in ("train", "test"):
        tasks = ml10.official_tasks(split)
        x = ml10.task_features(tasks)
        assert x.shape == (len(tasks), 21)
        for task, row in zip(tasks, x):
            cls = task.params["env_name"]
            assert row[:15].tolist() == [float(c == cls) for c in classes]
            n = len(task.params["rand_vec"])
            assert n in (3, 6) and (row[15 + n :] == 0).all()
        assert np.abs(x[:, 15:]).max() <= 1.0 + 1e-6


def test_features_refuse_foreign_tasks(ml1):
    good = ml1.official_tasks("train")[0]
    for params, word in [({**good.params, "rand_vec": good.params["rand_vec"][:3]}, "length 3"),
                         ({**good.params, "env_name": "push-v3"}, "'push-v3'")]:
        with pytest.raises(ConfigError, match=word) as err:
            ml1.task_features([metarl.Task("ml1", params, task_id="bad")])
        assert "\n" not in str(err.value) and "reach-v3" in str(err.value)
    with pytest.raises(MetaRLError, match="lacks parameters"):
        ml1.task_features([metarl.Task("ml1", {"env_name": "reach-v3"}, task_id="bare")])


def test_rl2_task_critic_on_ml1_reads_the_goal(ml1):
    """ML1 used to give no features (task_critic refused); now its critic reads 6 goal columns."""
    agent = metarl.make_agent("rl2", ml1, task_critic=True, hidden_size=8, device="cpu")
    assert agent.net.task_dim == 6
