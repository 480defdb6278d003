"""Classic Bernoulli-bandit baselines (RL² paper, Duan et al. 2016, table 1).

Every agent keeps per-trial counts ``state`` = float64 [B, k, 2] (successes, failures
of each arm), updated from the trial obs's prev_action one-hot and prev_reward. A
reward r in [0, 1] adds r successes and 1 - r failures (exact for Bernoulli rewards).

Two families of variants (measured scores in docs/results.md):

- *prior-based* (``GreedyAgent``, ``EpsilonGreedyAgent``, ``UCBAgent``, ``ThompsonAgent``):
  work on the Beta(1, 1) posterior, so an untried arm counts as mean 0.5 and is not
  forced. These reproduce the paper's baseline table.
- *textbook* (``UCB1Agent``): pull every arm once, then empirical mean plus bonus.
  Much weaker for short trials (it spends the first k pulls on exploration).

``deterministic`` is accepted and ignored by all of them: their randomness (tie-breaks,
exploration, posterior samples) is part of the algorithm and comes from the agent's own
``np.random.Generator`` (option ``seed``).

Vectorised over the batch: one ``act`` call is a handful of numpy ops on [B, k].
"""
from __future__ import annotations

from typing import Any

import numpy as np

from metarl.errors import check_float
from metarl.learning.agent import Agent

from ._common import check_batch, check_seed, previous_step, random_argmax, require_discrete_actions


class BanditAgent(Agent):
    """Base class: counts bookkeeping; subclasses implement ``_choose(counts) -> arms [B]``."""

    name = "bandit-base"

    def __init__(self, family, seed: int = 0) -> None:
        super().__init__(family)
        self.arms = require_discrete_actions(self.name, self.action_space)
        self.action_start = int(self.action_space.start)
        self.seed = check_seed(self.name, seed)
        self.rng = np.random.default_rng(self.seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def init_state(self, batch: int) -> np.ndarray:
        """Counts [B, k, 2]: (successes, failures) per arm, all zero."""
        return np.zeros((int(batch), self.arms, 2), dtype=np.float64)

    def update_counts(self, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """New counts [B, k, 2] after the step reported in ``obs`` [B, D] (input not modified)."""
        obs = check_batch(self.name, obs, self.layout.dim)
        has_prev, action, reward = previous_step(self.layout, obs)
        counts = np.array(state, dtype=np.float64, copy=True)
        rows = np.flatnonzero(has_prev)
        r = np.clip(reward[rows], 0.0, 1.0)  # Beta counts need r in [0, 1]
        counts[rows, action[rows], 0] += r
        counts[rows, action[rows], 1] += 1.0 - r
        return counts

    def act(self, obs: np.ndarray, state: np.ndarray, deterministic: bool = False):
        """obs [B, D], counts [B, k, 2] -> (actions [B] int64, new counts [B, k, 2])."""
        counts = self.update_counts(obs, state)
        return self._choose(counts) + self.action_start, counts

    def _choose(self, counts: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def posterior_mean(counts: np.ndarray) -> np.ndarray:
        """Beta(1, 1) posterior mean (s + 1) / (n + 2) -> [B, k]; 0.5 for an untried arm."""
        return (counts[..., 0] + 1.0) / (counts.sum(-1) + 2.0)


class GreedyAgent(BanditAgent):
    """Prior-based greedy: argmax of the Beta(1, 1) posterior mean, ties uniformly at random.

    Matches the paper's "Greedy" column (measured 6.62 at n=10, k=5 in the project's reference runs).
    """

    name = "bandit-greedy"

    def _choose(self, counts):
        return random_argmax(self.posterior_mean(counts), self.rng)


class EpsilonGreedyAgent(BanditAgent):
    """Prior-based epsilon-greedy: a uniform random arm with probability ``eps``, else greedy
    on the Beta(1, 1) posterior mean (ties random).

    Default ``eps=0.05`` was tuned against the paper's column (6.6 / 6.6 / 75.4 / 77.4 at
    (n, k) = (10, 5) / (10, 10) / (100, 5) / (100, 10)); 50k simulated tasks give
    6.56 / 6.61 / 75.3 / 78.8 (eps=0.02: 6.60 / 6.66 / 75.6 / 79.2).
    """

    name = "bandit-eps-greedy"

    def __init__(self, family, eps: float = 0.05, seed: int = 0) -> None:
        super().__init__(family, seed=seed)
        self.eps = check_float(f"{self.name}: eps", eps, low=0.0, high=1.0)

    def config(self):
        return {"eps": self.eps, "seed": self.seed}

    def _choose(self, counts):
        greedy = random_argmax(self.posterior_mean(counts), self.rng)
        b = counts.shape[0]
        explore = self.rng.random(b) < self.eps
        return np.where(explore, self.rng.integers(0, self.arms, size=b), greedy)


class UCBAgent(BanditAgent):
    """Prior-based UCB: posterior mean + ``c * sqrt(2 ln(t + 1) / (n_i + 1))``.

    ``t`` = pulls so far in the trial, ``n_i`` = pulls of arm i. The +1s keep the bonus
    finite for untried arms (which start from the prior mean 0.5, not +inf). With the
    default ``c=0.1`` (range 0.05-0.1 in the project's reference runs), 50k simulated tasks give
    6.65 / 6.69 at (n=10, k=5 / 10) and 78.2 / 83.0 at (n=100, k=5 / 10); the references
    are 6.65 / 6.73 and 78.1 / 83.0.
    """

    name = "bandit-ucb"

    def __init__(self, family, c: float = 0.1, seed: int = 0) -> None:
        super().__init__(family, seed=seed)
        self.c = check_float(f"{self.name}: c", c, low=0.0, high=100.0)

    def config(self):
        return {"c": self.c, "seed": self.seed}

    def _choose(self, counts):
        n = counts.sum(-1)                                  # [B, k]
        t = n.sum(-1, keepdims=True)                        # [B, 1]
        bonus = self.c * np.sqrt(2.0 * np.log(t + 1.0) / (n + 1.0))
        return random_argmax(self.posterior_mean(counts) + bonus, self.rng)


class UCB1Agent(BanditAgent):
    """Textbook UCB1 (Auer et al. 2002): pull every untried arm first (random order), then
    argmax of empirical mean ``s_i / n_i + c * sqrt(2 ln t / n_i)`` with ``t`` = pulls so far.

    No prior: weak on short trials (reference runs: 5.67 at (n=10, k=5) with ``c=1``,
    random-level at k=10, 66.0 / 63.5 at n=100).
    """

    name = "bandit-ucb1"

    def __init__(self, family, c: float = 1.0, seed: int = 0) -> None:
        super().__init__(family, seed=seed)
        self.c = check_float(f"{self.name}: c", c, low=0.0, high=100.0)

    def config(self):
        return {"c": self.c, "seed": self.seed}

    def _choose(self, counts):
        n = counts.sum(-1)
        t = n.sum(-1, keepdims=True)
        safe_n = np.maximum(n, 1.0)
        value = counts[..., 0] / safe_n + self.c * np.sqrt(2.0 * np.log(np.maximum(t, 1.0)) / safe_n)
        # Untried arms come first; a large finite value keeps random_argmax's tie test exact.
        value = np.where(n > 0, value, 1e30)
        return random_argmax(value, self.rng)


class ThompsonAgent(BanditAgent):
    """Prior-based Thompson sampling: draw each arm's mean from Beta(s + 1, f + 1), pull the
    argmax (reference runs: 5.83 / 5.59 at n=10, k=5 / 10; 75.1 / 77.1 at n=100)."""

    name = "bandit-thompson"

    def _choose(self, counts):
        draws = self.rng.beta(counts[..., 0] + 1.0, counts[..., 1] + 1.0)
        return draws.argmax(axis=1).astype(np.int64)  # continuous draws: ties have probability 0
