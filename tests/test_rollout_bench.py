"""`metarl bench rollout` end to end on a seconds-long budget (rows checked, not figures)."""
import torch

from metarl.cli import main as cli_main


def test_bench_rollout_prints_every_row(capsys):
    torch.set_num_threads(1)
    argv = ["bench", "rollout", "--seconds", "0.05", "--train-seconds", "0.05", "--horizon", "10", "--trials", "4"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    for setting in ("cheetah-vel", "ml1"):
        for row in ("raw single env, random actions", "collect sync, RL² policy", "collect process, RL² policy"):
            assert any(line.startswith(setting) and row in line and line.rstrip().split()[-1] for line in
                       out.splitlines()), f"missing row {setting} / {row}:\n{out}"
    assert any(line.startswith("ml1") and "train process, RL² collect+update" in line for line in out.splitlines())
    assert "load average" in out and "targets:" in out
