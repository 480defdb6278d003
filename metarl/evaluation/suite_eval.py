"""Evaluation on a generated ``Suite``: one held-out-style evaluation per novelty level."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from metarl.errors import ConfigError, MetaRLError, check_int
from metarl.evaluation.evaluator import evaluate, evaluate_baselines
from metarl.evaluation.plots import add_png, plot_adaptation
from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import bootstrap_ci
from metarl.files import write_text_atomically
from metarl.generator.novelty import task_distance
from metarl.generator.suite import Suite
from metarl.tasks import Task

SUITE_REPORT_VERSION = 1


@dataclass
class SuiteReport:
    """Per novelty level (``levels[j]``): an EvalReport (``reports[j]``, baselines included
    where evaluated) and the measured distances of its tasks (``distances[j]``: mean, min,
    max in train-box widths). ``meta``: family, agent, suite file and generation settings."""

    levels: list[float]
    reports: list[EvalReport]
    distances: list[dict]
    meta: dict = field(default_factory=dict)

    @staticmethod
    def level_dir(j: int, level: float) -> str:
        """Sub-directory of level ``j`` in a saved report, e.g. ``level_2_d0.5``."""
        return f"level_{j}_d{level:g}"

    def rows(self) -> list[dict]:
        """Per level: level, distance, the agent's trial return (95% CI), first / last episode
        return and gain, and each baseline's trial return."""
        out = []
        first = np.asarray(self.reports[0].episode_returns).sum(1) if self.reports else None
        for level, dist, rep in zip(self.levels, self.distances, self.reports):
            s = rep.summary
            # paired: every level varies the same base tasks, in the same order
            diff = np.asarray(rep.episode_returns).sum(1) - first
            out.append({"level": level, "distance": dist, "n_tasks": s["n_tasks"],
                        "trial_return": s["trial_return"], "trial_return_ci": s["trial_return_ci"],
                        "change_vs_first_level": {"mean": float(diff.mean()),
                                                  "ci": list(bootstrap_ci(diff, seed=self.meta.get("seed", 0)))},
                        "first": s["first"], "last": s["last"], "gain": s["gain"],
                        **({"success_last": s["success_last"]} if "success_last" in s else {}),
                        "baselines": {n: b["trial_return"] for n, b in rep.baselines.items() if "trial_return" in b},
                        "baselines_ci": {n: b["trial_return_ci"] for n, b in rep.baselines.items()
                                         if "trial_return_ci" in b},
                        "inner_steps": {n: {"metric": c["metric"], "steps": c["steps"],
                                            "mean": [p["mean"] for p in c["per_step"]]}
                                        for n, c in rep.inner_steps.items()}})
        return out

    def to_dict(self) -> dict:
        return {"version": SUITE_REPORT_VERSION, "meta": self.meta, "levels": self.rows(),
                "level_dirs": [self.level_dir(j, x) for j, x in enumerate(self.levels)]}

    def table(self) -> str:
        """Plain text: one line per level (distance, trial return with CI, first, last, gain,
        and the baselines' trial returns)."""
        rows = self.rows()
        names = list(rows[0]["baselines"]) if rows else []
        head = (f"{'level':>6} {'distance':>17} {'trial return':>12} {'95% CI':>20} {'first ep':>9} {'last ep':>9} "
                f"{'gain':>8}" + "".join(f" {n[:14]:>14}" for n in names))
        lines = [head]
        for r in rows:
            d, ci = r["distance"], r["trial_return_ci"]
            dist = f"{d['mean']:.2f} [{d['min']:.2f},{d['max']:.2f}]"
            lines.append(f"{r['level']:>6g} {dist:>17} {r['trial_return']:>12.3f} "
                         f"{f'[{ci[0]:.3f}, {ci[1]:.3f}]':>20} {r['first']:>9.3f} {r['last']:>9.3f} {r['gain']:>8.3f}"
                         + "".join(f" {r['baselines'].get(n, float('nan')):>14.3f}" for n in names))
        lines.append("distance: mean [min, max] over the level's tasks, in train-box widths beyond the box "
                     "(0 = inside); baseline columns: their trial return on the same tasks")
        if rows and len(rows) > 1:
            lines.append(f"change of the trial return from level {rows[0]['level']:g} (same base tasks, paired "
                         "95% CI): " + "; ".join(f"{r['level']:g}: {r['change_vs_first_level']['mean']:+.3f} "
                                                 f"[{r['change_vs_first_level']['ci'][0]:+.3f}, "
                                                 f"{r['change_vs_first_level']['ci'][1]:+.3f}]" for r in rows[1:]))
        if self.meta.get("box_note"):
            lines.append("note: " + self.meta["box_note"])
        for name, curve in (rows[0]["inner_steps"] if rows else {}).items():   # MAML / Meta-SGD
            lines.append(f"\n{name}: {curve['metric']} after {', '.join(map(str, curve['steps']))} inner gradient steps")
            for r in rows:
                means = r["inner_steps"].get(name, {}).get("mean", [])
                lines.append(f"{r['level']:>6g}  " + "  ".join("diverged" if m is None else f"{m:10.3f}" for m in means))
        return "\n".join(lines)

    def save(self, out_dir: str | Path) -> Path:
        """``suite_report.json``, ``adaptation.png`` (the agent's per-episode curve at each
        level), ``by_level.png`` (trial return against level, baselines beside) and, per
        level, ``level_<j>_d<level>/eval/`` with that level's report.json, CSVs and
        adaptation plot. Returns the JSON's path."""
        out_dir = Path(out_dir)
        agent = self.meta.get("agent", "agent")
        for j, (level, rep) in enumerate(zip(self.levels, self.reports)):
            eval_dir = out_dir / self.level_dir(j, level) / "eval"
            rep.save(eval_dir)
            if not (eval_dir / "adaptation.png").exists():
                curves = {agent: rep.summary["per_episode"],
                          **{n: b["per_episode"] for n, b in rep.baselines.items() if "per_episode" in b}}
                plot_adaptation(curves, eval_dir / "adaptation.png", title=f"{self._title()}: level {level:g}")
        plot_adaptation({f"level {x:g}": rep.summary["per_episode"] for x, rep in zip(self.levels, self.reports)},
                        out_dir / "adaptation.png", title=f"{agent} on {self._title()}")
        by_level = {agent: [_point(r.summary) for r in self.reports]}
        for name in self.reports[0].baselines:
            pts = [_point(r.baselines.get(name, {})) for r in self.reports]
            if all(p["mean"] is not None for p in pts):
                by_level[name] = pts
        plot_adaptation(by_level, out_dir / "by_level.png", x=self.levels, xlabel="novelty level (train-box widths)",
                        ylabel="trial return", title=f"{self._title()}: trial return by level")
        return write_text_atomically(out_dir / "suite_report.json", json.dumps(self.to_dict(), indent=1))

    def to_tensorboard(self, out_dir: str | Path, step: int = 0) -> None:
        """TensorBoard events in ``out_dir`` (a sub-run under the run directory): per level
        ``suite/level_<d>/trial_return`` and ``suite/level_<d>/return_episode_<k>`` at ``step``
        (the evaluated checkpoint's iteration), and the saved plots as images (after ``save``)."""
        from torch.utils.tensorboard import SummaryWriter

        out_dir = Path(out_dir)
        writer = SummaryWriter(str(out_dir))
        try:
            for level, rep in zip(self.levels, self.reports):
                writer.add_scalar(f"suite/level_{level:g}/trial_return", rep.summary["trial_return"], step)
                for k, p in enumerate(rep.summary["per_episode"]):
                    writer.add_scalar(f"suite/level_{level:g}/return_episode_{k + 1}", p["mean"], step)
            for name in ("by_level", "adaptation"):
                if (out_dir / f"{name}.png").exists():
                    add_png(writer, f"suite/{name}", out_dir / f"{name}.png", step)
        finally:
            writer.close()

    def _title(self) -> str:
        return f"{self.meta.get('family', '')} suite"


def _point(summary: dict) -> dict:
    if "trial_return" not in summary:
        return {"mean": None, "ci_low": None, "ci_high": None}
    lo, hi = summary["trial_return_ci"]
    return {"mean": summary["trial_return"], "ci_low": lo, "ci_high": hi}


def check_suite_fits(suite: Suite, family) -> None:
    """One-line error unless every task of ``suite`` is a valid task of ``family``."""
    if not isinstance(suite, Suite):
        raise ConfigError(f"expected a metarl.Suite (metarl.generate_suite or Suite.load), got {type(suite).__name__}")
    if suite.family_name != family.name:
        raise ConfigError(f"the suite was generated for family {suite.family_name!r}, but the agent was built for "
                          f"{family.name!r}")
    for task in suite.tasks():
        try:
            family.validate_task(task)
        except MetaRLError as exc:
            raise ConfigError(f"suite task {task.task_id!r} does not fit the agent's family "
                              f"{getattr(family, 'spec', family.name)} (the suite's: {suite.family_spec}): {exc}") from None


def evaluate_suite(agent, suite: Suite, *, episodes: int, seed: int = 0, deterministic: bool = False,
                   baselines: bool = False, batch_size: int = 1000, progress=None,
                   run_level: Callable[[int, float, list[Task]], EvalReport] | None = None) -> SuiteReport:
    """Meta-test ``agent`` on every level of ``suite``: one trial of ``episodes`` episodes per
    task, memory fresh at each trial start (as ``metarl.evaluate``); with ``baselines``, the
    family's classic baselines on the same tasks. ``run_level(j, level, tasks)``, when given,
    replaces the per-level evaluation (``metarl eval --suite`` passes the run's own, which also
    writes plots and MAML's inner-step curve)."""
    episodes = check_int("episodes", episodes, low=1)
    if not hasattr(agent, "family"):
        raise ConfigError(f"evaluate_suite needs an agent built with metarl.make_agent, got {type(agent).__name__}")
    check_suite_fits(suite, agent.family)
    ours = json.loads(json.dumps(agent.family.describe()["params"]))
    theirs = suite.meta.get("family_description", {}).get("params")
    other_box = theirs is not None and theirs != ours
    reports, distances = [], []
    for j, level in enumerate(suite.levels):
        tasks = suite.tasks(level)
        if run_level is not None:
            rep = run_level(j, level, tasks)
        else:
            rep = evaluate(agent, tasks, episodes=episodes, seed=seed, deterministic=deterministic,
                           batch_size=batch_size, progress=progress)
            if baselines:
                rep.baselines = evaluate_baselines(agent.family, tasks, episodes=episodes, seed=seed,
                                                   progress=progress)
        d = suite.distances(level)
        distances.append(_stats(d))
        if other_box:   # also from the box the agent was trained on
            distances[-1]["agent_box"] = _stats(np.asarray([task_distance(agent.family, t) for t in tasks]))
        rep.meta.update(novelty_level=level, distance=distances[-1])
        reports.append(rep)
    meta = {"family": suite.family_name, "agent": getattr(agent, "name", type(agent).__name__),
            "episodes": episodes, "seed": seed, "suite_family": suite.family_spec,
            "suite": {k: v for k, v in suite.meta.items() if k != "family_description"}}
    if other_box:
        meta["box_note"] = (f"the suite was generated from another train box than the agent's family has ({suite.family_spec} "
                            f"against {getattr(agent.family, 'spec', agent.family.name)}); distances are from the "
                            "suite's box, and from the agent's in the report's distance.agent_box")
    return SuiteReport(suite.levels, reports, distances, meta)


def _stats(d: np.ndarray) -> dict:
    return {"mean": float(d.mean()), "min": float(d.min()), "max": float(d.max())}

