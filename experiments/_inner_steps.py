"""Shared by the supervised MAML / Meta-SGD presets (``maml_sinusoid``, ``maml_fewshot``):
after training, the held-out curve after 0..n inner steps beside the pretrained multi-task
baseline, written to eval/inner_steps.json and printed as a table."""
from __future__ import annotations

import json
from pathlib import Path

from metarl.training.config import Experiment, parse_overrides
from metarl.training.runner import main_for, run_to_known_dir


def inner_step_report(run_dir: str | Path, *, steps: int = 10, queries: int = 100) -> dict:
    """Load a trained run, compute ``inner_step_curves`` on its held-out tasks, write
    eval/inner_steps.json and return it."""
    from metarl.agents.maml_eval import inner_step_curves
    from metarl.training.checkpoint import evaluated_checkpoint, load_checkpoint
    from metarl.training.rundir import build, read_config

    run_dir = Path(run_dir)
    exp = read_config(run_dir)
    family, agent = build(exp)
    agent.load_state_dict(load_checkpoint(evaluated_checkpoint(run_dir))["agent"])  # as report.json
    tasks = family.sample(exp.train.eval_tasks, split="test", seed=exp.train.eval_seed)
    out = inner_step_curves(agent, tasks, steps=steps, queries=queries, seed=exp.train.eval_seed)
    out.update(experiment=exp.name, agent=exp.agent)
    path = run_dir / "eval" / "inner_steps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


def format_curves(out: dict) -> str:
    """A table: the metric (query MSE or accuracy, 95% CI) per method after 0, 1, ..., n inner steps."""
    names = list(out["curves"])
    metric = out["metric"].replace("query_", "query ").replace("mse", "MSE")
    lines = [f"held-out {metric} after n inner steps ({out['n_tasks']} tasks, K={out['support']}, "
             f"{out['queries']} queries; 95% CI)", "steps  " + "  ".join(f"{n:>24}" for n in names)]
    for i, s in enumerate(out["steps"]):
        cells = ["diverged" if c["mean"][i] is None else
                 f"{c['mean'][i]:8.3f} [{c['ci_low'][i]:.3f}, {c['ci_high'][i]:.3f}]" for c in out["curves"].values()]
        lines.append(f"{s:>5}  " + "  ".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def train_and_report_inner_steps(experiment: Experiment, argv: list[str]) -> int:
    """Train ``experiment`` with the command-line overrides ``argv`` (as ``metarl train``),
    then write and print its inner-step curves."""
    if any(a in ("-h", "--help") for a in argv):
        return main_for(experiment)
    rc, run_dir = run_to_known_dir(experiment, parse_overrides(argv))
    if rc == 0:
        print("\ninner-step curves on the held-out tasks, beside the pretrained multi-task reference (trained "
              "here for a fixed 3000 Adam steps, whatever --total_steps is) ...",
              flush=True)
        print(format_curves(inner_step_report(run_dir)))
    return rc
