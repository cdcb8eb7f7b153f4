"""Run a scheduler for a number of steps and draw it: ``oar lr plot``.

Drawing needs matplotlib (the ``demo`` extra: ``pip install 'oar[demo]'``); computing the values
does not.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

from .base import LRScheduler

__all__ = ["plot_schedule", "sample_rows", "schedule_values"]


def schedule_values(scheduler: LRScheduler, steps: int) -> list[float]:
    """The lr at each of ``steps`` consecutive epochs: the value after construction, then after each
    ``step()``. The scheduler given is left as it was (a deep copy is stepped).

    Args:
        scheduler (oar.lr.LRScheduler): the schedule.
        steps (int): how many values, >= 1.

    Raises:
        TypeError: ``steps`` is not an int.
        ValueError: ``steps < 1``, or the scheduler itself refuses a step (OneCycleLR past its
            ``total_steps``), with the step named.
    """
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"'steps' must be an int, but received {steps!r}")
    if steps < 1:
        raise ValueError(f"'steps' must be >= 1, but received {steps}")
    run = copy.deepcopy(scheduler)
    values = [float(run())]
    for i in range(1, steps):
        try:
            run.step()
        except ValueError as exc:
            raise ValueError(f"{type(scheduler).__name__} stopped at step {i} of {steps}: {exc}") from None
        values.append(float(run()))
    return values


def sample_rows(values: Sequence[float], first_epoch: int = 0, rows: int = 11) -> list[tuple[int, float]]:
    """About ``rows`` evenly spaced ``(epoch, lr)`` pairs of ``values``, the first and last included."""
    n = len(values)
    picks = sorted({round(i * (n - 1) / max(rows - 1, 1)) for i in range(rows)}) if n > 1 else [0]
    return [(first_epoch + i, values[i]) for i in picks]


def plot_schedule(values: Sequence[float], out: str | os.PathLike[str], title: str, first_epoch: int = 0) -> None:
    """Draw ``values`` (lr per epoch, from ``first_epoch``) to the image file ``out`` (PNG by its suffix).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'oar[demo]'``).
        OSError: ``out`` cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        epochs = range(first_epoch, first_epoch + len(values))
        ax.plot(list(epochs), list(values), linewidth=1.5)
        ax.set_xlabel("epoch (scheduler steps)")
        ax.set_ylabel("learning rate")
        ax.set_title(title if len(title) <= 90 else title[:87] + "...", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        fig.tight_layout()
        fig.savefig(out)
    finally:
        plt.close(fig)
