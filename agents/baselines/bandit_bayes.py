"""``bandit-bayes-optimal``: the exact Bayes-optimal policy for Bernoulli bandits.

Arm means have independent Beta(1, 1) (uniform) priors, which is exactly how the
``bandit`` family draws tasks, so this policy maximises the expected trial return over
the task distribution: it is the ceiling a meta-learner (RL²) can reach, not a heuristic.

Dynamic programming over posterior states. The posterior is the list of per-arm counts
(successes, failures); the remaining horizon is ``horizon - total pulls``. Arms are
exchangeable a priori, so a state is the *sorted multiset* of the counts of the arms
pulled at least once (untried arms are implicit: ``arms - len(state)`` of them). The
number of states is small for short trials (k=5, n=10: 3,519 states;
k=10, n=10: 4,435) but grows fast with n (k=5, n=20: 347,846; n=30: 8.4M), so solvers
refuse state spaces above ``max_states`` with a ConfigError.

    V(state) = 0                                          if total pulls == horizon
    V(state) = max over arm types (s, f) of  p (1 + V(state, s+1)) + (1 - p) V(state, f+1),
               p = (s + 1) / (s + f + 2)

Measured: ``bayes_optimal_value(5, 10) = 6.660``, ``bayes_optimal_value(10, 10) = 6.714``
(docs/results.md).
"""
from __future__ import annotations

import bisect
import functools
import itertools
from typing import Any

import numpy as np

from metarl.errors import ConfigError, check_int
from metarl.learning.agent import Agent

from ._common import (check_batch, check_seed, infer_horizon, previous_step, random_argmax,
                      require_discrete_actions)

#: default cap on DP states (k=5, n=20 -- 347,846 states -- solves in about 4 s on a 2-core machine)
DEFAULT_MAX_STATES = 400_000
State = tuple[int, ...]  # sorted codes of the pulled arms' (s, f), see BayesBanditSolver


def _state_counts(arms: int, horizon: int) -> list[int]:
    """``out[h]`` = number of DP states of a trial of ``h`` pulls, for h = 0..horizon (one pass)."""
    arms = min(arms, horizon)  # a state holds at most ``horizon`` pulled arms
    # dp[j][t]: multisets of j pairs with t pulls in all. There are m + 1 pair types
    # (s, f) with s + f = m; each type may repeat (unbounded knapsack over types).
    dp = [[0] * (horizon + 1) for _ in range(arms + 1)]
    dp[0][0] = 1
    for m in range(1, horizon + 1):
        for _ in range(m + 1):
            for j in range(1, arms + 1):
                row, prev = dp[j], dp[j - 1]
                for t in range(m, horizon + 1):
                    row[t] += prev[t - m]
    per_total = [sum(dp[j][t] for j in range(arms + 1)) for t in range(horizon + 1)]
    return list(itertools.accumulate(per_total))


def count_states(arms: int, horizon: int) -> int:
    """Number of DP states: multisets of at most ``arms`` nonzero (s, f) pairs with total
    pulls <= ``horizon`` (a cheap count, so the size check never builds the table)."""
    return _state_counts(arms, horizon)[-1]


@functools.lru_cache(maxsize=64)
def _check_size(arms: int, horizon: int, max_states: int) -> None:
    # Counting costs ~arms * h^3, so probe doubling horizons and stop at the first one that is
    # already too large (counts grow with h): a huge horizon is refused as fast as a small one.
    h = min(horizon, 8)
    while True:
        counts = _state_counts(arms, h)
        if counts[-1] > max_states:
            longest = max([i for i, c in enumerate(counts) if c <= max_states], default=0)
            size = f"{counts[-1]:,}" if h == horizon else f"more than {counts[-1]:,}"
            raise ConfigError(f"bandit-bayes-optimal: arms={arms}, horizon={horizon} needs {size} DP states, "
                              f"over max_states={max_states:,}; accepted: horizon <= {longest} for {arms} arms "
                              f"(or raise max_states)")
        if h == horizon:
            return
        h = min(2 * h, horizon)


class BayesBanditSolver:
    """Bayes-optimal values for ``arms`` Bernoulli arms and a trial of ``horizon`` pulls.

    An arm's counts (s, f) are coded as the int ``s * (horizon + 1) + f`` (0 = untried) and a
    state is the sorted tuple of the codes of the pulled arms: int tuples sort and compare
    about twice as fast as tuples of pairs. The table is built bottom-up (no recursion, so
    long horizons cannot overflow the stack): states are enumerated level by level (level =
    pulls so far), then valued from the last level back to the first.
    """

    def __init__(self, arms: int, horizon: int) -> None:
        self.arms, self.horizon, self.base = arms, horizon, horizon + 1
        self._value: dict[State, float] = {}
        self._best: dict[State, frozenset[int]] = {}
        levels: list[list[State]] = [[()]]
        for _ in range(horizon):
            nxt: dict[State, None] = {}                     # insertion-ordered set
            for state in levels[-1]:
                for code in self._options(state):
                    nxt[self._after(state, code, code + self.base)] = None
                    nxt[self._after(state, code, code + 1)] = None
            levels.append(list(nxt))
        for state in levels[horizon]:
            self._value[state] = 0.0
        for level in reversed(levels[:horizon]):
            for state in level:
                self._value[state] = max(self.q_values(state).values())

    def encode(self, s: int, f: int) -> int:
        """The code of an arm with ``s`` successes and ``f`` failures."""
        return s * self.base + f

    def _options(self, state: State) -> list[int]:
        # Distinct arm types only: two arms with equal counts have equal Q-values.
        opts = sorted(set(state))
        if len(state) < self.arms:
            opts.append(0)
        return opts

    @staticmethod
    def _after(state: State, code: int, new: int) -> State:
        lst = list(state)
        if code:
            lst.remove(code)
        bisect.insort(lst, new)
        return tuple(lst)

    def q_values(self, state: State) -> dict[int, float]:
        """Q of pulling an arm of each type (code) in ``state``, plus 0 if an arm is untried;
        ``state`` must have fewer than ``horizon`` pulls."""
        out, value = {}, self._value
        for code in self._options(state):
            s, f = divmod(code, self.base)
            p = (s + 1.0) / (s + f + 2.0)
            win = value[self._after(state, code, code + self.base)]
            loss = value[self._after(state, code, code + 1)]
            out[code] = p * (1.0 + win) + (1.0 - p) * loss
        return out

    def value(self, state: State = ()) -> float:
        """Expected reward of the remaining pulls under the optimal policy."""
        return self._value[state]

    def best_types(self, state: State) -> frozenset[int]:
        """Codes of the arm types with maximal Q in ``state`` (several when tied)."""
        best = self._best.get(state)
        if best is None:
            q = self.q_values(state)
            top = max(q.values())
            best = frozenset(c for c, v in q.items() if v >= top - 1e-12)
            self._best[state] = best
        return best


@functools.lru_cache(maxsize=8)
def _solver(arms: int, horizon: int) -> BayesBanditSolver:
    return BayesBanditSolver(arms, horizon)


def bayes_optimal_value(arms: int, horizon: int, max_states: int = DEFAULT_MAX_STATES) -> float:
    """Expected trial return of the Bayes-optimal policy: ``arms`` Bernoulli arms with U[0, 1]
    means, ``horizon`` pulls. E.g. ``bayes_optimal_value(5, 10) ~= 6.660``."""
    arms = check_int("bandit-bayes-optimal: arms", arms, low=1)
    horizon = check_int("bandit-bayes-optimal: horizon", horizon, low=0)
    max_states = check_int("bandit-bayes-optimal: max_states", max_states, low=1)
    _check_size(arms, horizon, max_states)
    return _solver(arms, horizon).value(())


class BayesOptimalBanditAgent(Agent):
    """Acts greedily on the exact Bayes-optimal Q-values given the trial's counts (ties random).

    Options:
        horizon: pulls per trial (= episodes per trial). ``None`` (default) reads it from the
            trial obs at every step: the first pull is arbitrary (all arms are symmetric), and
            afterwards ``trial_progress = pulls / horizon``. So one agent serves trials of any
            length; give it explicitly to fail early (at construction) on too-large tables.
        max_states: refuse (ConfigError) DP tables larger than this (default 400,000).
        seed: int >= 0, seeds the tie-breaking generator.

    ``state`` = counts float64 [B, k, 2] (successes, failures per arm). If a trial runs past
    ``horizon`` pulls the agent continues greedily on the posterior mean. Acting groups the B trials by
    posterior state and does one dict lookup per distinct state.
    ``deterministic`` is ignored (the policy is deterministic up to exact ties).
    """

    name = "bandit-bayes-optimal"

    def __init__(self, family, horizon: int | None = None, max_states: int = DEFAULT_MAX_STATES,
                 seed: int = 0) -> None:
        super().__init__(family)
        self.arms = require_discrete_actions(self.name, self.action_space)
        self.action_start = int(self.action_space.start)
        self.max_states = check_int(f"{self.name}: max_states", max_states, low=1)
        self.seed = check_seed(self.name, seed)
        self.rng = np.random.default_rng(self.seed)
        self.horizon = None if horizon is None else check_int(f"{self.name}: horizon", horizon, low=1)
        if self.horizon is not None:
            self._solver_for(self.horizon)

    def config(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "max_states": self.max_states, "seed": self.seed}

    def _solver_for(self, horizon: int) -> BayesBanditSolver:
        _check_size(self.arms, horizon, self.max_states)   # both cached: cheap on every step
        return _solver(self.arms, horizon)

    def init_state(self, batch: int) -> np.ndarray:
        """Counts [B, k, 2], all zero."""
        return np.zeros((int(batch), self.arms, 2), dtype=np.float64)

    def act(self, obs: np.ndarray, state: np.ndarray, deterministic: bool = False):
        """obs [B, D], counts [B, k, 2] -> (actions [B] int64, new counts [B, k, 2])."""
        obs = check_batch(self.name, obs, self.layout.dim)
        has_prev, action, reward = previous_step(self.layout, obs)
        counts = np.array(state, dtype=np.float64, copy=True)
        rows = np.flatnonzero(has_prev)
        # Bernoulli rewards; rounding keeps the DP's integer counts exact.
        r = (reward[rows] > 0.5).astype(np.float64)
        counts[rows, action[rows], 0] += r
        counts[rows, action[rows], 1] += 1.0 - r
        horizon = self.horizon if self.horizon is not None else infer_horizon(self.layout, obs, counts)
        return self._choose(counts, horizon) + self.action_start, counts

    def _choose(self, counts: np.ndarray, horizon: int | None) -> np.ndarray:
        icounts = np.rint(counts).astype(np.int64)
        pulls = icounts.sum(axis=(1, 2))
        # Default: greedy on the posterior mean (used past the horizon, or before it is known);
        # at the first pull every mean is 0.5, so this is uniform, as the symmetric DP would be.
        mean = (counts[..., 0] + 1.0) / (counts.sum(-1) + 2.0)
        allowed = mean >= mean.max(axis=1, keepdims=True) - 1e-12          # [B, k]
        dp_rows = np.flatnonzero((pulls > 0) & (pulls < horizon)) if horizon is not None else []
        if len(dp_rows):
            solver = self._solver_for(horizon)
            codes = icounts[dp_rows, :, 0] * solver.base + icounts[dp_rows, :, 1]   # [R, k]
            # Trials in the same posterior state share one lookup (a few hundred per step).
            keys, inverse = np.unique(np.sort(codes, axis=1), axis=0, return_inverse=True)
            best = np.full((len(keys), self.arms), -1, dtype=np.int64)        # best codes, -1 padded
            for u, row in enumerate(keys.tolist()):
                types = sorted(solver.best_types(tuple(c for c in row if c)))
                best[u, :len(types)] = types
            allowed[dp_rows] = (codes[:, :, None] == best[inverse.reshape(-1)][:, None, :]).any(-1)
        return random_argmax(allowed.astype(np.float64), self.rng)
