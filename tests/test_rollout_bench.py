"""`metarl bench rollout` end to end on a seconds-long budget (rows checked, not figures)."""
import re

import torch

from metarl.cli import main as cli_main


def test_bench_rollout_prints_every_row(capsys):
    threads = torch.get_num_threads()
    argv = ["bench", "rollout", "--seconds", "0.05", "--train-seconds", "0.05", "--horizon", "10", "--trials", "4",
            "--threads", "1"]
    assert cli_main(argv) == 0
    assert torch.get_num_threads() == threads  # the bench gives the thread count back
    out = capsys.readouterr().out
    rows = [("cheetah-vel", "raw single env, random actions"), ("cheetah-vel", "collect sync, RL² policy"),
            ("cheetah-vel", "collect process, RL² policy"), ("ml1", "raw single env, random actions"),
            ("ml1", "collect sync, RL² policy"), ("ml1", "collect process, RL² policy"),
            ("ml1", "train process, RL² collect+update")]
    for setting, what in rows:
        pattern = rf"^{re.escape(setting)}\s+{re.escape(what)}\s+.*\s(\d+)\s+(\d+\.\d\d)x"
        match = re.search(pattern, out, flags=re.M)
        assert match, f"missing row {setting} / {what}:\n{out}"
        if what.startswith("raw"):
            assert match.group(2) == "1.00"
    assert "load average" in out and "targets: collection >= 1.6x raw" in out
