"""``metarl compare``: paired and unpaired differences against hand-computed values, the
settings that differ, what the command prints and writes, and its one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from metarl.errors import MetaRLError
from metarl.evaluation.compare import compare, differing_settings, format_comparison, load_run
from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import summarize

from helpers import cli


def _run(root, name, returns, *, ids=None, agent_config=None, family="bandit", meta=None, eval_dir="eval"):
    """A run directory with a config.yaml and an evaluation report of ``returns`` [n_tasks, k]."""
    run = root / name
    run.mkdir(exist_ok=True)
    config = {"experiment": "x", "description": "ignored", "family": {"name": family, "kwargs": {"arms": 5}},
              "agent": {"name": "rl2", "config": dict(agent_config or {"lr": 0.001}), "choices": ["sb3-ppo"]},
              "train": {"seed": 0, "quiet": True, "run_root": str(root)}, "git_rev": name * 3}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    returns = np.asarray(returns, dtype=np.float64)
    ids = ids or [f"{family}/test/s1000/{i}" for i in range(len(returns))]
    report = EvalReport(returns, None, summarize(returns), ids,
                        meta={"agent": "rl2", "family": family, "env_steps": 3_000_000, "train_seconds": 404.2,
                              **(meta or {})})
    report.save(run / eval_dir)
    return run


def test_paired_difference_by_hand(tmp_path):
    # per-task trial returns: A = 3, 7, 11, 15; B = A + (1, 1, -1, 3) -> mean difference 1, higher on 3 of 4
    a = _run(tmp_path, "a", [[1, 2], [3, 4], [5, 6], [7, 8]])
    b = _run(tmp_path, "b", [[2, 2], [4, 4], [4, 6], [10, 8]], agent_config={"lr": 0.003, "encoder": [64]})
    result = compare([a, b])
    d = result["differences"]["B"]
    assert d["paired"] and d["n_tasks"] == 4 and d["mean"] == pytest.approx(1.0)
    assert d["better_share"] == 0.75
    lo, hi = d["ci"]
    assert -1.0 <= lo <= 1.0 <= hi <= 3.0   # the bootstrap means of (1, 1, -1, 3) lie in [-1, 3]
    assert result["runs"][0]["trial_return"] == pytest.approx(9.0)
    assert result["runs"][1]["trial_return"] == pytest.approx(10.0)
    assert result["reference"] == "A"


def test_pairing_cancels_the_spread_between_tasks(tmp_path):
    """B is A plus 0.5 on every task: the paired CI is the point 0.5, where the runs' own CIs overlap."""
    rng = np.random.default_rng(0)
    base = rng.normal(0, 10, size=(200, 1))
    a = _run(tmp_path, "a", base)
    b = _run(tmp_path, "b", base + 0.5)
    result = compare([a, b])
    d = result["differences"]["B"]
    assert d["ci"] == pytest.approx([0.5, 0.5]) and d["better_share"] == 1.0
    ci_a, ci_b = (r["trial_return_ci"] for r in result["runs"])
    assert ci_b[0] < ci_a[1]   # the two CIs overlap...
    assert "higher (the CI excludes 0)" in format_comparison(result)   # ...but the difference is shown


def test_pairs_by_task_id_in_the_references_order(tmp_path):
    a = _run(tmp_path, "a", [[1.0], [2.0], [3.0]], ids=["t0", "t1", "t2"])
    b = _run(tmp_path, "b", [[30.0], [10.0], [99.0]], ids=["t2", "t0", "t9"])   # shares t0 and t2
    d = compare([a, b])["differences"]["B"]
    assert d["paired"] and d["n_tasks"] == 2
    assert d["mean"] == pytest.approx(((10 - 1) + (30 - 3)) / 2)


def test_unpaired_without_shared_tasks(tmp_path):
    a = _run(tmp_path, "a", [[1.0], [3.0]], ids=["a0", "a1"])
    b = _run(tmp_path, "b", [[5.0], [7.0], [9.0]], ids=["b0", "b1", "b2"])
    result = compare([a, b])
    d = result["differences"]["B"]
    assert not d["paired"] and d["n_tasks"] == [3, 2] and d["mean"] == pytest.approx(7.0 - 2.0)
    assert d["ci"][0] <= 5.0 <= d["ci"][1]
    assert "unpaired: no shared task ids (3 and 2 tasks)" in format_comparison(result)


def test_settings_that_differ(tmp_path):
    runs = [load_run(_run(tmp_path, "a", [[1.0]], agent_config={"lr": 0.001, "gamma": 0.99}), "A"),
            load_run(_run(tmp_path, "b", [[1.0]], agent_config={"lr": 0.001, "gamma": 1.0, "encoder": [64]}), "B")]
    settings = differing_settings(runs)
    # equal entries (lr, family, seed) and the ignored ones (description, quiet, run_root, choices) are left out;
    # a key missing from a run's config is None (its default); the git revision comes last
    assert settings == {"agent.config.gamma": [0.99, 1.0], "agent.config.encoder": [None, [64]],
                        "git_rev": ["aaa", "bbb"]}


def test_an_agent_option_changed_at_evaluation_counts_as_a_setting(tmp_path):
    run = _run(tmp_path, "a", [[1.0], [2.0]])
    _run(tmp_path, "a", [[0.0], [1.0]], meta={"agent_options_changed": {"memory": "none"}},
         eval_dir="eval_memory-none/eval")   # the layout of `metarl eval RUN --agent-option memory=none`
    result = compare([run, run / "eval_memory-none"])
    assert result["settings"] == {"agent.config.memory (at evaluation)": [None, "none"]}
    assert result["differences"]["B"]["mean"] == pytest.approx(-1.0)
    assert result["runs"][1]["path"].endswith("eval_memory-none/eval/report.json")


def test_public_api_name():
    import metarl

    assert metarl.compare is compare and "compare" in dir(metarl)


def test_command_prints_and_writes_json(tmp_path, capsys):
    a = _run(tmp_path, "a", [[1, 2], [3, 4], [5, 6]])
    b = _run(tmp_path, "b", [[1, 2], [3, 4], [5, 6]], agent_config={"lr": 0.003})
    out_json = tmp_path / "cmp.json"
    assert cli(["compare", str(a), str(b / "eval" / "report.json"), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "difference from A" in out and "B  +0.000 [+0.000, +0.000]  no difference shown (the CI holds 0)" in out
    assert "agent.config.lr" in out and "0.003" in out and "3.00M" in out
    saved = json.loads(out_json.read_text())
    assert saved["differences"]["B"]["mean"] == 0.0 and [r["label"] for r in saved["runs"]] == ["A", "B"]


@pytest.mark.parametrize("case, words", [
    ("one", ["at least two runs", "got 1"]),
    ("missing", ["does not exist", "nowhere"]),
    ("no_report", ["has no evaluation report", "metarl eval"]),
    ("families", ["different families", "bandit", "tabular-mdp"]),
    ("lengths", ["different lengths", "[1, 2] episodes", "--episodes"]),
])
def test_bad_input_is_one_line_exit_2(case, words, tmp_path, capsys):
    a = _run(tmp_path, "a", [[1.0], [2.0]])
    others = {"one": [], "missing": [str(tmp_path / "nowhere")], "no_report": [str(tmp_path)],
              "families": [str(_run(tmp_path, "m", [[1.0], [2.0]], family="tabular-mdp"))],
              "lengths": [str(_run(tmp_path, "l", [[1.0, 2.0], [2.0, 3.0]]))]}[case]
    assert cli(["compare", str(a), *others]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for w in words:
        assert w in err[0], (w, err[0])
    with pytest.raises(MetaRLError):
        compare([a, *others])
