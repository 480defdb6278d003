"""An RL² run directory: the CLI writes a complete one and `metarl eval` reads it back,
TensorBoard holds the curves and the adaptation image, auto-named directories do not collide,
and keep_best evaluates the best validated policy."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import metarl
from helpers import cli
from metarl.learning.device import resolve_device
from metarl.training.checkpoint import load_checkpoint
from metarl.training.rundir import new_run_dir
from metarl.training.runner import run_experiment
from metarl.training.trainer import Trainer
from rl2_runs import STEPS_PER_ITER, assert_same, patch_update, read_csv, tiny

torch.set_num_threads(1)


# ---- (f) the CLI end to end, (h) TensorBoard ----------------------------------------------------
METARL = str(Path(sys.executable).with_name("metarl"))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    t0 = time.perf_counter()
    proc = subprocess.run([METARL, "train", "rl2_bandits", "--total_steps", "3000", "--hidden_size", "16",
                           "--trials_per_update", "32", "--minibatches", "2", "--eval_tasks", "200",
                           "--quiet", "true", "--run_dir", str(run_dir)], capture_output=True, text=True, timeout=300)
    print(f"\nmetarl train (CLI): {time.perf_counter() - t0:.1f}s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc


def test_cli_train_writes_a_complete_run_directory(cli_run):
    run_dir, proc = cli_run
    assert str(run_dir) in proc.stdout and "held-out evaluation" in proc.stdout
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["versions"]["torch"] == torch.__version__ and "git_rev" in cfg
    assert cfg["train"]["total_steps"] == 3000 and cfg["agent"]["config"]["hidden_size"] == 16
    assert list(run_dir.glob("events.out.tfevents.*"))
    header = next(csv.reader((run_dir / "progress.csv").open()))
    assert {"train/policy_loss", "train/entropy", "train/approx_kl", "rollout/return"} <= set(header)
    assert any(h.startswith("eval/return_episode_") for h in header)
    assert (run_dir / "checkpoints" / "latest.pt").exists()
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["meta"]["device"] == str(resolve_device("auto"))  # the resolved device, not "auto"
    assert np.asarray(report["episode_returns"]).shape == (200, 10)
    family = metarl.make_family("bandit", arms=5)
    assert set(family.baselines) <= set(report["baselines"]) and "bandit-ucb" in report["baselines"]
    for name, summary in report["baselines"].items():
        assert "trial_return" in summary or "skipped" in summary, name
    assert report["meta"]["versions"]["torch"] == torch.__version__
    assert (run_dir / "eval" / "adaptation.png").stat().st_size > 1000
    csv_rows = (run_dir / "eval" / "returns.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + report["summary"]["n_tasks"] * report["summary"]["episodes"]
    summary_rows = (run_dir / "eval" / "summary.csv").read_text().splitlines()
    assert len(summary_rows) == 2 + len(report["baselines"]) and summary_rows[1].startswith("rl2,")


def test_cli_eval_of_a_trained_run(cli_run):
    run_dir, _ = cli_run
    proc = subprocess.run([METARL, "eval", str(run_dir), "--tasks", "100", "--quiet"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["summary"]["n_tasks"] == 100 and "bandit-ucb" in report["baselines"]
    returns_csv = (run_dir / "eval" / "returns.csv").read_text().splitlines()
    assert len(returns_csv) == 1 + 100 * report["summary"]["episodes"]   # rewritten with the new report
    trained = json.loads((run_dir / "eval" / "report.train.json").read_text())  # the training's own, kept
    assert "train_seconds" in trained["meta"] and trained["summary"]["n_tasks"] != 100


def test_eval_after_training_further_keeps_the_newer_training_report(tmp_path, capsys):
    """train -> eval (keeps report.train.json) -> resume with a larger budget -> eval: the kept
    report is the extended training's, and a finished resume shows that one."""
    run_dir = tmp_path / "run"
    args = ["--hidden_size", "8", "--trials_per_update", "16", "--minibatches", "2", "--eval_tasks", "20",
            "--eval_every", "100", "--baselines", "false", "--quiet", "true"]
    assert cli(["train", "rl2_bandits", "--total_steps", "800", *args, "--run_dir", str(run_dir)]) == 0
    kept = run_dir / "eval" / "report.train.json"
    for total in (800, 1600):
        if total > 800:
            assert cli(["train", "rl2_bandits", "--resume", str(run_dir), "--total_steps", str(total)]) == 0
            assert not kept.exists()                      # the earlier copy was stale
        assert cli(["eval", str(run_dir), "--tasks", "10", "--no-baselines", "--quiet"]) == 0
        steps = json.loads(kept.read_text())["meta"]["env_steps"]
        assert total <= steps < total + 200, (total, steps)
        assert json.loads((run_dir / "eval" / "report.json").read_text())["summary"]["n_tasks"] == 10
    # the re-evaluation is a TensorBoard sub-run (RUN/eval), holding the latest one only
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert len(list((run_dir / "eval").glob("events.out.tfevents.*"))) == 1
    ea = EventAccumulator(str(run_dir / "eval"), size_guidance={"scalars": 0})
    ea.Reload()
    latest = json.loads((run_dir / "eval" / "report.json").read_text())
    points = ea.Scalars("eval/final_return_episode_1")
    assert [(e.step, round(e.value, 5)) for e in points] == [
        (latest["meta"]["iteration"], round(latest["summary"]["per_episode"][0]["mean"], 5))]
    assert f"tensorboard --logdir {tmp_path} (sub-run run/eval)" in capsys.readouterr().out
    assert cli(["train", "rl2_bandits", "--resume", str(run_dir)]) == 0
    shown = capsys.readouterr()
    assert "has finished its budget" in shown.err and "20 test tasks" in shown.out   # training's 20, not eval's 10


@pytest.mark.parametrize("argv, words", [
    (["train", "rl2_tabular_mdp"], ["is a run of 'rl2_bandits', not 'rl2_tabular_mdp'"]),
    (["train", "rl2_bandits", "--seed", "5", "--arms", "3"], ["cannot change: --arms, --seed"]),
])
def test_resume_refuses_another_preset_and_reseeding(cli_run, argv, words, capsys):
    before = (cli_run[0] / "config.yaml").read_text()
    assert cli([*argv, "--resume", str(cli_run[0])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert (cli_run[0] / "config.yaml").read_text() == before


def test_unusable_run_paths_and_unreadable_configs_are_one_line_errors(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("experiment: [unclosed\n")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.yaml").write_text("experiment: x\n")
    cases = [(["train", "rl2_bandits", "--run_root", str(a_file)], f"cannot create the directory {a_file} "
              "(--run_root): File exists; a file is in the way"),
             (["train", "rl2_bandits", "--run_dir", str(a_file / "run")], "(--run_dir): Not a directory"),
             (["eval", str(tmp_path / "broken")], "broken/config.yaml is not a readable metarl config (ParserError"),
             (["train", "rl2_bandits", "--resume", str(tmp_path / "broken")], "is not a readable metarl config"),
             (["eval", str(tmp_path / "foreign")], "foreign/config.yaml is not a readable metarl config (KeyError"),
             # a directory of other files is not overwritten (its config.yaml is not a run's)
             (["train", "rl2_bandits", "--run_dir", str(tmp_path / "foreign")], "foreign exists and holds files "
              "that are not a metarl run's (config.yaml); give a new or empty directory"),
             (["train", "rl2_bandits", "--run_dir", str(tmp_path)], "holds files that are not a metarl run's "
              "(a_file, broken, foreign)"),
             # checked before the run directory exists
             (["train", "rl2_bandits", "--eval_seed", "-1", "--run_dir", str(tmp_path / "new")],
              "eval_seed=-1 is too small")]
    for argv, words in cases:
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (argv, err)
    assert (tmp_path / "foreign" / "config.yaml").read_text() == "experiment: x\n" and not (tmp_path / "new").exists()


def test_resume_of_a_finished_run_shows_its_report_without_logging_again(cli_run, capsys):
    run_dir = cli_run[0]
    before = {p.name: p.stat().st_size for p in run_dir.iterdir() if p.is_file()}
    assert cli(["train", "rl2_bandits", "--resume", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert "has finished its budget" in captured.err and "rl2" in captured.out
    assert {p.name: p.stat().st_size for p in run_dir.iterdir() if p.is_file()} == before
    assert cli(["train", "rl2_bandits", "--resume", str(run_dir), "--episodes_per_trial", "5", "--quiet", "true"]) == 0
    assert "; --episodes_per_trial not applied (config.yaml unchanged)" in capsys.readouterr().err
    assert {p.name: p.stat().st_size for p in run_dir.iterdir() if p.is_file()} == before


def test_cli_eval_bad_checkpoints_and_options_are_one_line(cli_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(cli_run[0], run_dir)
    assert cli(["eval", str(run_dir), "--tasks", "-3"]) == 2
    assert "--tasks=-3 is too small" in capsys.readouterr().err
    assert cli(["eval", str(run_dir), "--device", "tpu"]) == 2
    assert "device='tpu' is not valid" in capsys.readouterr().err
    ckpt = run_dir / "checkpoints" / "latest.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated, as by a full disk
    for argv in (["eval", str(run_dir)], ["train", "tiny", "--resume", str(run_dir)]):
        assert cli(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot read the checkpoint" in err[0] and str(ckpt) in err[0], err


def test_tensorboard_has_the_scalars_and_the_adaptation_image(cli_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = cli_run
    ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    tags = ea.Tags()
    for tag in ("train/policy_loss", "train/entropy", "train/approx_kl", "train/clip_fraction",
                "train/explained_variance", "rollout/return", "time/sps", "eval/return_episode_1"):
        assert tag in tags["scalars"], tag
    assert all(np.isfinite(e.value) for e in ea.Scalars("train/policy_loss"))
    assert "eval/adaptation" in tags["images"]


# ---- (g) run directories ---------------------------------------------------------------------------
def test_auto_named_run_directories_started_in_the_same_second_do_not_collide(tmp_path, monkeypatch):
    import datetime as dt

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr("metarl.training.rundir._dt.datetime", Frozen)
    exp = tiny(1)
    exp.train.run_root = str(tmp_path / "runs")
    dirs = [new_run_dir(exp) for _ in range(3)]
    assert [d.name for d in dirs] == ["tiny_rl2__s3__20260102-030405", "tiny_rl2__s3__20260102-030405-2",
                                      "tiny_rl2__s3__20260102-030405-3"]
    assert all((d / "config.yaml").exists() for d in dirs)


# ---- (f) keep_best ---------------------------------------------------------------------------------
def test_keep_best_evaluates_the_policy_with_the_best_validation_score(tmp_path, monkeypatch):
    """Validation (train-split tasks, seed eval_seed + 1) after each iteration scores 1, 3, 2, 5,
    4, 0 (scripted): best.pt holds iteration 4's policy (the same parameters as a 4-iteration
    run, so validating does not disturb training), the final evaluation and `metarl eval` use
    it, and `--checkpoint latest` still gives the last policy."""
    import metarl.training.trainer as trainer_module

    scores, real_evaluate = iter([1.0, 3.0, 2.0, 5.0, 4.0, 0.0]), trainer_module.evaluate

    def evaluate(agent, tasks, *, seed, **kw):
        if seed == 1000 + 1:
            assert all(t.split == "train" for t in tasks)
            real_evaluate(agent, tasks, seed=seed, **kw)  # (the agent's evaluation streams as in a real run)
            return type("Report", (), {"summary": {"trial_return": next(scores)}})()
        return real_evaluate(agent, tasks, seed=seed, **kw)

    monkeypatch.setattr(trainer_module, "evaluate", evaluate)
    run = tmp_path / "best"
    assert run_experiment(tiny(6, keep_best=True, eval_every=1, eval_seed=1000), ["--run_dir", str(run)]) == 0
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert (best["iteration"], best["env_steps"], best["val_trial_return"]) == (4, 4 * STEPS_PER_ITER, 5.0)
    assert [float(r["eval/val_trial_return"]) for r in read_csv(run)] == [1.0, 3.0, 2.0, 5.0, 4.0, 0.0]
    report = json.loads((run / "eval" / "report.json").read_text())
    assert report["meta"]["checkpoint"] == {"name": "best", "iteration": 4, "env_steps": 4 * STEPS_PER_ITER,
                                            "val_trial_return": 5.0}
    assert report["meta"]["iteration"] == 6
    monkeypatch.undo()

    plain, at_four = tmp_path / "plain", {}  # the same run without keep_best, its checkpoint at iteration 4
    hook = lambda: at_four.update(load_checkpoint(plain / "checkpoints" / "latest.pt"))  # noqa: E731
    hook.before = True
    patch_update(monkeypatch, {5: hook})
    assert run_experiment(tiny(6, eval_every=1, eval_seed=1000, checkpoint_every=4), ["--run_dir", str(plain)]) == 0
    monkeypatch.undo()
    assert at_four["iteration"] == 4
    assert_same(best["agent"], at_four["agent"], "agent")
    assert not (plain / "checkpoints" / "best.pt").exists()
    assert json.loads((plain / "eval" / "report.json").read_text())["meta"]["checkpoint"] == {
        "name": "latest", "iteration": 6}

    for choice, iteration in (("auto", 4), ("best", 4), ("latest", 6)):
        assert cli(["eval", str(run), "--quiet", "--checkpoint", choice]) == 0
        again = json.loads((run / "eval" / "report.json").read_text())
        assert (again["meta"]["checkpoint"]["name"], again["meta"]["iteration"]) == (
            "latest" if choice == "latest" else "best", iteration)
        if choice != "latest":
            assert again["summary"]["trial_return"] == report["summary"]["trial_return"]
    assert cli(["eval", str(plain), "--quiet", "--checkpoint", "best"]) == 2  # one-line error: no best.pt

    resumed = Trainer(tiny(6, keep_best=True, eval_every=1, eval_seed=1000))
    resumed.run_dir, resumed.ckpt_path = run, run / "checkpoints" / "latest.pt"
    resumed.restore()
    assert resumed.best == {"iteration": 4, "env_steps": 4 * STEPS_PER_ITER, "val_trial_return": 5.0}


def test_a_budget_below_one_update_says_what_it_ran(tmp_path, capsys):
    """Training runs whole updates: a total_steps far below one update's steps is named
    (unless --quiet)."""
    assert cli(["train", "rl2_bandits", "--total_steps", "100", "--trials_per_update", "16", "--minibatches", "2",
                "--eval_tasks", "5", "--baselines", "false", "--run_dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "note: trained 160 steps for total_steps=100: training runs whole updates, here about 160 steps each" in err
