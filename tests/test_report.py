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
    assert metarl.evaluate(agent, tasks, episodes=2).meta["split"] == "test"
    mixed = tasks + fam.sample(2, split="train", seed=1)
    assert metarl.evaluate(agent, mixed, episodes=2).meta["split"] == "mixed (test, train)"


def test_csv_tables_by_hand(tmp_path):
    import csv

    returns = np.array([[0.0, 1.0], [0.5, 2.0]])
    success = np.array([[False, True], [False, True]])
    s = summarize(returns, success)
    rep = EvalReport(returns, success, s, ["t0", "t1"], meta={"agent": "rl2"},
                     baselines={"random": summarize(returns * 0), "psrl": {"skipped": "not this family"}})
    path = rep.save(tmp_path / "eval")
    assert path == tmp_path / "eval" / "report.json" and path.exists()
    rows = list(csv.DictReader((tmp_path / "eval" / "returns.csv").open()))
    assert [(r["task_id"], r["episode"], float(r["return"]), r["success"]) for r in rows] == [
        ("t0", "1", 0.0, "0"), ("t0", "2", 1.0, "1"), ("t1", "1", 0.5, "0"), ("t1", "2", 2.0, "1")]
    summary = list(csv.DictReader((tmp_path / "eval" / "summary.csv").open()))
    assert [r["agent"] for r in summary] == ["rl2", "random", "psrl"]
    assert float(summary[0]["trial_return"]) == 1.75 and float(summary[0]["first"]) == 0.25
    assert float(summary[0]["last"]) == 1.5 and float(summary[1]["trial_return"]) == 0.0
    assert summary[2]["skipped"] == "not this family" and summary[2]["trial_return"] == ""
    # without success flags the column is empty
    assert summary[0]["success_first"] == "0.0" and summary[0]["success_last"] == "1.0"
    # without success flags the column is empty; ids and reasons with commas and quotes survive
    rep.success, rep.task_ids = None, ['a,"b"', "c"]
    rep.baselines = {"psrl": {"skipped": 'too big, "n" = 100'}}
    rows = list(csv.DictReader(rep.to_csv(tmp_path / "r.csv").open()))
    assert {r["success"] for r in rows} == {""} and rows[0]["task_id"] == 'a,"b"'
    assert list(csv.DictReader(rep.summary_csv(tmp_path / "s.csv").open()))[1]["skipped"] == 'too big, "n" = 100'
    assert not list((tmp_path / "eval").glob("*.tmp"))


def test_save_writes_nothing_when_the_report_cannot_be_serialised(tmp_path):
    import pytest

    returns = np.ones((2, 2))
    rep = EvalReport(returns, None, summarize(returns), ["a", "b"], meta={"agent": "rl2"})
    rep.save(tmp_path)
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    rep.episode_returns, rep.meta["bad"] = returns * 2, object()     # json cannot write object()
    with pytest.raises(TypeError):
        rep.save(tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before   # the CSVs still match the JSON
