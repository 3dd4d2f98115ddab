"""Plots of a training run: train and val loss against the step.

Used by lesson 03 (the first training run) and by `python -m course train`,
which saves the plot beside the checkpoint.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from course.utils import atomic_write_bytes


def plot_losses(result, ax=None, *, smooth: int = 0, title: str | None = None, path=None):
    """Train loss per step (optionally a moving average over `smooth` steps) and val loss.

    `result`: a `course.train.TrainResult` (anything with steps, losses, val_steps, val_losses).

    Returns the matplotlib Axes; `path` also saves the figure (atomically).
    """
    import matplotlib.pyplot as plt  # imported when plotting: matplotlib is slow to import

    fig = None
    if ax is None:
        fig, ax = plt.subplots()
    steps = np.asarray(result.steps) + 1
    losses = np.asarray(result.losses)
    ax.plot(steps, losses, lw=0.8, alpha=0.4 if smooth else 1.0, label="train")
    if smooth and len(losses) >= smooth:
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1 :], np.convolve(losses, kernel, mode="valid"), lw=1.5, label=f"train (mean of {smooth})")
    if result.val_losses:
        ax.plot(result.val_steps, result.val_losses, "o-", lw=1.5, ms=3, label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    if path is not None:
        figure = ax.figure
        buf = io.BytesIO()
        figure.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", bbox_inches="tight")
        atomic_write_bytes(path, buf.getvalue())
        if fig is not None:
            plt.close(fig)
    return ax
