"""``EvalReport``: per task x episode-index returns of one agent on a set of tasks."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metarl.files import write_text_atomically as _write_atomically

REPORT_VERSION = 1


@dataclass
class EvalReport:
    """episode_returns [n_tasks, episodes]; success same shape or None; summary dict (see
    ``metarl.evaluation.stats.summarize``); baselines: name -> summary of classic baselines
    on the same tasks; meta: family, split, agent, seed, library versions."""

    episode_returns: np.ndarray
    success: np.ndarray | None
    summary: dict
    task_ids: list[str] = field(default_factory=list)
    baselines: dict[str, dict] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    inner_steps: dict[str, dict] = field(default_factory=dict)
    """Gradient-based agents (MAML, Meta-SGD): name -> curve after 0..n inner steps
    ({"metric", "steps", "per_step": [{mean, ci_low, ci_high}, ...], ...})."""

    def to_dict(self) -> dict:
        return {"version": REPORT_VERSION, "meta": self.meta, "summary": self.summary,
                "baselines": self.baselines, "inner_steps": self.inner_steps, "task_ids": self.task_ids,
                "episode_returns": np.asarray(self.episode_returns).tolist(),
                "success": None if self.success is None else np.asarray(self.success).astype(bool).tolist()}

    def to_json(self, path: str | Path) -> Path:
        return _write_atomically(path, self._json_text())

    def to_csv(self, path: str | Path) -> Path:
        """Per task and episode index, one row: task_id, episode (1-based), return, success
        (empty where the family defines none) -- for pandas / spreadsheets."""
        return _write_atomically(path, self._returns_csv_text())

    def summary_csv(self, path: str | Path) -> Path:
        """One row per agent (this one, then each baseline): trial return, its 95% CI, first
        and last episode return, first and last episode success rate (empty where the family
        defines no success), exact value; a skipped baseline has only its name and reason."""
        return _write_atomically(path, self._summary_csv_text())

    def save(self, eval_dir: str | Path) -> Path:
        """``report.json``, ``returns.csv`` (per task x episode) and ``summary.csv`` (per agent)
        into ``eval_dir``; all three texts are built before any is written (each atomically),
        so a report that cannot be serialised leaves the old files as they were. Returns the
        JSON's path."""
        eval_dir = Path(eval_dir)
        texts = {"returns.csv": self._returns_csv_text(), "summary.csv": self._summary_csv_text(),
                 "report.json": self._json_text()}
        for name, text in texts.items():
            _write_atomically(eval_dir / name, text)
        return eval_dir / "report.json"

    def to_tensorboard(self, writer, eval_dir: str | Path, step: int) -> None:
        """The final evaluation into TensorBoard at ``step`` (``writer``: a ``SummaryWriter``):
        ``eval/final_return_episode_<k>``, ``eval/final_exact_trial_return`` where computed,
        ``eval/success_class/<class>``, MAML's ``eval/<metric>_after_<s>_inner_steps``, and the
        plots saved in ``eval_dir`` (``adaptation.png``, ``inner_steps.png``) as images."""
        from metarl.evaluation.plots import add_png

        eval_dir = Path(eval_dir)
        for i, p in enumerate(self.summary["per_episode"]):
            writer.add_scalar(f"eval/final_return_episode_{i + 1}", p["mean"], step)
        if "value" in self.summary.get("exact", {}):
            writer.add_scalar("eval/final_exact_trial_return", self.summary["exact"]["value"], step)
        for cls, c in self.summary.get("per_class", {}).items():
            if "success_last" in c:
                writer.add_scalar(f"eval/success_class/{cls}", c["success_last"], step)
        for curve in self.inner_steps.values():
            for s, p in zip(curve["steps"], curve["per_step"]):
                if p["mean"] is not None:
                    writer.add_scalar(f"eval/{curve['metric']}_after_{s}_inner_steps", p["mean"], step)
        for name in ("adaptation", "inner_steps"):
            if (eval_dir / f"{name}.png").exists():
                add_png(writer, f"eval/{name}", eval_dir / f"{name}.png", step)

    def _rows(self) -> list[tuple[str, dict]]:
        """(name, summary) of this agent, then of each baseline."""
        return [(self.meta.get("agent", "agent"), self.summary)] + list(self.baselines.items())

    def _json_text(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def _returns_csv_text(self) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["task_id", "episode", "return", "success"])
        returns = np.asarray(self.episode_returns, dtype=np.float64)
        ids = self.task_ids or [str(i) for i in range(len(returns))]
        for i, row in enumerate(returns):
            for k, value in enumerate(row):
                succ = "" if self.success is None else int(bool(self.success[i][k]))
                out.writerow([ids[i], k + 1, repr(float(value)), succ])
        return buf.getvalue()

    def _summary_csv_text(self) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        columns = ["trial_return", "ci_low", "ci_high", "first", "last", "success_first", "success_last", "exact"]
        out.writerow(["agent", *columns, "skipped"])
        rows = self._rows()
        for name, s in rows:
            if "skipped" in s:
                out.writerow([name, *[""] * len(columns), s["skipped"]])
                continue
            low, high = s["trial_return_ci"]
            cells = {**s, "ci_low": low, "ci_high": high, "exact": s.get("exact", {}).get("value", "")}
            out.writerow([name, *[cells.get(c, "") for c in columns], ""])
        return buf.getvalue()

    @classmethod
    def from_json(cls, path: str | Path) -> "EvalReport":
        from metarl.errors import ConfigError

        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read an evaluation report from {path}: {exc}") from None
        if not isinstance(d, dict) or "episode_returns" not in d or "summary" not in d:
            raise ConfigError(f"{path} is not an evaluation report (no episode_returns / summary)")
        if d.get("version", REPORT_VERSION) > REPORT_VERSION:
            raise ConfigError(f"{path} is a version {d['version']} report; this metarl reads versions up to "
                              f"{REPORT_VERSION} (upgrade metarl)")
        succ = d.get("success")
        return cls(np.asarray(d["episode_returns"]), None if succ is None else np.asarray(succ), d["summary"],
                   d.get("task_ids", []), d.get("baselines", {}), d.get("meta", {}), d.get("inner_steps", {}))

    def table(self) -> str:
        """Plain-text table: this agent and each baseline, trial return with 95% CI."""
        rows = self._rows()
        lines = [summary_table(rows)]
        classes = self.summary.get("per_class", {})
        if len(classes) > 1:
            lines += ["", per_class_table(self.meta.get("agent", "agent"), classes)]
        for name, curve in self.inner_steps.items():
            lines.append("")
            lines.append(inner_step_table(name, curve))
        return "\n".join(lines)


def summary_table(rows: list[tuple[str, dict]]) -> str:
    """Lines: per (name, summary) row, trial return with 95% CI, first and last episode
    return, and the exact value where the summaries have one; a skipped baseline says why."""
    exact = [s["exact"] for _, s in rows if "value" in s.get("exact", {})]
    lines = [f"{'agent':<24} {'trial return':>12} {'95% CI':>20} {'first ep':>9} {'last ep':>9}"
             + (f" {'exact':>8}" if exact else "")]
    for name, s in rows:
        if "skipped" in s:  # a baseline that cannot run in this setting
            lines.append(f"{name:<24} skipped: {s['skipped']}")
            continue
        ci = s["trial_return_ci"]
        value = s.get("exact", {}).get("value")
        lines.append(f"{name:<24} {s['trial_return']:>12.3f} {f'[{ci[0]:.3f}, {ci[1]:.3f}]':>20} "
                     f"{s['first']:>9.3f} {s['last']:>9.3f}" + ("" if value is None else f" {value:>8.4f}"))
    if exact:
        lines.append(f"exact: expected trial return under the task prior, computed over all {exact[0]['sequences']} "
                     "reward sequences (no sampling noise).\nLearned agents act greedily; randomised baselines "
                     "(random, eps-greedy, Thompson) are scored for the one\nrandom choice they drew per history, "
                     "not averaged over their randomness.")
    return "\n".join(lines)


def per_class_table(name: str, classes: dict) -> str:
    """Lines: per class, its tasks and success per episode index (or return when no success)."""
    succ = all("success_per_episode" in c for c in classes.values())
    what = "success rate per episode index" if succ else "return per episode index"
    lines = [f"{name}: {what}, per class"]
    width = max(len(c) for c in classes)
    for cls, c in classes.items():
        vals = c["success_per_episode"] if succ else c["return_per_episode"]
        lines.append(f"  {cls:<{width}}  {c['n_tasks']:>4} tasks  " + " ".join(
            f"{v:.2f}" if succ else f"{v:.1f}" for v in vals))
    return "\n".join(lines)


def inner_step_table(name: str, curve: dict) -> str:
    """Lines: the curve's metric (95% CI) after each number of inner steps."""
    extra = f", {curve['trajectories']} episodes per step" if "trajectories" in curve else ""
    extra += f"; [{curve['ci']}]" if "ci" in curve else ""
    lines = [f"{name}: {curve['metric']} after n inner gradient steps ({curve['n_tasks']} tasks{extra})"]
    for s, p in zip(curve["steps"], curve["per_step"]):
        cell = "diverged" if p["mean"] is None else f"{p['mean']:.3f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}]"
        succ = curve.get("success_per_step")
        lines.append(f"  {s} steps: {cell}" + (f"   success {succ[s]:.3f}" if succ else ""))
    return "\n".join(lines)
