"""Data of the supervised MAML / Meta-SGD agents (``metarl.agents.maml``): the support size, the
per-trial state when acting, the collected batch and its lazily computed trial statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from metarl.errors import ConfigError, short_repr


@dataclass
class SupervisedBatch:
    """B trials of a one-step family: x [B, k, in], y [B, k, out] in trial order; the first
    ``support`` examples of each trial form its support set."""

    x: torch.Tensor
    y: torch.Tensor
    support: int
    stats: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return int(self.stats["env_steps"])


class TrialStats(dict):
    """``batch.stats``: ``env_steps`` and, once known, ``support_mse``, ``query_mse`` (for a
    classifier ``support_accuracy``, ``query_accuracy``) and ``trial_return``; reading one of
    those before ``update`` has filled them computes them."""

    KEYS = ("support_mse", "query_mse", "support_accuracy", "query_accuracy", "trial_return")

    def __init__(self, compute, **items) -> None:
        super().__init__(**items)
        self._compute = compute

    def __missing__(self, key):
        if key in self.KEYS and self._compute is not None:
            self.update(self._compute())
            return self[key]
        raise KeyError(key)

    def update(self, *args, **kwargs) -> None:  # filled (by update or on demand): no lazy compute left
        super().update(*args, **kwargs)
        if "trial_return" in self:   # the computed stats come together
            self._compute = None


def regression_stats(support_err: torch.Tensor, query_err: torch.Tensor, k_support: int, k_query: int
                     ) -> dict[str, float]:
    """Trial stats from per-task support / query MSE [B]."""
    return {"support_mse": float(support_err.mean()), "query_mse": float(query_err.mean()),
            "trial_return": float(-(k_support * support_err + k_query * query_err).mean())}


def support_option(family, support: int | None) -> int:
    """The support set size K: ``support``, or the family's ``support_size`` (ways x shots for a
    classification family with a support plan), which an explicit ``support`` must equal."""
    planned = getattr(family, "support_size", None)
    if support is None:
        return 10 if planned is None else planned
    if planned is not None and support != planned:
        raise ConfigError(f"support={short_repr(support)} does not match family {family.name!r}'s support set of "
                          f"{planned} examples (ways x shots); leave support unset or set it to {planned}")
    return support


@dataclass
class SupportState:
    """Per-trial memory: support inputs xs / targets ys seen so far (lists of [B, in] / [B, out];
    a classifier also keeps the integer labels [B]) and the per-task parameters ([B, ...])
    adapted on the first ``adapted_on`` of them (None: the meta-parameters)."""

    xs: list = field(default_factory=list)
    ys: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    params: dict | None = None
    adapted_on: int = 0
