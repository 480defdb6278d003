"""Held-out evaluation of the supervised MAML / Meta-SGD agents (``metarl.agents.maml``): query
MSE (regression) or accuracy (classification) after 0, 1, ..., n inner SGD steps on K support
examples, beside a pretrained multi-task model fine-tuned with the same steps (the MAML
paper's baseline: for regression a regressor of the pooled tasks' (x, y); for classification
a classifier of the pooled tasks' labels, which predicts near chance before fine-tuning when
each task orders its classes at random, as few-shot families do)."""
from __future__ import annotations

import numpy as np
import torch

from metarl.agents.maml_batch import support_option
from metarl.errors import check_int
from metarl.learning import functional as F
from metarl.learning.agent import example_slice, step_examples


def draw_examples(family, tasks, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples of each task through the family's vector env (slot i seeded ``seed + i``):
    x [B, n, in] float32, y [B, n, out] (labels from ``info["target"]``, as the env gives them:
    float32 values, or integer class labels with out = 1)."""
    from metarl.rollout.trial import TrialLayout

    venv = family.make_vector_env(len(tasks), n)
    example = example_slice(family, TrialLayout(venv.layout.inner_observation_space, venv.single_action_space))
    zeros = np.zeros((len(tasks), *venv.single_action_space.shape), dtype=venv.single_action_space.dtype)
    xs, ys = step_examples(venv, list(tasks), [seed + i for i in range(len(tasks))], zeros, example)
    venv.close()
    return xs, (ys if ys.dtype.kind in "iu" else ys.astype(np.float32)).reshape(len(tasks), n, -1)


def pretrain_multitask(agent, *, pool_tasks: int = 2000, points: int = 20, iterations: int = 3000,
                       batch_size: int = 250, lr: float = 1e-3, seed: int = 0):
    """The "pretrained" baseline: one MLP of ``agent``'s shape trained with Adam on its loss over
    pooled (x, y) from ``pool_tasks`` train tasks of its family (``points`` each). Returns
    (net, params), on the CPU."""
    family = agent.family
    x, y = draw_examples(family, family.sample(pool_tasks, split="train", seed=seed), points, seed=seed)
    x, y = torch.as_tensor(x.reshape(-1, x.shape[-1])), agent.targets(y.reshape(-1, y.shape[-1])).cpu()
    y = y.reshape(len(x), -1)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = F.mlp(x.shape[1], y.shape[1], tuple(agent.config()["hidden_sizes"]))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(iterations):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = F.loss_of(net(x[idx]), y[idx], agent.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, {k: v.detach() for k, v in net.named_parameters()}


def _curve(net, params, lrs, xs, ys, xq, yq, steps: int, loss: str) -> dict[str, list]:
    """Query MSE (``loss="mse"``) or accuracy (``"cross_entropy"``: the argmax of the logits
    against one-hot yq) after 0..steps SGD steps: mean over tasks and a normal 95% CI (mean +-
    1.96 SE, clipped to the metric's range: an MSE is never negative, while a heavy tail of a
    few tasks whose inner steps overshoot can make the normal interval reach below 0); None
    where the inner loop diverged (e.g. Meta-SGD's rates, learned for fewer steps)."""
    out: dict[str, list] = {"mean": [], "ci_low": [], "ci_high": []}
    for p in F.sgd_path(net, params, lrs, xs, ys, steps, loss):
        with torch.no_grad():
            pred = F.batched_forward(net, p, xq)
            if loss == "mse":
                per_task, high = ((pred - yq) ** 2).mean(dim=(1, 2)).double(), None
            else:   # a diverged step gives NaN logits: report it as diverged, not as label 0
                right = (pred.argmax(-1) == yq.argmax(-1)).double().mean(1)
                per_task, high = torch.where(torch.isfinite(pred).all(-1).all(-1), right, torch.nan), 1.0
        for key, v in zip(("mean", "ci_low", "ci_high"), mean_ci(per_task.cpu().numpy(), high=high)):
            out[key].append(v)
    return out


def mean_ci(per_task: np.ndarray, high: float | None = None) -> tuple:
    """(mean, low, high) of per-task values [n] (MSEs, or accuracies with ``high=1``): mean +-
    1.96 SE with the low end clipped at 0 (and the high end at ``high``); (None, None, None)
    when any value is not finite (a diverged inner loop)."""
    per_task = np.asarray(per_task, dtype=np.float64)
    if not np.isfinite(per_task).all():
        return None, None, None
    m = float(per_task.mean())
    se = float(per_task.std(ddof=1) / np.sqrt(len(per_task))) if len(per_task) > 1 else 0.0
    if not (np.isfinite(m) and np.isfinite(se)):   # finite values whose sum overflows
        return None, None, None
    top = m + 1.96 * se
    return m, max(0.0, m - 1.96 * se), top if high is None else min(high, top)


def inner_step_curves(agents, tasks, *, steps: int = 10, support: int | None = None, queries: int = 100,
                      seed: int = 0, pretrained: bool | tuple = True, pretrain_kwargs: dict | None = None) -> dict:
    """Held-out query MSE (classification: accuracy) after 0, 1, ..., ``steps`` inner SGD steps
    on K support examples.

    ``agents``: a MAML/Meta-SGD agent or a dict name -> agent (same family). ``pretrained``:
    True trains the multi-task baseline (``pretrain_multitask``, with ``pretrain_kwargs``),
    a (net, params) pair uses that one, False skips it; it is fine-tuned with plain SGD of
    the first agent's ``inner_lr``. Every method sees the same support and query examples.
    Returns {"metric": "query_mse" or "query_accuracy", "steps": [0..n], "support": K,
    "queries": Q, "n_tasks": n, "curves": {name: {"mean": [...], "ci_low": [...], "ci_high": [...]}}}.
    """
    agents = dict(agents) if isinstance(agents, dict) else {agents.name: agents}
    first = next(iter(agents.values()))
    k = first.config()["support"] if support is None else support_option(first.family, check_int("support", support,
                                                                                                     low=1))
    steps, queries = check_int("steps", steps, low=0), check_int("queries", queries, low=1)
    x, labels = draw_examples(first.family, list(tasks), k + queries, seed=seed)
    x, y = torch.as_tensor(x), first.targets(labels).reshape(*x.shape[:2], -1).cpu()   # y [B, k + Q, out]
    curves = {}
    for name, agent in agents.items():
        t = lambda a: a.to(agent.device)  # noqa: E731
        curves[name] = _curve(agent.net, agent.params, agent.lrs, t(x[:, :k]), t(y[:, :k]), t(x[:, k:]),
                              t(y[:, k:]), steps, agent.loss)
    if pretrained is not False:
        net, params = pretrained if isinstance(pretrained, tuple) else pretrain_multitask(
            first, **{"seed": seed, **(pretrain_kwargs or {})})
        lrs = {n: torch.tensor(first.config()["inner_lr"]) for n in params}
        curves["pretrained"] = _curve(net, params, lrs, x[:, :k], y[:, :k], x[:, k:], y[:, k:], steps, first.loss)
    return {"metric": "query_mse" if first.loss == "mse" else "query_accuracy", "steps": list(range(steps + 1)),
            "support": k, "queries": queries, "n_tasks": len(x), "curves": curves}
