"""Seeded random generators derived with ``np.random.SeedSequence``.

Every random draw in metarl comes from a generator built here, keyed by the
caller's seed plus string labels (family name, split, purpose). The labels are
hashed with CRC32, which is stable across processes and Python versions (the
built-in ``hash`` of a string is salted per process, so it must not be used).
"""
from __future__ import annotations

import zlib

import numpy as np

from metarl.errors import ConfigError

SeedLike = "int | np.random.Generator | np.random.SeedSequence"


def _label_key(label: str | int) -> int:
    if isinstance(label, (int, np.integer)):
        if label < 0:
            raise ConfigError(f"seed labels must be strings or non-negative ints, got {label!r}")
        return int(label)
    return zlib.crc32(str(label).encode("utf-8"))


def seed_sequence(seed: int, *labels: str | int) -> np.random.SeedSequence:
    """A SeedSequence for ``seed`` specialised by ``labels`` (e.g. "bandit", "train")."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int (or a numpy Generator), got {seed!r}")
    return np.random.SeedSequence(int(seed), spawn_key=tuple(_label_key(x) for x in labels))


def make_rng(seed: "int | np.random.Generator | np.random.SeedSequence", *labels: str | int) -> np.random.Generator:
    """A numpy Generator. A Generator passed in is returned as is (the caller owns its stream)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        if labels:
            seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + tuple(_label_key(x) for x in labels))
        return np.random.default_rng(seed)
    return np.random.default_rng(seed_sequence(seed, *labels))


def derive_seeds(seed: int, n: int, *labels: str | int) -> list[int]:
    """``n`` independent 32-bit integer seeds (for env resets, workers) from ``seed`` and labels."""
    return [int(x) for x in seed_sequence(seed, *labels).generate_state(n, dtype=np.uint32)]
