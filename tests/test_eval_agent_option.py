"""``metarl eval RUN_DIR --agent-option KEY=VALUE``: a trained run evaluated with an agent option
changed (RL²'s ``reward_clip``), beside the run's own report and recorded in the new one; options
that change the network and malformed or unknown options are one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """RL² on 2-arm bandits, the smoke-train budget of test_rl2_train.py (about 8 s): it adapts."""
    run = tmp_path_factory.mktemp("opt") / "bandit"
    assert cli(["train", "rl2_bandits", "--arms", "2", "--low", "0.05", "--high", "0.95", "--total_steps", "96000",
                "--hidden_size", "64", "--trials_per_update", "64", "--minibatches", "2", "--lr", "5e-3",
                "--lr_final", "1e-3", "--ent_coef", "0.005", "--gamma", "1.0", "--eval_tasks", "300",
                "--eval_every", "1000", "--baselines", "false", "--quiet", "true", "--run_dir", str(run)]) == 0
    return run


def _returns(path):
    report = json.loads(path.read_text())
    return np.asarray(report["episode_returns"]), report["meta"]


def test_a_changed_option_is_evaluated_beside_the_runs_report(run):
    own = (run / "eval" / "report.json").read_bytes()
    base, _ = _returns(run / "eval" / "report.json")
    # bandit rewards lie in [0, 1]: clipping them to [-1, 1] changes no input, so no action
    assert cli(["eval", str(run), "--agent-option", "reward_clip=1", "--quiet"]) == 0
    same, meta = _returns(run / "eval_reward_clip-1" / "eval" / "report.json")
    assert meta["agent_options_changed"] == {"reward_clip": 1.0}
    np.testing.assert_array_equal(same, base)
    # clipping to [-0.001, 0.001] all but hides which pulls paid: the adaptation is gone
    assert cli(["eval", str(run), "--agent_option=reward_clip=0.001", "--quiet"]) == 0
    blind, meta = _returns(run / "eval_reward_clip-0.001" / "eval" / "report.json")
    assert meta["agent_options_changed"] == {"reward_clip": 0.001} and blind.shape == base.shape
    # seed 0: trial return 5.67 with the rewards, 4.89 without (random 5.0)
    assert base.sum(1).mean() > 5.5 and blind.sum(1).mean() < base.sum(1).mean() - 0.4
    assert blind[:, -1].mean() < base[:, -1].mean() - 0.05   # the last pull gains least
    assert (run / "eval" / "report.json").read_bytes() == own   # the run's own report is left alone
    assert (run / "eval_reward_clip-0.001" / "eval" / "adaptation.png").exists()


def test_memory_wiped_at_each_episode_start_shows_what_the_agent_carries_across_episodes(run):
    """On bandits every pull is an episode: with ``memory=episode`` the trained agent forgets
    every pull, so it falls to the random level with no gain over the trial; ``memory=trial``
    is the run's own value and is refused as no change."""
    base, _ = _returns(run / "eval" / "report.json")
    assert cli(["eval", str(run), "--agent-option", "memory=episode", "--quiet"]) == 0
    wiped, meta = _returns(run / "eval_memory-episode" / "eval" / "report.json")
    assert meta["agent_options_changed"] == {"memory": "episode"} and wiped.shape == base.shape
    # seed 0, 300 tasks: 5.67 with its memory (first pull 0.48, last 0.59), 4.92 wiped (0.48, 0.51);
    # random 5.0, standard error about 0.17
    assert base.sum(1).mean() > 5.5 and abs(wiped.sum(1).mean() - 5.0) < 0.3
    assert wiped.sum(1).mean() < base.sum(1).mean() - 0.5
    assert wiped[:, -1].mean() - wiped[:, 0].mean() < base[:, -1].mean() - base[:, 0].mean() - 0.05


def test_a_changed_option_is_a_tensorboard_sub_run_beside_the_run(run, capsys):
    """Its final-evaluation curve and plot go to TensorBoard under the tagged directory, which
    ``tensorboard --logdir`` on the runs' folder shows beside the run's own curves."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert cli(["eval", str(run), "--tasks", "20", "--agent-option", "reward_clip=0.5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {run.parent} (sub-run {run.name}/eval_reward_clip-0.5)" in out
    report = json.loads((run / "eval_reward_clip-0.5" / "eval" / "report.json").read_text())
    ea = EventAccumulator(str(run / "eval_reward_clip-0.5"), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    first = ea.Scalars("eval/final_return_episode_1")
    assert len(first) == 1 and first[0].step == report["meta"]["iteration"] > 0
    assert first[0].value == pytest.approx(report["summary"]["per_episode"][0]["mean"])
    assert "eval/adaptation" in ea.Tags()["images"]
    # evaluated again with the same option: the events are replaced, as the report is
    assert cli(["eval", str(run), "--tasks", "10", "--agent-option", "reward_clip=0.5", "--quiet"]) == 0
    assert len(list((run / "eval_reward_clip-0.5").glob("events.out.tfevents.*"))) == 1


def test_agent_option_on_the_train_split_and_a_suite(run, tmp_path, capsys):
    assert cli(["eval", str(run), "--split", "train", "--tasks", "5", "--agent-option", "reward_clip=2",
                "--quiet"]) == 0
    assert (run / "eval_train_reward_clip-2" / "eval" / "report.json").exists()
    suite = tmp_path / "arms.json"
    assert cli(["generate", "bandit", "--arms", "2", "--low", "0.05", "--high", "0.95", "--levels", "0,0.05", "--per-level", "5", "-o", str(suite)]) == 0
    capsys.readouterr()
    assert cli(["eval", str(run), "--suite", str(suite), "--agent-option", "reward_clip=2", "--quiet"]) == 0
    assert (f"tensorboard --logdir {run.parent} (sub-run {run.name}/eval_suite/arms_reward_clip-2)"
            in capsys.readouterr().out)
    saved = json.loads((run / "eval_suite" / "arms_reward_clip-2" / "suite_report.json").read_text())
    assert saved["meta"]["agent_options_changed"] == {"reward_clip": 2.0}
    level = run / "eval_suite" / "arms_reward_clip-2" / "level_1_d0.05" / "eval" / "report.json"
    assert _returns(level)[1]["agent_options_changed"] == {"reward_clip": 2.0}


@pytest.mark.parametrize("options, words", [
    (["hidden_size=8"], ["agent 'rl2' cannot change hidden_size at evaluation", "options it can: ['reward_clip', 'memory']"]),
    (["seed=5"], ["cannot change seed at evaluation"]),   # also a trainer option: still refused, not a traceback
    (["lr=0.1"], ["cannot change lr at evaluation"]),
    (["reward_clp=2"], ["reward_clp: not an option of agent 'rl2'", "did you mean 'reward_clip'?",
                        "options it can change at evaluation: ['reward_clip', 'memory']"]),
    (["reward_clip"], ["expects KEY=VALUE", "'reward_clip'"]),
    (["reward_clip=0"], ["reward_clip=0: that is the run's own value (0.0)"]),
    (["reward_clip=2", "reward_clip=3"], ["--agent-option reward_clip is given twice (2.0 and '3')"]),
    (["reward_clip=-1"], ["reward_clip", "-1"]),
    (["reward_clip=much"], ["reward_clip", "expects a number", "'much'"]),
    (["memory=trial"], ["memory=trial: that is the run's own value ('trial')"]),
    (["memory=much"], ["memory", "'much'", "'trial', 'episode', 'none'"]),
])
def test_bad_agent_options_are_one_line_errors(run, capsys, options, words):
    assert cli(["eval", str(run), *[a for o in options for a in ("--agent-option", o)], "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not list(run.glob("eval_*much*")) and not list(run.glob("eval_memory-trial*")) and not list(run.glob("eval_hidden*")) and not list(run.glob("eval_seed*"))


def test_maml_evaluates_with_other_inner_steps_or_step_size_and_metasgd_keeps_its_learned_rates(tmp_path, capsys):
    """MAML's inner_steps and fixed inner_lr may change at evaluation (the per-episode curve
    adapts with them); Meta-SGD's rates are learned and come from the checkpoint, so its
    inner_lr is refused."""
    runs = {}
    for agent in ("maml", "metasgd"):
        runs[agent] = tmp_path / agent
        assert cli(["train", "maml_sinusoid", "--agent", agent, "--total_steps", "2000", "--eval_tasks", "20",
                    "--inner_steps_eval", "0", "--hidden_sizes", "[16]", "--quiet", "true",
                    "--run_dir", str(runs[agent])]) == 0
    run = runs["maml"]
    base, _ = _returns(run / "eval" / "report.json")
    for option, tag, value in [("inner_steps=3", "inner_steps-3", 3), ("inner_lr=0.05", "inner_lr-0.05", 0.05)]:
        assert cli(["eval", str(run), "--agent-option", option, "--quiet"]) == 0
        changed, meta = _returns(run / f"eval_{tag}" / "eval" / "report.json")
        key = option.split("=")[0]
        assert meta["agent_options_changed"] == {key: value} and changed.shape == base.shape
        assert not np.array_equal(changed, base), option
    # the run's own step size reproduces its report: the checkpoint's step equals inner_lr
    assert cli(["eval", str(run), "--quiet"]) == 0
    np.testing.assert_array_equal(_returns(run / "eval" / "report.json")[0], base)
    assert cli(["eval", str(runs["metasgd"]), "--agent-option", "inner_lr=0.05", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "agent 'metasgd' cannot change inner_lr at evaluation" in err and "['inner_steps']" in err
