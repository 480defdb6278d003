"""Running an experiment preset from the command line (``metarl train`` and ``python experiments/X.py``)."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Any

from metarl.errors import ConfigError, MetaRLError, UnknownNameError, did_you_mean
from metarl.training.config import Experiment, TrainConfig, parse_overrides, parse_value


def list_experiments() -> list[str]:
    """Preset names shipped in ``metarl.experiments``."""
    import metarl.experiments as pkg

    return sorted(p.stem for p in Path(pkg.__file__).parent.glob("*.py") if not p.stem.startswith(("_", "bench_")))


def load_experiment(name: str) -> Experiment:
    """A preset by name (``rl2_bandits``) or by path to a preset file."""
    if name.endswith(".py") and Path(name).exists():
        spec = importlib.util.spec_from_file_location(Path(name).stem, name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if name.endswith(".py"):
            raise UnknownNameError(f"no preset file {name!r} (not found); or use a preset name: {list_experiments()}")
        presets = list_experiments()
        if name not in presets:
            return _sibling_or_error(name, presets)
        module = importlib.import_module(f"metarl.experiments.{name}")
    exp = getattr(module, "EXPERIMENT", None)
    if not isinstance(exp, Experiment):
        raise MetaRLError(f"{name} defines no EXPERIMENT = metarl.training.config.Experiment(...)")
    return exp


def sibling_experiments() -> dict[str, list[Experiment]]:
    """Run names that presets give with ``--family`` / ``--agent`` (``rl2_ant_dir`` is
    ``rl2_cheetah_vel --family ant-dir``, ``sb3-ppo_point_nav`` is ``rl2_point_nav --agent
    sb3-ppo``), each with the experiment(s) it stands for; preset names themselves excluded."""
    presets = list_experiments()
    out: dict[str, list[Experiment]] = {}
    for preset in map(load_experiment, presets):
        for family in (preset.family, *preset.family_choices):
            on_family = preset._with_family(family)
            for agent in (preset.agent, *preset.agent_choices):
                exp = on_family._with_agent(agent)
                if exp.name not in presets:
                    out.setdefault(exp.name, []).append(exp)
    return out


def _sibling_or_error(name: str, presets: list[str]) -> Experiment:
    """The experiment a sibling run name stands for; an unknown name (or one that several presets
    give) is an error naming what is available."""
    siblings = sibling_experiments()
    found = siblings.get(name, [])
    if len(found) > 1:
        raise UnknownNameError(f"experiment {name!r} is a sibling of several presets; run one of them with "
                               f"--family / --agent")
    if not found:
        raise UnknownNameError(f"unknown experiment {name!r}{did_you_mean(name, [*presets, *siblings])}; "
                               f"available: {presets} and the runs their --family / --agent choices give "
                               "(`metarl list`)")
    return found[0]


def _sibling_origin(exp: Experiment) -> str | None:
    """``"rl2_cheetah_vel --family ant-dir"`` for a run that is not a preset of its own but
    one preset's ``--family`` / ``--agent`` choice (None for a preset, or a preset file)."""
    presets = list_experiments()
    if exp.name in presets:
        return None
    for preset in map(load_experiment, presets):
        flags = preset.sibling_flags(exp)
        if flags:
            return f"{preset.name} {flags}"
    return None


def help_text(exp: Experiment) -> str:
    """``--help`` for a preset: every overridable key with its current value."""
    from metarl.registry import (agent_option_docs, agent_options, family_option_docs, family_options,
                                 family_summary)

    docs = _field_docs()
    lines = [f"usage: metarl train {exp.name} [--key value ...] [--run_dir DIR | --resume RUN_DIR]", ""]
    origin = _sibling_origin(exp)
    if origin:
        lines += [*textwrap.wrap(f"{exp.name} is `metarl train {origin}`: that preset's recipe, described "
                                 f"below, on family {exp.family} with agent {exp.agent}.", 100), ""]
    lines += [exp.description.strip(), "", f"family: {exp.family}   agent: {exp.agent}"]
    lines += textwrap.wrap(family_summary(exp.family), 100, initial_indent="  ", subsequent_indent="  ")
    for what, choices in (("family", exp.family_choices), ("agent", exp.agent_choices)):
        if choices:
            lines.append(f"  --{what} {' | '.join(choices)}: a sibling {what} instead")
    lines += ["", "trainer options:"]
    for f in dataclasses.fields(TrainConfig):
        lines.append(_option_line(f.name, getattr(exp.train, f.name), docs.get(f.name, "")))
    for title, options, current, about in (
            ("family", family_options(exp.family), exp.family_kwargs, family_option_docs(exp.family)),
            ("agent", agent_options(exp.agent, exp.family), exp.agent_config,
             agent_option_docs(exp.agent, exp.family))):
        if not options:
            continue   # e.g. sinusoid: a family without options
        lines.append("")
        lines.append(f"{title} options ({exp.family if title == 'family' else exp.agent}):")
        for key, default in options.items():
            if title == "agent" and key == "seed":
                continue  # the trainer's --seed seeds the agent too (listed above)
            lines.append(_option_line(key, current.get(key, default), about.get(key, "")))
    return "\n".join(lines)


def _option_line(name: str, value: Any, doc: str) -> str:
    """``  --name   value   description`` with the description wrapped under its column."""
    head = f"  --{name:<22} {value!r:<12} "
    wrapped = textwrap.wrap(" ".join(doc.split()), width=max(40, 110 - len(head)))
    return (head + ("\n" + " " * len(head)).join(wrapped)).rstrip()


def _field_docs() -> dict[str, str]:
    """Attribute docstrings of TrainConfig (the string literal after each field)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body
    docs = {}
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
            docs[a.target.id] = str(b.value.value)
    return docs


@dataclasses.dataclass
class PreparedRun:
    """A validated run, ready to train: its trainer, resolved experiment and run directory."""

    trainer: object
    exp: Experiment
    run_dir: Path
    resume: bool
    record_config: tuple[str, ...]
    """Options given with ``--resume``, recorded into config.yaml (empty: none)."""


def prepare_run(exp: Experiment, overrides: dict[str, str]) -> PreparedRun:
    """Apply ``--key value`` overrides (``--resume RUN_DIR`` continues a run, ``--run_dir``
    names a new one), validate everything, and only then create the run directory."""
    from metarl.registry import family_options
    from metarl.training.rundir import new_run_dir, read_config
    from metarl.training.trainer import Trainer

    overrides = dict(overrides)
    resume, run_dir_opt = (parse_value(k, overrides.pop(k), "") if k in overrides else None
                           for k in ("resume", "run_dir"))
    if resume and run_dir_opt:
        raise ConfigError(f"--run_dir names a new run and --resume continues one; give one of them "
                          f"(--run_dir {run_dir_opt}, --resume {resume})")
    if resume:
        run_dir = Path(resume)
        base, given = exp, [k for k in ("family", "agent") if k in overrides]
        # a sibling's run of this preset (--family ant-dir, --agent metasgd)
        exp = exp.with_overrides({k: overrides.pop(k) for k in given})
        preset, exp = exp, read_config(run_dir)
        if preset.name != exp.name:
            flags = base.sibling_flags(exp)
            sibling = f" ({'with' if given else 'add'} {flags}{' instead' if given else ''})" if flags else ""
            raise ConfigError(f"{run_dir} is a run of {exp.name!r}, not {preset.name!r}{sibling}; continue it "
                              f"with: metarl train {exp.name} --resume {run_dir}")
        fixed = sorted(k for k in overrides if k == "seed" or k in family_options(exp.family))
        if fixed:
            raise ConfigError(f"--resume continues a run as it was seeded and built; these options cannot "
                              f"change: {', '.join('--' + k for k in fixed)} (start a new run instead)")
        if overrides:
            # e.g. --total_steps to extend a run (the lr / entropy annealing then follows the
            # new total). Trainer.run records them in config.yaml once the checkpoint has loaded, so
            # a later --resume or `metarl eval` sees the same config.
            exp = exp.with_overrides(overrides)
        return PreparedRun(Trainer(exp), exp, run_dir, True, tuple(sorted(overrides)))
    exp = exp.with_overrides(overrides)
    trainer = Trainer(exp)
    return PreparedRun(trainer, exp, new_run_dir(exp, run_dir_opt), False, ())


def execute_run(run: PreparedRun) -> int:
    """Train (or continue) and evaluate a prepared run, print where everything is; exit code
    0, or 130 after Ctrl-C (a checkpoint was saved)."""
    exp = run.exp
    print(f"metarl: {exp.name} ({exp.agent} on {exp.family} {exp.family_kwargs}) -> {run.run_dir}", flush=True)
    try:
        report = run.trainer.run(run.run_dir, resume=run.resume, record_config=run.record_config)
    except KeyboardInterrupt as exc:
        print(f"\n{exc}" if str(exc) else "\ninterrupted", file=sys.stderr)
        return 130
    print_summary(report, run.run_dir)
    return 0


def run_experiment(exp: Experiment, argv: list[str]) -> int:
    """Parse overrides and ``--resume``, train, evaluate, print where everything is."""
    if any(a in ("-h", "--help") for a in argv):
        print(help_text(_with_given_options(exp, argv)))
        return 0
    return execute_run(prepare_run(exp, parse_overrides(argv)))


def _with_given_options(exp: Experiment, argv: list[str]) -> Experiment:
    """The preset with the options given beside ``--help`` applied (``--agent NAME`` first), so
    it lists the values a run would take; unknown or bad options are the usual errors.
    ``--resume`` / ``--run_dir`` are left out (help starts no run)."""
    overrides = parse_overrides([a for a in argv if a not in ("-h", "--help")])
    for key in ("resume", "run_dir"):
        overrides.pop(key, None)
    return exp.with_overrides(overrides)


def run_to_known_dir(exp: Experiment, overrides: dict[str, str]) -> tuple[int, Path]:
    """``run_experiment`` for a preset's script that post-processes the run: returns
    (exit code, run directory)."""
    run = prepare_run(exp, overrides)
    return execute_run(run), run.run_dir


def print_summary(report, run_dir: Path, eval_dir: Path | None = None, tb_dir: Path | None = None) -> None:
    """The held-out table and where the run's files are (``eval_dir``: default RUN_DIR/eval;
    ``tb_dir``: the TensorBoard events, default RUN_DIR)."""
    run_dir = Path(run_dir)
    eval_dir = Path(eval_dir) if eval_dir is not None else run_dir / "eval"
    s = report.summary
    split = report.meta.get("split", "test")
    what = "held-out evaluation" if split == "test" else "evaluation"
    print(f"\n{what}: {s['n_tasks']} {split} tasks, {s['episodes']} episodes per trial "
          f"(return summed over the trial; 95% bootstrap CI)")
    print(report.table())
    print(f"\nrun directory: {run_dir}")
    print(f"  report:      {eval_dir / 'report.json'} (tables: returns.csv, summary.csv)")
    print(f"  plot:        {eval_dir / 'adaptation.png'}")
    print(f"  TensorBoard: {tensorboard_hint(run_dir, tb_dir)}")


def tensorboard_hint(run_dir: Path, tb_dir: Path | None = None) -> str:
    """The command that shows the run (and its sibling runs) in TensorBoard, naming the
    sub-run ``tb_dir`` below ``run_dir`` that holds an evaluation's events (default: the run)."""
    run_dir = Path(run_dir)
    tb_dir = Path(tb_dir) if tb_dir is not None else run_dir
    sub_run = "" if tb_dir == run_dir else f" (sub-run {run_dir.name}/{tb_dir.relative_to(run_dir)})"
    return f"tensorboard --logdir {run_dir.parent}{sub_run}"


def main_for(exp: Experiment) -> int:
    """Entry point for ``python experiments/NAME.py [--key value ...]``."""
    return with_one_line_errors(run_experiment, exp, sys.argv[1:])


def with_one_line_errors(fn, *args) -> int:
    """``fn(*args)`` as a command's exit code: a ``MetaRLError`` (bad option, value, run
    directory) prints one line to stderr and gives 2 instead of a traceback."""
    try:
        return fn(*args)
    except MetaRLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
