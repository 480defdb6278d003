"""`metarl bench rollout` end to end on a seconds-long budget (rows checked, not figures)."""
import re

import torch

from metarl.cli import main as cli_main
from metarl.rollout.multiproc import usable_cpus


def test_bench_rollout_prints_every_row(capsys):
    threads = torch.get_num_threads()
    argv = ["bench", "rollout", "--seconds", "0.05", "--train-seconds", "0.05", "--horizon", "10", "--trials", "4",
            "--threads", "1"]
    assert cli_main(argv) == 0
    assert torch.get_num_threads() == threads  # the bench gives the thread count back
    out = capsys.readouterr().out
    rows = [(s, what) for s in ("cheetah-vel", "ml1") for what in (
        "raw single env, random actions", "collect sync, RL² policy", "collect process, RL² policy")]
    rows.append(("ml1", "train process, RL² collect+update"))
    if usable_cpus() > 1:
        rows += [("cheetah-vel", f"raw, {usable_cpus()} processes at once"), ("ml1", f"raw, {usable_cpus()} processes")]
    for setting, what in rows:
        pattern = rf"^{re.escape(setting)}\s+{re.escape(what)}.*\s(\d+)\s+(\d+\.\d\d)x"
        match = re.search(pattern, out, flags=re.M)
        assert match, f"missing row {setting} / {what}:\n{out}"
        if what.startswith("raw single"):
            assert match.group(2) == "1.00"
    assert "load average" in out and "targets: collection >= 1.6x raw" in out
