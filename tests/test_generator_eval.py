"""Evaluating agents on a generated Suite: Python API and `metarl generate` / `metarl eval --suite`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import cli, one_line
from rl2_runs import scalars

import metarl
from metarl.errors import ConfigError


def test_evaluate_suite_measures_the_drop_with_distance(tmp_path):
    """Point-nav goals farther out of the box cost a fixed (random) policy more: the levels are
    ordered as their distances, and the report carries per-level results and plots."""
    fam = metarl.make_family("point-nav", reward="squared")
    suite = metarl.generate_suite(fam, levels=[0, 0.5, 1, 2], per_level=30, seed=0)
    agent = metarl.make_agent("random", fam)
    report = metarl.evaluate_suite(agent, suite, episodes=2, seed=0, baselines=True)
    returns = [r.summary["trial_return"] for r in report.reports]
    assert returns == sorted(returns, reverse=True) and returns[0] - returns[-1] > 500
    dist = [d["mean"] for d in report.distances]
    assert dist[0] == 0.0 and dist == sorted(dist) and 1.0 < dist[-1] <= 2.0
    assert all(r.summary["n_tasks"] == 30 and r.meta["novelty_level"] == x for r, x in zip(report.reports, suite.levels))
    assert all(set(r.baselines) == set(fam.baselines) for r in report.reports)
    path = report.save(tmp_path / "out")
    saved = json.loads(path.read_text())
    assert [row["level"] for row in saved["levels"]] == suite.levels
    assert saved["levels"][2]["trial_return"] == pytest.approx(returns[2])
    for name in ["adaptation.png", "by_level.png", "level_0_d0/eval/report.json", "level_3_d2/eval/returns.csv",
                 "level_1_d0.5/eval/adaptation.png"]:
        assert (tmp_path / "out" / name).exists(), name
    table = report.table().splitlines()
    assert len(table) == 7 and table[2].split()[0] == "0.5" and "random" in table[0]
    change = saved["levels"][3]["change_vs_first_level"]   # paired over the same base goals
    assert change["mean"] == pytest.approx(returns[3] - returns[0]) and change["ci"][1] < 0
    assert f"2: {change['mean']:+.3f}" in table[6]


def test_suite_must_fit_the_agents_family():
    three = metarl.make_family("bandit", arms=3, low=0.25, high=0.75)
    suite = metarl.generate_suite(three, levels=[0, 0.5], per_level=4, seed=0)
    five = metarl.make_family("bandit", arms=5, low=0.25, high=0.75)
    with pytest.raises(ConfigError) as e:
        metarl.evaluate_suite(metarl.make_agent("random", five), suite, episodes=3)
    assert "does not fit the agent's family" in one_line(e) and "arms=5" in str(e.value)
    with pytest.raises(ConfigError) as e:
        metarl.evaluate_suite(metarl.make_agent("random", metarl.make_family("point-nav")), suite, episodes=3)
    assert "generated for family 'bandit'" in one_line(e)
    with pytest.raises(ConfigError) as e:
        metarl.evaluate_suite(metarl.make_agent("random", three), suite.tasks(), episodes=3)
    assert "expected a metarl.Suite" in one_line(e)


def test_generate_command_writes_a_suite(tmp_path, capsys):
    out = tmp_path / "nav.json"
    assert cli(["generate", "point-nav", "--reward", "squared", "--levels", "0,1", "--per-level", "6",
                "--seed", "5", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "point-nav --reward squared: 12 tasks, 6 per level" in text and f"metarl eval RUN_DIR --suite {out}" in text
    suite = metarl.Suite.load(out)
    assert suite.family_spec == {"name": "point-nav", "kwargs": {"reward": "squared"}}
    assert suite.to_dict()["tasks"] == metarl.generate_suite(
        metarl.make_family("point-nav", reward="squared"), levels=[0, 1], per_level=6, seed=5).to_dict()["tasks"]
    # where the moved values lie, per level: side above only, so every level-1 goal is above its box
    assert cli(["generate", "point-nav", "--levels", "0,1", "--per-level", "6", "--side", "above",
                "-o", str(tmp_path / "up.json")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "goal_x (range; share above its box)" in next(r for r in rows if r.lstrip().startswith("level"))
    level_1 = next(r for r in rows if r.split()[:1] == ["1"])
    assert level_1.count("100% above") == 2, level_1


@pytest.mark.parametrize("argv, words", [
    (["generate", "point-nav", "--goal-hi", "1"], ["unknown option", "--goal_hi", "--goal_high", "--levels"]),
    (["generate", "--levels", "0,1", "point-nav"], ["name the family first"]),
    (["generate", "bandit"], ["no parameter the generator can move"]),
    (["generate", "cartpole-dynamics", "--levels", "0,3"], ["novelty level 3 is beyond"]),
])
def test_generate_command_bad_input(argv, words, capsys, tmp_path):
    assert cli(argv + ["-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not (tmp_path / "x.json").exists()


def test_eval_suite_on_trained_runs(tmp_path, capsys):
    """`metarl eval RUN --suite` on an RL² bandit run (baselines at every level) and on a MAML
    sinusoid run (its inner-step curve at every level)."""
    run = tmp_path / "bandit"
    assert cli(["train", "rl2_bandits", "--arms", "3", "--low", "0.25", "--high", "0.75", "--total_steps", "3000",
                "--eval_tasks", "20", "--quiet", "true", "--run_dir", str(run)]) == 0
    suite = tmp_path / "arms.json"
    assert cli(["generate", "bandit", "--arms", "3", "--low", "0.25", "--high", "0.75", "--levels", "0,0.5",
                "--per-level", "15", "-o", str(suite)]) == 0
    capsys.readouterr()
    assert cli(["eval", str(run), "--suite", str(suite), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "novelty suite" in out and "bandit-gittins" in out
    saved = json.loads((run / "eval_suite" / "arms" / "suite_report.json").read_text())
    assert [r["level"] for r in saved["levels"]] == [0.0, 0.5] and "bandit-ucb" in saved["levels"][1]["baselines"]
    level = json.loads((run / "eval_suite" / "arms" / "level_1_d0.5" / "eval" / "report.json").read_text())
    assert level["meta"]["split"] == "novelty level 0.5" and np.asarray(level["episode_returns"]).shape == (15, 10)
    points = scalars(run / "eval_suite" / "arms", "suite/level_0.5/trial_return")   # TensorBoard, at the checkpoint
    assert points == [(level["meta"]["checkpoint"]["iteration"], pytest.approx(saved["levels"][1]["trial_return"]))]
    assert cli(["eval", str(run), "--suite", str(suite), "--tasks", "5"]) == 2
    assert "leave out --tasks" in capsys.readouterr().err
    maml = tmp_path / "maml"
    assert cli(["train", "maml_sinusoid", "--total_steps", "1000", "--eval_tasks", "10", "--eval_tasks_periodic", "5",
                "--inner_steps_eval", "2", "--hidden_sizes", "[8]", "--quiet", "true", "--run_dir", str(maml)]) == 0
    sin = tmp_path / "sin.json"
    assert cli(["generate", "sinusoid", "--vary", "amplitude", "--levels", "0,1", "--per-level", "8", "-o", str(sin)]) == 0
    capsys.readouterr()
    assert cli(["eval", str(maml), "--suite", str(sin), "--quiet"]) == 0
    assert "maml: query_mse after 0, 1, 2 inner gradient steps" in capsys.readouterr().out
    rows = json.loads((maml / "eval_suite" / "sin" / "suite_report.json").read_text())["levels"]
    assert [len(r["inner_steps"]["maml"]["mean"]) for r in rows] == [3, 3]
    level = json.loads((maml / "eval_suite" / "sin" / "level_1_d1" / "eval" / "report.json").read_text())
    assert level["inner_steps"]["maml"]["steps"] == [0, 1, 2] and level["inner_steps"]["maml"]["n_tasks"] == 8
    assert cli(["eval", str(run), "--suite", str(sin), "--quiet"]) == 2
    assert "generated for family 'sinusoid'" in capsys.readouterr().err


def test_eval_suite_replaces_an_earlier_suite_of_the_same_name(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(["train", "rl2_point_nav", "--total_steps", "2000", "--eval_tasks", "5", "--baselines", "false",
                "--quiet", "true", "--run_dir", str(run)]) == 0
    for sub, levels in (("a", "0,0.25,0.5"), ("b", "0,0.5")):
        (tmp_path / sub).mkdir()
        assert cli(["generate", "point-nav", "--levels", levels, "--per-level", "4",
                    "-o", str(tmp_path / sub / "nav.json")]) == 0
        assert cli(["eval", str(run), "--suite", str(tmp_path / sub / "nav.json"), "--quiet"]) == 0
    out = run / "eval_suite" / "nav"
    assert sorted(p.name for p in out.glob("level_*")) == ["level_0_d0", "level_1_d0.5"]   # none of a's left
    assert len(list(out.glob("events.out.tfevents.*"))) == 1
    saved = json.loads((out / "suite_report.json").read_text())
    assert saved["meta"]["suite_file"].endswith("b/nav.json") and len(saved["meta"]["suite_sha256"]) == 64
    capsys.readouterr()
    assert cli(["generate", "point-nav", "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_a_suite_from_another_train_box_is_measured_from_both():
    wide = metarl.make_family("bandit", arms=3, low=0.1, high=0.9)
    suite = metarl.generate_suite(wide, levels=[0, 0.1], per_level=20, seed=0)
    narrow = metarl.make_family("bandit", arms=3, low=0.25, high=0.75)
    report = metarl.evaluate_suite(metarl.make_agent("random", narrow), suite, episodes=3)
    assert "another train box" in report.meta["box_note"] and "note: the suite" in report.table()
    zero = report.distances[0]
    assert zero["mean"] == 0.0 and zero["agent_box"]["max"] > 0.2     # inside the wide box, outside the narrow one
    same = metarl.evaluate_suite(metarl.make_agent("random", wide), suite, episodes=3)
    assert "box_note" not in same.meta and "agent_box" not in same.distances[0]
