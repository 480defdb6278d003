"""Writing text files atomically (a bottom-layer helper, like ``errors`` and ``seeding``)."""
from __future__ import annotations

from pathlib import Path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temp file beside ``path``, then rename it over ``path``:
    a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)   # e.g. ``path`` is a directory: leave no temp file behind
        raise
    return path
