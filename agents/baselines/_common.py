"""Shared pieces of the classic baselines: option checks, reading the trial obs, tie-breaking.

All baselines read only the trial observation (``agent.layout`` slices, see
``metarl.rollout.trial``), never ``info``, so they run in any evaluator that feeds
``act`` one observation per step.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_int

#: values within this distance of the row maximum count as tied (float noise only)
TIE_TOL = 1e-9


def check_seed(agent: str, seed: object) -> int:
    """The ``seed`` option: a non-negative int."""
    return check_int(f"{agent}: seed", seed, low=0)


def require_discrete_actions(agent: str, action_space: spaces.Space) -> int:
    """Number of actions; ConfigError for any non-Discrete action space."""
    if not isinstance(action_space, spaces.Discrete):
        raise ConfigError(f"agent {agent!r} needs a Discrete action space, got {action_space}; "
                          f"use a bandit/tabular family (or agent 'random')")
    return int(action_space.n)


def check_batch(agent: str, obs: np.ndarray, dim: int) -> np.ndarray:
    """``obs`` as a float64 [B, dim] array (float64 so counts and sums stay exact)."""
    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim != 2 or obs.shape[1] != dim:
        raise ConfigError(f"agent {agent!r}: act expects trial observations of shape [B, {dim}], "
                          f"got {list(obs.shape)}")
    return obs


def previous_step(layout, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the previous step from trial observations ``obs`` [B, D] (Discrete actions).

    Returns ``has_prev`` [B] bool (False at the first step of a trial, where the
    prev-action one-hot is all zero), ``action`` [B] int64 (0-based index, 0 where
    ``has_prev`` is False) and ``reward`` [B] float64.
    """
    onehot = obs[:, layout.prev_action]
    has_prev = onehot.sum(axis=1) > 0.5
    return has_prev, onehot.argmax(axis=1).astype(np.int64), obs[:, layout.prev_reward]


def random_argmax(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``values`` [B, k] with ties broken uniformly at random -> [B] int64.

    ``-inf`` marks unavailable entries; every row must have a finite maximum or +inf.
    """
    best = values.max(axis=1, keepdims=True)
    tied = values >= best - TIE_TOL
    # A uniform key per entry, zeroed outside the tie set: argmax picks a uniform tied entry.
    return np.argmax(tied * (rng.random(values.shape) + 1.0), axis=1).astype(np.int64)


def infer_horizon(layout, obs: np.ndarray, counts: np.ndarray) -> int | None:
    """Pulls per trial read from the trial obs [B, D]: ``trial_progress = pulls / n``, with
    ``pulls`` from the per-arm counts [B, k, 2]. None before the first pull (progress 0)."""
    progress = np.asarray(obs)[:, layout.trial_progress]
    pulls = counts.sum(axis=(1, 2))
    ok = np.flatnonzero((progress > 0) & (pulls > 0))
    if not ok.size:
        return None
    i = int(ok[0])  # every trial of a batch has the same length
    return int(round(pulls[i] / progress[i]))
