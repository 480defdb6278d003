"""MAML (Finn et al. 2017) and Meta-SGD (Li et al. 2017) for one-step supervised families.

A trial of k one-step episodes is k examples ``(x, y)`` of one function: the first
``support`` (K) are the support set, the rest are queries. Meta-training (``collect`` +
``update``): for each task, ``inner_steps`` SGD steps of size ``inner_lr`` on the support
loss, then Adam on the query loss of the adapted parameters, backpropagating through the
inner steps (second order; ``first_order=True`` drops the second-order term). The
meta-batch is processed with ``torch.func.vmap`` over tasks (``batching="vmap"``), or
with per-task parameter stacks and batched matmuls (``"stacked"``: same numbers; for a ReLU
MLP the meta-gradient is written out in ``metarl.learning.relu_mlp``, about 3x vmap's
meta-steps/s on CPU); ``"loop"`` is the per-task reference. On CUDA the batched meta-step
(losses and meta-gradient) replays as one CUDA graph per meta-batch shape
(``cuda_graph=True``, see ``metarl.learning.cuda_graph``). Meta-SGD also learns one
inner learning rate per parameter entry, initialised to ``inner_lr``. The loss is the MSE
for regression families (Box action = prediction) and the cross-entropy of the network's
logits for classification families (Discrete action = label, labels one-hot inside).

Acting in a trial (``act`` / ``observe``): during the support phase the agent predicts
with its meta-parameters and stores each ``(x, y)`` (``y`` from ``info["target"]``, given
by ``observe``); once K labels are in, it adapts once and predicts every query with the
adapted parameters — so the per-episode returns (``-(pred - y)^2``, or 1 for a right label)
show the support-phase (pre-adaptation) and query-phase (post-adaptation) error. On a
classification family with a support plan (``support_size`` = ``shots`` rounds that show every
class once, as ``fewshot-classification``'s) a classifier predicts a support example among the
classes not yet shown in its round, as ``protonet`` does, and after each complete round adapts
on all the examples so far, so rounds after the first are predicted by adapted parameters.
``metarl.agents.maml_eval`` gives held-out query MSE (or accuracy) after 0, 1, ..., n inner
steps, beside a pretrained multi-task model.

RL families use ``metarl.agents.maml_rl`` (policy-gradient inner loop, TRPO outer loop);
``make_agent("maml", family)`` picks the class from ``family.kind``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.agents.maml_batch import SupervisedBatch, SupportState, TrialStats, regression_stats, support_option
from metarl.agents.protonet import has_support_plan, shown_before_in_round, support_prediction, support_scores
from metarl.errors import (ConfigError, MetaRLError, check_bool, check_choice, check_float, check_int,
                           check_widths, short_repr)
from metarl.learning import functional as F
from metarl.learning.agent import Agent
from metarl.learning.cuda_graph import GradGraph
from metarl.learning.device import adam, resolve_device, restore_generator


def _number(what: str, value: Any, *, positive: bool = True) -> float:
    """A real number (not a string or bool), > 0 if ``positive`` else >= 0."""
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{what} must be a number, got {short_repr(value)}")
    return check_float(what, value, low=0.0, low_open=positive)


_BATCHING = {"vmap": F.meta_losses, "stacked": F.meta_losses_stacked, "loop": F.meta_losses_loop}


class MAMLAgent(Agent):
    """MAML for supervised one-step families: regression (Box action = prediction; MSE) or
    classification (Discrete action = label; cross-entropy on the network's logits, labels
    one-hot, e.g. ``fewshot-classification``).

    Options: hidden_sizes (MLP widths), inner_lr (alpha), inner_steps (in training and when
    acting), first_order, meta_lr -> meta_lr_final (Adam, linear anneal over training; None:
    constant), trials_per_update (tasks collected per update), meta_batch (tasks per
    meta-gradient step), epochs (passes over each collected batch), resplit (passes after
    the first draw a fresh support/query split of each trial's examples; regression only), support
    (K; default: the family's ``support_size`` where it has a support plan, else 10),
    batching ("vmap", "stacked" or the per-task "loop" reference), cuda_graph (on CUDA, replay
    the vmap / stacked meta-step from a captured graph; ignored on CPU), device, seed.
    """

    trainable = True
    name = "maml"
    eval_options = ("inner_steps", "inner_lr")
    learn_lr = False

    def __init__(self, family, *, hidden_sizes=(40, 40), inner_lr: float = 0.01, inner_steps: int = 1,
                 first_order: bool = False, meta_lr: float = 1e-3, meta_lr_final: float | None = None,
                 trials_per_update: int = 25, meta_batch: int = 25, epochs: int = 1, resplit: bool = False,
                 support: int | None = None, batching: str = "vmap", cuda_graph: bool = True, device: str = "auto",
                 seed: int = 0) -> None:
        kind = getattr(family, "kind", "rl")
        if kind != "supervised" or getattr(family, "max_episode_steps", 1) != 1:
            raise ConfigError(f"{type(self).__name__} is for one-step supervised families (e.g. sinusoid); "
                              f"family {getattr(family, 'name', family)!r} is kind={kind!r}: build the agent with "
                              f"make_agent({self.name!r}, family), which picks the RL class")
        super().__init__(family)
        if isinstance(self.action_space, (spaces.Box, spaces.Discrete)):
            self.loss = "mse" if isinstance(self.action_space, spaces.Box) else "cross_entropy"
        else:
            raise ConfigError(f"{self.name} needs a regression (Box action = prediction) or classification "
                              f"(Discrete action = label) family; {family.name!r} has action space {self.action_space}")
        support = support_option(family, support)
        if self.loss == "cross_entropy" and check_bool("resplit", resplit):
            raise ConfigError("resplit=true draws a random support set from each trial's examples, which can leave "
                              "a class out of it: for classification keep resplit=false (the family's support plan)")
        meta_lr = _number("meta_lr", meta_lr)
        check_choice("batching", batching, tuple(_BATCHING))
        self._config = dict(
            hidden_sizes=list(check_widths("hidden_sizes", hidden_sizes)), inner_lr=_number("inner_lr", inner_lr),
            inner_steps=check_int("inner_steps", inner_steps, low=1),
            first_order=check_bool("first_order", first_order),
            meta_lr=meta_lr,
            meta_lr_final=meta_lr if meta_lr_final is None else _number("meta_lr_final", meta_lr_final,
                                                                         positive=False),
            trials_per_update=check_int("trials_per_update", trials_per_update, low=1),
            meta_batch=check_int("meta_batch", meta_batch, low=1), epochs=check_int("epochs", epochs, low=1),
            resplit=check_bool("resplit", resplit), support=check_int("support", support, low=1),
            batching=batching, cuda_graph=check_bool("cuda_graph", cuda_graph), device=str(device),
            seed=check_int("seed", seed, low=0))
        if self._config["meta_batch"] > self._config["trials_per_update"]:
            raise ConfigError(f"meta_batch={meta_batch} exceeds trials_per_update={trials_per_update}")
        self.device = resolve_device(device)
        self.in_dim, self.out_dim = self.example.stop, self.layout.act_dim
        # a support plan (rounds showing every class once, as fewshot-classification's): the round
        # rule for support predictions and an adaptation after each round; else plain argmax
        self._round = self.out_dim if self.loss == "cross_entropy" and has_support_plan(family, self.out_dim) else None
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`, not the global stream
            torch.default_generator.manual_seed(seed)  # the CPU stream only: GPU streams stay as they were
            self.net = F.mlp(self.in_dim, self.out_dim, tuple(self._config["hidden_sizes"])).to(self.device)
        self.params = dict(self.net.named_parameters())
        init = self._config["inner_lr"]
        if self.learn_lr:  # Meta-SGD: one rate per parameter entry, meta-learned
            self.lrs = {k: torch.full_like(p, init).requires_grad_(True) for k, p in self.params.items()}
        else:
            self.lrs = {k: torch.tensor(init, device=self.device) for k in self.params}
        meta_params = list(self.params.values()) + (list(self.lrs.values()) if self.learn_lr else [])
        self.optimizer = adam(meta_params, self.device, lr=meta_lr)
        self._meta_params = meta_params
        self._step_graph = GradGraph(self._meta_step_losses, meta_params,
                                     enabled=self._config["cuda_graph"] and batching != "loop")
        self.generator = torch.Generator()  # support/query resplits and minibatch order (CPU stream)
        self.generator.manual_seed(seed)

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    # ---- functional core -------------------------------------------------------------------------
    def meta_losses(self, xs, ys, xq, yq, *, batching: str | None = None):
        """Per-task (post-adaptation query loss, pre-adaptation support loss) [B], differentiable
        w.r.t. the meta-parameters (and Meta-SGD rates). xs [B, K, in], ys [B, K, out], xq / yq
        likewise with Q queries."""
        c = self._config
        fn = _BATCHING[batching or c["batching"]]
        return fn(self.net, self.params, self.lrs, xs, ys, xq, yq, c["inner_steps"], c["first_order"],
                  self.loss)

    def _meta_step_losses(self, xs, ys, xq, yq):
        """(mean query loss, post [B], pre [B]) of one meta-batch: what a meta-step differentiates."""
        post, pre = self.meta_losses(xs, ys, xq, yq)
        return post.mean(), post, pre

    def targets(self, labels) -> torch.Tensor:
        """Loss targets [..., out] (float32, on the device) from ``info["target"]`` values:
        regression values [..., out] (or [...] for one output); classification labels [...]
        (one-hot encoded, after a range check) or rows [..., classes] already one-hot."""
        labels = labels if torch.is_tensor(labels) else np.asarray(labels)
        self._check_labels(labels)   # numpy labels on the host; float tensors (act's one-hot rows) skip it
        y = torch.as_tensor(labels).to(self.device)
        if self.loss == "cross_entropy" and not torch.is_floating_point(y):
            return torch.nn.functional.one_hot(y.long(), self.out_dim).float()
        return y.float()

    def _check_labels(self, labels) -> None:
        """Integer class labels (numpy or torch) must lie in [0, classes): one line naming the
        values outside (a torch check syncs with the device: ``adapt`` only, not ``act``)."""
        integer = labels.dtype.kind in "iu" if isinstance(labels, np.ndarray) else \
            not (torch.is_floating_point(labels) or torch.is_complex(labels) or labels.dtype == torch.bool)
        if self.loss != "cross_entropy" or not integer:
            return
        bad = (labels < 0) | (labels >= self.out_dim)
        if bad.any():
            values = np.unique(np.asarray(labels[bad].tolist()))
            raise ConfigError(f"{self.name}: labels must be class indices in [0, {self.out_dim - 1}], got "
                              f"{short_repr(values.tolist())}")

    def adapt(self, trajectories, steps: int | None = None) -> dict[str, torch.Tensor]:
        """Adapted parameters for support sets ``trajectories = (x, y)`` of shape [B, K, in] /
        [B, K, out] (or one task: [K, in] / [K, out]; a classifier also takes integer labels
        [B, K] / [K]); per-task params get a leading [B] axis (none for one task). No graph is
        kept (use ``meta_losses`` to train)."""
        classify = self.loss == "cross_entropy"
        try:
            x, y = trajectories
            x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
            y = self.targets(y if torch.is_tensor(y) or classify else np.asarray(y, dtype=np.float32))
        except ConfigError:
            raise
        except (TypeError, ValueError, RuntimeError):
            raise ConfigError(f"{self.name}: adapt takes a pair (x, y) of numeric arrays, got "
                              f"{type(trajectories).__name__} {short_repr(trajectories, 80)}") from None
        single = x.ndim == 2
        if single:
            x, y = x[None], y[None]
        if self.out_dim == 1 and y.ndim == 2:
            y = y[..., None]
        if x.ndim != 3 or x.shape[-1] != self.in_dim or y.shape[:2] != x.shape[:2] or \
                y[0, 0].numel() != self.out_dim:
            labels = " or integer labels [B, K]" if classify else ""
            raise ConfigError(f"{self.name}: adapt takes x [B, K, {self.in_dim}] and y [B, K, "
                              f"{self.out_dim}]{labels} (or [K, ...] for one task), got x {list(x.shape)} "
                              f"and y {list(y.shape)}")
        path = F.sgd_path(self.net, self.params, self.lrs, x, y.reshape(*x.shape[:2], -1),
                          self._config["inner_steps"] if steps is None else check_int("steps", steps, low=0), self.loss)
        return {k: v[0] for k, v in path[-1].items()} if single else path[-1]

    def inner_step_curve(self, tasks, *, steps: int = 3, seed: int = 0, queries: int = 100) -> dict:
        """Held-out query MSE (classifiers: accuracy) after 0..``steps`` inner steps on K support
        examples (see ``inner_step_curves``), in the report's per-step format."""
        from metarl.agents.maml_eval import inner_step_curves

        out = inner_step_curves(self, tasks, steps=steps, queries=queries, seed=seed, pretrained=False)
        c = out["curves"][self.name]
        per_step = [{"mean": m, "ci_low": lo, "ci_high": hi} for m, lo, hi in zip(c["mean"], c["ci_low"], c["ci_high"])]
        return {"metric": out["metric"], "steps": out["steps"], "support": out["support"], "queries": queries,
                "n_tasks": out["n_tasks"], "per_step": per_step, "ci": "mean +- 1.96 SE, clipped at 0"}

    # ---- acting -------------------------------------------------------------------------------
    def init_state(self, batch: int) -> SupportState:
        return SupportState()

    @torch.no_grad()
    def act(self, obs: np.ndarray, state: SupportState, deterministic: bool = False):
        """obs [B, D] trial observations -> predictions [B, out] (float32) or labels [B] (int64);
        see module docstring."""
        if len(state.ys) < len(state.xs):
            raise MetaRLError(f"agent {self.name!r} learns from labels: call state = agent.observe(state, info) "
                              "after each env step (metarl.evaluation.run_trials does)")
        x = torch.as_tensor(obs[:, self.example], dtype=torch.float32, device=self.device)
        support, n = self._config["support"], len(state.ys)
        round_done = self._round is not None and 0 < n < support and n % self._round == 0
        if state.adapted_on < n and (n >= support or round_done):   # adapt on every example seen so far
            state.params, state.adapted_on = self.adapt((torch.stack(state.xs, 1), torch.stack(state.ys, 1))), n
        if state.params is None:
            out = F.forward(self.net, self.params, x)
        else:
            out = F.batched_forward(self.net, state.params, x[:, None])[:, 0]
        if n < support:
            state.xs.append(x)
        if self.loss == "mse":
            return out.cpu().numpy().astype(np.float32), state
        if n < support and self._round is not None:   # a support example: a class not yet shown in its round
            labels = support_prediction(out, state.labels, self._round)
        else:
            labels = out.argmax(-1)
        return labels.cpu().numpy().astype(np.int64), state

    def observe(self, state: SupportState, info: dict) -> SupportState:
        """Store the label ``info["target"]`` [B] (or [B, out]) of the step just taken, during the support phase."""
        if len(state.ys) < len(state.xs):
            target = np.asarray(info["target"])
            if self.loss == "mse":
                target = target.astype(np.float32).reshape(len(state.xs[-1]), self.out_dim)
            else:
                state.labels.append(torch.as_tensor(target.reshape(-1), dtype=torch.long, device=self.device))
            state.ys.append(self.targets(target))
        return state

    # ---- training -----------------------------------------------------------------------------
    def check_trial_length(self, episodes: int) -> None:
        """A trial needs query examples after its ``support`` ones: otherwise every prediction
        comes from the unadapted parameters and nothing measures adaptation."""
        support = self._config["support"]
        if episodes <= support:
            raise ConfigError(f"episodes_per_trial={episodes} leaves no query examples after support={support}; "
                              f"use episodes_per_trial > support (e.g. {support + 10})")

    def collect(self, venv, tasks, seed: int) -> SupervisedBatch:
        """One trial per task: x and labels ``info["target"]`` of its k examples.

        In a supervised family predictions do not change the examples, so the trial is stepped
        with placeholder predictions; what ``act`` would score (support phase unadapted, queries
        adapted: ``support_mse``, ``query_mse``, ``trial_return`` = minus the summed squared
        errors) is filled in by ``update``'s first meta-step, which computes those losses anyway
        (without the clip of predictions to the action box), or computed on first access before
        that (see ``TrialStats``). A classifier's stats (``support_accuracy``, ``query_accuracy``,
        ``trial_return`` = correct labels) are not those losses: ``update`` computes them with the
        collecting parameters before its first step (one more forward and adaptation pass).
        """
        k, support = venv.episodes, self._config["support"]
        self.check_trial_length(k)
        b = venv.num_envs
        placeholder = np.zeros((b, *venv.single_action_space.shape), dtype=venv.single_action_space.dtype)
        xs, targets = self.collect_examples(venv, tasks, seed, placeholder)
        x = torch.as_tensor(xs, dtype=torch.float32, device=self.device)
        y = self.targets(targets.reshape(b, k) if self.loss == "cross_entropy" else
                         targets.astype(np.float32).reshape(b, k, self.out_dim))
        batch = SupervisedBatch(x, y, support)
        batch.stats = TrialStats(lambda: self._trial_stats(x, y, support), env_steps=b * k)
        return batch

    @torch.no_grad()
    def _trial_stats(self, x: torch.Tensor, y: torch.Tensor, support: int) -> dict[str, float]:
        """``act``'s support / query MSE (or accuracy) and trial return in trials x [B, k, in],
        y [B, k, out]."""
        pre = F.forward(self.net, self.params, x[:, :support])
        post = F.batched_forward(self.net, self.adapt((x[:, :support], y[:, :support])), x[:, support:])
        if self.loss == "cross_entropy":
            labels = y.argmax(-1)                                                       # [B, k]
            if self._round is None:
                pred_support = pre.argmax(-1)
            else:   # as act: each round after the first by params adapted on the rounds before it
                r = self._round
                pre = torch.cat([pre[:, :r]] + [F.batched_forward(self.net, self.adapt((x[:, :j], y[:, :j])),
                                                                  x[:, j:j + r]) for j in range(r, support, r)], 1)
                pred_support = support_scores(pre, shown_before_in_round(labels[:, :support], r)).argmax(-1)
            right = (torch.cat([pred_support, post.argmax(-1)], 1) == labels).float()
            return {"support_accuracy": float(right[:, :support].mean()),
                    "query_accuracy": float(right[:, support:].mean()), "trial_return": float(right.sum(1).mean())}
        low, high = (torch.as_tensor(a, device=self.device) for a in (self.action_space.low, self.action_space.high))
        err = ((torch.cat([pre, post], 1).clamp(low, high) - y) ** 2).sum(-1)  # [B, k]
        return regression_stats(err[:, :support].mean(1), err[:, support:].mean(1), support, x.shape[1] - support)

    def update(self, batch: SupervisedBatch) -> dict[str, float]:
        """``epochs`` passes of Adam meta-steps over meta-batches of the collected tasks."""
        c = self._config
        progress = float(batch.stats.get("progress", 0.0))
        lr = c["meta_lr"] + (c["meta_lr_final"] - c["meta_lr"]) * progress
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        b, k = batch.x.shape[:2]
        ks = batch.support
        if isinstance(batch.stats, TrialStats) and batch.stats._compute is not None and (
                c["meta_batch"] < b or self.loss != "mse"):  # measure with the collecting params
            batch.stats["trial_return"]  # (several meta-steps per pass, or accuracies: not the losses')
        sums, n = torch.zeros(2, device=self.device), 0  # (query loss, support loss), kept on the device
        for epoch in range(c["epochs"]):
            whole = epoch == 0 and c["meta_batch"] >= b  # one meta-batch of all trials: order is irrelevant
            for idx in [None] if whole else torch.randperm(b, generator=self.generator).split(c["meta_batch"]):
                x, y = batch.x, batch.y
                if idx is not None:
                    x, y = x[idx.to(self.device)], y[idx.to(self.device)]
                if c["resplit"] and epoch > 0:  # a fresh random support/query split of each trial's examples
                    order = torch.rand(len(idx), k, generator=self.generator).argsort(1).to(self.device)
                    x, y = x.gather(1, order[..., None].expand_as(x)), y.gather(1, order[..., None].expand_as(y))
                (loss, post, pre), grads = self._step_graph(x[:, :ks], y[:, :ks], x[:, ks:], y[:, ks:])
                if n == 0 and self.loss == "mse" and "trial_return" not in batch.stats:   # act's errors here
                    batch.stats.update(regression_stats(pre.detach(), post.detach(), ks, k - ks))
                if not torch.isfinite(loss):  # before the step: a bad loss must not reach the parameters
                    raise FloatingPointError(f"non-finite meta-loss {loss.item()}")
                for p, g in zip(self._meta_params, grads):
                    p.grad = g
                self.optimizer.step()
                sums += torch.stack([loss.detach(), pre.detach().mean()])
                n += 1
        query, support = (sums / n).tolist()
        out = {"query_loss": query, "support_loss_pre": support}
        out["meta_lr"] = lr
        if self.learn_lr:
            flat = torch.cat([v.detach().reshape(-1) for v in self.lrs.values()])
            out.update(inner_lr_mean=float(flat.mean()), inner_lr_absmean=float(flat.abs().mean()))
        return out

    # ---- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "lrs": F.rates_state(self.lrs, self.learn_lr),
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        F.load_rates(self.lrs, state.get("lrs", {}), self.learn_lr)
        self.optimizer.load_state_dict(state["optimizer"])
        restore_generator(self.generator, state["generator"])


class MetaSGDAgent(MAMLAgent):
    """Meta-SGD: MAML plus a meta-learned inner learning rate per parameter entry (initialised
    to ``inner_lr``). With ``first_order=True`` the rates still get their exact gradient
    through ``p' = p - lr * g`` (only the second-order term through ``g`` is dropped)."""

    name = "metasgd"
    learn_lr = True
    eval_options = ("inner_steps",)   # the rates are learned: the checkpoint's, not inner_lr
