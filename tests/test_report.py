"""EvalReport: JSON round-trip and the printed table, including skipped baselines."""
import numpy as np

from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import iqm, summarize


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
