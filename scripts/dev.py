#!/usr/bin/env python3
"""Set up a local virtual environment and run metarl's main job or its tests.

    python3 scripts/dev.py main [--key value ...]   # default experiment: train, evaluate, report
    python3 scripts/dev.py test [pytest args ...]   # the test suite (what CI runs)

Creates (or reuses) ``.venv`` beside this repository, installs torch and
``metarl[dev]`` into it (again only when pyproject.toml changed), then runs the job.
torch is pinned to ``METARL_TORCH`` (default ``torch==2.13.0``): on CPU-only CI this
resolves to the CPU wheel; on a machine with an NVIDIA GPU a plain PyPI install of
the same version is the CUDA build. Only the Python standard library is used here.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("METARL_VENV", ROOT / ".venv"))
TORCH = os.environ.get("METARL_TORCH", "torch==2.13.0")
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def ensure_env() -> None:
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".metarl-install-stamp"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if run(pip + ["--upgrade", "pip"]) != 0:
        sys.exit("pip upgrade failed")
    if run(pip + [TORCH]) != 0:
        sys.exit(f"installing {TORCH} failed")
    if run(pip + ["-e", f"{ROOT}[dev]"]) != 0:
        sys.exit("installing metarl failed")
    stamp.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("main", "test"):
        print(__doc__)
        return 2
    ensure_env()
    env = dict(os.environ)
    if argv[0] == "test":
        return run([PY, "-m", "pytest", "-q", *argv[1:]], cwd=ROOT, env=env)
    return run([BIN / "metarl", "train", "rl2_bandits", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
