"""Recurrent actor-critic: a GRU or LSTM over trial observations with policy and value heads."""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from metarl.errors import ConfigError, check_choice, check_widths
from metarl.learning.policy_gradient import clipped_gaussian_log_prob, sample_categorical, sample_gaussian

CELLS = ("gru", "lstm")
CRITICS = ("shared", "separate")
MEMORY = ("trial", "episode", "none")


class RecurrentActorCritic(nn.Module):
    """GRU or LSTM (obs_dim -> hidden) followed by separate linear policy and value heads.

    Policy heads: ``"categorical"`` (logits [.., n_actions]) or ``"gaussian"`` (mean
    [.., act_dim] plus a state-independent log-std; also used for one-step regression,
    where the mean is the prediction). With ``clip_bounds`` (low, high) [act_dim], the
    Gaussian's log-probabilities are those of the clipped action the env takes
    (``clipped_gaussian_log_prob``); its entropy is still the unclipped Gaussian's.

    With ``task_dim`` > 0 the value head also reads privileged task features [B, task_dim]
    (``heads(features, task)``): value = value(tanh(task_value([critic features | task]))), an
    asymmetric critic for training; the policy's inputs are unchanged.

    The memory is one tensor [1, B, state_size] for either cell: the GRU's h
    (state_size = hidden) or the LSTM's h and c side by side (state_size = 2 * hidden), so
    code that stores, zeroes or slices memory does not care which cell runs. The LSTM is
    offered for speed on CPU: PyTorch runs ``nn.LSTM`` there through oneDNN's fused kernel,
    its CPU GRU as about ten small autograd ops per step (measured on 2 cores, an unroll plus
    backward over 100 steps x 32 trials at width 128: 20 ms for the LSTM, 48-57 ms for the
    GRU; a hand-written GRU backward, tried, gained only 1.15-1.2x, as the forward's per-step
    ops cost as much as before).

    ``memory`` sets how far back the network may remember, for ablations: ``"trial"`` (RL²:
    zeroed only by the caller, at trial start), ``"episode"`` (also zeroed before each inner
    episode's first step, read from the trial observation's ``episode_end`` column, with the
    feedback inputs — previous action, reward and episode-end flag, columns ``feedback`` =
    (start, stop) — zeroed there too, so every episode starts as a trial does except that the
    trial-progress input, column ``stop``, still tells which episode it is) or ``"none"``
    (zeroed before every step, feedback inputs always zero: a memoryless policy on the inner
    observation and trial progress). The trial's final observation (episode end with trial
    progress 1, read only for the bootstrap value; finished slots repeat it) is no episode
    start: it keeps the last episode's memory. The masks are read from the inputs, so acting
    step by step and training over whole sequences apply them identically.

    ``encoder`` (layer widths, e.g. (256,); none by default) puts a tanh MLP in front of each
    recurrent trunk, applied to every step's (masked) inputs [T, B, obs_dim] -> [T, B,
    encoder[-1]]: the GRU then reads features instead of raw observations, so the policy is
    no longer a single nonlinearity deep between an observation and its action.
    """

    def __init__(self, obs_dim: int, act_dim: int, *, hidden_size: int = 256, head: str = "categorical",
                 init_log_std: float = -0.5, cell: str = "gru", critic: str = "shared",
                 clip_bounds: tuple[torch.Tensor, torch.Tensor] | None = None, task_dim: int = 0,
                 reward_input: tuple[int, float, float] | None = None, memory: str = "trial",
                 feedback: tuple[int, int] | None = None, encoder: tuple[int, ...] = ()) -> None:
        super().__init__()
        check_choice("head", head, ("categorical", "gaussian"))
        check_choice("cell", cell, CELLS)
        check_choice("critic", critic, CRITICS)
        check_choice("memory", memory, MEMORY)
        if memory != "trial" and feedback is None:
            raise ConfigError(f"memory={memory!r} needs feedback=(start, stop): the columns of the previous "
                              "action, reward and episode-end flag (the last of them)")
        self.memory, self.feedback = memory, feedback
        self.head, self.hidden_size, self.act_dim, self.cell = head, hidden_size, act_dim, cell
        # (index of the previous reward in obs, scale s, clip c or 0): it enters as s * r, then
        # clipped to [-c, c] when c > 0
        self.reward_input = reward_input
        self.critic = critic
        self.trunk_state_size = hidden_size * (2 if cell == "lstm" else 1)
        self.state_size = self.trunk_state_size * (2 if critic == "separate" else 1)
        # the modules keep their cell's name, so checkpoint keys say which cell (and critic) they hold
        trunk = nn.GRU if cell == "gru" else nn.LSTM
        self.encoder_widths = check_widths("encoder", encoder)
        cell_input = self.encoder_widths[-1] if self.encoder_widths else obs_dim
        setattr(self, cell, trunk(cell_input, hidden_size))
        if critic == "separate":
            setattr(self, f"critic_{cell}", trunk(cell_input, hidden_size))
        self.policy = nn.Linear(hidden_size, act_dim)
        self.value = nn.Linear(hidden_size, 1)
        if head == "gaussian":
            self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.clipped = clip_bounds is not None
        if self.clipped:  # buffers, so .to(device) moves them; not persistent: checkpoints are unchanged
            if head != "gaussian":
                raise ConfigError("clip_bounds applies to the Gaussian head only")
            low, high = (torch.as_tensor(b, dtype=torch.float32).reshape(act_dim) for b in clip_bounds)
            if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (low < high).all()):
                raise ConfigError(f"clip_bounds must be finite with low < high, got low={low.tolist()}, "
                                  f"high={high.tolist()}")
            self.register_buffer("clip_low", low, persistent=False)
            self.register_buffer("clip_high", high, persistent=False)
        for module in (self.rnn, self.critic_rnn):  # (this order keeps the shared net's seeded weights)
            if module is not None:
                self._init_trunk(module)
        nn.init.orthogonal_(self.policy.weight, gain=0.01)
        nn.init.zeros_(self.policy.bias)
        nn.init.orthogonal_(self.value.weight, gain=1.0)
        nn.init.zeros_(self.value.bias)
        self.task_dim = int(task_dim)
        if self.task_dim:  # built last, so the other weights keep their seeded values
            self.task_value = nn.Sequential(nn.Linear(hidden_size + self.task_dim, hidden_size), nn.Tanh())
            nn.init.orthogonal_(self.task_value[0].weight, gain=1.0)
            nn.init.zeros_(self.task_value[0].bias)
        if self.encoder_widths:  # built last too; none by default, so default checkpoints keep their keys
            self.encoder = self._make_encoder(obs_dim)
            if critic == "separate":
                self.critic_encoder = self._make_encoder(obs_dim)

    def _make_encoder(self, obs_dim: int) -> nn.Sequential:
        """A per-step tanh MLP obs_dim -> encoder widths in front of a recurrent trunk: orthogonal
        weights with gain sqrt(2), zero biases (stable-baselines3's hidden layers)."""
        layers, width = [], obs_dim
        for out in self.encoder_widths:
            linear = nn.Linear(width, out)
            nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.Tanh()]
            width = out
        return nn.Sequential(*layers)

    def _init_trunk(self, trunk: nn.Module) -> None:
        """Orthogonal weights, zero biases (LSTM: forget-gate bias 1)."""
        h = self.hidden_size
        for name, p in trunk.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(p)
            else:
                nn.init.zeros_(p)
        if self.cell == "lstm":  # forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015): the memory
            with torch.no_grad():  # starts out kept (sigmoid(1) = 0.73 per step) instead of halved
                trunk.bias_ih_l0[h : 2 * h] = 1.0

    @property
    def rnn(self) -> nn.Module:
        """The (actor's) recurrent module (``self.gru`` or ``self.lstm``)."""
        return getattr(self, self.cell)

    @property
    def critic_rnn(self) -> nn.Module | None:
        """The critic's own recurrent module with ``critic="separate"``, else None."""
        return getattr(self, f"critic_{self.cell}", None)

    def initial_state(self, batch: int, device: torch.device | str) -> torch.Tensor:
        """Zero memory [1, B, state_size]."""
        return torch.zeros(1, batch, self.state_size, device=device)

    @property
    def feature_size(self) -> int:
        """Width of ``core``'s features: hidden, or 2 x hidden with a separate critic."""
        return self.hidden_size * (2 if self.critic == "separate" else 1)

    def core(self, obs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The recurrent module(s) without resets: obs [T, B, obs_dim], state [1, B, state_size]
        -> features [T, B, feature_size], final state [1, B, state_size]."""
        if self.critic == "shared":
            return self._trunk(self.rnn, obs, state)
        actor, critic = state.split(self.trunk_state_size, dim=-1)
        fa, sa = self._trunk(self.rnn, obs, actor.contiguous())
        fc, sc = self._trunk(self.critic_rnn, obs, critic.contiguous())
        return torch.cat([fa, fc], dim=-1), torch.cat([sa, sc], dim=-1)

    def policy_step(self, obs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Acting only: obs [T, B, obs_dim], state [1, B, state_size] -> policy parameters
        [T, B, act_dim] and the next state. With a separate critic only the actor's trunk runs
        (half the recurrent work) and the critic's half of the state is passed on unchanged, so
        the state keeps its layout but its critic half is stale: values read from it later
        would be wrong, which is why training (``collect``) goes through ``core``."""
        if self.critic == "shared":
            feats, state = self._trunk(self.rnn, obs, state)
            return self.policy(feats), state
        actor, critic = state.split(self.trunk_state_size, dim=-1)
        feats, actor = self._trunk(self.rnn, obs, actor.contiguous())
        return self.policy(feats), torch.cat([actor, critic], dim=-1)

    def _trunk(self, module: nn.Module, obs: torch.Tensor, state: torch.Tensor):
        """One recurrent module: obs [T, B, obs_dim], state [1, B, trunk_state_size] -> (features
        [T, B, hidden], state). With ``reward_input`` the previous-reward input is scaled and
        clipped first; then ``memory`` applies its masks."""
        if self.reward_input is not None:
            i, scale, c = self.reward_input
            r = obs[..., i:i + 1] * scale
            obs = torch.cat([obs[..., :i], r.clamp(-c, c) if c else r, obs[..., i + 1:]], dim=-1)
        if self.memory == "none":  # every step from zero memory: one call over T * B independent steps
            T, B = obs.shape[:2]
            out, _ = self._cell(module, self._without_feedback(obs, None).reshape(1, T * B, -1),
                                state.new_zeros(1, T * B, state.shape[-1]))
            return out.reshape(T, B, -1), torch.zeros_like(state)
        if self.memory == "episode":
            end = self.feedback[1]  # the episode-end flag is column end - 1, trial progress column end
            starts = obs[..., end - 1] * (obs[..., end] < 1.0).to(obs.dtype)  # [T, B]: 1 where one starts
            return self._run_with_resets(partial(self._cell, module), self._without_feedback(obs, starts), state,
                                         starts)
        return self._cell(module, obs, state)

    def _without_feedback(self, obs: torch.Tensor, starts: torch.Tensor | None) -> torch.Tensor:
        """obs [T, B, D] with the feedback columns zeroed: everywhere (``starts`` None) or
        where ``starts`` [T, B] is 1."""
        a, b = self.feedback
        fb = obs[..., a:b] * (0.0 if starts is None else (1.0 - starts).unsqueeze(-1))
        return torch.cat([obs[..., :a], fb, obs[..., b:]], dim=-1)

    @staticmethod
    def _run_with_resets(run, obs: torch.Tensor, state: torch.Tensor, resets: torch.Tensor):
        """``run(obs [t, B, D], state) -> (features [t, B, F], state)`` over obs [T, B, D],
        zeroing the memory of column b before step t where ``resets[t, b]`` is 1: one fused call
        per stretch between the steps where any column restarts (T = 1, acting, needs no host
        sync; longer sequences one, to find the stretches)."""
        resets = resets.to(state.dtype)
        state = state * (1.0 - resets[0]).view(1, -1, 1)
        T = obs.shape[0]
        if T == 1:
            return run(obs, state)
        cuts = ((resets[1:] > 0.5).any(1).nonzero().flatten() + 1).tolist()
        outs, t0 = [], 0
        for t1 in [*cuts, T]:
            out, state = run(obs[t0:t1], state)
            outs.append(out)
            if t1 < T:
                state = state * (1.0 - resets[t1]).view(1, -1, 1)
            t0 = t1
        return torch.cat(outs), state

    def _cell(self, module: nn.Module, obs: torch.Tensor, state: torch.Tensor):
        """obs [T, B, D], state [1, B, trunk_state_size] -> (features [T, B, hidden], state);
        with ``encoder`` the obs pass through that trunk's encoder [T, B, encoder[-1]] first."""
        if self.encoder_widths:
            obs = (self.encoder if module is self.rnn else self.critic_encoder)(obs)
        if self.cell == "gru":
            return module(obs, state)
        h, c = state.split(self.hidden_size, dim=-1)
        out, (h, c) = module(obs, (h.contiguous(), c.contiguous()))
        return out, torch.cat([h, c], dim=-1)

    def unroll(self, obs: torch.Tensor, h0: torch.Tensor, resets: torch.Tensor | None = None):
        """Run the GRU over a sequence.

        Args:
            obs: [T, B, obs_dim]; h0: [1, B, state_size];
            resets: optional [T, B], 1 where the memory is zeroed *before* step t
                (trial starts inside the sequence). ``None`` means no resets after h0.
        Returns:
            features [T, B, feature_size], final state [1, B, state_size].
        """
        if resets is None:
            return self.core(obs, h0)
        return self._run_with_resets(self.core, obs, h0, resets)

    def heads(self, features: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """features [..., B, feature_size] -> policy parameters (logits or means) [..., B, act_dim]
        and values [..., B]; with a separate critic each head reads its own half. With
        ``task_dim`` > 0 the value also reads ``task`` [B, task_dim] (privileged task features,
        the same at every step of a trial) through a tanh layer; the policy never sees them."""
        actor = critic = features
        if self.critic == "separate":
            actor, critic = features.split(self.hidden_size, dim=-1)
        if self.task_dim:
            if task is None or task.dim() != 2 or tuple(task.shape) != (critic.shape[-2], self.task_dim):
                raise ValueError(f"this critic reads task features [B={critic.shape[-2]}, {self.task_dim}], got "
                                 f"{None if task is None else list(task.shape)}")
            # task_value(cat[critic, task]) with the task's half applied once per trial [B, H]
            # and broadcast over time, not to T copies of the task: with the MDP's 550 features
            # the concatenated form made the value layer the costliest part of an update
            layer, activation = self.task_value
            w_features, w_task = layer.weight.split([layer.in_features - self.task_dim, self.task_dim], dim=1)
            critic = activation(nn.functional.linear(critic, w_features, layer.bias)
                                + nn.functional.linear(task, w_task))
        return self.policy(actor), self.value(critic).squeeze(-1)

    # -- distributions (written out instead of torch.distributions to sample with an
    #    explicit generator and avoid validation overhead in the rollout loop) ------------
    def sample(self, pi: torch.Tensor, generator: torch.Generator, deterministic: bool = False):
        """Actions and their log-probabilities from policy parameters ``pi`` [B, act_dim]."""
        if self.head == "categorical":
            logp_all = torch.log_softmax(pi, -1)
            a = sample_categorical(logp_all.exp(), generator, deterministic)
            return a, logp_all.gather(-1, a.unsqueeze(-1)).squeeze(-1)
        std = self.log_std.exp()
        a = sample_gaussian(pi, std, generator, deterministic)
        return a, self._gauss_logp(pi, a)

    def log_prob_entropy(self, pi: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a) and entropy, both [...]."""
        if self.head == "categorical":
            logp_all = torch.log_softmax(pi, -1)
            logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            return logp, entropy
        ent = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum().expand(pi.shape[:-1])
        return self._gauss_logp(pi, actions), ent

    def _gauss_logp(self, mean: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """log-probability of samples ``a`` [..., act_dim]: their density, or with
        ``clip_bounds`` that of the clipped action the env takes (``clipped_gaussian_log_prob``)."""
        if self.clipped:
            return clipped_gaussian_log_prob(mean, self.log_std, a, self.clip_low, self.clip_high)
        z = (a - mean) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
