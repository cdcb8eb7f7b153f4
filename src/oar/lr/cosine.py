"""Cosine schedules: annealing (recursive, with a closed form for explicit epochs) and warm restarts."""
from __future__ import annotations

import math

from .base import LRScheduler

__all__ = ["CosineAnnealingDecay"]


class CosineAnnealingDecay(LRScheduler):
    r"""Cosine annealing (SGDR without restarts), ``paddle.optimizer.lr.CosineAnnealingDecay``.

    ``step()`` uses the recursive (torch "chainable") form, with ``e = last_epoch``, ``T = T_max``,
    ``η = eta_min``: ``e == 0 → base_lr``; if ``(e - 1 - T) % (2T) == 0``:
    ``last_lr + (base_lr - η) * (1 - cos(π/T)) / 2``; otherwise
    ``(1 + cos(π e/T)) / (1 + cos(π (e-1)/T)) * (last_lr - η) + η``.
    ``step(epoch)`` uses the closed form ``η + (base_lr - η) * (1 + cos(π e/T)) / 2``.

    Args:
        learning_rate (float|int): η_max, >= 0.
        T_max (int): half period, > 0.
        eta_min (float|int): minimum lr, stored as float. Default 0.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``T_max`` is not an int or ``eta_min`` not a float/int.
        AssertionError: ``T_max <= 0``.
        plus the base-class errors for ``learning_rate``.
    """

    def __init__(
        self,
        learning_rate: float,
        T_max: int,
        eta_min: float = 0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not isinstance(T_max, int):
            raise TypeError(
                f"The type of 'T_max' in 'CosineAnnealingDecay' must be 'int', but received {type(T_max)}."
            )
        if not isinstance(eta_min, (float, int)):
            raise TypeError(
                "The type of 'eta_min' in 'CosineAnnealingDecay' must be 'float, int', "
                f"but received {type(eta_min)}."
            )
        if not T_max > 0:
            raise AssertionError(f"'T_max' must be a positive integer, but received {T_max!r}.")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        epoch, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if epoch == 0:
            return self.base_lr
        if (epoch - 1 - period) % (2 * period) == 0:
            return self.last_lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return ratio * (self.last_lr - eta_min) + eta_min

    def _get_closed_form_lr(self) -> float:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * cosine / 2
