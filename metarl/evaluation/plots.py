"""The adaptation curve: return per episode index within a trial, with 95% CIs."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_adaptation(curves: dict[str, list[dict]], path: Path, *, title: str = "",
                    ylabel: str = "return in episode", xlabel: str = "episode index within the trial",
                    x_start: int = 1, x: list[float] | None = None, ylim: tuple[float, float] | None = None) -> Path:
    """curves: name -> per-point [{mean, ci_low, ci_high}, ...] at x = x_start, x_start + 1, ...
    (or at the given ``x`` values; points with mean None, e.g. a diverged inner loop, are left
    out). ``ylim``: the y range shown (curves beyond it run off the chart). Writes a PNG to ``path``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for i, (name, pts) in enumerate(curves.items()):
        xs = x if x is not None else [x_start + j for j in range(len(pts))]
        kept = [(at, p) for at, p in zip(xs, pts) if p["mean"] is not None]
        at, pts = [a for a, _ in kept], [p for _, p in kept]
        mean = [p["mean"] for p in pts]
        style = "-o" if i == 0 else "--"
        ax.plot(at, mean, style, label=name, lw=2.0 if i == 0 else 1.2, ms=3)
        ax.fill_between(at, [p["ci_low"] for p in pts], [p["ci_high"] for p in pts], alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def add_png(writer, tag: str, png_path: Path, step: int) -> None:
    """Put a PNG written by ``plot_adaptation`` into TensorBoard (``SummaryWriter.add_image``)."""
    import matplotlib.image as mpimg

    img = mpimg.imread(str(png_path))[..., :3]
    writer.add_image(tag, img, step, dataformats="HWC")
