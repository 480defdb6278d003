"""``RunLogger``: progress.csv rows (buffered, on disk at each ``flush``), a widened header when a
new column appears, and the rows kept on resume."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from metarl.training.logger import RunLogger


def _rows(run_dir: Path) -> list[dict]:
    with (run_dir / "progress.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_rows_reach_the_disk_at_flush_and_a_new_column_widens_the_header(tmp_path):
    log = RunLogger(tmp_path)
    log.log(1, {"train/loss": 0.5})
    log.log(2, {"train/loss": 0.25})
    log.flush()
    assert [(r["iteration"], r["train/loss"]) for r in _rows(tmp_path)] == [("1", "0.5"), ("2", "0.25")]
    log.log(3, {"train/loss": 0.125, "eval/return": 7.0})  # the first periodic evaluation
    log.log(4, {"train/loss": 0.0625})
    log.close()
    rows = _rows(tmp_path)
    assert list(rows[0]) == ["iteration", "train/loss", "eval/return"]
    assert [(r["iteration"], r["train/loss"], r["eval/return"]) for r in rows] == [
        ("1", "0.5", ""), ("2", "0.25", ""), ("3", "0.125", "7.0"), ("4", "0.0625", "")]
    log.close()  # twice is fine


def test_resume_keeps_the_rows_up_to_the_checkpoint_and_a_fresh_start_drops_them(tmp_path):
    log = RunLogger(tmp_path)
    for i in range(1, 5):
        log.log(i, {"train/loss": float(i)})
    log.close()
    resumed = RunLogger(tmp_path, start_iteration=2)  # checkpoint after iteration 2; 3 and 4 are redone
    assert [r["iteration"] for r in _rows(tmp_path)] == ["1", "2"]
    resumed.log(3, {"train/loss": 30.0})
    resumed.close()
    assert [(r["iteration"], r["train/loss"]) for r in _rows(tmp_path)] == [("1", "1.0"), ("2", "2.0"), ("3", "30.0")]
    fresh = RunLogger(tmp_path)  # no checkpoint to resume from: nothing of the old rows is kept
    fresh.log(1, {"train/loss": 9.0})
    fresh.close()
    assert [(r["iteration"], r["train/loss"]) for r in _rows(tmp_path)] == [("1", "9.0")]


def test_a_row_cut_short_by_a_hard_kill_is_dropped_on_resume(tmp_path):
    log = RunLogger(tmp_path)
    for i in range(1, 5):
        log.log(i, {"train/loss": float(i)})
    log.close()
    with (tmp_path / "progress.csv").open("a", newline="") as f:
        f.write("1")  # the start of a later row, cut by a SIGKILL
    RunLogger(tmp_path, start_iteration=3).close()
    assert [r["iteration"] for r in _rows(tmp_path)] == ["1", "2", "3"]


def test_a_fresh_start_drops_an_old_header_and_a_closed_logger_refuses_rows(tmp_path):
    old = RunLogger(tmp_path)
    old.log(1, {"train/loss": 1.0, "eval/return": 2.0})
    old.close()
    fresh = RunLogger(tmp_path)
    fresh.log(1, {"train/loss": 3.0})
    fresh.close()
    assert _rows(tmp_path) == [{"iteration": "1", "train/loss": "3.0"}]
    with pytest.raises(ValueError, match="closed"):
        fresh.log(2, {"train/loss": 4.0})
