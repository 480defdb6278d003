"""MAML on 2D point navigation (Finn et al. 2017, section 5.3).

Goals uniform in [-0.5, 0.5]^2, unobserved; episodes of 100 steps from the origin, actions
clipped to [-0.1, 0.1]^2, reward minus the *squared* distance to the goal (the paper's text;
``--reward distance`` gives the authors' code's Euclidean distance). MAML as in the paper:
MLP 2x100 ReLU Gaussian policy, one inner policy-gradient step of size 0.1 on 20 episodes per
task (linear feature baseline), meta-batch 20, TRPO outer step (KL 0.01) through the inner
step. As in the authors' code, the policy acts in [-1, 1] units mapped onto the action box
(``action_units="unit"``, rllab's ``normalize``). Ours: the TRPO metric is the first-order
one on a quarter of the query episodes (``metric``, ``cg_subsample``; the line search checks
the exact KL).

``python experiments/maml_point_nav.py`` trains MAML (like ``metarl train maml_point_nav``),
then, with the same budget, the paper's two references: a multi-task "pretrained" policy
(same network and TRPO, no inner step) and an "oracle" that observes the goal. It writes
eval/inner_steps.json and eval/inner_steps.png: held-out return after 0..3 inner steps
(20 episodes per step) for all three (the pretrained policy also fine-tuned with steps 10x
and 100x smaller than MAML's, since MAML's step makes it diverge), and the fraction of the gap
between MAML's pre-update return and the oracle's that one inner step closes. ``--agent metasgd`` runs
Meta-SGD (learned per-parameter inner step sizes) in MAML's place.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from metarl.errors import ConfigError, check_int
from metarl.training.config import Experiment, TrainConfig, parse_overrides, parse_value
from metarl.training.runner import main_for, run_to_known_dir, with_one_line_errors

PRETRAINED_STEP_SCALES = (0.1, 0.01)  # extra fine-tuning step sizes for the pretrained reference, x MAML's

EXPERIMENT = Experiment(
    name="maml_point_nav",
    family="point-nav",
    agent="maml",
    family_kwargs={"reward": "squared"},
    agent_config=dict(hidden_sizes=[100, 100], inner_lr=0.1, inner_steps=1, trajectories=20, meta_batch=20,
                      outer="trpo", max_kl=0.01, cg_subsample=0.25, init_std=1.0, action_units="unit"),
    train=TrainConfig(episodes_per_trial=4, total_steps=8_000_000, eval_tasks=500, eval_tasks_periodic=100,
                      checkpoint_every=10, baselines=False, inner_steps_eval=3),
    description=__doc__,
    agent_choices=("metasgd",),
)


def _load(run_dir: Path):
    from metarl.training.checkpoint import evaluated_checkpoint, load_checkpoint
    from metarl.training.rundir import build, read_config

    exp = read_config(run_dir)
    family, agent = build(exp)
    agent.load_state_dict(load_checkpoint(evaluated_checkpoint(run_dir))["agent"])  # as report.json
    return exp, family, agent


def train_references(root: Path, exp: Experiment, total_steps: int, quiet: bool) -> dict[str, Path]:
    """Train the pretrained (meta=False) and oracle (goal observed, meta=False) policies with
    the MAML run's network and outer optimiser, in ROOT/{pretrained,oracle} (kept if there)."""
    import metarl

    out = {}
    for name, fam_kwargs in (("pretrained", {}), ("oracle", {"observe_goal": True})):
        path = Path(root) / name
        if not (path / "checkpoints" / "latest.pt").exists():
            print(f"\ntraining the {name} reference ({total_steps} steps) -> {path}", flush=True)
            opts = {**exp.agent_config, "meta": False, "eval_tasks": 100, "eval_tasks_periodic": 50,
                    "baselines": False, "inner_steps_eval": 0, "quiet": quiet}
            metarl.train(exp.family, "maml", family_kwargs={**exp.family_kwargs, **fam_kwargs},
                         episodes_per_trial=exp.train.episodes_per_trial, total_steps=total_steps,
                         seed=exp.train.seed, run_dir=str(path), experiment_name=f"{exp.name}_{name}", **opts)
        out[name] = path
    return out


def reference_report(run_dir: str | Path, *, steps: int = 3, baseline_steps: int | None = None,
                     quiet: bool = True, references: str | Path | None = None) -> dict:
    """Curves after 0..``steps`` inner steps for MAML and the two references on the MAML run's
    held-out tasks -> eval/inner_steps.json (+ .png); returns the dict. ``references``: a
    directory holding (or to hold) the references; default RUN_DIR/references."""
    run_dir = Path(run_dir)
    exp, family, maml = _load(run_dir)
    refs = train_references(Path(references) if references else run_dir / "references", exp,
                            baseline_steps or exp.train.total_steps, quiet)
    tasks = family.sample(exp.train.eval_tasks, split="test", seed=exp.train.eval_seed)
    agents = {exp.agent: maml, **{name: _load(path)[2] for name, path in refs.items()}}
    curves = {name: a.inner_step_curve(tasks, steps=steps, seed=exp.train.eval_seed) for name, a in agents.items()}
    curves.update(smaller_step_curves(agents["pretrained"], tasks, steps, exp.train.eval_seed))
    r = {name: [p["mean"] for p in c["per_step"]] for name, c in curves.items()}
    gap = r["oracle"][0] - r[exp.agent][0]
    out = {"experiment": exp.name, "agent": exp.agent, "n_tasks": len(tasks), "curves": curves,
           "gap_closed_after_1_step": (r[exp.agent][1] - r[exp.agent][0]) / gap if gap > 0 else None}
    (run_dir / "eval").mkdir(parents=True, exist_ok=True)
    (run_dir / "eval" / "inner_steps.json").write_text(json.dumps(out, indent=1))
    plot_inner_steps(curves, exp.agent, run_dir / "eval" / "inner_steps.png", len(tasks))
    return out


def plot_inner_steps(curves: dict, agent_name: str, path: Path, n_tasks: int) -> None:
    """The curves, the oracle as its no-adaptation level, on the y range of the learner's curve
    and the references' starting points (a diverging fine-tune runs off the chart, labelled)."""
    from metarl.evaluation.plots import plot_adaptation

    levels = [p["mean"] for p in curves[agent_name]["per_step"]] + [c["per_step"][0]["mean"] for c in curves.values()]
    levels = [v for v in levels if v is not None]
    bottom, top = min(levels), max(levels)
    ylim = (bottom - 0.25 * (top - bottom + 1e-9), top + 0.1 * (top - bottom + 1e-9))
    shown = {}
    for name, c in curves.items():
        pts = c["per_step"]
        if name == "oracle":
            shown["oracle (goal observed, no adaptation)"] = [pts[0]] * len(pts)
            continue
        off = any(p["mean"] is not None and p["mean"] < ylim[0] for p in pts)
        shown[name + (" (diverges: off the chart)" if off else "")] = pts
    plot_adaptation(shown, path, x_start=0, xlabel="inner gradient steps (20 episodes each)",
                    ylabel="return per episode", title=f"point-nav held-out goals (n={n_tasks})", ylim=ylim)


def smaller_step_curves(agent, tasks, steps: int, seed: int, scales=PRETRAINED_STEP_SCALES) -> dict:
    """The fine-tuned pretrained policy's curves with its inner step size times each of ``scales``
    (named "pretrained, step X"). Multi-task training shrinks its policy's std (0.05 against
    MAML's 0.9 on point-nav), and the policy gradient of the mean grows as 1/std, so MAML's step
    can overshoot by orders of magnitude: these rows show the baseline at a step that suits it.
    Reading off the best row picks the step on the held-out tasks themselves, which favours
    the baseline."""
    import torch

    base = {k: v.detach().clone() for k, v in agent.lrs.items()}
    out = {}
    try:
        for scale in scales:
            with torch.no_grad():
                for k, v in agent.lrs.items():
                    v.copy_(base[k] * scale)
            step = float(next(iter(agent.lrs.values())).reshape(-1)[0])
            out[f"pretrained, step {step:g}"] = agent.inner_step_curve(tasks, steps=steps, seed=seed)
    finally:
        with torch.no_grad():
            for k, v in agent.lrs.items():
                v.copy_(base[k])
    return out


def format_report(out: dict) -> str:
    from metarl.evaluation.report import inner_step_table

    lines = [inner_step_table(name, c) for name, c in out["curves"].items()]
    g = out["gap_closed_after_1_step"]
    lines.append(f"one inner step closes {g:.1%} of the gap between {out.get('agent', 'maml')}'s pre-update return "
                 "and the oracle's"
                 if g is not None else "the oracle is not above MAML's pre-update return: gap undefined")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Train MAML (``--agent metasgd``: Meta-SGD), then the references (``--baseline_steps N``,
    default: the same total_steps; ``--references DIR`` reuses those of another run, e.g.
    RUN_DIR/references), and print the inner-step curves."""
    if any(a in ("-h", "--help") for a in argv):
        rc = main_for(EXPERIMENT)
        print("\nthis script's own options:\n  --baseline_steps N   training steps of each reference (pretrained, "
              "oracle); default: the run's total_steps\n  --references DIR     reuse (or keep) the references in DIR; "
              "default: RUN_DIR/references")
        return rc
    overrides = parse_overrides(argv)
    baseline_steps = overrides.pop("baseline_steps", None)
    references = overrides.pop("references", None)
    if baseline_steps is not None:       # checked before MAML trains, not after
        baseline_steps = check_int("--baseline_steps", parse_value("baseline_steps", baseline_steps, 0), low=1)
    if references is not None and Path(references).exists() and not Path(references).is_dir():
        raise ConfigError(f"--references {references} is a file; give a directory (it is created if missing)")
    rc, run_dir = run_to_known_dir(EXPERIMENT, overrides)
    if rc == 0:
        quiet = str(overrides.get("quiet", "false")).lower() in ("1", "true", "yes", "on")
        out = reference_report(run_dir, baseline_steps=baseline_steps, quiet=quiet, references=references)
        print()
        print(format_report(out))
    return rc


if __name__ == "__main__":
    raise SystemExit(with_one_line_errors(main, sys.argv[1:]))
