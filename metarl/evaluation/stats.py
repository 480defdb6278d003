"""Statistics for evaluation reports: means with bootstrap CIs, IQM."""
from __future__ import annotations

import numpy as np


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: mean of the middle 50% of values (Agarwal et al. 2021)."""
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = int(np.floor(0.25 * n)), int(np.ceil(0.75 * n))
    return float(x[lo:hi].mean()) if hi > lo else float(x.mean())


def bootstrap_ci(x: np.ndarray, *, stat=np.mean, n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) CI of ``stat`` over the first axis of ``x`` [n, ...]."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        v = float(stat(x)) if n else float("nan")
        return v, v
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if stat is np.mean:
        stats = x[idx].mean(axis=1)
    else:
        stats = np.array([stat(x[i]) for i in idx])
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2], axis=0)
    return float(lo), float(hi)


def bootstrap_diff_ci(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, alpha: float = 0.05,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) CI of mean(a) - mean(b) for two independent samples
    a [n] and b [m], each resampled on its own (unpaired; paired samples: ``bootstrap_ci(a - b)``)."""
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    rng = np.random.default_rng(seed)
    boots = (a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
             - b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(axis=1))
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def per_column_ci(x: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """For x [n_tasks, k]: per column {mean, ci_low, ci_high, stderr} (bootstrap over tasks)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n)) if n > 1 else None
    out = []
    for j in range(x.shape[1]):
        col = x[:, j]
        if idx is not None:
            boots = col[idx].mean(axis=1)
            lo, hi = np.quantile(boots, [0.025, 0.975])
        else:
            lo = hi = col.mean() if n else float("nan")
        out.append({"mean": float(col.mean()), "ci_low": float(lo), "ci_high": float(hi),
                    "stderr": float(col.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")})
    return out


def summarize(episode_returns: np.ndarray, success: np.ndarray | None = None, *, seed: int = 0) -> dict:
    """Summary of a [n_tasks, k] return matrix: trial return (sum over episodes) mean, 95% CI,
    stderr and IQM; first/last episode return and their gain; success rates if given."""
    r = np.asarray(episode_returns, dtype=np.float64)
    total = r.sum(axis=1)
    lo, hi = bootstrap_ci(total, seed=seed)
    per_ep = per_column_ci(r, seed=seed)
    s = {"n_tasks": int(r.shape[0]), "episodes": int(r.shape[1]),
         "trial_return": float(total.mean()), "trial_return_ci": [lo, hi],
         "trial_return_stderr": float(total.std(ddof=1) / np.sqrt(len(total))) if len(total) > 1 else float("nan"),
         "trial_return_iqm": iqm(total),
         "first": per_ep[0]["mean"], "last": per_ep[-1]["mean"], "gain": per_ep[-1]["mean"] - per_ep[0]["mean"],
         "per_episode": per_ep}
    if success is not None:
        sr = np.asarray(success, dtype=np.float64)
        s["success_per_episode"] = [float(v) for v in sr.mean(axis=0)]
        s["success_first"], s["success_last"] = s["success_per_episode"][0], s["success_per_episode"][-1]
    return s


def summarize_groups(episode_returns: np.ndarray, success: np.ndarray | None, groups: list[str]) -> dict:
    """Per-class summary of a [n_tasks, k] return matrix (and success, same shape): for each
    group label in ``groups`` (one per task, in first-seen order) ``{n_tasks, trial_return,
    return_per_episode [k], success_per_episode [k], success_last}`` (success keys only when
    ``success`` is given). Means over the group's tasks."""
    r = np.asarray(episode_returns, dtype=np.float64)
    if len(groups) != r.shape[0]:
        raise ValueError(f"summarize_groups: {len(groups)} group labels for {r.shape[0]} tasks")
    labels = np.asarray(groups, dtype=object)
    out: dict[str, dict] = {}
    for g in dict.fromkeys(groups):
        rows = labels == g
        d = {"n_tasks": int(rows.sum()), "trial_return": float(r[rows].sum(axis=1).mean()),
             "return_per_episode": [float(v) for v in r[rows].mean(axis=0)]}
        if success is not None:
            sr = np.asarray(success, dtype=np.float64)[rows].mean(axis=0)
            d["success_per_episode"] = [float(v) for v in sr]
            d["success_last"] = float(sr[-1])
        out[str(g)] = d
    return out
