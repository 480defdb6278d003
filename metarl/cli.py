"""``metarl`` command line: list, train, eval, compare, ... (see ``metarl --help``)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from metarl.errors import MetaRLError, check_int


def _cmd_list(args) -> int:
    from metarl.registry import list_agents, list_families
    from metarl.training.runner import list_experiments, sibling_experiments

    print("families:    " + ", ".join(list_families()))
    print("agents:      " + ", ".join(list_agents()))
    print("experiments: " + ", ".join(list_experiments()))
    print("  and, by --family / --agent on a preset: " + ", ".join(sorted(sibling_experiments())))
    return 0


def _cmd_train(args) -> int:
    from metarl.errors import UnknownNameError
    from metarl.training.config import parse_overrides
    from metarl.training.rundir import read_config
    from metarl.training.runner import load_experiment, run_experiment

    try:
        exp = load_experiment(args.experiment)
    except UnknownNameError:
        # A run started from Python (metarl.train) has no preset file; resuming it only
        # needs the run directory's config.yaml.
        resume = None if any(a in ("-h", "--help") for a in args.overrides) else \
            parse_overrides(args.overrides).get("resume")
        if not resume:
            raise
        exp = read_config(resume)
    return run_experiment(exp, args.overrides)


def _cmd_eval(args) -> int:
    from metarl.training.eval_command import run_eval

    return run_eval(args)


def _cmd_compare(args) -> int:
    import json

    from metarl.evaluation.compare import compare, format_comparison
    from metarl.files import write_text_atomically

    result = compare(args.runs)
    print(format_comparison(result))
    if args.json:
        write_text_atomically(args.json, json.dumps(result, indent=1) + "\n")
        print(f"\nwritten: {args.json}")
    return 0


def _cmd_baselines(args) -> int:
    from tqdm.auto import tqdm

    from metarl.evaluation.evaluator import evaluate_baselines
    from metarl.evaluation.report import summary_table
    from metarl.errors import ConfigError

    family, options = _family_from_argv("baselines", args)
    names = list(family.baselines)
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        wrong = [n for n in names if n not in family.baselines] or ([] if names else [args.only])
        if wrong:
            raise ConfigError(f"--only {wrong[0]!r} is not a baseline of family {family.name!r}; "
                              f"accepted (comma-separated): {list(family.baselines)}")
    tasks = family.sample(check_int("--tasks", args.tasks, low=1), split=args.split,
                          seed=check_int("--seed", args.seed, low=0))
    # supervised families' presets score trials of 20 one-step episodes (support + queries)
    episodes = check_int("--episodes", args.episodes if args.episodes is not None else
                         (20 if family.kind == "supervised" else 10), low=1)
    total = len(tasks) * episodes * family.max_episode_steps * len(names)
    with tqdm(total=total, disable=args.quiet, desc="baselines", unit="step", unit_scale=True) as bar:
        out = evaluate_baselines(family, tasks, episodes=episodes, seed=args.seed, names=names,
                                 progress=bar.update, exact=True)
    given = "".join(f" --{k} {v}" for k, v in options.items())
    print(f"{family.name}{given}: {len(tasks)} {args.split} tasks (seed {args.seed}), {episodes} episodes per trial")
    print(summary_table(list(out.items())))
    return 0


def _family_from_argv(command: str, args):
    """(family, options) built from ``args.family`` and the ``--key value`` options argparse
    left in ``args.family_argv``; an unknown option is one line listing the command's
    (``args.own_options``) and the family's options."""
    from metarl.errors import ConfigError, did_you_mean
    from metarl.registry import family_options, make_family
    from metarl.training.config import parse_overrides, parse_value

    defaults = family_options(args.family)          # an unknown family: one line listing the families
    options = parse_overrides(args.family_argv)     # --key value; dashes in keys become underscores
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown option(s) {['--' + k for k in unknown]}{did_you_mean(unknown, defaults)} for "
                          f"`metarl {command} {args.family}`; "
                          f"accepted: {args.own_options} and the family's {['--' + k for k in defaults]}")
    options = {k: parse_value(k, v, defaults[k]) for k, v in options.items()}
    return make_family(args.family, **options), options


def _cmd_generate(args) -> int:
    import numpy as np

    from metarl.generator.suite import generate_suite

    family, options = _family_from_argv("generate", args)
    out = Path(args.output or f"{family.name}-suite.json")
    if out.is_dir():   # found before the work, not after it
        raise MetaRLError(f"-o {out} is a directory; give a file name, e.g. {out / (family.name + '-suite.json')}")
    suite = generate_suite(family, levels=args.levels, per_level=args.per_level, seed=args.seed, vary=args.vary,
                           move=args.move, side=args.side, probe_steps=args.probe_steps,
                           max_redraws=args.max_redraws)
    suite.save(out)
    given = "".join(f" --{k} {v}" for k, v in options.items())
    m = suite.meta
    print(f"{family.name}{given}: {len(suite)} tasks, {m['per_level']} per level, varied from held-out tasks "
          f"(seed {m['seed']}), vary={m['vary']}, move={m['move']}, side={m.get('side', 'both')}")
    print(f"moved: {', '.join(m['moved'])}" + "".join(f"; fixed {k} ({v})" for k, v in m["fixed"].items()))
    print(f"validity probes: {m['probe_steps']} random steps per task, {m['redraws']} variants redrawn")
    scalars = [n for n in m["moved"] if all(isinstance(t.params[n], (int, float)) for t in suite.tasks())]
    print(f"{'level':>6} {'distance mean':>14} {'min':>6} {'max':>6}" + "".join(f"  {n} (range; share above its box)"
                                                                             for n in scalars))
    for level in suite.levels:
        d = suite.distances(level)
        cells = []
        for name in scalars:   # where the moved values lie: which side of the box, and how far
            v = np.array([t.params[name] for t in suite.tasks(level)], dtype=float)
            cells.append(f"  {v.min():.3g} to {v.max():.3g}; {np.mean(v > family.params[name].high):.0%} above")
        print(f"{level:>6g} {d.mean():>14.3f} {d.min():>6.3f} {d.max():>6.3f}" + "".join(cells))
    print(f"suite: {out}\nevaluate a run on it: metarl eval RUN_DIR --suite {out}")
    return 0


def _options_of(parser: argparse.ArgumentParser) -> list[str]:
    """The options a (sub)parser defines, as `--a/-b` strings, for error messages."""
    return ["/".join(a.option_strings) for a in parser._actions if a.option_strings and a.dest != "help"]

# `metarl bench NAME` runs metarl.experiments.bench_NAME.main(options)
BENCHMARKS = {
    "rl2": "RL² throughput and quality-per-time vs sb3-contrib RecurrentPPO",
    "maml": "one meta-iteration: batched (stacked / vmap) vs per-task loop, iterations/s and peak memory",
    "rollout": "MuJoCo / Meta-World: raw single-env steps/s vs collection (sync, processes) and RL² training",
}


def _cmd_bench(args) -> int:
    import importlib

    module = importlib.import_module(f"metarl.experiments.bench_{args.what}")
    return module.main(_dashed(args.options))


def _dashed(argv: list[str]) -> list[str]:
    """``--eval_tasks 5`` -> ``--eval-tasks 5``: `eval` and `bench` options are spelt with
    dashes, `train`'s with underscores, and each command takes either spelling. A value that
    starts with a minus sign (``--levels -1,0``) is joined to its option (``--levels=-1,0``),
    so that argparse checks it instead of taking it for an option."""
    out: list[str] = []
    for a in argv:
        if a.startswith("--"):
            a = re.sub(r"^(--[^=]+)", lambda m: m.group(1).replace("_", "-"), a)
        elif re.match(r"^-[0-9.]", a) and out and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={a}"
            continue
        out.append(a)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metarl", description="Meta-RL on task distributions: train, evaluate, list.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("list", help="families, agents and experiments available")
    s.set_defaults(func=_cmd_list)
    s = sub.add_parser("train", help="run an experiment preset (experiments/NAME.py) with overrides",
                       description="Run an experiment preset. `metarl train NAME --help` lists its options.",
                       add_help=False)
    s.add_argument("experiment", help="preset name (see `metarl list`) or path to a preset .py file")
    s.add_argument("overrides", nargs=argparse.REMAINDER,
                   help="--key value overrides (trainer, family or agent options), --run_dir DIR, "
                        "--resume RUN_DIR, --help")
    s.set_defaults(func=_cmd_train)
    p.train_parser = s  # main() prints its help (it has add_help=False)
    s = sub.add_parser("eval", help="held-out evaluation of a trained run (writes eval/report.json; "
                                          "the training's own is kept as eval/report.train.json)")
    s.add_argument("run_dir", help="a run directory made by `metarl train`")
    s.add_argument("--tasks", type=int, default=None, help="number of held-out tasks (default: the run's eval_tasks)")
    s.add_argument("--episodes", type=int, default=None, help="episodes per trial (default: the run's)")
    s.add_argument("--inner-steps-eval", type=int, default=None,
                   help="MAML / Meta-SGD: the curve after 0..N inner steps (default: the run's inner_steps_eval; "
                        "0: none)")
    s.add_argument("--split", choices=["test", "train"], default="test", help="which split to draw tasks from")
    s.add_argument("--no-baselines", action="store_true",
                   help="skip the classic baselines (a run trained with baselines=false never evaluates them)")
    s.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampling")
    s.add_argument("--checkpoint", choices=["auto", "latest", "best"], default="auto",
                   help="which policy: latest.pt, or best.pt of a run trained with keep_best (auto: best.pt "
                        "where it exists, as the training's own final evaluation)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--agent-option", action="append", default=[], metavar="KEY=VALUE",
                   help="evaluate the trained weights with an agent option changed (repeatable): rl2's "
                        "reward_clip and memory, maml's inner_steps and inner_lr, metasgd's inner_steps; written "
                        "to RUN_DIR/eval_KEY-VALUE/ (e.g. eval_reward_clip-2/; suites: "
                        "eval_suite/<suite>_KEY-VALUE/), the change recorded in the report")
    s.add_argument("--device", default=None,
                   help="auto, cpu, cuda or cuda:N (default: the run's own; a CUDA run evaluates on CPU with cpu)")
    s.add_argument("--suite", default=None,
                   help="evaluate on a suite of novel variants made by `metarl generate` (per novelty level, "
                        "into RUN_DIR/eval_suite/NAME/) instead of the held-out split")
    s.add_argument("--protocol", choices=["metarl", "metaworld"], default="metarl",
                   help="metaworld: also run Meta-World's own metalearning_evaluation on its test envs")
    s.add_argument("--num-evals", type=int, default=None,
                   help="rounds of the official protocol (with --protocol metaworld; default 10)")
    s.add_argument("--protocol-tasks", type=int, default=None,
                   help="test tasks per round of the official protocol (its meta_batch_size; default 20)")
    s.set_defaults(func=_cmd_eval)
    s = sub.add_parser("compare", help="held-out reports of runs side by side: the difference from the first "
                                       "(paired over shared tasks) and the settings that differ",
                       description="Compare the held-out evaluation of two or more runs. The first is the "
                                   "reference: each other run's trial return minus the reference's, with a 95% "
                                   "bootstrap CI, paired over the test tasks both evaluated (runs with the same "
                                   "family, split and eval_seed share them), and the config.yaml entries in which "
                                   "the runs differ.")
    s.add_argument("runs", nargs="+", metavar="RUN",
                   help="a run directory (its eval/report.json), an evaluation directory such as "
                        "RUN/eval_memory-none, or a report.json")
    s.add_argument("--json", default=None, metavar="PATH", help="also write the comparison as JSON")
    s.set_defaults(func=_cmd_compare)
    s = sub.add_parser("baselines", help="the classic baselines of a family on its held-out tasks (no training)",
                       allow_abbrev=False,
                       description="Evaluate a family's classic baselines (random, UCB, Gittins, Bayes-optimal, "
                                   "PSRL, ...) on held-out tasks, without training. Family options follow as "
                                   "--key value, e.g. `metarl baselines bandit --arms 10 --episodes 100`.")
    s.add_argument("family", help="a task family (see `metarl list`)")
    s.add_argument("--episodes", type=int, default=None,
                   help="episodes per trial (bandits: pulls; default 10, supervised families 20 as their presets)")
    s.add_argument("--tasks", type=int, default=1000, help="number of tasks")
    s.add_argument("--seed", type=int, default=1000,
                   help="task and agent seed (the trainer's eval_seed, so the tasks are a run's test tasks)")
    s.add_argument("--split", choices=["test", "train"], default="test", help="which split to draw tasks from")
    s.add_argument("--only", default=None, help="comma-separated baseline names (default: all of the family's)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_baselines, own_options=_options_of(s))
    s = sub.add_parser("generate", help="novel task variants at controlled distances from a family's train box "
                                        "(a suite JSON for `metarl eval RUN_DIR --suite`)", allow_abbrev=False,
                       description="Vary a family's held-out tasks out of its train box: level 0 is the held-out "
                                   "tasks themselves, a level d > 0 moves their parameters to distances in (previous "
                                   "level, d] train-box widths beyond the box, within the parameters' hard limits. "
                                   "Each variant is probed (validate, reset, random steps) before it is kept. Family "
                                   "options follow as --key value, e.g. `metarl generate cartpole-dynamics "
                                   "--max_scale 1.5`.")
    s.add_argument("family", help="a task family (see `metarl list`)")
    s.add_argument("--levels", default="0,0.25,0.5,1",
                   help="increasing distances in train-box widths, comma-separated (0 = in distribution)")
    s.add_argument("--per-level", type=int, default=100, help="tasks per level (the same held-out tasks, varied)")
    s.add_argument("--seed", type=int, default=1000,
                   help="seed of the held-out draw and of the variants (default: the trainer's eval_seed, so "
                        "level 0 holds the first tasks of a run's held-out set)")
    s.add_argument("--vary", default="all",
                   help="what moves out of the box: all, a group (dynamics, reward, task) or parameter names, "
                        "comma-separated (e.g. amplitude)")
    s.add_argument("--move", choices=["all", "one"], default="all",
                   help="all: every coordinate of the moved parameters; one: a single coordinate per task")
    s.add_argument("--side", choices=["both", "above", "below"], default="both",
                   help="both: each moved coordinate below or above its box at random (where its hard limits "
                        "allow); above / below: on that side only (e.g. only harder tasks)")
    s.add_argument("--probe-steps", type=int, default=20, help="random steps each variant must survive")
    s.add_argument("--max-redraws", type=int, default=20,
                   help="draws of a variant that fails its probe before giving up")
    s.add_argument("-o", "--output", default=None, help="suite JSON path (default: FAMILY-suite.json)")
    s.set_defaults(func=_cmd_generate, own_options=_options_of(s))
    s = sub.add_parser("bench", help=f"throughput / memory benchmarks with ratios ({', '.join(BENCHMARKS)})",
                       add_help=False, description="`metarl bench NAME --help` lists a benchmark's options.")
    s.add_argument("what", choices=list(BENCHMARKS), help="which benchmark")
    s.add_argument("options", nargs=argparse.REMAINDER, help="options of that benchmark (--help for them)")
    s.set_defaults(func=_cmd_bench)
    p.bench_parser = s
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv[:1] == ["train"] and (len(argv) == 1 or argv[1] in ("-h", "--help")):
        # `train` has add_help=False (its --help belongs to the preset, `metarl train NAME --help`)
        train = parser.train_parser
        if len(argv) == 1:
            train.print_usage(sys.stderr)
            print("metarl train: error: name an experiment (see `metarl list`)", file=sys.stderr)
            return 2
        train.print_help()
        print("\nexperiments: see `metarl list`; options of one: `metarl train NAME --help`")
        return 0
    if argv[:1] == ["bench"] and (len(argv) == 1 or argv[1] in ("-h", "--help")):
        out = sys.stdout if len(argv) > 1 else sys.stderr  # bare `metarl bench` is a usage error, as `train`
        parser.bench_parser.print_help(out)
        print("\nbenchmarks:", file=out)
        for name, what in BENCHMARKS.items():
            print(f"  {name:<8} {what}", file=out)
        print("options of one: `metarl bench NAME --help`", file=out)
        if len(argv) == 1:
            print("metarl bench: error: name a benchmark", file=sys.stderr)
            return 2
        return 0
    if argv[:1] == ["eval"]:
        argv = ["eval", *_dashed(argv[1:])]
    if argv[:1] in (["baselines"], ["generate"]):
        if len(argv) > 1 and argv[1].startswith("-") and argv[1] not in ("-h", "--help"):
            print(f"error: name the family first: metarl {argv[0]} FAMILY [--key value ...] (families: "
                  "`metarl list`)", file=sys.stderr)
            return 2
        # what argparse does not know are the family's options (checked in _family_from_argv)
        args, family_argv = parser.parse_known_args([argv[0], *_dashed(argv[1:])])
        args.family_argv = family_argv
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MetaRLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
