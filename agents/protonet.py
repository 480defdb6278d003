"""Prototypical networks (Snell et al. 2017) and the nearest-centroid baseline, for few-shot
classification families (one-step episodes, ``Discrete(ways)`` action = predicted label,
``info["target"]`` = the true label, e.g. ``fewshot-classification``).

Both classify an example by the nearest class *prototype*: the mean embedding of that class's
support examples so far (squared Euclidean distance). ``nearest-centroid`` embeds with the
identity (no learning); ``protonet`` embeds with a ReLU MLP meta-trained across tasks by Adam
on the queries' cross-entropy of ``softmax(-distance)`` to the prototypes of the full support
set.

The family's support plan (``family.support_size`` = ways x shots examples) is ``shots``
rounds, each showing every class once in a random order, then queries. ``act`` embeds each
example and ``observe`` stores its label. A support example is predicted among the classes
not yet shown in its round (the only ones it can be): the nearest prototype among them, or,
where none has a prototype yet, the smallest such label (right with probability 1 / classes
left). A query is predicted against all prototypes. ``trial_predictions`` computes the same
predictions for whole trials at once. The support-plan helpers (``shown_before_in_round``,
``support_prediction``, ``support_scores``) also serve MAML's classifier (``metarl.agents.maml``).
Both agents read an example's features through ``Agent.example``, so a family's
``label_feedback`` block (for black-box learners) never reaches them.

Why hand-written: learn2learn's ProtoNet helpers are unmaintained (see the project guide),
and the algorithm is a few tensor operations on top of the framework's trial layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.errors import ConfigError, MetaRLError, check_float, check_int, check_widths
from metarl.learning import functional as F
from metarl.learning.agent import Agent
from metarl.learning.device import adam, resolve_device


def prototypes(emb: torch.Tensor, labels: torch.Tensor, ways: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means of support embeddings emb [B, S, E] with labels [B, S] (int64):
    (prototypes [B, ways, E], counts [B, ways]); a class without examples has a zero prototype."""
    onehot = torch.nn.functional.one_hot(labels, ways).to(emb.dtype)        # [B, S, W]
    counts = onehot.sum(1)                                                  # [B, W]
    sums = onehot.transpose(1, 2) @ emb                                     # [B, W, E]
    return sums / counts.clamp(min=1.0)[..., None], counts


def logits(emb: torch.Tensor, protos: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """-squared distance of emb [..., E] to protos [..., W, E] -> [..., W]; -inf where a class
    has no support example (counts [..., W] = 0). Leading dimensions broadcast: e.g. queries
    [B, Q, E] against one set per task, ``protos[:, None]`` [B, 1, W, E]."""
    d = ((emb[..., None, :] - protos) ** 2).sum(-1)
    return torch.where(counts > 0, -d, torch.full_like(d, -torch.inf))


def _query_predictions(lg: torch.Tensor) -> torch.Tensor:
    """argmax of logits [..., W] -> labels [...]; label 0 where no class has a prototype."""
    return torch.where(torch.isneginf(lg).all(-1), torch.zeros_like(lg[..., 0], dtype=torch.long), lg.argmax(-1))


def has_support_plan(family, ways: int) -> bool:
    """Whether ``family`` shows its support set in rounds of every class: ``support_size`` =
    ways x shots examples (as fewshot-classification's), which the round rule below needs."""
    support = getattr(family, "support_size", None)
    return isinstance(support, int) and not isinstance(support, bool) and support >= 1 and support % ways == 0


def shown_before_in_round(labels: torch.Tensor, ways: int) -> torch.Tensor:
    """For support labels [B, S] shown in rounds of ``ways``: [B, S, W] bool, True where class w
    was shown earlier in example t's round (the classes example t cannot be)."""
    onehot = torch.nn.functional.one_hot(labels, ways)                              # [B, S, W]
    ccount = torch.cumsum(onehot, 1)
    zeros = torch.zeros_like(ccount[:, :1])
    before = torch.cat([zeros, ccount[:, :-1]], 1)                                  # counts before t
    start = (torch.arange(labels.shape[1], device=labels.device) // ways) * ways     # [S]: t's round start
    return (before - torch.cat([zeros, ccount], 1)[:, start]) > 0


def support_prediction(lg: torch.Tensor, labels: list, ways: int) -> torch.Tensor:
    """Label [B] of support example t = len(labels) from its logits lg [B, W] (-inf: no
    prototype), given the labels [B] (int64) of examples 0..t-1: the best class not yet shown in
    its round (``support_scores``)."""
    t = len(labels)
    in_round = labels[(t // ways) * ways:]
    shown = torch.zeros_like(lg, dtype=torch.bool)
    if in_round:
        shown = torch.nn.functional.one_hot(torch.stack(in_round, 1), ways).bool().any(1)
    return support_scores(lg, shown).argmax(-1)


def support_scores(lg: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
    """Scores [..., W] of a support example: logits ``lg`` (-inf: no prototype) for classes not
    yet ``shown`` in its round ([..., W] bool), below any distance for those without a prototype
    (the smallest label first), -inf for classes already shown."""
    ways = lg.shape[-1]
    fallback = -1e30 - torch.arange(ways, device=lg.device, dtype=lg.dtype)
    score = torch.where(torch.isneginf(lg), fallback.expand_as(lg), lg)
    return torch.where(shown, torch.full_like(score, -torch.inf), score)


def trial_predictions(emb: torch.Tensor, labels: torch.Tensor, support: int, ways: int) -> torch.Tensor:
    """Predicted labels [B, k] for whole trials emb [B, k, E] / labels [B, k] as ``act`` makes
    them: support example t among the classes not shown earlier in its round (rounds of
    ``ways``), by the prototypes of examples 0..t-1; a query against all ``support``."""
    b, k, _ = emb.shape
    onehot = torch.nn.functional.one_hot(labels[:, :support], ways).to(emb.dtype)   # [B, S, W]
    # prototypes before example t: cumulative sums shifted by one
    csum = torch.cumsum(onehot[..., None] * emb[:, :support, None, :], 1)           # [B, S, W, E]
    ccount = torch.cumsum(onehot, 1)                                                # [B, S, W]
    zeros_s, zeros_c = torch.zeros_like(csum[:, :1]), torch.zeros_like(ccount[:, :1])
    before_s = torch.cat([zeros_s, csum[:, :-1]], 1)
    before_c = torch.cat([zeros_c, ccount[:, :-1]], 1)
    l_sup = logits(emb[:, :support], before_s / before_c.clamp(min=1.0)[..., None], before_c)   # [B, S, W]
    pred_sup = support_scores(l_sup, shown_before_in_round(labels[:, :support], ways)).argmax(-1)
    protos, counts = prototypes(emb[:, :support], labels[:, :support], ways)
    pred_q = _query_predictions(logits(emb[:, support:], protos[:, None], counts[:, None]))   # [B, Q]
    return torch.cat([pred_sup, pred_q], 1)


@dataclass
class ProtoState:
    """Per-trial memory: support embeddings [B, E] and labels [B] seen so far."""

    embs: list = field(default_factory=list)
    labels: list = field(default_factory=list)


class NearestCentroidAgent(Agent):
    """Nearest class mean of the support examples' raw features: the no-learning baseline
    (no options)."""

    name = "nearest-centroid"

    def __init__(self, family) -> None:
        if getattr(family, "kind", "rl") != "supervised" or getattr(family, "max_episode_steps", 1) != 1:
            raise ConfigError(f"agent {self.name!r} is for few-shot classification families (one-step supervised "
                              f"episodes, e.g. fewshot-classification); family {family.name!r} is not one")
        super().__init__(family)
        if not isinstance(self.action_space, spaces.Discrete):
            raise ConfigError(f"agent {self.name!r} classifies (Discrete action = label); family {family.name!r} "
                              f"has action space {self.action_space}")
        self.ways = int(self.action_space.n)
        support = getattr(family, "support_size", None)
        if not has_support_plan(family, self.ways):
            raise ConfigError(f"agent {self.name!r} needs a family with a support plan: support_size = ways x shots "
                              f"examples in rounds of every class (as fewshot-classification); family "
                              f"{family.name!r} has support_size={support!r}")
        self.support = support
        self.device = torch.device("cpu")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features [..., in] -> embeddings [..., E] (here the identity)."""
        return x

    def check_trial_length(self, episodes: int) -> None:
        if episodes <= self.support:
            raise ConfigError(f"trials of {episodes} episodes leave no query examples after the support set of "
                              f"{self.support} (ways x shots); use more than {self.support} episodes per trial "
                              f"(e.g. {self.support + 15}: 15 queries, as the presets)")

    def init_state(self, batch: int) -> ProtoState:
        return ProtoState()

    @torch.no_grad()
    def act(self, obs: np.ndarray, state: ProtoState, deterministic: bool = False):
        """obs [B, D] trial observations -> labels [B] (int64)."""
        if len(state.labels) < len(state.embs):
            raise MetaRLError(f"agent {self.name!r} learns from labels: call state = agent.observe(state, info) "
                              "after each env step (metarl.evaluation.run_trials does)")
        x = torch.as_tensor(obs[:, self.example], dtype=torch.float32, device=self.device)
        e = self.embed(x)
        t = len(state.embs)
        if state.labels:
            protos, counts = prototypes(torch.stack(state.embs, 1), torch.stack(state.labels, 1), self.ways)
            lg = logits(e, protos, counts)                                                  # [B, W]
        else:
            lg = torch.full((len(x), self.ways), -torch.inf, device=self.device)
        if t < self.support:   # among the classes not yet shown in this round
            pred = support_prediction(lg, state.labels, self.ways)
            state.embs.append(e)
        else:
            pred = _query_predictions(lg)
        return pred.cpu().numpy().astype(np.int64), state

    def observe(self, state: ProtoState, info: dict) -> ProtoState:
        """Store the label ``info["target"]`` [B] of the support example just classified."""
        if len(state.labels) < len(state.embs):
            y = np.asarray(info["target"], dtype=np.int64).reshape(-1)
            state.labels.append(torch.as_tensor(y, device=self.device))
        return state


class ProtoNetAgent(NearestCentroidAgent):
    """ProtoNet: a ReLU MLP embedding (``hidden_sizes`` -> ``embedding``) meta-trained with Adam
    (``lr`` -> ``lr_final``, linear anneal) on the query cross-entropy of ``trials_per_update``
    tasks per update, ``epochs`` passes each; ``device``, ``seed``.

    Options: hidden_sizes (widths of the embedding MLP's hidden layers), embedding (size of the
    embedding the class prototypes are averaged in), lr -> lr_final (Adam, linear anneal over
    training; None: constant), trials_per_update (tasks per update), epochs (passes over each
    update's tasks), device (auto / cpu / cuda), seed
    """

    name = "protonet"
    trainable = True

    def __init__(self, family, *, hidden_sizes=(64, 64), embedding: int = 32, lr: float = 1e-3,
                 lr_final: float | None = None, trials_per_update: int = 32, epochs: int = 1,
                 device: str = "auto", seed: int = 0) -> None:
        super().__init__(family)
        lr = check_float("lr", lr, low=0.0, low_open=True)
        self._config = dict(
            hidden_sizes=list(check_widths("hidden_sizes", hidden_sizes)),
            embedding=check_int("embedding", embedding, low=1), lr=lr,
            lr_final=lr if lr_final is None else check_float("lr_final", lr_final, low=0.0),
            trials_per_update=check_int("trials_per_update", trials_per_update, low=1),
            epochs=check_int("epochs", epochs, low=1), device=str(device),
            seed=check_int("seed", seed, low=0))
        self.device = resolve_device(device)
        with torch.random.fork_rng(devices=[]):   # initial weights from `seed`, not the global stream
            torch.default_generator.manual_seed(seed)
            self.net = F.mlp(self.example.stop, self._config["embedding"],
                             tuple(self._config["hidden_sizes"])).to(self.device)
        self.optimizer = adam(self.net.parameters(), self.device, lr=lr)

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def collect(self, venv, tasks, seed: int) -> "LabelledTrials":
        """One trial per task: features x [B, k, in] and labels y [B, k] (the examples do not
        depend on the predictions, so the trial is stepped with label 0)."""
        b, k = venv.num_envs, venv.episodes
        self.check_trial_length(k)
        xs, targets = self.collect_examples(venv, tasks, seed, np.zeros(b, dtype=np.int64))
        x = torch.as_tensor(xs, dtype=torch.float32, device=self.device)
        y = torch.as_tensor(targets.astype(np.int64), device=self.device)
        with torch.no_grad():   # what act would score: correct predictions per trial
            pred = trial_predictions(self.embed(x), y, self.support, self.ways)
        return LabelledTrials(x, y, {"env_steps": b * k, "trial_return": float((pred == y).float().sum(1).mean())})

    def update(self, batch: "LabelledTrials") -> dict[str, float]:
        """``epochs`` Adam steps on the query cross-entropy of the collected trials."""
        c = self._config
        progress = float(batch.stats.get("progress", 0.0))
        lr = c["lr"] + (c["lr_final"] - c["lr"]) * progress
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        s = self.support
        for _ in range(c["epochs"]):
            emb = self.net(batch.x)                                           # [B, k, E]
            protos, counts = prototypes(emb[:, :s], batch.y[:, :s], self.ways)
            lg = logits(emb[:, s:], protos[:, None], counts[:, None])          # [B, Q, W]
            lg = torch.where(torch.isinf(lg), torch.full_like(lg, -1e9), lg)   # no NaN from an absent class
            loss = torch.nn.functional.cross_entropy(lg.reshape(-1, self.ways), batch.y[:, s:].reshape(-1))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite ProtoNet loss {loss.item()}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        acc = (lg.argmax(-1) == batch.y[:, s:]).float().mean()
        return {"query_loss": float(loss.detach()), "query_accuracy": float(acc), "lr": lr}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


@dataclass
class LabelledTrials:
    """B trials: x [B, k, in], labels y [B, k] in trial order; ``stats``: env_steps, trial_return."""

    x: torch.Tensor
    y: torch.Tensor
    stats: dict

    @property
    def num_steps(self) -> int:
        return int(self.stats["env_steps"])
