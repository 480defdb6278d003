"""``metarl eval RUN_DIR``: a trained run's held-out evaluation, on its test or train split,
on a novelty suite, or with an agent option changed (``--agent-option``)."""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

from metarl.errors import MetaRLError, check_int


def run_eval(args) -> int:
    """The command, from its parsed arguments (see ``metarl eval --help``)."""
    from metarl.registry import evaluation_protocol
    from metarl.training.checkpoint import evaluated_checkpoint, load_agent_state, load_checkpoint
    from metarl.training.rundir import build, read_config
    from metarl.training.runner import print_summary
    from metarl.training.trainer import BEST_KEYS, evaluate_run

    run_dir = Path(args.run_dir)
    exp = read_config(run_dir)
    suite = None
    if args.suite is not None:
        from metarl.generator.suite import Suite

        if args.tasks is not None or args.split != "test" or args.protocol != "metarl":
            raise MetaRLError("--suite brings its own tasks: leave out --tasks, --split and --protocol")
        suite = Suite.load(args.suite)
    given = [o for o, v in (("--num-evals", args.num_evals), ("--protocol-tasks", args.protocol_tasks)) if v is not None]
    if given and args.protocol != "metaworld":
        raise MetaRLError(f"{' and '.join(given)} size the official Meta-World protocol, which runs only with "
                          "--protocol metaworld: add it, or leave them out")
    num_evals = check_int("--num-evals", 10 if args.num_evals is None else args.num_evals, low=1)
    protocol_tasks = check_int("--protocol-tasks", 20 if args.protocol_tasks is None else args.protocol_tasks, low=1)
    # baselines as the run had them (a run trained without them is evaluated without them)
    train = dataclasses.replace(exp.train, quiet=args.quiet, baselines=exp.train.baselines and not args.no_baselines)
    if args.deterministic:
        train.eval_deterministic = True
    if args.tasks is not None:
        train.eval_tasks = check_int("--tasks", args.tasks, low=1)
    if args.episodes is not None:
        train.episodes_per_trial = check_int("--episodes", args.episodes, low=1)
    if args.inner_steps_eval is not None:
        train.inner_steps_eval = check_int("--inner-steps-eval", args.inner_steps_eval, low=0)
    exp = dataclasses.replace(exp, train=train)
    changed: dict = {}
    if args.agent_option:   # e.g. rl2's reward_clip on weights trained without it
        exp, changed = exp.with_agent_options(args.agent_option)
    if args.device is not None:  # e.g. a run trained on a GPU, evaluated on a laptop
        exp = exp.with_overrides({"device": args.device})
    if args.protocol == "metaworld" and exp.family not in ("ml1", "ml10", "ml45"):
        raise MetaRLError(f"--protocol metaworld needs a Meta-World run (ml1, ml10, ml45); {run_dir} trained "
                          f"on {exp.family!r}")
    family, agent = build(exp)
    name = evaluated_checkpoint(run_dir).stem if args.checkpoint == "auto" else args.checkpoint
    ckpt = run_dir / "checkpoints" / f"{name}.pt"
    if not ckpt.exists():
        hint = " (best.pt is written by runs trained with --keep_best)" if name == "best" else ""
        raise MetaRLError(f"no checkpoint in {run_dir} (expected {ckpt}){hint}")
    ck = load_checkpoint(ckpt)
    load_agent_state(agent, ck, ckpt, exp)
    # a changed agent or the train split is evaluated beside the run's own report, not over it
    tag = "_".join([args.split] * (args.split != "test") + [exp.option_tag(changed)] * bool(changed))
    if suite is not None:
        return _eval_suite(args, exp, family, agent, suite, {"name": name, "iteration": ck.get("iteration"),
                                                            "env_steps": ck.get("env_steps")}, changed, tag)
    tasks = family.sample(train.eval_tasks, split=args.split, seed=train.eval_seed)
    out_dir = run_dir / f"eval_{tag}" if tag else run_dir
    trained = run_dir / "eval" / "report.json"
    if out_dir == run_dir and trained.exists() and not (run_dir / "eval" / "report.train.json").exists():
        # the training's own final evaluation is kept when `metarl eval` replaces report.json
        shutil.copy2(trained, run_dir / "eval" / "report.train.json")
    report = evaluate_run(exp, family, agent, out_dir, tasks=tasks, quiet=args.quiet, label=args.split)
    report.meta.update(iteration=ck.get("iteration"), env_steps=ck.get("env_steps"),
                       checkpoint={"name": name, **{k: ck[k] for k in BEST_KEYS if k in ck}})
    if changed:
        report.meta["agent_options_changed"] = changed
    official = None
    if args.protocol != "metarl":
        # the benchmark's own evaluation function on its own test envs, beside ours
        official = evaluation_protocol(args.protocol)(agent, family, num_evals=num_evals,
                                                      meta_batch_size=protocol_tasks, seed=train.eval_seed)
        report.meta["official_" + args.protocol] = official
    report.save(out_dir / "eval")
    # a TensorBoard sub-run beside the run's own curves (RUN/eval for a plain re-evaluation, whose
    # report replaces the training's, while the run's events keep the training's final points)
    tb_dir = out_dir if out_dir != run_dir else run_dir / "eval"
    _write_events(report, tb_dir, out_dir / "eval", ck.get("iteration") or 0)
    print_summary(report, run_dir, eval_dir=out_dir / "eval", tb_dir=tb_dir)
    if official is not None:
        ours = report.summary.get("success_per_episode")
        print(f"\nofficial {args.protocol} protocol ({official['settings']}): success rate "
              f"{official['success_rate']:.3f}, mean return {official['mean_return']:.1f}"
              + (f"; ours (success per episode index, last): {ours[-1]:.3f}" if ours else ""))
    return 0


def _write_events(report, tb_dir: Path, eval_dir: Path, step: int) -> None:
    """The report's final-evaluation scalars and plots as TensorBoard events in ``tb_dir``; the
    events of an earlier evaluation there are replaced, as its report files are."""
    from torch.utils.tensorboard import SummaryWriter

    for old in tb_dir.glob("events.out.tfevents.*"):
        old.unlink()
    with SummaryWriter(str(tb_dir)) as writer:
        report.to_tensorboard(writer, eval_dir, step)


def _eval_suite(args, exp, family, agent, suite, checkpoint: dict, changed: dict, tag: str) -> int:
    """``metarl eval RUN_DIR --suite FILE``: the run's evaluation (baselines, plots, MAML's
    inner-step curve) at each novelty level, into RUN_DIR/eval_suite/<suite file stem>[_<tag>]/
    (``tag`` names the ``changed`` agent options)."""
    from metarl.evaluation.suite_eval import SuiteReport, evaluate_suite
    from metarl.training.runner import tensorboard_hint
    from metarl.training.trainer import evaluate_run

    run_dir = Path(args.run_dir)
    out = run_dir / "eval_suite" / "_".join([Path(args.suite).stem] + [tag] * bool(tag))
    run_family = {"name": exp.family, "kwargs": exp.family_kwargs}
    recorded = {"agent_options_changed": changed} if changed else {}
    if out.exists():   # an earlier evaluation on a suite of this name: replaced, none of its files kept
        shutil.rmtree(out)
    report = evaluate_suite(agent, suite, episodes=exp.train.episodes_per_trial, seed=exp.train.eval_seed,
                            run_level=lambda j, level, tasks: evaluate_run(
                                exp, family, agent, out / SuiteReport.level_dir(j, level), tasks=tasks,
                                quiet=args.quiet, label=f"novelty level {level:g}"))
    report.meta.update(suite_file=str(args.suite), suite_sha256=hashlib.sha256(Path(args.suite).read_bytes()).hexdigest(),
                       run_dir=str(run_dir), checkpoint=checkpoint, run_family=run_family, **recorded)
    for rep in report.reports:   # as `metarl eval` records them
        rep.meta.update(iteration=checkpoint["iteration"], env_steps=checkpoint["env_steps"], checkpoint=checkpoint,
                        **recorded)
    path = report.save(out)
    report.to_tensorboard(out, step=checkpoint.get("iteration") or 0)
    print(f"\nnovelty suite {args.suite}: {family.name}, {len(suite)} tasks at levels {suite.levels}, "
          f"{exp.train.episodes_per_trial} episodes per trial ({exp.agent}, checkpoint {checkpoint['name']})")
    print(report.table())
    print(f"\n  report: {path} (per level: {out}/level_<j>_d<level>/eval/)")
    print(f"  plots:  {out / 'by_level.png'}, {out / 'adaptation.png'}")
    print(f"  TensorBoard: {tensorboard_hint(run_dir, out)}")
    return 0
