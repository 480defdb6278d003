"""The adaptation curve: return per episode index within a trial, with 95% CIs."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_adaptation(curves: dict[str, list[dict]], path: Path, *, title: str = "",
                    ylabel: str = "return in episode") -> Path:
    """curves: name -> per-episode [{mean, ci_low, ci_high}, ...]. Writes a PNG to ``path``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for i, (name, pts) in enumerate(curves.items()):
        x = list(range(1, len(pts) + 1))
        mean = [p["mean"] for p in pts]
        style = "-o" if i == 0 else "--"
        ax.plot(x, mean, style, label=name, lw=2.0 if i == 0 else 1.2, ms=3)
        ax.fill_between(x, [p["ci_low"] for p in pts], [p["ci_high"] for p in pts], alpha=0.2)
    ax.set_xlabel("episode index within the trial")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
