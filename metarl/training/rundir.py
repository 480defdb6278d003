"""Run directories: ``runs/<experiment>__s<seed>__<YYYYmmdd-HHMMSS>/`` with a resolved config.yaml."""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from metarl.errors import MetaRLError
from metarl.registry import make_agent, make_family
from metarl.seeding import derive_seeds
from metarl.training.config import Experiment

_LIBS = ("metarl", "numpy", "gymnasium", "mujoco", "metaworld", "stable-baselines3", "tensorboard")  # + torch


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries results depend on (None if absent), plus Python's.
    torch is its build string (``2.13.0+cpu``, ``2.11.0+cu130``: package metadata can drop the
    ``+cu`` tag) and ``torch_cuda`` the CUDA version it was built with (None for CPU builds)."""
    import torch

    out: dict[str, str | None] = {"python": platform.python_version(), "torch": str(torch.__version__),
                                  "torch_cuda": torch.version.cuda}
    for name in _LIBS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    """The git commit of the metarl source tree, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def build(exp: Experiment):
    """(family, agent) for an experiment; the agent's seed defaults to the run's seed.

    The agent is constructed under torch's global generator seeded from that seed (and
    restored afterwards), so network initialisation is reproducible even for an agent
    that initialises its layers from the global stream.
    """
    import torch

    family = make_family(exp.family, **exp.family_kwargs)
    agent_cfg = dict(exp.agent_config)
    agent_cfg.setdefault("seed", exp.train.seed)
    seed = agent_cfg["seed"] if isinstance(agent_cfg["seed"], int) and agent_cfg["seed"] >= 0 else exp.train.seed
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seeds(seed, 1, "agent-init")[0])  # CPU stream only
        agent = make_agent(exp.agent, family, **agent_cfg)
    return family, agent


def new_run_dir(exp: Experiment, run_dir: str | Path | None = None) -> Path:
    """Create the run directory and write config.yaml. Without ``run_dir`` the name is
    ``RUN_ROOT/NAME__sSEED__TIMESTAMP``, created exclusively (runs started in the same second,
    e.g. a sweep launched in the background, get ``-2``, ``-3``, ... instead of sharing one)."""
    if run_dir is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(exp.train.run_root) / f"{exp.name}__s{exp.train.seed}__{stamp}"
        _make_dir(base.parent, "--run_root")
        for n in range(1, 10_000):
            run_dir = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise MetaRLError(f"cannot create the run directory {run_dir}: {exc.strerror}") from None
        else:
            raise MetaRLError(f"could not create a fresh run directory next to {base}")
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints" / "latest.pt").exists():
        raise MetaRLError(f"{run_dir} already holds a run; continue it with `metarl train NAME --resume {run_dir}`, "
                          f"or give another run directory")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        # a run stopped before its first checkpoint may start again in its directory; files that
        # are not a run's (e.g. `--run_dir .` in a project) are not overwritten
        try:
            read_config(run_dir)
        except MetaRLError:
            held = sorted(p.name for p in run_dir.iterdir())
            raise MetaRLError(f"--run_dir {run_dir} exists and holds files that are not a metarl run's "
                              f"({', '.join(held[:5])}{', ...' if len(held) > 5 else ''}); give a new or empty "
                              "directory") from None
    _make_dir(run_dir, "--run_dir")
    write_config(exp, run_dir)
    return run_dir


def _make_dir(path: Path, option: str) -> None:
    """``mkdir -p path``; a path that cannot be a directory (a file on the way, no permission)
    is a one-line error naming it and the option that gave it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        hint = "; a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else ""
        raise MetaRLError(f"cannot create the directory {path} ({option}): {exc.strerror or exc}{hint}") from None


def write_config(exp: Experiment, run_dir: Path) -> None:
    cfg = exp.to_dict()
    cfg["versions"] = library_versions()
    cfg["git_rev"] = git_revision()
    (Path(run_dir) / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def read_config(run_dir: str | Path) -> Experiment:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise MetaRLError(f"{run_dir} is not a metarl run directory (no config.yaml)")
    try:
        return Experiment.from_dict(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:  # edited by hand, truncated, not ours
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MetaRLError(f"{path} is not a readable metarl config ({type(exc).__name__}: {reason})") from None
