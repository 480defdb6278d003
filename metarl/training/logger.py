"""Scalars to TensorBoard (``SummaryWriter``) and ``progress.csv``, one row per iteration."""
from __future__ import annotations

import csv
import math
from pathlib import Path


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
        self.rows: list[dict] = []
        if start_iteration and self.csv_path.exists():
            with self.csv_path.open() as f:
                self.rows = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= start_iteration]
        self.fields: list[str] = list(self.rows[0].keys()) if self.rows else []
        if start_iteration:
            self._rewrite()

    def log(self, iteration: int, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                self.writer.add_scalar(k, v, iteration)
        row = {"iteration": iteration, **scalars}
        self.rows.append(row)
        new = [k for k in row if k not in self.fields]
        if new:
            self.fields += new
            self._rewrite()
        else:
            with self.csv_path.open("a", newline="") as f:
                csv.DictWriter(f, self.fields).writerow(row)

    def _rewrite(self) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.csv_path)

    def image(self, tag: str, png_path: Path, iteration: int) -> None:
        import matplotlib.image as mpimg

        img = mpimg.imread(str(png_path))[..., :3]
        self.writer.add_image(tag, img, iteration, dataformats="HWC")

    def close(self) -> None:
        """Flush and close (safe to call twice)."""
        if not self._closed:
            self._closed = True
            self.writer.flush()
            self.writer.close()
