"""Build the wheel and import metarl from it (not from this checkout).

``envs/`` and ``agents/`` sit at the top of the repository and are installed as
``metarl.envs`` and ``metarl.agents`` through setuptools' ``package-dir`` mapping;
this test proves the mapping works in the built artefact.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import metarl

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "metarl", "envs", "agents", "experiments"]

CHECK = r"""
import json, sys
site = sys.argv[1]
sys.path.insert(0, site)

import metarl
import metarl.agents
import metarl.agents.baselines
import metarl.envs
import metarl.envs.bandit
import metarl.experiments
import metarl.generator
import metarl.rollout.vector
import metarl.tasks

fam = metarl.make_family("bandit", arms=3)
tasks = fam.sample(2, seed=0)
env = metarl.TrialWrapper(fam.make_env(tasks[0]), episodes=2)
obs, _ = env.reset(seed=0)
venv = fam.make_vector_env(2, 2)
vobs, _ = venv.reset(seed=0, options={"tasks": tasks})
mods = [metarl, metarl.agents, metarl.agents.baselines, metarl.envs, metarl.envs.bandit,
        metarl.experiments, metarl.generator, metarl.rollout.vector, metarl.tasks,
        sys.modules[type(fam).__module__]]
suite = metarl.generate_suite("point-nav", levels=[0, 1], per_level=2, seed=0)
print(json.dumps({
    "files": {m.__name__: m.__file__ for m in mods},
    "family_module": type(fam).__module__,
    "families": metarl.list_families(),
    "tasks": [t.to_json() for t in tasks],
    "obs_shape": list(obs.shape),
    "vobs_shape": list(vobs.shape),
    "suite_tasks": len(suite),
}))
"""


def _setuptools_can_build() -> bool:
    """setuptools in this interpreter, new enough for ``license = "MIT"`` (PEP 639, >= 77)."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    from importlib.metadata import version

    try:
        return int(version("setuptools").split(".")[0]) >= 77
    except ValueError:
        return False


def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so building leaves no build/ or egg-info in the checkout
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=ignore)
        elif p.exists():
            shutil.copy2(p, src / name)
    out = tmp / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", out]
    if _setuptools_can_build():
        cmd.append("--no-build-isolation")  # offline and fast; otherwise pip fetches the build backend
    _run(cmd + [src], cwd=tmp)
    wheels = list(out.glob("metarl-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ["metarl/__init__.py", "metarl/registry.py", "metarl/tasks/task.py",
                     "metarl/rollout/trial.py", "metarl/rollout/vector.py",
                     "metarl/envs/__init__.py", "metarl/envs/bandit.py",
                     "metarl/agents/__init__.py", "metarl/agents/baselines/__init__.py",
                     "metarl/experiments/__init__.py"]:
        assert required in names, required
    # the top-level source folders exist only under metarl/ in the wheel
    assert not any(n.split("/")[0] in ("envs", "agents", "experiments", "tests") for n in names)


def test_import_from_the_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
          "-q", "--target", site, wheel])
    workdir = tmp_path / "empty"  # nothing importable in the working directory
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # -I: no PYTHONPATH, no user site, no script directory on sys.path; the interpreter's
    # own site-packages (numpy, gymnasium) stay, and the wheel's copy goes first.
    proc = _run([sys.executable, "-I", "-c", CHECK, site], cwd=workdir, env=env)
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    site_root = site.resolve()
    for module, file in result["files"].items():
        path = Path(file).resolve()
        assert path.is_relative_to(site_root), f"{module} was imported from {path}, not from the wheel"
        assert not path.is_relative_to(ROOT), module
    assert result["family_module"] == "metarl.envs.bandit"
    assert "bandit" in result["families"]
    assert result["obs_shape"] == [1 + 3 + 3] and result["vobs_shape"] == [2, 1 + 3 + 3]
    assert result["suite_tasks"] == 4   # the generator ships in the wheel
    # the wheel samples exactly the tasks this checkout samples
    here = metarl.make_family("bandit", arms=3).sample(2, seed=0)
    assert [metarl.Task.from_json(t) for t in result["tasks"]] == here
