"""The command line: help and listing, one-line errors for bad input (options, values, presets,
run directories), option spelling (dashes, bare flags), the MAML scripts' own entry points and
``--agent`` on presets with sibling agents. Training end to end is in test_rl2_train.py and
test_rl2_run_dir.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metarl.training.config import parse_overrides
from metarl.training.rundir import read_config
from metarl.training.runner import load_experiment

from helpers import cli


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["train", "rl2_bandits", "--help"],
                                  ["eval", "--help"], ["compare", "--help"], ["list"]])
def test_help_and_list_exit_0(argv, capsys):
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert out.strip()
    if argv[:2] == ["train", "rl2_bandits"]:
        assert "--total_steps" in out and "--hidden_size" in out and "--arms" in out
        assert out.count("--seed") == 1   # the trainer's seed, which seeds the agent too
    if argv == ["list"]:
        assert "rl2_bandits" in out and "bandit" in out and "rl2" in out


@pytest.mark.parametrize("argv, words", [
    (["train", "rl2_bandits", "--hiden_size", "64"], ["--hiden_size", "hidden_size"]),
    (["train", "rl2_bandits", "--total_steps", "abc"], ["--total_steps", "integer", "abc"]),
    (["train", "rl2_bandits", "--lr", "fast"], ["--lr", "number", "fast"]),
    (["train", "rl2_bandits", "--time_limit", "-5"], ["time_limit", "-5"]),
    (["train", "no_such_experiment"], ["no_such_experiment", "rl2_bandits"]),
    (["train", "/nonexistent/preset.py"], ["no preset file", "/nonexistent/preset.py", "not found"]),
    (["train", "rl2_bandits", "--resume", "/nonexistent/run"], ["/nonexistent/run"]),
    (["train", "rl2_bandits", "--run_root"], ["--run_root needs a value"]),
    (["train", "rl2_bandits", "--resume"], ["--resume needs a value"]),
    (["train", "rl2_bandits", "--hidden-size", "x"], ["--hidden_size", "integer", "'x'"]),
    (["train", "rl2_bandits", "--quiet", "maybe", "--quiet", "true"], ["--quiet is given twice ('maybe', then 'true')"]),
    (["train", "rl2_bandits", "--lr", "0.1", "--lr=0.2"], ["--lr is given twice"]),
    (["train", "rl2_bandits", "--run_dir", "r", "--resume", "r2"], ["--run_dir names a new run and --resume"]),
    (["train", "rl2_bandits", "--agent", "maml", "--help"], ["--agent='maml' is not valid; choose one of ['rl2', 'sb3-ppo']"]),
    (["train", "rl2_bandits", "--total_steps", "none"], ["total_steps must be an integer, got None"]),
    (["train", "rl2_bandits", "--lr_final", "None"], ["lr_final must be a number, got None"]),   # rl2 anneals
])
def test_bad_input_is_one_line_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not into the repo
    assert cli(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not any(tmp_path.iterdir()), "a bad command must not create a run directory"


def test_help_with_agent_lists_that_agents_options(capsys):
    assert cli(["train", "maml_sinusoid", "--agent", "metasgd", "--help"]) == 0
    out = capsys.readouterr().out
    assert "agent options (metasgd):" in out and "agent options (maml):" not in out
    assert "family options" not in out   # sinusoid has none: no empty heading
    assert cli(["train", "rl2_bandits", "--arms", "10", "--hidden_size", "64", "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.split()[:2] == ["--arms", "10"] for ln in lines) and \
        any(ln.split()[:2] == ["--hidden_size", "64"] for ln in lines)
    assert cli(["train", "rl2_bandits", "--armz", "10", "--help"]) == 2
    assert "unknown option --armz (did you mean 'arms'?)" in capsys.readouterr().err


def test_none_for_a_numeric_option():
    """``--meta_lr_final None`` (the documented constant learning rate) reaches the agent."""
    exp = load_experiment("maml_sinusoid").with_overrides(parse_overrides(["--meta_lr_final", "None"]))
    assert exp.agent_config["meta_lr_final"] is None
    assert load_experiment("protonet_fewshot").with_overrides({"lr_final": "null"}).agent_config["lr_final"] is None


def test_dashed_keys_and_bare_boolean_flags(tmp_path):
    assert parse_overrides(["--run-dir", "x", "--quiet", "--total-steps=5"]) == \
        {"run_dir": "x", "quiet": "true", "total_steps": "5"}
    exp = load_experiment("rl2_bandits").with_overrides(parse_overrides(["--quiet", "--eval-tasks", "7"]))
    assert exp.train.quiet is True and exp.train.eval_tasks == 7


def test_preset_scripts_report_bad_options_in_one_line(tmp_path):
    """The MAML scripts have their own main (train, then post-process): same one-line errors."""
    repo = Path(__file__).resolve().parents[1]
    for script, argv in (("maml_sinusoid.py", ["--agent", "nosuch"]), ("maml_point_nav.py", ["--no_such_key", "3"]),
                         ("maml_point_nav.py", ["--baseline_steps", "abc"]), ("maml_point_nav.py", ["--baseline_steps", "0"]),
                         ("maml_sinusoid.py", ["--inner_lr", "-1"])):  # a value only the agent rejects
        proc = subprocess.run([sys.executable, str(repo / "experiments" / script), *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert not any(tmp_path.iterdir())


def test_agent_choice_from_the_cli_names_the_run_and_resumes(tmp_path, capsys):
    """`--agent metasgd` on a MAML preset (its agent_choices) works in `metarl train` as in the
    preset's script; the run is named after the agent, and resuming it needs the same choice."""
    run = tmp_path / "run"
    small = ["--total_steps", "1000", "--eval_tasks", "20", "--eval_tasks_periodic", "10", "--inner_steps_eval", "1",
             "--quiet", "true", "--hidden_sizes", "[8]"]
    assert cli(["train", "maml_sinusoid", "--agent", "metasgd", "--run_dir", str(run), *small]) == 0
    cfg = read_config(run)
    assert (cfg.name, cfg.agent, cfg.agent_choices) == ("metasgd_sinusoid", "metasgd", ("maml",))
    assert cli(["train", "maml_sinusoid", "--resume", str(run)]) == 2  # the maml preset is not this run
    err = capsys.readouterr().err
    assert "is a run of 'metasgd_sinusoid'" in err and "(add --agent metasgd)" in err
    assert f"metarl train metasgd_sinusoid --resume {run}" in err   # the run's own name works as well
    assert cli(["train", "maml_sinusoid", "--agent", "metasgd", "--resume", str(run), "--total_steps", "1500"]) == 0
    assert cli(["eval", str(run), "--inner-steps-eval", "2", "--tasks", "5", "--quiet"]) == 0
    import json
    curve = json.loads((run / "eval" / "report.json").read_text())["inner_steps"]["metasgd"]
    assert curve["steps"] == [0, 1, 2] and curve["n_tasks"] == 5
    assert cli(["eval", str(run), "--inner-steps-eval", "-1", "--quiet"]) == 2
    assert "--inner-steps-eval=-1 is too small" in capsys.readouterr().err
    assert cli(["train", "maml_sinusoid", "--agent", "rl2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--agent='rl2' is not valid" in err[0] and "metasgd" in err[0], err


@pytest.mark.parametrize("agent, family", [("rl2", "bandit"), ("rl2", "point-nav"), ("maml", "sinusoid"),
                                           ("maml", "point-nav"), ("metasgd", "sinusoid"), ("metasgd", "point-nav"),
                                           ("protonet", "fewshot-classification"), ("sb3-ppo", "point-nav")])
def test_trainable_agents_document_exactly_their_options(agent, family):
    """The docstrings' ``Options:`` paragraphs feed `train --help`; a renamed or new option
    must be documented there, and a documented one must exist."""
    from metarl.registry import agent_option_docs, agent_options

    docs, options = agent_option_docs(agent, family), agent_options(agent, family)
    assert set(docs) == set(options), (set(options) - set(docs), set(docs) - set(options))


def test_every_family_documents_exactly_its_options():
    from metarl.registry import family_option_docs, family_options, list_families

    for name in list_families():
        docs, options = family_option_docs(name), family_options(name)
        assert set(docs) == set(options), (name, set(options) - set(docs), set(docs) - set(options))


def test_option_docs_parser_by_hand():
    from metarl.registry import option_docs

    doc = "An agent.\n\n    Options: a (the a, with (nested, commas)), b, c -> c_final (anneal),\n    d.\n\n    More."
    assert option_docs(doc) == {"a": "the a, with (nested, commas)", "b": "", "c": "anneal", "c_final": "anneal",
                                "d": ""}
    assert option_docs("no options here") == {}


def test_train_help_describes_agent_options(capsys):
    assert cli(["train", "rl2_bandits", "--help"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("  --gae_lambda") and "GAE" in line for line in out.splitlines())
    assert any(line.startswith("  --arms") and "k >= 2" in line for line in out.splitlines())


def test_baselines_command_prints_the_table(capsys):
    argv = ["baselines", "bandit", "--arms", "3", "--episodes", "5", "--tasks", "300", "--quiet",
            "--only", "random,bandit-gittins,bandit-bayes-optimal"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("bandit --arms 3: 300 test tasks (seed 1000), 5 episodes per trial")
    # name, return, [ci low, ci high], first, last, exact: 7 fields (the footnote has more)
    rows = {line.split()[0]: line.split() for line in out.splitlines() if len(line.split()) == 7}
    assert set(rows) == {"random", "bandit-gittins", "bandit-bayes-optimal"}
    # the exact column: Gittins equals the exact Bayes-optimal value at this short horizon; both beat random
    assert rows["bandit-gittins"][-1] == rows["bandit-bayes-optimal"][-1]
    assert float(rows["bandit-gittins"][-1]) > float(rows["random"][-1]) + 0.3


@pytest.mark.parametrize("argv, words", [
    (["baselines", "bandit", "--armz", "3"], ["unknown option", "armz", "arms"]),
    (["baselines", "bandit", "--arms", "three"], ["--arms", "integer", "three"]),
    (["baselines", "bandt"], ["unknown family 'bandt'", "bandit"]),
    (["baselines", "bandit", "--only", "nope"], ["--only 'nope' is not a baseline of family 'bandit'", "bandit-gittins"]),
    (["baselines", "bandit", "--only", "rl2"], ["--only 'rl2' is not a baseline"]),   # an agent, not a baseline
    (["baselines", "bandit", "--only", ","], ["--only ','"]),
    (["baselines", "bandit", "--task", "3"], ["--task", "--tasks", "--arms"]),        # names both option sets
    (["baselines", "bandit", "--tasks", "0"], ["--tasks=0"]),
    (["baselines", "--arms", "5", "bandit"], ["name the family first"]),
])
def test_baselines_command_bad_input(argv, words, capsys):
    assert cli(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and all(w in err[0] for w in words), err


def test_baselines_command_option_spellings(capsys):
    """--key=value, dashes or underscores; the family's options are converted to their types."""
    assert cli(["baselines", "bandit", "--arms=3", "--low", "0.5", "--episodes=4", "--tasks", "50",
                "--only", "bandit-ucb", "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "bandit --arms 3 --low 0.5: 50 test tasks (seed 1000), 4 episodes per trial"
    assert cli(["baselines", "tabular-mdp", "--states", "3", "--tasks", "5", "--split", "train", "--quiet",
                "--only", "random"]) == 0
    assert capsys.readouterr().out.startswith("tabular-mdp --states 3: 5 train tasks")
    assert cli(["baselines", "point-nav", "--goal-high", "0.2", "--goal_low=-0.2", "--episodes", "1", "--tasks", "3",
                "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("point-nav --goal_high 0.2 --goal_low -0.2: 3 test tasks")
