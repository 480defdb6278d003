"""`metarl eval --protocol metaworld`: Meta-World's own metalearning_evaluation on a trained
run, beside our evaluator, and agreement of the two success rates on the same kind of tasks."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import metarl
from metarl.cli import main as cli


@pytest.fixture(scope="module")
def ml1_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ml1") / "run"
    metarl.train("ml1", "rl2", episodes_per_trial=2, total_steps=1, seed=0, run_dir=str(run_dir),
                 family_kwargs={"horizon": 20}, hidden_size=16, trials_per_update=2, minibatches=1,
                 eval_tasks=2, eval_tasks_periodic=1, baselines=False, quiet=True)
    return run_dir


def test_cli_eval_runs_the_official_protocol_beside_ours(ml1_run, capsys):
    assert cli(["eval", str(ml1_run), "--protocol", "metaworld", "--num-evals", "1", "--protocol-tasks", "1",
                "--tasks", "2", "--no-baselines", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "official metaworld protocol" in out and "success rate" in out
    report = json.loads((ml1_run / "eval" / "report.json").read_text())
    official = report["meta"]["official_metaworld"]
    assert 0.0 <= official["success_rate"] <= 1.0 and official["settings"]["adaptation_episodes"] == 10


def test_protocol_metaworld_on_another_family_is_a_one_line_error(tmp_path, capsys):
    run_dir = tmp_path / "bandit"
    metarl.train("bandit", "rl2", episodes_per_trial=2, total_steps=1, run_dir=str(run_dir), hidden_size=8,
                 trials_per_update=2, minibatches=1, eval_tasks=2, eval_tasks_periodic=1, baselines=False, quiet=True)
    assert cli(["eval", str(run_dir), "--protocol", "metaworld"]) == 2
    err = capsys.readouterr().err
    assert "needs a Meta-World run" in err and "'bandit'" in err and len(err.strip().splitlines()) == 1
    for argv, words in [(["--num-evals", "3"], "--num-evals size the official Meta-World protocol"),
                        (["--protocol-tasks", "3", "--num-evals", "2"], "--num-evals and --protocol-tasks size"),
                        (["--protocol", "metaworld", "--num-evals", "0"], "--num-evals=0 is too small")]:
        assert cli(["eval", str(run_dir), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (argv, err)


@pytest.mark.slow
def test_official_and_our_success_rates_agree_within_sampling_error():
    """A random agent on ml1 reach-v3: Meta-World's protocol (success in the 3 evaluation
    episodes after 10 adaptation episodes) and ours (success in episodes 11-13 of a 13-episode
    trial) estimate the same rate; their difference is within 3 standard errors."""
    from metarl.agents.metaworld_adapter import official_metalearning_evaluation

    family = metarl.make_family("ml1", env_name="reach-v3")
    agent = metarl.make_agent("random", family, seed=0)
    official = official_metalearning_evaluation(agent, family, num_evals=2, meta_batch_size=10, seed=0)
    ours = metarl.evaluate(agent, family.sample(20, split="test", seed=0), episodes=13, seed=0)
    p_ours, p_off = float(ours.success[:, 10:].mean()), official["success_rate"]
    n_ours, n_off = ours.success[:, 10:].size, 2 * 10 * 3
    p = (p_ours * n_ours + p_off * n_off) / (n_ours + n_off)
    se = math.sqrt(max(p * (1 - p), 1e-4) * (1 / n_ours + 1 / n_off))
    assert abs(p_ours - p_off) <= 3 * se, (p_ours, p_off, se)
    assert np.isfinite(official["mean_return"])
