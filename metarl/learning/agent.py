"""The Agent interface every meta-learner and baseline implements.

An agent acts on batches of *trial observations* (see ``metarl.rollout.trial`` for the
layout) and carries a per-trial memory ``state`` (a GRU hidden state for RL², counts
for a bandit baseline, adapted parameters for MAML). Memory is created fresh with
``init_state(B)`` at the start of every trial; it is never reset inside a trial.

    state = agent.init_state(B)
    actions, state = agent.act(obs [B, D] np.ndarray, state, deterministic=False)
        -> actions: np.ndarray [B] (Discrete, int64) or [B, act_dim] (Box, float32)

Trainable agents also implement ``update(batch) -> dict[str, float]``,
``save(path)`` / ``load(path)`` and ``state_dict()``/``load_state_dict()`` for checkpoints.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from metarl.rollout.trial import TrialLayout


class Agent:
    """Base class. ``family`` is the TaskFamily the agent acts in."""

    #: whether ``update`` learns anything (baselines set False)
    trainable: bool = False
    name: str = ""
    #: options that may differ between training and the evaluation of the trained weights
    #: (``metarl eval RUN_DIR --agent-option KEY=VALUE``); every other option is fixed by the
    #: run (the network's shape) or read only in training (learning rates, batch sizes)
    eval_options: tuple[str, ...] = ()

    def __init__(self, family) -> None:
        self.family = family
        obs_space, act_space = family_spaces(family)
        self.layout = TrialLayout(obs_space, act_space)
        self.observation_space, self.action_space = obs_space, act_space
        #: a supervised example's features in a trial observation: the inner observation, or its
        #: first ``family.example_dim`` entries where the family appends more (label feedback)
        self.example = example_slice(family, self.layout)

    def init_state(self, batch: int) -> Any:
        """Fresh memory for ``batch`` trials."""
        return None

    def act(self, obs: np.ndarray, state: Any, deterministic: bool = False) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def observe(self, state: Any, info: dict[str, Any]) -> Any:
        """Called after each vector-env step with its ``info`` (arrays [B], e.g. ``target`` in
        supervised families); returns the new state. Default: ``state`` unchanged."""
        return state

    def check_trial_length(self, episodes: int) -> None:
        """ConfigError if trials of ``episodes`` episodes cannot show this agent's adaptation
        (the trainer and the evaluator call it before running anything). Default: any length."""

    def collect_examples(self, venv, tasks, seed: int, placeholder: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For one-step families whose examples do not depend on the actions (supervised): one
        trial per task stepped with ``placeholder`` actions; returns the inputs [B, k, in] (the
        ``self.example`` features) and ``info["target"]`` of each step [B, k, ...]."""
        return step_examples(venv, tasks, seed, placeholder, self.example)

    def reseed(self, seed: int) -> None:
        """Reset the random stream used by ``act`` (the evaluator calls this so that an
        evaluation is reproducible and does not disturb training's streams)."""
        if hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)

    def adapt(self, trajectories: Any) -> "Agent":
        """Agents whose adaptation lives in ``state`` (RL², baselines) adapt by acting: identity."""
        return self

    def update(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError(f"agent {self.name!r} is not trainable")

    def config(self) -> dict[str, Any]:
        """Constructor options, for the run's config.yaml."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path) -> None:
        import torch

        torch.save({"name": self.name, "config": self.config(), "state": self.state_dict()}, path)

    def load(self, path) -> "Agent":
        """Load parameters saved by ``save`` into this agent, which must be built with the same
        architecture options (a mismatch is a ConfigError naming the options that differ)."""
        import torch

        from metarl.errors import ConfigError

        blob = torch.load(path, map_location="cpu", weights_only=False)
        saved = blob.get("name")
        if saved and self.name and saved != self.name:
            raise ConfigError(f"{path} holds a {saved!r} agent; this agent is {self.name!r}")
        try:
            self.load_state_dict(blob["state"])
        except (RuntimeError, KeyError, ValueError) as exc:
            mine, theirs = self.config(), blob.get("config", {})
            diff = {k: (theirs.get(k), mine.get(k)) for k in sorted(set(mine) | set(theirs))
                    if theirs.get(k) != mine.get(k)}
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            detail = next((ln for ln in lines if "size mismatch" in ln), lines[0] if lines else type(exc).__name__)
            what = ", ".join(f"{k}: saved {a!r}, this agent {b!r}" for k, (a, b) in diff.items()) or \
                f"same options, other parameter shapes (another family?): {detail}"
            raise ConfigError(f"{path} does not fit this {self.name or type(self).__name__} agent ({what}); "
                              f"build it with the saved options: make_agent(name, family, **saved_config) "
                              f"with the same family") from None
        return self


def family_spaces(family) -> tuple:
    """(inner observation space, action space) of a family, from an env of one sampled task."""
    cached = getattr(family, "_metarl_spaces", None)
    if cached is None:
        env = family.make_env(family.sample(1, seed=0)[0])
        cached = (env.observation_space, env.action_space)
        env.close()
        family._metarl_spaces = cached
    return cached


def step_examples(venv, tasks, seed, placeholder: np.ndarray, example: slice) -> tuple[np.ndarray, np.ndarray]:
    """One trial of each task in ``venv`` (reset with ``seed``: an int or one per slot), stepped
    with ``placeholder`` actions: the examples' features ``obs[:, example]`` [B, k, in] and
    ``info["target"]`` of each step [B, k, ...], as the env gives them."""
    obs, _ = venv.reset(seed=seed, options={"tasks": tasks})
    xs, targets = [], []
    for _ in range(venv.episodes):
        xs.append(obs[:, example])
        obs, _, _, _, info = venv.step(placeholder)
        targets.append(np.asarray(info["target"]))
    return np.stack(xs, 1), np.stack(targets, 1)


def example_slice(family, layout: TrialLayout) -> slice:
    """The features of a supervised family's example in a trial observation (see ``Agent.example``)."""
    return slice(0, getattr(family, "example_dim", layout.obs_dim))


def check_trial_length(agent, episodes: int) -> None:
    """``agent.check_trial_length(episodes)`` where the agent has it (agents not derived from
    ``Agent`` may not): the trainer and the evaluators call this before running anything."""
    if callable(check := getattr(agent, "check_trial_length", None)):
        check(episodes)
