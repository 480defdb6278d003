"""Scalars to TensorBoard (``SummaryWriter``) and ``progress.csv``, one row per iteration."""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

from tensorboard.compat.proto.summary_pb2 import Summary

FLUSH_SECONDS = 2.0


class RunLogger:
    """Writes each iteration's scalars to TensorBoard and to ``progress.csv``.

    On resume from a checkpoint taken after iteration ``start_iteration``, the CSV rows
    and TensorBoard events of later iterations (logged before a crash or Ctrl-C, then
    redone) are dropped, so the curves have no duplicate or orphan points; the rows of
    iterations up to and including ``start_iteration`` are kept.
    """

    def __init__(self, run_dir: Path, start_iteration: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        # TensorBoard hides events with step >= purge_step; iteration start_iteration itself
        # was logged before its checkpoint and must stay.
        self.writer = SummaryWriter(str(self.run_dir), purge_step=start_iteration + 1 if start_iteration else None)
        self._closed = False
        self.csv_path = self.run_dir / "progress.csv"
        self.fields: list[str] = []
        self._file = None
        self._last_flush = time.monotonic()
        if start_iteration and self.csv_path.exists():  # resumed: keep the rows up to the checkpoint's
            self._rewrite(keep_through=start_iteration)
        elif self.csv_path.exists():  # a fresh start (no checkpoint yet): nothing of an old file is kept
            self.csv_path.unlink()

    def log(self, iteration: int, scalars: dict[str, float]) -> None:
        """One iteration's scalars (None and NaN are left out of TensorBoard). CSV rows reach the
        disk at least every ``FLUSH_SECONDS`` and at each ``flush`` (the trainer flushes before
        every checkpoint), not row by row: for fast agents (sinusoid MAML: 100+ iterations/s)
        opening the file per row cost more than the row."""
        if self._closed:
            raise ValueError(f"RunLogger for {self.run_dir} is closed")
        # One TensorBoard event holding every scalar (what ``add_scalar`` writes, one per call):
        # the event file's writer thread cost ~0.1 ms per event, ~1 ms per iteration here.
        values = [Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()
                  if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if values:
            # ``_get_file_writer`` is private, but it is the writer ``add_scalar`` itself uses
            self.writer._get_file_writer().add_summary(Summary(value=values), iteration)
        row = {"iteration": iteration, **scalars}
        new = [k for k in row if k not in self.fields]
        if new:  # a new column (e.g. the first periodic evaluation): rewrite the file with the wider header
            self._rewrite(extra_fields=new)
        if self._file is None:
            self._file = self.csv_path.open("a", newline="")
            self._csv = csv.DictWriter(self._file, self.fields)
        self._csv.writerow(row)
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self._file.flush()
            self._last_flush = time.monotonic()

    def flush(self) -> None:
        """Write buffered CSV rows and TensorBoard events to disk."""
        if self._file is not None:
            self._file.flush()
        self.writer.flush()
        self._last_flush = time.monotonic()

    def _rewrite(self, *, keep_through: int | None = None, extra_fields: list[str] = ()) -> None:
        """Rewrite progress.csv atomically (temp file + rename): its rows (those of iterations up
        to ``keep_through`` if given) under the header ``fields + extra_fields``."""
        if self._file is not None:
            self._file.close()
            self._file = None
        rows: list[dict] = []
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as f:
                text = f.read()
            text = text[:text.rfind("\n") + 1]  # drop a row cut short by a hard kill (rows are buffered)
            reader = csv.DictReader(io.StringIO(text, newline=""))
            self.fields = self.fields or list(reader.fieldnames or [])
            rows = [r for r in reader if keep_through is None or int(float(r["iteration"])) <= keep_through]
        self.fields = self.fields + [k for k in extra_fields if k not in self.fields]
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.csv_path)

    def close(self) -> None:
        """Flush and close (safe to call twice)."""
        if not self._closed:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None
            self.writer.flush()
            self.writer.close()
