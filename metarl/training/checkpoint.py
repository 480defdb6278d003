"""Atomic checkpoints: write to a temp file in the same directory, then rename over."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from metarl.errors import MetaRLError, one_line


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """torch.save ``payload`` to ``path`` atomically.

    A crash (an exception, or Ctrl-C) while writing leaves the previous file intact and no
    temp file behind (a SIGKILL or power loss can leave a ``.NAME.tmpPID`` file, never a
    damaged ``path``); after a successful return the new file is on disk (file and
    directory fsynced), so a power loss cannot leave a renamed-but-empty checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def evaluated_checkpoint(run_dir: Path) -> Path:
    """The checkpoint a run's evaluation uses: ``best.pt`` where ``keep_best`` wrote one, else
    ``latest.pt`` (the training's own final report and ``metarl eval`` follow the same rule)."""
    best = Path(run_dir) / "checkpoints" / "best.pt"
    return best if best.exists() else Path(run_dir) / "checkpoints" / "latest.pt"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The payload saved at ``path`` (tensors on the CPU); an unreadable file (truncated,
    corrupt, not a checkpoint) is a one-line ``MetaRLError`` naming it."""
    import pickle

    try:
        ck = torch.load(Path(path), map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as exc:
        raise MetaRLError(f"cannot read the checkpoint {path} ({one_line(exc, 200)}); it is "
                          f"truncated or not a metarl checkpoint") from None
    if not isinstance(ck, dict):
        raise MetaRLError(f"{path} is not a metarl checkpoint (it holds a {type(ck).__name__}, not a dict)")
    return ck


def load_agent_state(agent, checkpoint: dict[str, Any], path: Path, exp) -> None:
    """Load ``checkpoint["agent"]`` into ``agent``; a checkpoint of another network (e.g. other
    ``--hidden_size``) is a one-line ``MetaRLError`` naming the file, the options that differ
    from the checkpoint's run and the first mismatching tensor."""
    try:
        agent.load_state_dict(checkpoint["agent"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        saved = (checkpoint.get("experiment") or {}).get("agent", {})
        old = saved.get("config", {}) if saved.get("name") == exp.agent else {}   # the checkpoint's run's options
        differ = {k: (old[k], v) for k, v in exp.agent_config.items() if k in old and old[k] != v}
        which = ("; options that differ from the checkpoint's run (its value -> this one): " + ", ".join(
            f"{k} {a!r} -> {b!r}" for k, (a, b) in differ.items())) if differ else ""
        raise MetaRLError(f"the checkpoint {path} does not fit agent {exp.agent!r} as configured{which} "
                          f"({_mismatch(exc)}); use the run's own network options (its config.yaml)") from None


def _mismatch(exc: BaseException) -> str:
    """The first shape mismatch of torch's ``load_state_dict`` error, shortly; else the error."""
    import re

    m = re.search(r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) "
                  r"from checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)", str(exc))
    if m:
        more = str(exc).count("size mismatch for") - 1
        return (f"{m.group(1)} is [{m.group(2)}] in the checkpoint and [{m.group(3)}] here"
                + (f", and {more} more tensors differ" if more > 0 else ""))
    return one_line(exc, 200)
