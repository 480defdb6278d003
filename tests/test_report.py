"""EvalReport: JSON round-trip and the printed table, including skipped baselines."""
import numpy as np

from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import iqm, summarize, summarize_groups


def test_summary_and_table_with_a_skipped_baseline(tmp_path):
    returns = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    s = summarize(returns)
    assert s["trial_return"] == 1.0 and s["first"] == 0.5 and s["last"] == 0.5 and s["gain"] == 0.0
    assert s["trial_return_ci"][0] <= 1.0 <= s["trial_return_ci"][1]
    rep = EvalReport(returns, None, s, ["a", "b", "c", "d"], meta={"agent": "rl2"},
                     baselines={"random": s, "bandit-bayes-optimal": {"skipped": "too many DP states"}})
    table = rep.table()
    assert "rl2" in table and "random" in table and "skipped: too many DP states" in table
    back = EvalReport.from_json(rep.to_json(tmp_path / "r.json"))
    np.testing.assert_array_equal(back.episode_returns, returns)
    assert back.baselines == rep.baselines


def test_iqm_drops_the_outer_quartiles():
    assert iqm([0, 1, 2, 3, 4, 5, 6, 100]) == np.mean([2, 3, 4, 5])


def test_per_class_summary_by_hand_and_in_the_table(tmp_path):
    returns = np.array([[1.0, 3.0], [3.0, 5.0], [10.0, 20.0]])
    success = np.array([[False, True], [False, False], [True, True]])
    groups = ["push-v3", "push-v3", "reach-v3"]
    per = summarize_groups(returns, success, groups)
    assert list(per) == ["push-v3", "reach-v3"]
    assert per["push-v3"] == {"n_tasks": 2, "trial_return": 6.0, "return_per_episode": [2.0, 4.0],
                              "success_per_episode": [0.0, 0.5], "success_last": 0.5}
    assert per["reach-v3"]["success_per_episode"] == [1.0, 1.0] and per["reach-v3"]["trial_return"] == 30.0
    assert "success_per_episode" not in summarize_groups(returns, None, groups)["push-v3"]
    s = summarize(returns, success)
    s["per_class"] = per
    rep = EvalReport(returns, success, s, ["a", "b", "c"], meta={"agent": "rl2"})
    table = rep.table()
    assert "rl2: success rate per episode index, per class" in table
    assert "push-v3      2 tasks  0.00 0.50" in table and "reach-v3     1 tasks  1.00 1.00" in table
    back = EvalReport.from_json(rep.to_json(tmp_path / "r.json"))
    assert back.summary["per_class"] == per


def test_group_labels_must_match_tasks():
    import pytest

    with pytest.raises(ValueError, match="2 group labels for 3 tasks"):
        summarize_groups(np.zeros((3, 2)), None, ["a", "b"])


def test_evaluate_rejects_bad_arguments_in_one_line():
    import pytest

    import metarl

    fam = metarl.make_family("bandit", arms=2)
    agent = metarl.make_agent("random", fam)
    tasks = fam.sample(3, split="test", seed=1)
    cases = [((agent, tasks), dict(seed=-1), "seed=-1 is too small"), ((agent, tasks), dict(seed=None), "seed must be"),
             ((agent, tasks), dict(batch_size=0), "batch_size=0 is too small"),
             (("random", tasks), {}, "needs an agent built with metarl.make_agent"),
             ((agent, tasks[0]), {}, "tasks must be a list of Task"), ((agent, [1, 2]), {}, "got ['int', 'int']")]
    for args, kwargs, words in cases:
        with pytest.raises(metarl.errors.ConfigError) as err:
            metarl.evaluate(*args, episodes=2, **kwargs)
        assert words in str(err.value) and "\n" not in str(err.value)
    assert metarl.evaluate(agent, tasks, episodes=2).episode_returns.shape == (3, 2)
