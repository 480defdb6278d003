"""Every shipped experiment preset runs end to end on a tiny budget; the main job learns (slow)."""
import json
from pathlib import Path

import pytest
import torch

from metarl.training.runner import list_experiments, load_experiment, run_experiment

TINY = {  # overrides that make each preset a seconds-long smoke run
    "rl2_bandits": ["--total_steps", "2000", "--hidden_size", "16", "--trials_per_update", "32"],
    "rl2_tabular_mdp": ["--total_steps", "2000", "--hidden_size", "16", "--trials_per_update", "8",
                        "--minibatches", "2", "--episodes_per_trial", "2"],
    "rl2_point_nav": ["--total_steps", "800", "--hidden_size", "16", "--trials_per_update", "4",
                      "--minibatches", "2"],
    "rl2_cartpole_dynamics": ["--total_steps", "600", "--hidden_size", "16", "--trials_per_update", "2",
                              "--minibatches", "2", "--bptt_chunk", "50"],
    "maml_sinusoid": ["--total_steps", "2000"],
    "maml_fewshot": ["--total_steps", "2000", "--hidden_sizes", "[16]", "--trials_per_update", "4",
                     "--meta_batch", "4"],
    "maml_cheetah_vel": ["--total_steps", "1", "--meta_batch", "2", "--trajectories", "2", "--hidden_sizes", "[16]",
                         "--horizon", "20", "--eval_every", "1"],
    "rl2_cheetah_vel": ["--total_steps", "40", "--hidden_size", "16", "--trials_per_update", "2", "--minibatches", "1",
                        "--horizon", "10", "--bptt_chunk", "10"],
    "rl2_ml1": ["--total_steps", "40", "--hidden_size", "16", "--trials_per_update", "2", "--minibatches", "1",
                "--horizon", "10", "--bptt_chunk", "10"],
    "maml_ml1": ["--total_steps", "1", "--meta_batch", "2", "--trajectories", "2", "--hidden_sizes", "[16]",
                 "--horizon", "10", "--eval_every", "1"],
    "maml_point_nav": ["--total_steps", "1", "--meta_batch", "2", "--trajectories", "2", "--hidden_sizes", "[16]"],
    "protonet_fewshot": ["--total_steps", "2000", "--hidden_sizes", "[16]", "--trials_per_update", "4"],
    "rl2_fewshot": ["--total_steps", "2000", "--hidden_size", "16", "--trials_per_update", "8", "--minibatches", "2"],
}


def test_every_preset_has_a_smoke_configuration():
    assert sorted(TINY) == list_experiments()


@pytest.mark.parametrize("name", sorted(TINY))
def test_preset_runs_end_to_end(name, tmp_path, capsys):
    torch.set_num_threads(1)
    run_dir = tmp_path / name
    n_eval = 2 if "ml1" in name else 20  # a Meta-World env takes ~0.3 s to build: fewer slots
    argv = TINY[name] + ["--eval_tasks", str(n_eval), "--eval_tasks_periodic", "1" if "ml1" in name else "10",
                         "--quiet", "true", "--run_dir", str(run_dir)]
    assert run_experiment(load_experiment(name), argv) == 0
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert len(report["episode_returns"]) == n_eval
    assert (run_dir / "eval" / "adaptation.png").exists()
    assert (run_dir / "checkpoints" / "latest.pt").exists()
    assert "tensorboard --logdir" in capsys.readouterr().out


@pytest.mark.slow
def test_main_job_reaches_within_3_percent_of_bayes_optimal(tmp_path):
    """The README's main job: RL² on 5-arm bandits, 10 pulls, default budget, >= 6.45 held out.
    On the CPU, where the seeded figure was measured: CUDA's kernels round differently, so a
    GPU run is another sample. Seed 0 on CPU: 6.613 on 5000 tasks with the preset's lr 3e-3
    (6.490 with the earlier 1e-3; docs/results.md)."""
    run_dir = tmp_path / "main"
    argv = ["--quiet", "true", "--baselines", "false", "--eval_tasks", "2000", "--run_dir", str(run_dir),
            "--device", "cpu"]
    assert run_experiment(load_experiment("rl2_bandits"), argv) == 0
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["summary"]["trial_return"] >= 6.45


def test_bench_rl2_runs_both_learners(capsys):
    """`metarl bench rl2` end to end on a seconds-long budget (figures are not checked here)."""
    import tempfile

    from metarl.experiments.bench_rl2 import main

    sb3_dirs = set(Path(tempfile.gettempdir()).glob("SB3-*"))
    argv = ["--seconds", "2", "--settings", "bandit", "--eval-tasks", "20", "--threads", "1", "--cell", "lstm"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "metarl rl2" in out and "sb3-contrib RecurrentPPO" in out and "LSTM, " in out
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == sb3_dirs  # SB3's logger leaves no temp folders


def test_maml_point_nav_script_trains_references_and_reports_the_gap(tmp_path, capsys):
    """``python experiments/maml_point_nav.py``: MAML, then the pretrained and oracle references,
    then the 0..3-step curves of all three and the gap closed (tiny budget: shapes only)."""
    from metarl.experiments.maml_point_nav import main

    torch.set_num_threads(1)
    run_dir = tmp_path / "pn"
    argv = ["--total_steps", "1", "--meta_batch", "2", "--trajectories", "2", "--hidden_sizes", "[16]",
            "--eval_tasks", "4", "--eval_tasks_periodic", "2", "--quiet", "true", "--run_dir", str(run_dir),
            "--baseline_steps", "1"]
    assert main(argv) == 0
    out = json.loads((run_dir / "eval" / "inner_steps.json").read_text())
    assert set(out["curves"]) == {"maml", "pretrained", "oracle", "pretrained, step 0.01", "pretrained, step 0.001"}
    assert all(c["steps"] == [0, 1, 2, 3] for c in out["curves"].values())
    assert (run_dir / "references" / "oracle" / "config.yaml").exists()
    assert (run_dir / "eval" / "inner_steps.png").stat().st_size > 0
    assert "of the gap" in capsys.readouterr().out or out["gap_closed_after_1_step"] is None


def test_bench_maml_prints_every_mode_and_the_verdict(capsys):
    """`metarl bench maml` end to end on sinusoid (figures are not checked here), and the
    point-nav measurement function in this process."""
    from metarl.experiments.bench_maml import _point_nav, main

    assert main(["--seconds", "0.2", "--settings", "sinusoid", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"sinusoid   {m}" in out for m in ("stacked", "vmap", "loop", "minimal")) and "target >= 5x" in out
    assert "the bare-script step" in out
    row, loop = _point_nav("batched", 0.05, 1, 0), _point_nav("loop", 0.05, 1, 0)
    assert row["rate"] > 0 and row["peak_mb"] >= row["base_mb"] > 0
    # the same mathematics, so the same matrix-product count (about 9.9 GFLOP at the paper's sizes)
    assert 5.0 < row["gflop"] == pytest.approx(loop["gflop"], rel=0.01)
    with pytest.raises(SystemExit):  # argparse's usage error, naming the accepted devices
        main(["--device", "tpu"])
    assert "device='tpu' is not valid; use 'auto', 'cpu', 'cuda'" in capsys.readouterr().err


def test_bench_maml_counts_matmul_flops_and_prints_the_ceiling(capsys):
    """``_gflop`` against a hand count (a [4, 6] @ [6, 5] product: 2 * 4 * 6 * 5 FLOPs forward,
    twice that backward for both operands), and the ceiling line's arithmetic."""
    import torch

    from metarl.experiments.bench_maml import _gflop, _matmul_rate, _print_ceiling

    a, b = torch.randn(4, 6, requires_grad=True), torch.randn(6, 5, requires_grad=True)
    assert _gflop(lambda: (a @ b).sum().backward()) == pytest.approx(3 * 240 / 1e9)
    rate = _matmul_rate(0.1, 1, 0)
    assert rate["mm"] > 0 and rate["bmm"] > 0
    rows = {"batched": {"rate": 4.0, "gflop": 10.0}, "loop": {"rate": 2.0, "gflop": 10.0}}
    _print_ceiling(rows, {"mm": 50.0, "bmm": 60.0})
    out = capsys.readouterr().out
    assert "loop     10.00 GFLOP (matmuls) per iteration, 20 GFLOP/s" in out
    assert "a batched mode is at most 3.0x the loop" in out


def test_bench_maml_bare_script_step_is_a_learning_maml_step():
    """The bench's yardstick does real work: its query loss after one inner step falls."""
    import torch

    import metarl
    from metarl.agents.maml_eval import draw_examples
    from metarl.experiments.bench_maml import _minimal_maml_step

    family = metarl.make_family("sinusoid")
    x, y = (torch.as_tensor(a) for a in draw_examples(family, family.sample(25, seed=0), 20, seed=0))
    step = _minimal_maml_step(x, y, support=10, seed=0)
    losses = [float(step()) for _ in range(200)]
    assert sum(losses[-20:]) / 20 < 0.7 * sum(losses[:20]) / 20, (losses[:3], losses[-3:])
