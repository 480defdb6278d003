"""``metarl compare``: held-out reports of several runs side by side, with the difference from
the first run and the settings in which the runs differ.

Two runs evaluated on the same held-out tasks (the same family, split and ``eval_seed``) are
compared *paired*: per task, the trial return of the run minus the reference's, averaged over
the tasks both evaluated, with a percentile bootstrap CI over those tasks. Most of the spread
between tasks (an easy MDP is easy for both runs) cancels in the difference, so the paired CI
is much narrower than the two runs' own CIs suggest: two overlapping CIs do not mean "no
difference". Runs on different tasks are compared unpaired (the two means resampled
independently), and the output says which was done.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from metarl.errors import MetaRLError
from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import bootstrap_ci, bootstrap_diff_ci

# config.yaml entries that say nothing about how a run was trained or evaluated
_IGNORED_CONFIG = {"description", "agent.choices", "train.quiet", "train.run_root"}
_IGNORED_PREFIXES = ("agent.choice_configs.", "family.choices.")


@dataclass
class ComparedRun:
    """One report (``path``) and the run's config.yaml, flattened to dotted keys (empty when the
    report lies outside a run directory)."""

    label: str
    path: Path
    report: EvalReport
    config: dict = field(default_factory=dict)

    @property
    def trial_returns(self) -> np.ndarray:
        """[n_tasks]: the return summed over each task's trial."""
        return np.asarray(self.report.episode_returns, dtype=np.float64).sum(axis=1)


def _report_path(path: Path) -> tuple[Path, Path | None]:
    """(report.json, run directory or None) for a run directory, an evaluation directory
    (``RUN/eval_memory-none``) or a report file."""
    if path.is_dir():
        for candidate in (path / "eval" / "report.json", path / "report.json"):
            if candidate.is_file():
                return candidate, _run_dir_of(candidate)
        raise MetaRLError(f"{path} has no evaluation report (looked for {path / 'eval' / 'report.json'} and "
                          f"{path / 'report.json'}); evaluate it with `metarl eval {path}`")
    if path.is_file():
        return path, _run_dir_of(path)
    raise MetaRLError(f"{path} does not exist; give run directories or report.json files")


def _run_dir_of(report: Path) -> Path | None:
    """The run directory holding ``report``: the nearest of its parents, up to RUN/ of
    RUN/eval_suite/NAME/level_1_d0.5/eval/report.json, with a config.yaml."""
    for parent in list(report.parents)[:5]:
        if (parent / "config.yaml").is_file():
            return parent
    return None


def _flatten(d, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        elif name not in _IGNORED_CONFIG and not name.startswith(_IGNORED_PREFIXES):
            out[name] = value
    return out


def load_run(path: str | Path, label: str) -> ComparedRun:
    """A run directory, evaluation directory or report.json, with its run's config (if any)."""
    report_path, run_dir = _report_path(Path(path))
    report = EvalReport.from_json(report_path)
    config = {}
    if run_dir is not None:
        try:
            raw = yaml.safe_load((run_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise MetaRLError(f"{run_dir / 'config.yaml'} is not readable: {exc}") from None
        config = _flatten(raw) if isinstance(raw, dict) else {}
    changed = report.meta.get("agent_options_changed") or {}
    config.update({f"agent.config.{k} (at evaluation)": v for k, v in changed.items()})
    return ComparedRun(label, report_path, report, config)


def difference(run: ComparedRun, ref: ComparedRun, *, seed: int = 0) -> dict:
    """Mean trial return of ``run`` minus ``ref``'s with a 95% bootstrap CI.

    Paired over the task ids both reports share (at least 2), in the reference's order; else
    unpaired, each run's tasks resampled on their own. Returns {mean, ci: [lo, hi], paired,
    n_tasks, better_share (paired only: fraction of shared tasks where ``run`` scored higher)}."""
    a, b = run.trial_returns, ref.trial_returns
    ids_a = {t: i for i, t in enumerate(run.report.task_ids)}
    shared = [(ids_a[t], j) for j, t in enumerate(ref.report.task_ids) if t in ids_a]
    if len(shared) >= 2:
        ia, ib = (np.array(x) for x in zip(*shared))
        d = a[ia] - b[ib]
        lo, hi = bootstrap_ci(d, seed=seed)
        return {"mean": float(d.mean()), "ci": [lo, hi], "paired": True, "n_tasks": len(d),
                "better_share": float(np.mean(d > 0))}
    lo, hi = bootstrap_diff_ci(a, b, seed=seed)
    return {"mean": float(a.mean() - b.mean()), "ci": [lo, hi], "paired": False,
            "n_tasks": [len(a), len(b)]}


def differing_settings(runs: list[ComparedRun]) -> dict[str, list]:
    """Config keys whose values are not the same in every run, in first-seen order with the
    provenance (git revision, library versions) last. A key a run lacks is None there: its
    config.yaml records only what the preset and the overrides set, so it ran with the default."""
    keys = list(dict.fromkeys(k for r in runs for k in r.config))
    keys.sort(key=lambda k: k == "git_rev" or k.startswith("versions."))   # provenance last (a stable sort)
    missing = object()
    out = {}
    for key in keys:
        values = [r.config.get(key, missing) for r in runs]
        if any(v != values[0] for v in values[1:]):
            out[key] = [None if v is missing else v for v in values]
    return out


def compare(paths: list[str | Path], *, seed: int = 0) -> dict:
    """The comparison of ``paths`` (the first is the reference) as a JSON-ready dict:
    {"runs": [{label, path, agent, family, n_tasks, episodes, trial_return, trial_return_ci,
    first, last, success_last, env_steps, train_seconds}], "differences": {label: difference},
    "settings": {key: [value per run]}}."""
    if len(paths) < 2:
        raise MetaRLError(f"compare needs at least two runs or reports; got {len(paths)}")
    labels = [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(len(paths))]
    runs = [load_run(p, label) for p, label in zip(paths, labels)]
    families = {r.report.meta.get("family") for r in runs}
    if len(families) > 1:
        raise MetaRLError(f"these reports are on different families ({sorted(map(str, families))}); "
                          "compare runs of one family")
    lengths = {r.report.summary["episodes"] for r in runs}
    if len(lengths) > 1:
        raise MetaRLError(f"these reports score trials of different lengths ({sorted(lengths)} episodes); "
                          "compare runs evaluated with the same episodes per trial (`metarl eval RUN --episodes N`)")
    rows = []
    for r in runs:
        s, m = r.report.summary, r.report.meta
        rows.append({"label": r.label, "path": str(r.path), "agent": m.get("agent"), "family": m.get("family"),
                     "n_tasks": s["n_tasks"], "episodes": s["episodes"], "trial_return": s["trial_return"],
                     "trial_return_ci": s["trial_return_ci"], "first": s["first"], "last": s["last"],
                     "success_last": s.get("success_last"), "env_steps": m.get("env_steps"),
                     "train_seconds": m.get("train_seconds")})
    return {"reference": runs[0].label, "runs": rows,
            "differences": {r.label: difference(r, runs[0], seed=seed) for r in runs[1:]},
            "settings": differing_settings(runs)}


def _steps(n) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M" if n >= 1e5 else str(n)


def _value(v) -> str:
    if v is None:
        return "(default)"
    text = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def format_comparison(result: dict) -> str:
    """Plain-text tables of ``compare``'s result: runs, differences from the reference, settings."""
    rows = result["runs"]
    succ = any(r["success_last"] is not None for r in rows)
    lines = ["runs (held-out trial return, 95% bootstrap CI over tasks):",
             f"   {'agent':<9} {'tasks':>5} {'trial return':>12} {'95% CI':>22} {'first ep':>9} {'last ep':>9}"
             + (f" {'success':>7}" if succ else "") + f" {'steps':>7} {'train s':>8}  report"]
    for r in rows:
        ci = r["trial_return_ci"]
        sl = r["success_last"]
        secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        lines.append(f"{r['label']:<2} {str(r['agent']):<9} {r['n_tasks']:>5} {r['trial_return']:>12.3f} "
                     f"{f'[{ci[0]:.3f}, {ci[1]:.3f}]':>22} {r['first']:>9.3f} {r['last']:>9.3f}"
                     + ((f" {sl:>7.3f}" if sl is not None else f" {'-':>7}") if succ else "")
                     + f" {_steps(r['env_steps']):>7} {secs:>8}  {r['path']}")
    ref = result["reference"]
    lines += ["", f"difference from {ref} (trial return minus {ref}'s, 95% bootstrap CI):"]
    for label, d in result["differences"].items():
        lo, hi = d["ci"]
        verdict = "no difference shown (the CI holds 0)" if lo <= 0 <= hi else \
            ("higher" if d["mean"] > 0 else "lower") + " (the CI excludes 0)"
        how = (f"paired over {d['n_tasks']} shared tasks, higher on {d['better_share']:.0%} of them" if d["paired"]
               else f"unpaired: no shared task ids ({d['n_tasks'][0]} and {d['n_tasks'][1]} tasks)")
        lines.append(f"{label:<2} {d['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]  {verdict}; {how}")
    settings = result["settings"]
    lines += ["", "settings that differ (config.yaml; default: not in the run's config, the agent's or "
                  "trainer's default of its version):" if settings else
              "settings: the runs' config.yaml files agree"]
    if settings:
        width = max(len(k) for k in settings)
        cells = {k: [_value(v)[:12] if k == "git_rev" else _value(v) for v in values] for k, values in settings.items()}
        widths = [max([len(r["label"])] + [len(c[i]) for c in cells.values()]) for i, r in enumerate(rows)]
        lines.append(f"{'':<{width}}  " + "  ".join(f"{r['label']:<{w}}" for r, w in zip(rows, widths)))
        for key, values in cells.items():
            lines.append(f"{key:<{width}}  " + "  ".join(f"{v:<{w}}" for v, w in zip(values, widths)))
    return "\n".join(line.rstrip() for line in lines)
