"""Run a metarl Agent under Meta-World's official meta-learning evaluation protocol.

``metaworld.evaluation.metalearning_evaluation(agent, eval_envs, num_evals,
adaptation_steps, adaptation_episodes, evaluation_episodes)`` drives an object with the
``metaworld.evaluation.MetaLearningAgent`` methods, for each of ``num_evals`` rounds::

    init()                                   new tasks were sampled: a new trial
    adapt_action(obs [B, 39]) -> (actions [B, 4], aux {})    \\  adaptation_episodes
    step(Timestep(obs, action, reward, terminated, truncated, aux))  /  episodes
    adapt()                                  end of adaptation
    reset(mask [B])                          all True once, then after each step: episode ends
    eval_action(obs [B, 39]) -> actions [B, 4]               evaluation_episodes episodes

Success is Meta-World's: an evaluation episode counts if ``info["success"]`` was 1 at any
step (its eval envs terminate on success); episodes are 500 steps.

``MetaWorldAgentAdapter`` maps this onto the metarl Agent interface (``init_state(B)``,
``act(trial_obs [B, D], state, deterministic) -> (actions, state)``) by building the trial
observation of ``metarl.rollout.trial`` (``agent.layout``)::

    [obs (39) | prev_action (4, clipped) | prev_reward | episode_end | trial_progress]

- ``init`` starts a trial: fresh memory (``agent.init_state(B)``), zero previous action and
  reward, no episodes done. B is taken from the first observation batch.
- ``step`` records the reward of the action just taken and the episode ends; ``reset(mask)``
  marks an episode end for the masked envs (once: an end already seen in ``step`` is not
  counted again). Neither clears memory: for RL²-style agents the adaptation *is* the memory,
  so ``adapt`` keeps it (the evaluation episodes continue the trial).
- ``trial_progress`` = episodes finished / ``episodes_per_trial`` (default 13 = Meta-World's
  10 adaptation + 3 evaluation episodes), capped at 1.
- Rewards during evaluation: the protocol passes none to ``eval_action``. With eval envs built
  with ``recurrent_info_in_obs=True`` (observations ``[obs | action | reward / scale | done]``,
  Meta-World's RNN layout) the adapter reads the previous reward from the observation
  (``recurrent_reward_scale``, 10 for Meta-World's normalised reward); otherwise
  ``prev_reward`` is 0 in evaluation steps after the first (which still carries the last
  adaptation reward; ``adapter.eval_rewards_seen`` stays False).
- Agents that adapt parameters instead of memory (MAML): pass ``adapt_fn(agent, trajectory)
  -> agent``; the adaptation steps are recorded (``trajectory`` = dict of arrays ``obs`` [T, B,
  D] trial observations, ``actions`` [T, B, 4], ``rewards``, ``terminated``, ``truncated``
  [T, B]) and the returned agent acts in the evaluation episodes with fresh memory.

``official_metalearning_evaluation(agent, family, ...)`` builds Meta-World's test envs
(``metaworld.make_ml_envs_test`` for the family's benchmark and ``benchmark_seed``) and runs
``metalearning_evaluation`` through the adapter.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from metarl.errors import ConfigError, check_float, check_int

#: Meta-World's protocol: 10 adaptation episodes, then 3 evaluation episodes
ADAPTATION_EPISODES, EVALUATION_EPISODES = 10, 3


class MetaWorldAgentAdapter:
    """A metarl Agent as a ``metaworld.evaluation.MetaLearningAgent`` (see module docstring)."""

    def __init__(self, agent, *, episodes_per_trial: int = ADAPTATION_EPISODES + EVALUATION_EPISODES,
                 adapt_deterministic: bool = False, eval_deterministic: bool = True,
                 adapt_fn: Callable[[Any, dict[str, np.ndarray]], Any] | None = None,
                 recurrent_reward_scale: float = 10.0) -> None:
        self.base_agent = self.agent = agent
        self.layout = agent.layout
        self.episodes_per_trial = check_int("episodes_per_trial", episodes_per_trial, low=1)
        self.adapt_deterministic = bool(adapt_deterministic)
        self.eval_deterministic = bool(eval_deterministic)
        self.adapt_fn = adapt_fn
        self.recurrent_reward_scale = check_float("recurrent_reward_scale", recurrent_reward_scale, low=0.0,
                                                  low_open=True)
        self.last_trial_obs: np.ndarray | None = None   # [B, layout.dim], for inspection
        self.trials = 0
        self.init()

    # ---- the MetaLearningAgent protocol -----------------------------------------------------
    def init(self) -> None:
        """A new trial: memory, previous action/reward and episode counts start afresh."""
        self.agent = self.base_agent
        self._b: int | None = None
        self._trajectory: dict[str, list[np.ndarray]] = {k: [] for k in
                                                         ("obs", "actions", "rewards", "terminated", "truncated")}
        self.eval_rewards_seen = False

    def adapt_action(self, observations: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """obs [B, 39] (or Meta-World's recurrent layout [B, 45]) -> (actions [B, 4] float64, {})."""
        x = self._trial_obs(observations)
        actions = self._act(x, self.adapt_deterministic)
        if self.adapt_fn is not None:
            self._trajectory["obs"].append(x)
            self._trajectory["actions"].append(actions.copy())
        return actions, {}

    def step(self, timestep) -> None:
        """Reward [B] of the last actions and episode ends (terminated | truncated [B])."""
        reward = np.asarray(timestep.reward, dtype=np.float32).reshape(self._b)
        term = np.asarray(timestep.terminated, dtype=bool).reshape(self._b)
        trunc = np.asarray(timestep.truncated, dtype=bool).reshape(self._b)
        self._prev_reward, self._reward_known = reward, True
        self._mark_ends(term | trunc)
        if self.adapt_fn is not None:
            for key, value in (("rewards", reward), ("terminated", term), ("truncated", trunc)):
                self._trajectory[key].append(value)

    def adapt(self) -> None:
        """RL²-style agents: nothing (memory carries the adaptation). With ``adapt_fn``: the
        adapted agent from the recorded adaptation steps, acting with fresh memory."""
        if self.adapt_fn is None or not self._trajectory["obs"]:
            return
        trajectory = {k: np.stack(v) for k, v in self._trajectory.items()}
        self._trajectory = {k: [] for k in self._trajectory}
        self.agent = self.adapt_fn(self.base_agent, trajectory)
        self._state = self.agent.init_state(self._b)

    def eval_action(self, observations: np.ndarray) -> np.ndarray:
        """obs [B, 39] (or [B, 45]) -> actions [B, 4] float64."""
        return self._act(self._trial_obs(observations), self.eval_deterministic)

    def reset(self, env_mask: np.ndarray) -> None:
        """Episode ends of the masked envs [B] (memory is kept: the trial goes on)."""
        if self._b is not None:
            self._mark_ends(np.asarray(env_mask, dtype=bool).reshape(self._b))

    # ---- internals --------------------------------------------------------------------------
    def _start(self, b: int) -> None:
        self._b = b
        self._state = self.agent.init_state(b)
        self._prev_action = np.zeros((b, self.layout.act_dim), dtype=np.float32)
        self._prev_reward = np.zeros(b, dtype=np.float32)
        self._episode_end = np.zeros(b, dtype=bool)     # an end not yet shown to the agent
        self._episodes = np.zeros(b, dtype=np.int64)
        self._reward_known = True       # zero before the first action
        self.trials += 1

    def _mark_ends(self, ended: np.ndarray) -> None:
        new = ended & ~self._episode_end
        self._episodes += new
        self._episode_end |= ended

    def _trial_obs(self, observations: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float64)
        d, a = self.layout.obs_dim, self.layout.act_dim
        if obs.ndim != 2 or obs.shape[1] not in (d, d + a + 2):
            raise ConfigError(f"Meta-World observations of shape {obs.shape}; expected [B, {d}] or, with "
                              f"recurrent_info_in_obs, [B, {d + a + 2}]")
        if self._b is None:
            self._start(obs.shape[0])
        elif obs.shape[0] != self._b:
            raise ConfigError(f"got {obs.shape[0]} observations in a trial of {self._b} envs; call init() "
                              "for a new batch")
        if not self._reward_known:      # evaluation: the protocol passes no rewards
            if obs.shape[1] == d + a + 2:
                self._prev_reward = (obs[:, d + a] * self.recurrent_reward_scale).astype(np.float32)
                self.eval_rewards_seen = True
            else:
                self._prev_reward = np.zeros(self._b, dtype=np.float32)
        progress = np.minimum(self._episodes / self.episodes_per_trial, 1.0)
        x = self.layout.encode_batch(obs[:, :d].astype(np.float32), self._prev_action, self._prev_reward,
                                     self._episode_end.astype(np.float32), progress)
        self._episode_end[:] = False
        self.last_trial_obs = x
        return x

    def _act(self, x: np.ndarray, deterministic: bool) -> np.ndarray:
        actions, self._state = self.agent.act(x, self._state, deterministic=deterministic)
        actions = np.asarray(actions, dtype=np.float64).reshape(self._b, self.layout.act_dim)
        self._prev_action = actions.astype(np.float32)
        self._reward_known = False      # until step() reports the reward of these actions
        return actions


def official_metalearning_evaluation(agent, family, *, num_evals: int = 10, meta_batch_size: int = 20,
                                     adaptation_episodes: int = ADAPTATION_EPISODES,
                                     evaluation_episodes: int = EVALUATION_EPISODES,
                                     total_tasks_per_cls: int | None = None, seed: int | None = None,
                                     **adapter_options) -> dict[str, Any]:
    """Meta-World's ``metalearning_evaluation`` of ``agent`` (a metarl Agent or a
    ``MetaWorldAgentAdapter``) on the official test tasks of ``family`` (ml1, ml10 or ml45).

    The eval envs are ``metaworld.make_ml_envs_test(<ML1 env name | "ML10" | "ML45">,
    seed=family.benchmark_seed, meta_batch_size=..., total_tasks_per_cls=...)`` (sync vector
    env, ``meta_batch_size`` divisible by the number of test classes). ``seed`` reseeds the
    agent's acting stream. Returns ``{"success_rate", "mean_return", "success_rate_per_task",
    "settings", "metaworld_version"}``.
    """
    import metaworld
    from metaworld.evaluation import metalearning_evaluation

    bench = getattr(family, "benchmark_name", None)
    if bench not in ("ML1", "ML10", "ML45"):
        raise ConfigError(f"official Meta-World evaluation needs an ml1/ml10/ml45 family, got "
                          f"{getattr(family, 'name', family)!r}")
    name = family.env_name if bench == "ML1" else bench
    settings = {"benchmark": name, "benchmark_seed": family.benchmark_seed,
                "num_evals": check_int("num_evals", num_evals, low=1),
                "meta_batch_size": check_int("meta_batch_size", meta_batch_size, low=1),
                "adaptation_episodes": check_int("adaptation_episodes", adaptation_episodes, low=1),
                "evaluation_episodes": check_int("evaluation_episodes", evaluation_episodes, low=1),
                "total_tasks_per_cls": total_tasks_per_cls}
    n_classes = len(family.classes("test"))
    if meta_batch_size % n_classes:
        raise ConfigError(f"meta_batch_size={meta_batch_size} must be a multiple of the {n_classes} test "
                          f"classes of {family.name}")
    if isinstance(agent, MetaWorldAgentAdapter):
        adapter = agent
    else:
        adapter_options.setdefault("episodes_per_trial", adaptation_episodes + evaluation_episodes)
        adapter = MetaWorldAgentAdapter(agent, **adapter_options)
    if seed is not None:
        adapter.base_agent.reseed(check_int("seed", seed, low=0))
    envs = metaworld.make_ml_envs_test(name, seed=family.benchmark_seed, meta_batch_size=meta_batch_size,
                                       total_tasks_per_cls=total_tasks_per_cls, vector_strategy="sync")
    try:
        success, mean_return, per_task = metalearning_evaluation(
            adapter, envs, num_evals=num_evals, adaptation_steps=1,
            adaptation_episodes=adaptation_episodes, evaluation_episodes=evaluation_episodes)
    finally:
        envs.close()
    from importlib.metadata import version

    return {"success_rate": float(success), "mean_return": float(mean_return),
            "success_rate_per_task": {k: float(v) for k, v in per_task.items()},
            "settings": settings, "metaworld_version": version("metaworld")}
