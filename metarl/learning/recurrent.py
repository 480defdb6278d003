"""Recurrent actor-critic: a GRU over trial observations with policy and value heads."""
from __future__ import annotations

import math

import torch
from torch import nn

from metarl.errors import ConfigError


class RecurrentActorCritic(nn.Module):
    """GRU(obs_dim -> hidden) followed by separate linear policy and value heads.

    Policy heads: ``"categorical"`` (logits [.., n_actions]) or ``"gaussian"`` (mean
    [.., act_dim] plus a state-independent log-std; also used for one-step regression,
    where the mean is the prediction).
    """

    def __init__(self, obs_dim: int, act_dim: int, *, hidden_size: int = 256, head: str = "categorical",
                 init_log_std: float = -0.5) -> None:
        super().__init__()
        if head not in ("categorical", "gaussian"):
            raise ConfigError(f"head={head!r} is not valid; choose one of ['categorical', 'gaussian']")
        self.head, self.hidden_size, self.act_dim = head, hidden_size, act_dim
        self.gru = nn.GRU(obs_dim, hidden_size)
        self.policy = nn.Linear(hidden_size, act_dim)
        self.value = nn.Linear(hidden_size, 1)
        if head == "gaussian":
            self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        for name, p in self.gru.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(p)
            else:
                nn.init.zeros_(p)
        nn.init.orthogonal_(self.policy.weight, gain=0.01)
        nn.init.zeros_(self.policy.bias)
        nn.init.orthogonal_(self.value.weight, gain=1.0)
        nn.init.zeros_(self.value.bias)

    def initial_state(self, batch: int, device: torch.device | str) -> torch.Tensor:
        """Zero memory [1, B, hidden]."""
        return torch.zeros(1, batch, self.hidden_size, device=device)

    def unroll(self, obs: torch.Tensor, h0: torch.Tensor, resets: torch.Tensor | None = None):
        """Run the GRU over a sequence.

        Args:
            obs: [T, B, obs_dim]; h0: [1, B, hidden];
            resets: optional [T, B], 1 where the memory is zeroed *before* step t
                (trial starts inside the sequence). ``None`` means no resets after h0.
        Returns:
            features [T, B, hidden], final state [1, B, hidden].
        """
        if resets is None or not bool(resets[1:].any()):
            if resets is not None:
                h0 = h0 * (1.0 - resets[0].to(h0.dtype)).view(1, -1, 1)
            return self.gru(obs, h0)
        outs, h = [], h0
        for t in range(obs.shape[0]):
            h = h * (1.0 - resets[t].to(h.dtype)).view(1, -1, 1)
            out, h = self.gru(obs[t : t + 1], h)
            outs.append(out)
        return torch.cat(outs), h

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy parameters (logits or means) [..., act_dim] and values [...]."""
        return self.policy(features), self.value(features).squeeze(-1)

    # -- distributions (written out instead of torch.distributions to sample with an
    #    explicit generator and avoid validation overhead in the rollout loop) ------------
    def sample(self, pi: torch.Tensor, generator: torch.Generator, deterministic: bool = False):
        """Actions and their log-probabilities from policy parameters ``pi`` [B, act_dim]."""
        if self.head == "categorical":
            logp_all = torch.log_softmax(pi, -1)
            if deterministic:
                a = pi.argmax(-1)
            else:
                a = torch.multinomial(logp_all.exp(), 1, generator=generator).squeeze(-1)
            return a, logp_all.gather(-1, a.unsqueeze(-1)).squeeze(-1)
        std = self.log_std.exp()
        a = pi if deterministic else pi + std * torch.randn(pi.shape, generator=generator, device=pi.device)
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
        z = (a - mean) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
