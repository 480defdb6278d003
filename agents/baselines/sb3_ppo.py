"""``sb3-ppo``: the non-meta baseline — stable-baselines3's PPO trained across the task distribution.

A memoryless MLP policy (stable-baselines3's ``ActorCriticPolicy``) on the *inner*
observation only: it never sees previous actions or rewards and keeps nothing between
steps, so it cannot tell one task from another and cannot adapt. Trained on the training
split's tasks, it learns the best single policy for the whole distribution (the
"multi-task" or "pretrained, no adaptation" reference of meta-RL papers); its per-episode
curve on held-out tasks is flat, and what a meta-learner gains over it is what adaptation
buys. On a family whose observation reveals the task (e.g. ``point-nav`` with
``observe_goal=true``) the same agent is the paper's "oracle".

What comes from stable-baselines3: the policy and value network (``MlpPolicy``), the
rollout buffer and PPO's update (``PPO.train``: clipped surrogate, value loss, entropy
bonus, advantage normalisation, gradient clipping, optional target-KL early stop). What is
ours, so that it runs under the metarl Trainer like every other agent (tasks drawn by the
trainer, seeded env slots, checkpoints that resume exactly, held-out evaluation):
collecting episodes from a family's vector env, GAE (``metarl.rollout.gae``, which
bootstraps a time-limit cut from the value of the final observation, as stable-baselines3
does in its own collection loop), and seeded sampling (stable-baselines3 samples actions
and shuffles minibatches from the global torch / numpy streams; here both come from the
agent's own generators).
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from metarl.errors import ConfigError, check_choice, check_float, check_int, check_widths
from metarl.learning.action_box import ACTION_UNITS, BoxActions
from metarl.learning.agent import Agent
from metarl.learning.device import resolve_device, restore_generator
from metarl.learning.policy_gradient import sample_categorical, sample_gaussian
from metarl.rollout.episodes import Episodes, sample_episodes
from metarl.rollout.gae import compute_gae


def _sb3():
    """stable-baselines3's PPO, its rollout buffer and logger (imported on first use)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.logger import Logger

    class SeededRolloutBuffer(RolloutBuffer):
        """``RolloutBuffer`` whose minibatch order comes from ``self.rng`` (a seeded numpy
        Generator), not the global ``np.random`` stream its ``get`` draws from, and whose
        last minibatch is never a remainder of a few steps."""

        rng: np.random.Generator

        def get(self, batch_size=None):
            assert self.full, "fill the buffer before reading it"
            n = self.buffer_size * self.n_envs
            indices = self.rng.permutation(n)
            if not self.generator_ready:
                for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
                    self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
                self.generator_ready = True
            # the number of steps varies between batches: n // batch_size minibatches of
            # batch_size to 2 x batch_size - 1 steps, never a stray tiny one (a 1-step
            # minibatch would skip advantage normalisation and take a full step on one sample)
            for idx in np.array_split(indices, max(1, n // (batch_size or n))):
                yield self._get_samples(idx)

    return PPO, SeededRolloutBuffer, Logger


class _Spaces(gym.Env):
    """An env that only carries spaces: stable-baselines3's PPO wants one to build its policy."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space


class SB3PPOAgent(Agent):
    """stable-baselines3 PPO with a memoryless MLP policy on the inner observation.

    Options: hidden_sizes (widths of the policy and of the value MLP, stable-baselines3's
    ``net_arch``; tanh units), trials_per_update (tasks per update; each runs
    ``episodes_per_trial`` episodes, one per env slot), epochs (PPO passes over each batch),
    minibatch_size (steps per minibatch), lr -> lr_final (Adam learning rate, linear anneal
    over training), clip (PPO ratio clip), ent_coef (entropy bonus), vf_coef (value-loss
    weight), max_grad_norm (gradient-norm clip), target_kl (0: off; > 0: stop an update's
    epochs at the first minibatch whose approximate KL exceeds 1.5 x target_kl), gamma
    (discount), gae_lambda (GAE λ; every episode is its own, a time-limit cut bootstrapped),
    action_units (Box actions: "unit", the policy acts in [-1, 1] mapped onto the box, as
    stable-baselines3 recommends; "env", in the env's units, clipped; "auto": "unit" where
    the box is bounded), device ("auto", "cpu", "cuda"), seed.
    """

    name = "sb3-ppo"
    trainable = True

    def __init__(self, family, *, hidden_sizes=(64, 64), trials_per_update: int = 16, epochs: int = 10,
                 minibatch_size: int = 64, lr: float = 3e-4, lr_final: float = 3e-4, clip: float = 0.2,
                 ent_coef: float = 0.0, vf_coef: float = 0.5, max_grad_norm: float = 0.5, target_kl: float = 0.0,
                 gamma: float = 0.99, gae_lambda: float = 0.95, action_units: str = "auto", device: str = "auto",
                 seed: int = 0) -> None:
        super().__init__(family)
        if not isinstance(self.action_space, (spaces.Discrete, spaces.Box)):
            raise ConfigError(f"sb3-ppo needs a Discrete or Box action space; family {family.name!r} has "
                              f"{self.action_space}")
        self._config = dict(
            hidden_sizes=check_widths("hidden_sizes", hidden_sizes),
            trials_per_update=check_int("trials_per_update", trials_per_update, low=1),
            epochs=check_int("epochs", epochs, low=1),
            minibatch_size=check_int("minibatch_size", minibatch_size, low=2),
            lr=check_float("lr", lr, low=0.0, low_open=True), lr_final=check_float("lr_final", lr_final, low=0.0),
            clip=check_float("clip", clip, low=0.0, low_open=True),
            ent_coef=check_float("ent_coef", ent_coef, low=0.0), vf_coef=check_float("vf_coef", vf_coef, low=0.0),
            max_grad_norm=check_float("max_grad_norm", max_grad_norm, low=0.0, low_open=True),
            target_kl=check_float("target_kl", target_kl, low=0.0),
            gamma=check_float("gamma", gamma, low=0.0, high=1.0),
            gae_lambda=check_float("gae_lambda", gae_lambda, low=0.0, high=1.0),
            action_units=action_units,
            device=str(device), seed=check_int("seed", seed, low=0))
        check_choice("action_units", action_units, ("auto", *ACTION_UNITS))
        self.device = resolve_device(device)
        c = self._config
        PPO, self._Buffer, Logger = _sb3()
        # the policy sees the inner observation as the trial layout encodes it (one-hot for Discrete)
        obs_space = spaces.Box(-np.inf, np.inf, (self.layout.obs_dim,), np.float32)
        act_space, self.box = self.action_space, None
        if isinstance(act_space, spaces.Box):
            units = c["action_units"]
            if units == "auto":
                units = "unit" if np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all() else "env"
            self.box = BoxActions(act_space, units, self.device, where=f"family {family.name!r}")
            if units == "unit":
                act_space = spaces.Box(-1.0, 1.0, act_space.shape, np.float32)
        from stable_baselines3.common.vec_env import DummyVecEnv

        lr0, lr1 = c["lr"], c["lr_final"]
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`, not the global stream
            torch.default_generator.manual_seed(c["seed"])
            self.model = PPO("MlpPolicy", DummyVecEnv([lambda: _Spaces(obs_space, act_space)]),
                             learning_rate=lambda remaining: lr1 + (lr0 - lr1) * remaining,
                             n_steps=c["minibatch_size"], batch_size=c["minibatch_size"], n_epochs=c["epochs"],
                             gamma=c["gamma"], gae_lambda=c["gae_lambda"], clip_range=c["clip"],
                             ent_coef=c["ent_coef"], vf_coef=c["vf_coef"], max_grad_norm=c["max_grad_norm"],
                             target_kl=c["target_kl"] or None, seed=None, device=self.device,
                             policy_kwargs={"net_arch": list(c["hidden_sizes"])})
        self.model.set_logger(Logger(folder=None, output_formats=[]))
        self.policy = self.model.policy
        self.generator = torch.Generator(device=self.device).manual_seed(c["seed"])      # training's stream
        self.act_generator = torch.Generator(device=self.device).manual_seed(c["seed"])  # evaluation's
        self.rng = np.random.default_rng(c["seed"])  # minibatch order
        self._venv = None

    # ---- acting ---------------------------------------------------------------------------------
    def _sample(self, x: torch.Tensor, generator: torch.Generator,
                deterministic: bool = False) -> tuple[torch.Tensor, np.ndarray]:
        """x [B, obs_dim] -> (actions as stored [B] long or [B, a] float, env actions np.ndarray).
        Box actions are stored as sampled (in the policy's units) and mapped into the box for
        the env. Non-finite policy outputs (diverged parameters) raise FloatingPointError."""
        try:
            dist = self.policy.get_distribution(x).distribution
        except ValueError as exc:  # torch's argument check of a distribution with NaN parameters
            raise FloatingPointError(f"the policy produced invalid action distributions (diverged "
                                     f"parameters?): {str(exc).splitlines()[0]}") from None
        if self.box is None:
            a = sample_categorical(dist.probs, generator, deterministic)
            return a, a.cpu().numpy() + int(self.action_space.start)
        a = sample_gaussian(dist.mean, dist.stddev, generator, deterministic)
        return a, self.box.host_actions(a)

    def act(self, obs: np.ndarray, state: Any, deterministic: bool = False):
        """obs [B, D] trial observations -> actions from the inner observation alone."""
        x = torch.as_tensor(obs[:, self.layout.obs], dtype=torch.float32, device=self.device)
        with torch.no_grad():
            _, actions = self._sample(x, self.act_generator, deterministic)
        return actions, state

    def reseed(self, seed: int) -> None:
        self.act_generator.manual_seed(int(seed))

    # ---- training -------------------------------------------------------------------------------
    def make_train_env(self, episodes_per_trial: int):
        """The trainer's vector env: trials_per_update tasks x episodes_per_trial episodes, one per slot."""
        return self.family.make_vector_env(self._config["trials_per_update"] * episodes_per_trial, 1)

    def collect(self, venv, tasks, seed: int) -> Episodes:
        """One episode per slot, the slots split evenly over ``tasks`` -> Episodes [B, T, ...]
        with ``stats`` (env_steps, trial_return: the mean over tasks of their episodes' summed return).
        A trial env of k episodes per task is replaced by one with k one-episode slots per task."""
        n = max(1, venv.num_envs * venv.episodes // len(tasks))   # episodes per task
        if venv.episodes != 1 or venv.num_envs != n * len(tasks):   # e.g. a trial env: one slot per episode
            if self._venv is None or self._venv.num_envs != n * len(tasks):
                self._venv = self.family.make_vector_env(n * len(tasks), 1)
            venv = self._venv
        with torch.no_grad():
            eps = sample_episodes(venv, [t for t in tasks for _ in range(n)],
                                  lambda x: self._sample(x, self.generator), seed=seed, device=self.device)
        eps.stats = {"env_steps": eps.num_steps,
                     "trial_return": float(eps.returns.view(len(tasks), n).sum(1).mean())}
        return eps

    def advantages(self, eps: Episodes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Values V(obs) [B, T], GAE advantages and returns [B, T] of one batch of episodes
        (zeros on padded steps). A truncated episode's last step bootstraps from V(final_obs),
        a terminated one's does not."""
        c = self._config
        B, T = eps.mask.shape
        with torch.no_grad():
            values = self.policy.predict_values(eps.obs.reshape(B * T, -1)).reshape(B, T) * eps.mask
            final = self.policy.predict_values(eps.final_obs).reshape(B)
        length = eps.mask.sum(1).long()                           # [B] steps of each episode
        last = torch.nn.functional.one_hot(length - 1, T).to(eps.rewards.dtype)  # [B, T] 1 at the last step
        v_next = torch.cat([values, torch.zeros(B, 1, device=values.device)], 1)
        v_next = v_next.scatter(1, length[:, None], final[:, None])   # V(final_obs) just after the last step
        adv, ret = compute_gae(eps.rewards.T, v_next.T, (last * eps.terminated[:, None]).T, last.T,
                               c["gamma"], c["gae_lambda"])
        return values, adv.T * eps.mask, ret.T * eps.mask

    def update(self, eps: Episodes) -> dict[str, float]:
        """stable-baselines3's ``PPO.train`` on the batch's real steps; ``eps.stats["progress"]``
        in [0, 1] anneals the learning rate."""
        values, adv, ret = self.advantages(eps)
        keep = eps.mask.reshape(-1) > 0
        flat = lambda x: x.reshape(-1, *x.shape[2:])[keep].cpu().numpy()  # noqa: E731  [N, ...] real steps
        obs, actions = flat(eps.obs), flat(eps.actions)
        with torch.no_grad():   # the collecting policy's log-probs (values came with the advantages)
            logp = self.policy.get_distribution(eps.obs.reshape(-1, eps.obs.shape[-1])[keep]).log_prob(
                eps.actions.reshape(-1, *eps.actions.shape[2:])[keep])
        n = len(obs)
        buf = self._Buffer(n, self.model.observation_space, self.action_space, device=self.device,
                           gamma=self._config["gamma"], gae_lambda=self._config["gae_lambda"], n_envs=1)
        buf.rng = self.rng
        buf.observations[:, 0] = obs
        buf.actions[:, 0] = actions.reshape(n, -1)
        buf.values[:, 0], buf.log_probs[:, 0] = flat(values), logp.cpu().numpy()
        buf.advantages[:, 0], buf.returns[:, 0] = flat(adv), flat(ret)
        buf.pos, buf.full = n, True
        self.model.rollout_buffer = buf
        self.model._current_progress_remaining = 1.0 - float(eps.stats.get("progress", 0.0))
        self.model.train()
        logged = dict(self.model.logger.name_to_value)
        self.model.logger.dump()  # clears the values (the logger writes nowhere)
        self.model.rollout_buffer = None  # the batch's memory goes with it
        names = {"policy_gradient_loss": "policy_loss", "value_loss": "value_loss", "approx_kl": "approx_kl",
                 "clip_fraction": "clip_fraction", "explained_variance": "explained_variance", "std": "std",
                 "learning_rate": "lr"}
        out = {ours: float(logged[f"train/{theirs}"]) for theirs, ours in names.items() if f"train/{theirs}" in logged}
        out["entropy"] = -float(logged["train/entropy_loss"])
        return out

    # ---- checkpoints ----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.policy.optimizer.state_dict(),
                "generator": self.generator.get_state(), "rng": self.rng.bit_generator.state,
                "n_updates": self.model._n_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.policy.optimizer.load_state_dict(state["optimizer"])
        restore_generator(self.generator, state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.model._n_updates = int(state["n_updates"])
