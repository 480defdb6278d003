"""sb3-contrib ``RecurrentPPO`` (LSTM policy) on trials: the off-the-shelf RL²-style baseline.

Trained on ``ResamplingTrialEnv`` (a new task every trial, the same trial observation
our RL² sees), and wrapped as a metarl ``Agent`` so ``metarl.evaluate`` scores it on the
same held-out tasks. Requires ``sb3-contrib`` (``pip install "metarl[bench]"``).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from metarl.errors import ConfigError
from metarl.learning.agent import Agent
from metarl.rollout.resample import ResamplingTrialEnv


def _require_sb3_contrib():
    try:
        from sb3_contrib import RecurrentPPO
    except ImportError:
        raise ConfigError('this needs sb3-contrib: pip install "metarl[bench]"') from None
    return RecurrentPPO


class RecurrentPPOAgent(Agent):
    """A trained ``RecurrentPPO`` model acting on batches of trial observations.

    state: (LSTM states from ``model.predict``, episode_start [B] bool) — memory is fresh
    at the first step of each trial and carried across its episodes.
    """

    name = "sb3-recurrent-ppo"

    def __init__(self, family, model) -> None:
        super().__init__(family)
        self.model = model

    def init_state(self, batch: int) -> Any:
        return (None, np.ones(batch, dtype=bool))

    def act(self, obs: np.ndarray, state: Any, deterministic: bool = False):
        lstm, start = state
        action, lstm = self.model.predict(obs, state=lstm, episode_start=start, deterministic=deterministic)
        return np.asarray(action), (lstm, np.zeros(len(obs), dtype=bool))


def train_recurrent_ppo(family, episodes: int, *, seconds: float | None = None, total_steps: int | None = None,
                        num_envs: int = 8, n_steps: int = 200, hidden_size: int = 256, n_epochs: int = 4,
                        learning_rate: float = 1e-3, ent_coef: float = 0.01, batch_size: int = 128, gamma: float = 0.99,
                        seed: int = 0, device: str = "cpu") -> tuple[RecurrentPPOAgent, dict]:
    """Train RecurrentPPO for ``seconds`` of wall time (or ``total_steps``); returns the agent
    and {"env_steps", "seconds", "sps"} (steps/s including its updates)."""
    RecurrentPPO = _require_sb3_contrib()
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import DummyVecEnv

    if seconds is None and total_steps is None:
        raise ConfigError("give seconds or total_steps")
    venv = DummyVecEnv([lambda i=i: ResamplingTrialEnv(family, episodes, seed=seed * 1000 + i)
                        for i in range(num_envs)])
    model = RecurrentPPO("MlpLstmPolicy", venv, n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs,
                         learning_rate=learning_rate, ent_coef=ent_coef, gamma=gamma, seed=seed, device=device,
                         policy_kwargs={"lstm_hidden_size": hidden_size})
    # SB3's default logger creates an empty /tmp/SB3-<date> folder on every learn(); log nowhere
    model.set_logger(Logger(folder=None, output_formats=[]))

    class StopAfter(BaseCallback):
        def _on_step(self) -> bool:
            return seconds is None or time.perf_counter() - start < seconds

    start = time.perf_counter()
    model.learn(total_timesteps=total_steps or 10**12, callback=StopAfter())
    elapsed = time.perf_counter() - start
    venv.close()
    stats = {"env_steps": int(model.num_timesteps), "seconds": elapsed, "sps": model.num_timesteps / elapsed}
    return RecurrentPPOAgent(family, model), stats
