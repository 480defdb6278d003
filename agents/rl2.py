"""RL² (Duan et al. 2016): a recurrent policy whose memory spans a whole trial, trained with PPO.

The agent sees the trial observation (obs, previous action, previous reward,
episode-end flag, trial progress); its GRU (or LSTM) state is zeroed only at trial start, so
what it learns about the task in early episodes carries into later ones — adaptation
happens in the hidden state (``adapt`` is the identity).

Training (``collect`` + ``update``): B whole trials are collected side by side into
[T, B] tensors; GAE runs across inner-episode boundaries and bootstraps a time-limit
truncation at the trial's end; PPO minibatches are groups of whole trials re-run
from a zero hidden state (exact backpropagation through the whole trial).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.errors import ConfigError, check_bool, check_choice, check_float, check_int, check_widths
from metarl.learning.action_box import ACTION_UNITS, BoxActions
from metarl.learning.agent import Agent
from metarl.learning.device import adam, resolve_device, restore_generator
from metarl.learning.ppo import explained_variance, normalize, ppo_loss
from metarl.learning.recurrent import RecurrentActorCritic
from metarl.rollout.buffer import TrialBatch
from metarl.rollout.gae import compute_gae

ACTION_LOGP = ("gaussian", "clipped")


class RL2Agent(Agent):
    """Recurrent PPO agent over trials.

    Options: hidden_size (recurrent width), cell ("gru" as in the paper, or "lstm", which
    PyTorch trains through oneDNN's fused kernel on CPU: 2.2x faster updates over whole
    100-step trials, no faster on 10-25-step sequences), critic ("shared": one recurrent trunk
    under both heads; "separate": the value head gets its own trunk, as in the RL² paper's
    code, at twice the recurrent compute), trials_per_update (B trials collected per update),
    minibatches (whole-trial minibatches per epoch), epochs (PPO passes over each collected
    batch), lr -> lr_final (Adam learning rate, linear anneal over training), ent_coef ->
    ent_coef_final (entropy bonus, linear anneal), clip (PPO ratio clip), vf_coef (value-loss
    weight), max_grad_norm (gradient-norm clip), target_kl (0: off; > 0: end the update's
    epochs early at the first minibatch whose approximate KL from the collecting policy
    exceeds 1.5 x target_kl, before its step, as stable-baselines3's PPO does), gamma
    (discount), gae_lambda (GAE λ; advantages cross inner-episode boundaries), value_scale
    (value head predicts returns x this),
    bptt_chunk (0: backpropagate through whole trials; L > 0: for long trials, train on
    chunks of L steps that start from the hidden state recorded during collection —
    truncated BPTT, the stored-state scheme of R2D2 / recurrent PPO), device ("auto",
    "cpu", "cuda"), action_units (Box actions: "env" or "unit", see
    ``metarl.learning.action_box``), action_logp (Box actions: "gaussian", the density of
    the unclipped sample, or "clipped", the probability of the clipped action the env takes
    — Fujita & Maeda 2018 — which lets PPO pull back a mean stuck beyond the action bound),
    task_critic (the value head also reads the task's parameters, ``family.task_features``:
    an asymmetric critic. The policy never sees them and acting never computes them; the
    critic still runs over the history, so its baseline stays unbiased — Baisero & Amato 2022
    — while the task no longer adds to the advantages' variance), reward_clip (0: off; c > 0:
    the previous reward enters the network clipped to [-c, c], when acting and in training, so
    rewards far outside the training range — tasks beyond the training box — cannot drive the
    memory out of the range it was trained on; docs/results.md), reward_scale (the previous
    reward enters the network multiplied by this, before reward_clip, which then counts in the
    scaled units: e.g. 0.1 for Meta-World's rewards of up to 10 per step, so the reward input
    is of the order of the observations), memory ("trial": RL²; "episode": memory and the
    previous action / reward inputs zeroed at every inner episode's start, so adaptation
    can happen within an episode but nothing carries to the next; "none": zeroed at every
    step, a memoryless policy trained by this same recipe — the ablations that tell what
    memory adds from what the recipe adds), encoder (layer widths of a per-step tanh MLP in
    front of the recurrent cell, e.g. [256]; [] by default: the cell reads the trial
    observation itself), seed.
    """

    trainable = True
    name = "rl2"
    eval_options = ("reward_clip", "memory")  # memory=episode on a trained run: does it use earlier episodes?

    def __init__(self, family, *, hidden_size: int = 256, cell: str = "gru", critic: str = "shared",
                 trials_per_update: int = 256,
                 minibatches: int = 4, epochs: int = 4, lr: float = 1e-3, lr_final: float = 1e-4,
                 ent_coef: float = 0.02, ent_coef_final: float = 0.0, clip: float = 0.2, vf_coef: float = 0.5,
                 max_grad_norm: float = 0.5, target_kl: float = 0.0, gamma: float = 0.99, gae_lambda: float = 0.95,
                 value_scale: float = 1.0, bptt_chunk: int = 0, device: str = "auto",
                 action_units: str = "env", action_logp: str = "gaussian", task_critic: bool = False,
                 reward_clip: float = 0.0, reward_scale: float = 1.0, memory: str = "trial",
                 encoder: list[int] | tuple[int, ...] = (), seed: int = 0) -> None:
        super().__init__(family)
        check_choice("action_units", action_units, ACTION_UNITS)
        check_choice("action_logp", action_logp, ACTION_LOGP)
        self._config = dict(hidden_size=check_int("hidden_size", hidden_size, low=1), cell=cell, critic=critic,
                            trials_per_update=check_int("trials_per_update", trials_per_update, low=1),
                            minibatches=check_int("minibatches", minibatches, low=1),
                            epochs=check_int("epochs", epochs, low=1),
                            lr=check_float("lr", lr, low=0.0, low_open=True),
                            lr_final=check_float("lr_final", lr_final, low=0.0),
                            ent_coef=check_float("ent_coef", ent_coef, low=0.0),
                            ent_coef_final=check_float("ent_coef_final", ent_coef_final, low=0.0),
                            clip=check_float("clip", clip, low=0.0, low_open=True),
                            vf_coef=check_float("vf_coef", vf_coef, low=0.0),
                            max_grad_norm=check_float("max_grad_norm", max_grad_norm, low=0.0, low_open=True),
                            target_kl=check_float("target_kl", target_kl, low=0.0),
                            gamma=check_float("gamma", gamma, low=0.0, high=1.0),
                            gae_lambda=check_float("gae_lambda", gae_lambda, low=0.0, high=1.0),
                            value_scale=check_float("value_scale", value_scale, low=0.0, low_open=True),
                            bptt_chunk=check_int("bptt_chunk", bptt_chunk, low=0),
                            device=str(device), action_units=action_units, action_logp=action_logp,
                            task_critic=check_bool("task_critic", task_critic),
                            reward_clip=check_float("reward_clip", reward_clip, low=0.0),
                            reward_scale=check_float("reward_scale", reward_scale, low=0.0, low_open=True),
                            memory=memory, encoder=list(check_widths("encoder", encoder)),
                            seed=check_int("seed", seed, low=0))
        if self._config["minibatches"] > self._config["trials_per_update"]:
            raise ConfigError(f"minibatches={minibatches} exceeds trials_per_update={trials_per_update}; "
                              "each minibatch needs at least one whole trial")
        self.device = resolve_device(device)
        head = "categorical" if isinstance(self.action_space, spaces.Discrete) else "gaussian"
        bounds = None
        if head == "categorical" and action_logp != "gaussian":
            raise ConfigError(f"action_logp={action_logp!r} is for Box actions; {family.name!r} has "
                              f"{self.action_space} (leave action_logp='gaussian')")
        if head == "gaussian":
            self._box = BoxActions(self.action_space, action_units, self.device, where=repr(family.name))
            if action_logp == "clipped":
                bounds = self._box.sample_bounds()
                if not all(bool(torch.isfinite(b).all()) for b in bounds):
                    raise ConfigError(f"action_logp='clipped' needs a bounded action box; {family.name!r} has "
                                      f"low={bounds[0].tolist()}, high={bounds[1].tolist()} "
                                      "(use action_logp='gaussian')")
        task_dim = family.task_feature_size() if task_critic else 0
        if task_critic and not task_dim:
            raise ConfigError(f"task_critic=True needs task features, and family {family.name!r} gives 0 "
                              f"columns (parameters {family.params.names}: none numeric, no categorical with "
                              "more than one choice); use task_critic=False")
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`, not the global stream
            torch.default_generator.manual_seed(seed)  # the CPU stream only: GPU streams stay as they were
            net = RecurrentActorCritic(self.layout.dim, self.layout.act_dim, hidden_size=hidden_size, head=head,
                                       cell=cell, critic=critic, clip_bounds=bounds, task_dim=task_dim,
                                       reward_input=self._reward_input(), memory=memory,
                                       encoder=tuple(self._config["encoder"]),
                                       feedback=(self.layout.obs_dim, self.layout.episode_end + 1))
        self.net = net.to(self.device)
        self.optimizer = adam(self.net.parameters(), self.device, lr=lr, eps=1e-5)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.act_generator = torch.Generator(device=self.device)  # evaluation's stream (see reseed)
        self.act_generator.manual_seed(seed)
        self._action_start = int(self.action_space.start) if head == "categorical" else 0

    def _reward_input(self) -> tuple[int, float, float] | None:
        """(index of the previous reward in the trial observation, reward_scale, reward_clip),
        or None when the reward enters as it is."""
        scale, clip = self._config["reward_scale"], self._config["reward_clip"]
        return (self.layout.prev_reward, scale, clip) if clip or scale != 1.0 else None

    # ---- acting -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def init_state(self, batch: int) -> torch.Tensor:
        """Zero memory [1, B, state_size] (hidden for the GRU, 2 x hidden for the LSTM; twice
        that with a separate critic)."""
        return self.net.initial_state(batch, self.device)

    @torch.no_grad()
    def _step(self, obs: np.ndarray, state: torch.Tensor, deterministic: bool, generator: torch.Generator,
              task: torch.Tensor | None = None):
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        feat, state = self.net.core(o.unsqueeze(0), state)
        pi, value = self.net.heads(feat[0], task)
        action, logp = self.net.sample(pi, generator, deterministic)
        return o, action, logp, value, state

    def _to_env(self, action: torch.Tensor) -> np.ndarray:
        """Sampled actions [B] (indices) or [B, act_dim] -> the env's actions on the host:
        start + index for a Discrete space, [B, *shape] inside the box for a Box space."""
        if self.net.head == "gaussian":
            return self._box.host_actions(action)
        return action.cpu().numpy() + self._action_start

    def act(self, obs: np.ndarray, state: torch.Tensor, deterministic: bool = False):
        """obs [B, D] -> env actions [B] (discrete) or [B, *box shape]; state [1, B, state_size].

        Runs the policy only (``RecurrentActorCritic.policy_step``): no value head, and with a
        separate critic no critic trunk."""
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if o.dim() != 2 or o.shape[1] != self.layout.dim:   # shapes only: no device sync
            raise ConfigError(f"rl2: act expects trial observations of shape [B, {self.layout.dim}] for family "
                              f"{self.family.name!r}, got {list(o.shape)}")
        with torch.no_grad():
            pi, state = self.net.policy_step(o.unsqueeze(0), state)
            action, _ = self.net.sample(pi[0], self.act_generator, deterministic)
        return self._to_env(action), state

    def reseed(self, seed: int) -> None:
        self.act_generator.manual_seed(seed)

    # ---- training -----------------------------------------------------------------------------
    def collect(self, venv, tasks, seed: int) -> TrialBatch:
        """Run one trial per task in ``venv`` (a TrialVectorEnv with len(tasks) slots).

        Per step, only the observation goes to the device and the action comes back (what
        the env needs); rewards and flags stay in host arrays [T, B] and move to the device
        once, after the trial (one copy instead of four per step on a GPU)."""
        obs, _ = venv.reset(seed=seed, options={"tasks": tasks})
        T, B, dev = venv.max_trial_steps, venv.num_envs, self.device
        act_shape = () if self.net.head == "categorical" else (self.layout.act_dim,)
        obs_buf = torch.zeros(T, B, self.layout.dim, device=dev)
        act_buf = torch.zeros(T, B, *act_shape, device=dev, dtype=torch.float32 if act_shape else torch.long)
        logp_buf, value_buf = torch.zeros(T, B, device=dev), torch.zeros(T + 1, B, device=dev)
        host = np.zeros((4, T, B), dtype=np.float32)  # rewards, active, terminated, trial_end
        L = self._config["bptt_chunk"]
        hidden = torch.zeros(-(-T // L), B, self.net.state_size, device=dev) if L else None
        state = self.init_state(B)
        task = (torch.as_tensor(self.family.task_features(tasks), device=dev)  # [B, F], the critic's only
                if self.net.task_dim else None)
        t = 0
        for t in range(T):
            if L and t % L == 0:
                hidden[t // L] = state[0]
            o, action, logp, value, state = self._step(obs, state, False, self.generator, task)
            obs_buf[t], act_buf[t], logp_buf[t], value_buf[t] = o, action, logp, value
            obs, reward, term, trunc, info = venv.step(self._to_env(action))
            active = info["active"]
            host[:, t] = (reward, active, term & active, (term | trunc) & active)
            if bool(np.all(term | trunc)):
                break
        _, _, _, last_value, _ = self._step(obs, state, True, self.generator, task)
        n = t + 1
        value_buf[n] = last_value
        rewards, active, terminated, trial_end = torch.from_numpy(host[:, :n]).to(dev)
        out = TrialBatch(obs_buf[:n], act_buf[:n], logp_buf[:n], value_buf[: n + 1], rewards, active, terminated,
                         trial_end)
        out.hidden = None if hidden is None else hidden[: -(-n // L)]
        out.task = task
        out.stats = {"env_steps": int(host[1, :n].sum(dtype=np.float64)),
                     "trial_return": float(host[0, :n].sum(0, dtype=np.float64).mean())}
        return out

    def update(self, batch: TrialBatch) -> dict[str, float]:
        """PPO epochs over whole-trial minibatches; ``batch.stats["progress"]`` in [0, 1] anneals."""
        c = self._config
        progress = float(batch.stats.get("progress", 0.0))
        lr = c["lr"] + (c["lr_final"] - c["lr"]) * progress
        ent_coef = c["ent_coef"] + (c["ent_coef_final"] - c["ent_coef"]) * progress
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        with torch.no_grad():
            adv, ret = compute_gae(batch.rewards * c["value_scale"], batch.values, batch.terminated,
                                   batch.trial_end, c["gamma"], c["gae_lambda"])
        seq, h0, task = self._sequences(batch, adv, ret)
        S = h0.shape[1]
        mb_count = min(c["minibatches"], S)
        sums = {k: 0.0 for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")}
        n_mb = steps = 0
        kl_limit = 1.5 * c["target_kl"] if c["target_kl"] > 0 else None
        for _ in range(c["epochs"]):
            perm = torch.randperm(S, generator=self.generator, device=self.device)
            for idx in perm.chunk(mb_count):
                mask = seq["active"][:, idx]
                feats, _ = self.net.unroll(seq["obs"][:, idx], h0[:, idx])
                pi, values = self.net.heads(feats, None if task is None else task[idx])
                logp, entropy = self.net.log_prob_entropy(pi, seq["actions"][:, idx])
                loss = ppo_loss(logp, seq["logp"][:, idx], normalize(seq["adv"][:, idx], mask), values,
                                seq["ret"][:, idx], entropy, mask, clip=c["clip"], vf_coef=c["vf_coef"],
                                ent_coef=ent_coef)
                if not torch.isfinite(loss.total):
                    raise FloatingPointError(f"non-finite PPO loss {loss.total.item()} "
                                             f"(policy {loss.policy.item()}, value {loss.value.item()})")
                stop = kl_limit is not None and float(loss.approx_kl) > kl_limit
                if not stop:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.total.backward()
                    grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), c["max_grad_norm"])
                    self.optimizer.step()
                    sums["grad_norm"] += float(grad_norm)
                    steps += 1
                for k, v in (("policy_loss", loss.policy), ("value_loss", loss.value), ("entropy", loss.entropy),
                             ("approx_kl", loss.approx_kl), ("clip_fraction", loss.clip_fraction)):
                    sums[k] += float(v.detach())
                n_mb += 1
                if stop:
                    break
            if stop:
                break
        out = {k: v / (max(steps, 1) if k == "grad_norm" else n_mb) for k, v in sums.items()}
        out["minibatch_steps"] = steps  # epochs x minibatches unless target_kl ended the update early
        out.update(explained_variance=explained_variance(batch.values[:-1], ret, batch.active), lr=lr,
                   ent_coef=ent_coef)
        return out

    def _sequences(self, batch: TrialBatch, adv: torch.Tensor, ret: torch.Tensor):
        """Training sequences: whole trials from zero memory, or (bptt_chunk = L) chunks of L
        steps from the recorded memory. Returns ({name: [L or T, S, ...]}, h0 [1, S, state_size],
        task features [S, F] or None)."""
        data = {"obs": batch.obs, "actions": batch.actions, "logp": batch.logp, "adv": adv, "ret": ret,
                "active": batch.active}
        T, B = batch.active.shape
        L = self._config["bptt_chunk"]
        task = batch.task
        if not L or L >= T or batch.hidden is None:
            return data, self.net.initial_state(B, self.device), task
        n_chunks = -(-T // L)
        pad = n_chunks * L - T

        def chunked(x: torch.Tensor) -> torch.Tensor:  # [T, B, ...] -> [L, n_chunks * B, ...]
            if pad:
                x = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))])
            x = x.reshape(n_chunks, L, *x.shape[1:]).transpose(0, 1)
            return x.reshape(L, n_chunks * B, *x.shape[3:])

        data = {k: chunked(v) for k, v in data.items()}
        h0 = batch.hidden.reshape(1, n_chunks * B, -1)
        keep = data["active"].any(0)  # chunks entirely after their trial's end carry nothing
        task = None if task is None else task.repeat(n_chunks, 1)[keep]  # chunk c of trial b sits at c * B + b
        return {k: v[:, keep] for k, v in data.items()}, h0[:, keep], task

    # ---- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        restore_generator(self.generator, state["generator"])
