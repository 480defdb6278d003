"""MAML (Finn et al. 2017) and Meta-SGD (Li et al. 2017) on RL task families.

Policy: an MLP over the inner observation (Gaussian mean with a state-independent log std
for Box actions, logits for Discrete), used through functional parameters: per-task
parameter stacks [M, ...] (``metarl.learning.functional.stacked_forward``), so a
meta-batch of M tasks is adapted with batched matmuls and one ``autograd.grad`` call,
without a Python loop over tasks.

Meta-training (``collect`` + ``update``), as in the MAML paper:
  1. for each of M train tasks, sample N episodes with the meta-parameters theta;
  2. inner step: theta'_m = theta - alpha * grad of the REINFORCE loss on task m's episodes
     (advantages = discounted returns minus a per-task linear feature baseline,
     standardised per task); repeat 1-2 ``inner_steps`` times, re-sampling each time;
  3. sample N episodes per task with theta'_m (the query episodes);
  4. outer step on the post-adaptation objective, differentiating through the inner steps
     (second order unless ``first_order``): TRPO (conjugate gradient on the Hessian of the
     KL between old and new *adapted* policies, then a backtracking line search under
     ``max_kl``) or, with ``outer="ppo"``, Adam on a PPO-clipped surrogate (ProMP-like).
Meta-SGD learns one inner step size per parameter entry as part of theta.

``meta=False`` trains the same policy with the same outer optimiser and no inner step: the
multi-task "pretrained" baseline of the MAML paper (it is then fine-tuned like MAML).

Acting in a trial of k episodes (``act``, used by ``metarl.evaluate``): the first episode
uses theta; after each episode the agent takes one inner step on that single episode (its
observations, actions and rewards are read from the trial observation), so the per-episode
curve is the return after 0, 1, ..., k-1 one-episode inner steps. The MAML paper's
curve (N episodes per step) is ``inner_step_curve``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.errors import ConfigError, check_bool, check_choice, check_int, check_widths
from metarl.learning import functional as F
from metarl.learning import policy_gradient as pg
from metarl.learning.action_box import ACTION_UNITS, BoxActions
from metarl.learning.agent import Agent
from metarl.learning.device import adam, resolve_device, restore_generator
from metarl.rollout.episodes import Episodes, sample_episodes
from metarl.seeding import derive_seeds

from metarl.agents.maml import _number
from metarl.agents.maml_rl_outer import ppo_steps, trpo_step


@dataclass
class MetaBatch:
    """One meta-iteration's episodes: ``rounds[s]`` = episodes [M, N, T, ...] sampled after s
    inner steps (the last round is the query set), ``advs[s]`` their advantages [M, N, T];
    ``old`` = the collecting (adapted) policy's log-probs [M, N*T] and distribution
    parameters on the query steps, for the outer ratio and KL."""

    rounds: list[Episodes]
    advs: list[torch.Tensor]
    old_logp: torch.Tensor
    old_dist: tuple
    stats: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return int(self.stats["env_steps"])


@dataclass
class TrialMemory:
    """``act``'s per-trial memory for B slots: the per-slot params [B, ...], the trial's history
    (lists over steps of obs [B, d], actions, rewards [B]) and where each slot's current
    episode started."""

    params: dict
    obs: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    ep_start: np.ndarray | None = None


class MAMLRLAgent(Agent):
    """MAML for RL families. Options: hidden_sizes, inner_lr (alpha), inner_steps, first_order,
    trajectories (N episodes per task per inner step), meta_batch (M tasks per update),
    outer ("trpo" or "ppo"), max_kl, metric ("first-order" or "exact" TRPO metric, see
    ``maml_rl_outer``), cg_iters, cg_damping, cg_subsample (TRPO), meta_lr, outer_epochs,
    clip (PPO outer), gamma, init_std, normalize_advantages, meta (False: multi-task
    pretraining, no inner step), action_units (Box actions: "env" or "unit", see
    ``metarl.learning.action_box``), device, seed."""

    trainable = True
    name = "maml"
    eval_options = ("inner_steps", "inner_lr")
    learn_lr = False

    def __init__(self, family, *, hidden_sizes=(100, 100), inner_lr: float = 0.1, inner_steps: int = 1,
                 first_order: bool = False, trajectories: int = 20, meta_batch: int = 20, outer: str = "trpo",
                 max_kl: float = 0.01, metric: str = "first-order", cg_iters: int = 10,
                 cg_damping: float = 1e-5, cg_subsample: float = 1.0, meta_lr: float = 3e-4,
                 outer_epochs: int = 5, clip: float = 0.2, gamma: float = 0.99, init_std: float = 1.0,
                 normalize_advantages: bool = True, meta: bool = True, action_units: str = "env",
                 device: str = "auto", seed: int = 0) -> None:
        if getattr(family, "kind", "rl") != "rl":
            raise ConfigError(f"{self.name} for RL needs an RL family; {family.name!r} is kind={family.kind!r}")
        super().__init__(family)
        check_choice("outer", outer, ("trpo", "ppo"))
        check_choice("metric", metric, ("first-order", "exact"))
        check_choice("action_units", action_units, ACTION_UNITS)
        self._config = dict(
            hidden_sizes=list(check_widths("hidden_sizes", hidden_sizes)), inner_lr=_number("inner_lr", inner_lr),
            inner_steps=check_int("inner_steps", inner_steps, low=1),
            first_order=check_bool("first_order", first_order),
            trajectories=check_int("trajectories", trajectories, low=1),
            meta_batch=check_int("meta_batch", meta_batch, low=1), outer=outer, max_kl=_number("max_kl", max_kl),
            metric=metric,
            cg_iters=check_int("cg_iters", cg_iters, low=1),
            cg_damping=_number("cg_damping", cg_damping, positive=False),
            cg_subsample=_number("cg_subsample", cg_subsample), meta_lr=_number("meta_lr", meta_lr),
            outer_epochs=check_int("outer_epochs", outer_epochs, low=1), clip=_number("clip", clip),
            gamma=_number("gamma", gamma), init_std=_number("init_std", init_std),
            normalize_advantages=check_bool("normalize_advantages", normalize_advantages),
            meta=check_bool("meta", meta),
            action_units=action_units, device=str(device), seed=check_int("seed", seed, low=0))
        for key in ("gamma", "cg_subsample"):
            if self._config[key] > 1:
                raise ConfigError(f"{key} must be in (0, 1], got {self._config[key]}")
        if self.learn_lr and not self._config["meta"]:
            raise ConfigError(f"{self.name} with meta=false would learn step sizes it never uses; use maml")
        self.device = resolve_device(device)
        self.discrete = isinstance(self.action_space, spaces.Discrete)
        if not self.discrete and not isinstance(self.action_space, spaces.Box):
            raise ConfigError(f"{self.name} needs a Discrete or Box action space, got {self.action_space}")
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # the CPU stream only: GPU streams stay as they were
            self.net = F.mlp(self.layout.obs_dim, self.layout.act_dim, tuple(self._config["hidden_sizes"]))
        self.net.to(self.device)
        self.params = dict(self.net.named_parameters())
        if not self.discrete:
            self.params["log_std"] = torch.full((self.layout.act_dim,), float(np.log(self._config["init_std"])),
                                                device=self.device, requires_grad=True)
            self._box = BoxActions(self.action_space, action_units, self.device, where=repr(family.name))
        alpha = self._config["inner_lr"]
        if self.learn_lr:
            self.lrs = {k: torch.full_like(p, alpha).requires_grad_(True) for k, p in self.params.items()}
        else:
            self.lrs = {k: torch.tensor(alpha, device=self.device) for k in self.params}
        self.optimizer = adam(self.meta_parameters(), self.device, lr=self._config["meta_lr"])
        self.generator = torch.Generator(device=self.device).manual_seed(seed)      # training's stream
        self.act_generator = torch.Generator(device=self.device).manual_seed(seed)  # evaluation's (reseed)
        self._venv = None

    def config(self) -> dict[str, Any]:
        return {**self._config, "trials_per_update": self._config["meta_batch"]}

    def meta_parameters(self) -> list[torch.Tensor]:
        """theta: policy parameters (and Meta-SGD's step sizes)."""
        return list(self.params.values()) + (list(self.lrs.values()) if self.learn_lr else [])

    # ---- policy ---------------------------------------------------------------------------------
    def stack(self, m: int, detach: bool = False) -> dict[str, torch.Tensor]:
        """theta expanded to per-task stacks [m, ...] (connected to theta unless ``detach``)."""
        return {k: (v.detach() if detach else v).expand(m, *v.shape) for k, v in self.params.items()}

    def dist(self, params: dict, x: torch.Tensor) -> tuple:
        """Distribution parameters for obs x [m, S, d] under per-task params [m, ...]:
        (mean [m, S, a], log_std [m, 1, a]) for Box actions, (logits [m, S, n],) for Discrete."""
        net_params = {k: v for k, v in params.items() if k != "log_std"}
        x = x.to(next(iter(net_params.values())).dtype)  # env obs are float32; a float64 net (tests) casts
        out = F.stacked_forward(self.net, net_params, x)
        return (out,) if self.discrete else (out, params["log_std"].unsqueeze(1))

    def log_prob(self, dist: tuple, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) [m, S] for actions [m, S, a] (Box) or [m, S] (Discrete)."""
        return pg.categorical_log_prob(dist[0], actions) if self.discrete else pg.gaussian_log_prob(*dist, actions)

    def kl(self, old: tuple, new: tuple) -> torch.Tensor:
        """KL(old || new) per step [m, S]."""
        return pg.categorical_kl(old[0], new[0]) if self.discrete else pg.gaussian_kl(*old, *new)

    def sample(self, params: dict, x: torch.Tensor, generator: torch.Generator, deterministic: bool = False):
        """Actions for obs x [m, S, d]: (stored actions [m*S, ...] tensor, env actions np.ndarray)."""
        d = self.dist(params, x)
        if self.discrete:
            a = pg.sample_categorical(torch.softmax(d[0].flatten(0, 1), -1), generator, deterministic)
            return a, (a + int(self.action_space.start)).cpu().numpy()
        mean, log_std = d
        a = pg.sample_gaussian(mean, log_std.exp(), generator, deterministic).flatten(0, 1)
        return a, self._box.host_actions(a)

    # ---- inner loop -----------------------------------------------------------------------------
    def inner_loss(self, params: dict, eps: Episodes, adv: torch.Tensor) -> torch.Tensor:
        """REINFORCE loss per task [m]: -mean over real steps of log pi(a|s) * advantage, for
        episodes [m, N, T, ...] and advantages [m, N, T]."""
        mask = eps.mask.flatten(1, 2)
        logp = self.log_prob(self.dist(params, eps.obs.flatten(1, 2)), eps.actions.flatten(1, 2))
        return -(logp * adv.flatten(1, 2) * mask).sum(1) / mask.sum(1).clamp_min(1)

    def advantages(self, eps: Episodes) -> torch.Tensor:
        c = self._config
        return pg.advantages(eps.obs, eps.rewards, eps.mask, c["gamma"], c["normalize_advantages"])

    def inner_step(self, params: dict, eps: Episodes, adv: torch.Tensor, create_graph: bool,
                   grad_sum: dict | None = None) -> dict:
        """params' = params - lr * grad inner_loss, per task ([m, ...] stacks). ``grad_sum``: a
        dict to which the (detached) per-task gradients are added."""
        connected = torch.is_grad_enabled()  # under no_grad, views of theta look like leaves: cut them
        with torch.enable_grad():
            p = {k: v if connected and v.requires_grad else v.detach().requires_grad_(True)
                 for k, v in params.items()}
            loss = self.inner_loss(p, eps, adv).sum()
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=create_graph)
        if grad_sum is not None:
            for k, g in zip(p, grads):
                grad_sum[k] = grad_sum[k] + g.detach() if k in grad_sum else g.detach()
        return {k: v - self.lrs[k] * g for (k, v), g in zip(p.items(), grads)}

    def adapted(self, batch: MetaBatch, create_graph: bool, grad_sum: dict | None = None) -> dict:
        """theta'(theta) for the batch's tasks: the inner steps replayed on its support rounds
        (``grad_sum`` collects the summed inner gradients, see ``inner_step``)."""
        p = self.stack(batch.rounds[0].mask.shape[0])
        for eps, adv in zip(batch.rounds[:-1], batch.advs[:-1]):
            p = self.inner_step(p, eps, adv, create_graph=create_graph and not self._config["first_order"],
                                grad_sum=grad_sum)
        return p

    def adapt(self, trajectories: Episodes, steps: int | None = None) -> dict:
        """Per-task params [m, ...] after ``steps`` inner steps (default: the agent's
        ``inner_steps``) on episodes [m, N, T, ...], e.g. from ``sample_tasks`` (all steps on
        the same episodes; no graph kept)."""
        if not isinstance(trajectories, Episodes):
            raise ConfigError(f"{self.name}: adapt takes the Episodes [tasks, N, T, ...] that sample_tasks returns, "
                              f"got {type(trajectories).__name__}")
        steps = self._config["inner_steps"] if steps is None else check_int("steps", steps, low=0)
        p = self.stack(trajectories.mask.shape[0], detach=True)
        adv = self.advantages(trajectories)
        for _ in range(steps):
            p = {k: v.detach() for k, v in self.inner_step(p, trajectories, adv, create_graph=False).items()}
        return p

    # ---- training -------------------------------------------------------------------------------
    def make_train_env(self, episodes_per_trial: int):
        """The sampler's vector env: M tasks x N episodes, one episode per slot."""
        c = self._config
        return self.family.make_vector_env(c["meta_batch"] * c["trajectories"], 1)

    def sample_tasks(self, venv, tasks, params: dict, seed: int, generator: torch.Generator,
                     deterministic: bool = False) -> Episodes:
        """N episodes of each task with per-task params [M, ...] -> episodes [M, N, T, ...]."""
        m, n = len(tasks), venv.num_envs // len(tasks)
        slots = [t for t in tasks for _ in range(n)]
        with torch.no_grad():
            eps = sample_episodes(venv, slots, lambda x: self.sample(params, x.view(m, n, -1), generator,
                                                                     deterministic), seed=seed, device=self.device)
        return eps.view(m, n)

    def collect(self, venv, tasks, seed: int) -> MetaBatch:
        c = self._config
        if venv.num_envs != len(tasks) * c["trajectories"] or venv.episodes != 1:
            venv = self._venv if self._venv is not None and self._venv.num_envs == len(tasks) * c["trajectories"] \
                else self.family.make_vector_env(len(tasks) * c["trajectories"], 1)
            self._venv = venv
        rounds_n = c["inner_steps"] + 1 if c["meta"] else 1
        seeds = derive_seeds(seed, rounds_n, "maml-round")
        p = self.stack(len(tasks), detach=True)
        rounds, advs = [], []
        for s in range(rounds_n):
            eps = self.sample_tasks(venv, tasks, p, seeds[s], self.generator)
            rounds.append(eps)
            advs.append(self.advantages(eps))
            if s < rounds_n - 1:
                p = {k: v.detach() for k, v in self.inner_step(p, eps, advs[-1], create_graph=False).items()}
        q = rounds[-1]
        with torch.no_grad():
            old = tuple(t.detach() for t in self.dist(p, q.obs.flatten(1, 2)))
            old_logp = self.log_prob(old, q.actions.flatten(1, 2))
        rets = [float(e.returns.mean()) for e in rounds]
        stats = {"env_steps": sum(e.num_steps for e in rounds), "trial_return": rets[-1], "pre_return": rets[0],
                 "post_return": rets[-1]}
        return MetaBatch(rounds, advs, old_logp, old, stats)

    def outer_terms(self, batch: MetaBatch, create_graph: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(surrogate to maximise, mean KL(old || new)) of the adapted policies on the query
        episodes, as functions of theta (through the inner steps)."""
        new, ratio = self.query_ratio(batch, create_graph)
        q, adv = batch.rounds[-1], batch.advs[-1].flatten(1, 2)
        mask = q.mask.flatten(1, 2)
        return pg.per_task_mean(ratio * adv, mask), pg.per_task_mean(self.kl(batch.old_dist, new), mask)

    def query_ratio(self, batch: MetaBatch, create_graph: bool = True) -> tuple[tuple, torch.Tensor]:
        """(distribution of theta'(theta) on the query steps, pi_new / pi_old ratio [M, N*T])."""
        q = batch.rounds[-1]
        new = self.dist(self.adapted(batch, create_graph), q.obs.flatten(1, 2))
        return new, torch.exp(self.log_prob(new, q.actions.flatten(1, 2)) - batch.old_logp)

    def update(self, batch: MetaBatch) -> dict[str, float]:
        c = self._config
        out = trpo_step(self, batch) if c["outer"] == "trpo" else ppo_steps(self, batch)
        out.update(pre_return=batch.stats["pre_return"], post_return=batch.stats["post_return"])
        if not self.discrete:
            out["policy_std"] = float(self.params["log_std"].detach().exp().mean())
        if self.learn_lr:
            flat = torch.cat([v.detach().reshape(-1) for v in self.lrs.values()])
            out.update(inner_lr_mean=float(flat.mean()), inner_lr_absmean=float(flat.abs().mean()))
        return out

    def inner_step_curve(self, tasks, *, steps: int = 3, seed: int = 0, trajectories: int | None = None) -> dict:
        """Held-out return after 0..``steps`` inner steps of N episodes each (the MAML paper's
        curve); see ``metarl.agents.maml_rl_eval``."""
        from metarl.agents.maml_rl_eval import inner_step_curve

        return inner_step_curve(self, tasks, steps=steps, trajectories=trajectories, seed=seed)

    # ---- acting in trials -----------------------------------------------------------------------
    def init_state(self, batch: int) -> TrialMemory:
        return TrialMemory({k: v.clone() for k, v in self.stack(batch, detach=True).items()},
                           ep_start=np.zeros(batch, dtype=np.int64))

    def reseed(self, seed: int) -> None:
        self.act_generator.manual_seed(int(seed))

    def act(self, obs: np.ndarray, state: TrialMemory, deterministic: bool = False):
        """obs [B, D] trial observations -> actions; one inner step per slot after each episode."""
        x = torch.as_tensor(obs[:, self.layout.obs], dtype=torch.float32, device=self.device)
        if state.obs:
            state.rewards.append(torch.as_tensor(obs[:, self.layout.prev_reward], dtype=torch.float32,
                                                 device=self.device))
            ended = obs[:, self.layout.episode_end] > 0.5
            # no step after the trial's last episode (progress 1), whose actions are ignored
            todo = np.flatnonzero(ended & (obs[:, self.layout.trial_progress] < 1.0))
            if len(todo):
                self._adapt_slots(state, todo)
            state.ep_start[ended] = len(state.obs)
        with torch.no_grad():
            a, env_a = self.sample(state.params, x[:, None], self.act_generator, deterministic)
        state.obs.append(x)
        state.actions.append(a)
        return env_a, state

    def _adapt_slots(self, state: TrialMemory, slots: np.ndarray) -> None:
        """One inner step for ``slots`` on the episode each has just finished."""
        now = len(state.obs)
        start = state.ep_start[slots]
        length = now - start
        steps = torch.as_tensor(start[:, None] + np.arange(length.max())[None, :], device=self.device)
        mask = torch.as_tensor(np.arange(length.max())[None, :] < length[:, None], dtype=torch.float32,
                               device=self.device)
        steps = steps.clamp_max(now - 1)
        cols = torch.as_tensor(slots, device=self.device)[:, None]
        pick = lambda hist: torch.stack(hist, 0)[steps, cols].unsqueeze(1)  # noqa: E731  [n, 1, L, ...]
        eps = Episodes(pick(state.obs), pick(state.actions), pick(state.rewards) * mask[:, None],
                       mask[:, None], torch.zeros(len(slots), 1, dtype=torch.bool))
        sub = {k: v[cols[:, 0]] for k, v in state.params.items()}
        new = self.inner_step(sub, eps, self.advantages(eps), create_graph=False)
        for k, v in new.items():
            state.params[k][cols[:, 0]] = v.detach()

    # ---- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"params": {k: v.detach().clone() for k, v in self.params.items()},
                "lrs": F.rates_state(self.lrs, self.learn_lr),
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
        F.load_rates(self.lrs, state.get("lrs", {}), self.learn_lr)
        self.optimizer.load_state_dict(state["optimizer"])
        restore_generator(self.generator, state["generator"])


class MetaSGDRLAgent(MAMLRLAgent):
    """Meta-SGD on RL families: MAML plus a meta-learned step size per parameter entry."""

    name = "metasgd"
    learn_lr = True
    eval_options = ("inner_steps",)   # the rates are learned: the checkpoint's, not inner_lr
