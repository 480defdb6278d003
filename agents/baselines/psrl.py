"""``psrl``: posterior sampling for reinforcement learning (Osband et al. 2013) on tabular MDPs.

The RL² paper's tabular-MDP baseline (the paper reports 138.1 for n=10 episodes of 10 steps,
10 states, 5 actions; random scores 100.1). Per trial the agent keeps a posterior

- transitions: Dirichlet(``dirichlet_prior`` + visit counts) per (s, a) -- flat Dirichlet(1)
  by default, which is how ``tabular-mdp`` draws them;
- mean rewards: Normal, prior N(``reward_prior_mean``, ``reward_prior_var``) = N(1, 1) and known
  noise variance ``reward_noise_var`` = 1, the family's generative model.

At the start of every episode (trial start, or the obs's ``episode_end`` flag) it samples
one MDP from the posterior, solves it by finite-horizon value iteration over ``horizon``
steps and then acts greedily on the time-dependent Q of that sample for the whole episode.

The current state is read from the obs's one-hot (the family's ``Discrete`` observation).
The transition of an episode's last step is not observed (the obs then already shows the
next episode's start state), so it only updates the reward posterior.

Memory ``state`` (dict of numpy arrays, leading axis B = trials):
    counts  [B, S, A, S]  observed transitions      rsum   [B, S, A]  reward sums
    rcount  [B, S, A]     reward observations       q      [B, H, S, A]  Q of the current sample
    prev_state [B] int64  state the last action was taken in (-1 at trial start)
    step    [B] int64     step index within the current episode
Everything is vectorised over B (sampling and value iteration included).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_float, check_int
from metarl.learning.agent import Agent

from ._common import check_batch, check_seed, previous_step, random_argmax, require_discrete_actions


class PSRLAgent(Agent):
    """PSRL for finite-horizon tabular MDPs with Discrete states and actions.

    Options:
        horizon: steps per episode; default the family's ``horizon`` attribute, else its
            ``max_episode_steps``. The sampled MDP is solved for exactly this many steps.
        dirichlet_prior: > 0, pseudo-count per next state (1 = flat Dirichlet).
        reward_prior_mean, reward_prior_var (> 0): Normal prior on each mean reward.
        reward_noise_var: > 0, known variance of the reward noise.
        seed: int >= 0, seeds the agent's own generator (posterior samples, tie-breaks).

    ``deterministic`` is ignored: sampling is how PSRL explores.
    """

    name = "psrl"
    MAX_TABLE = 5_000_000  # entries of the sampled transition tensor per chunk (~40 MB: memory guard)

    def __init__(self, family, horizon: int | None = None, dirichlet_prior: float = 1.0,
                 reward_prior_mean: float = 1.0, reward_prior_var: float = 1.0,
                 reward_noise_var: float = 1.0, seed: int = 0) -> None:
        super().__init__(family)
        self.actions = require_discrete_actions(self.name, self.action_space)
        self.action_start = int(self.action_space.start)
        if not isinstance(self.observation_space, spaces.Discrete):
            raise ConfigError(f"agent 'psrl' needs a Discrete observation space (state index), "
                              f"got {self.observation_space}")
        self.states = int(self.observation_space.n)
        if horizon is None:
            horizon = getattr(family, "horizon", None) or getattr(family, "max_episode_steps", None)
        self.horizon = check_int("psrl: horizon", horizon, low=1, high=100_000)
        self.dirichlet_prior = check_float("psrl: dirichlet_prior", dirichlet_prior, low=0.0, low_open=True)
        self.reward_prior_mean = check_float("psrl: reward_prior_mean", reward_prior_mean)
        self.reward_prior_var = check_float("psrl: reward_prior_var", reward_prior_var, low=0.0, low_open=True)
        self.reward_noise_var = check_float("psrl: reward_noise_var", reward_noise_var, low=0.0, low_open=True)
        self.seed = check_seed(self.name, seed)
        self.rng = np.random.default_rng(self.seed)

    def config(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "dirichlet_prior": self.dirichlet_prior,
                "reward_prior_mean": self.reward_prior_mean, "reward_prior_var": self.reward_prior_var,
                "reward_noise_var": self.reward_noise_var, "seed": self.seed}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        """Fresh posterior (prior only) for ``batch`` trials; see the module docstring for shapes."""
        b, s, a = int(batch), self.states, self.actions
        return {"counts": np.zeros((b, s, a, s)), "rsum": np.zeros((b, s, a)), "rcount": np.zeros((b, s, a)),
                "q": np.zeros((b, self.horizon, s, a)), "prev_state": np.full(b, -1, dtype=np.int64),
                "step": np.zeros(b, dtype=np.int64)}

    def act(self, obs: np.ndarray, state: dict[str, np.ndarray], deterministic: bool = False):
        """obs [B, D], memory -> (actions [B] int64, new memory); the input memory is not modified."""
        obs = check_batch(self.name, obs, self.layout.dim)
        st = {k: v.copy() for k, v in state.items()}
        b = obs.shape[0]
        cur = obs[:, self.layout.obs].argmax(axis=1)            # current state from the one-hot
        has_prev, action, reward = previous_step(self.layout, obs)
        ep_end = obs[:, self.layout.episode_end] > 0.5
        rows = np.flatnonzero(has_prev & (st["prev_state"] >= 0))
        ps, pa = st["prev_state"][rows], action[rows]
        st["rsum"][rows, ps, pa] += reward[rows]
        st["rcount"][rows, ps, pa] += 1.0
        seen = rows[~ep_end[rows]]                              # last step's next state is hidden
        st["counts"][seen, st["prev_state"][seen], action[seen], cur[seen]] += 1.0

        new_episode = ~has_prev | ep_end
        st["step"] = np.where(new_episode, 0, st["step"] + 1)
        start = np.flatnonzero(new_episode)
        if start.size:
            st["q"][start] = self._sample_and_solve(st, start)
        h = np.minimum(st["step"], self.horizon - 1)            # longer episodes: reuse the last stage
        q_now = st["q"][np.arange(b), h, cur]                   # [B, A]
        choice = random_argmax(q_now, self.rng)
        st["prev_state"] = cur.astype(np.int64)
        return choice + self.action_start, st

    def _sample_and_solve(self, st: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """Sample MDPs for trials ``rows`` and return their finite-horizon Q [len(rows), H, S, A]."""
        out = np.empty((rows.size, self.horizon, self.states, self.actions))
        chunk = max(1, self.MAX_TABLE // (self.states * self.actions * self.states))
        for lo in range(0, rows.size, chunk):                   # bounded memory for huge batches
            out[lo:lo + chunk] = self._solve_chunk(st, rows[lo:lo + chunk])
        return out

    def _solve_chunk(self, st: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        # Dirichlet via normalised Gamma draws (vectorised over every (trial, s, a) row).
        g = self.rng.standard_gamma(self.dirichlet_prior + st["counts"][rows])      # [n, S, A, S]
        total = g.sum(axis=-1, keepdims=True)
        p = np.where(total > 0, g / np.where(total > 0, total, 1.0), 1.0 / self.states)
        # Normal-Normal conjugate update of each mean reward.
        precision = 1.0 / self.reward_prior_var + st["rcount"][rows] / self.reward_noise_var
        mean = (self.reward_prior_mean / self.reward_prior_var + st["rsum"][rows] / self.reward_noise_var) / precision
        r = mean + self.rng.standard_normal(mean.shape) / np.sqrt(precision)         # [n, S, A]
        q = np.empty((rows.size, self.horizon, self.states, self.actions))
        v = np.zeros((rows.size, self.states))
        for h in range(self.horizon - 1, -1, -1):             # backward induction, V_H = 0
            q[:, h] = r + np.einsum("nsat,nt->nsa", p, v)
            v = q[:, h].max(axis=-1)
        return q
