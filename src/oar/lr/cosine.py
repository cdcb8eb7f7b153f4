"""Cosine schedules: annealing (recursive, with a closed form for explicit epochs) and warm restarts."""

from __future__ import annotations

import math
import numbers

from .base import LRScheduler, _holds

__all__ = ["CosineAnnealingDecay", "CosineAnnealingWarmRestarts"]


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

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.CosineAnnealingDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.CosineAnnealingDecay(learning_rate=0.5, T_max=4)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.426777, 0.25, 0.073223, 0.0, 0.073223]
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
            raise TypeError(f"The type of 'T_max' in 'CosineAnnealingDecay' must be 'int', but received {type(T_max)}.")
        if not isinstance(eta_min, (float, int)):
            raise TypeError(
                f"The type of 'eta_min' in 'CosineAnnealingDecay' must be 'float, int', but received {type(eta_min)}."
            )
        if not T_max > 0:
            raise AssertionError(f"'T_max' must be a positive integer, but received {T_max!r}.")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
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


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR: Loshchilov & Hutter 2017, *SGDR: Stochastic Gradient Descent
    with Warm Restarts*, https://arxiv.org/abs/1608.03983), ``paddle.optimizer.lr.CosineAnnealingWarmRestarts``
    (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/CosineAnnealingWarmRestarts_en.html).

    ``lr = η + (base_lr - η) * (1 + cos(π T_cur / T_i)) / 2`` with ``η = eta_min``, ``T_cur`` the epochs since
    the last restart and ``T_i`` the length of the current period (``T_0``, then multiplied by ``T_mult`` at
    every restart).

    * ``step()``: ``T_cur += 1``; when ``T_cur >= T_i``: ``T_cur -= T_i`` and ``T_i *= T_mult`` (one
      restart at most per step). While ``last_epoch < 0`` it acts as ``step(0)``.
    * ``step(epoch)`` (may be a float): for ``epoch < T_0``: ``T_i = T_0``, ``T_cur = epoch``; otherwise,
      with ``T_mult == 1``: ``T_cur = epoch % T_0``; with ``T_mult > 1``: the restart index
      ``n = int(log(epoch / T_0 * (T_mult - 1) + 1, T_mult))``, ``T_cur = epoch - T_0 * (T_mult**n - 1) /
      (T_mult - 1)`` and ``T_i = T_0 * T_mult**n``. ``last_epoch = floor(epoch)``.

    As in Paddle, the constructor sets ``T_cur = last_epoch`` before its step, so a ``last_epoch >= 0``
    starts at ``T_cur = last_epoch + 1`` with at most one restart applied (``T_cur`` may exceed ``T_i``
    until the next restart).

    Differs from Paddle on purpose: Paddle's ``state_dict()`` holds only ``last_epoch`` and ``last_lr``, so a
    resumed Paddle scheduler continues from the ``T_cur``/``T_i`` it was built with (a wrong lr from the next
    step). oar also saves ``T_cur`` and ``T_i`` (Paddle loads such a dict with its "unused values" warning),
    and a dict without them (Paddle's) places them at ``last_epoch`` by the closed form of ``step(epoch)``.

    Args:
        learning_rate (float|int): η_max, >= 0.
        T_0 (int): length of the first period, > 0.
        T_mult (int): growth factor of the period at each restart, >= 1. Default 1.
        eta_min (float|int): minimum lr, kept as given. Default 0.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        ValueError: ``T_0`` is not a positive int, ``T_mult`` is not an int >= 1, or ``step(epoch)`` gets
            a negative epoch.
        TypeError: ``T_0`` or ``T_mult`` is not comparable with an int, or ``eta_min`` is not a real
            number; plus the base-class errors for ``learning_rate`` (checked before ``eta_min``, whose
            error Paddle raises at the constructor's step).

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.CosineAnnealingWarmRestarts`` gives the same):

        >>> import oar
        >>> sched = oar.lr.CosineAnnealingWarmRestarts(learning_rate=0.5, T_0=3)
        >>> lrs = []
        >>> for epoch in range(7):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.375, 0.125, 0.5, 0.375, 0.125, 0.5]
    """

    T_0: int
    T_i: int
    T_mult: int
    eta_min: float
    T_cur: float

    def __init__(
        self,
        learning_rate: float,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        # The ValueError messages are Paddle's own words.
        if _holds(lambda: T_0 <= 0, "T_0", T_0, "a positive integer") or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if _holds(lambda: T_mult < 1, "T_mult", T_mult, "an integer >= 1") or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        lr_valid = isinstance(learning_rate, (float, int)) and not learning_rate < 0
        if lr_valid and not isinstance(eta_min, numbers.Real):
            raise TypeError(f"'eta_min' must be a real number, but received {eta_min!r} ({type(eta_min)}).")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(learning_rate, last_epoch, verbose)

    _extra_state = ("T_cur", "T_i")

    def _place(self, epoch: float) -> None:
        """Set ``T_cur`` and ``T_i`` for ``epoch`` (>= 0) by the closed form of ``step(epoch)``."""
        if epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult**n
        else:
            self.T_i = self.T_0
            self.T_cur = epoch

    def _restore_extra_state(self) -> None:
        """A dict written by Paddle has no ``T_cur``/``T_i``: place them at ``last_epoch`` by the closed form."""
        if self.last_epoch >= 0:
            self._place(self.last_epoch)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        eta_min = self.eta_min
        return eta_min + (self.base_lr - eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def step(self, epoch: float | None = None) -> None:
        """Advance the schedule by one epoch, or place it at ``epoch`` (an int or a float, >= 0).

        Call it after ``optimizer.step()``.

        Raises:
            ValueError: ``epoch < 0``.
        """
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur - self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            self._place(epoch)
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        self.last_lr = self.get_lr()
        if self.verbose:
            print(f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to {self.last_lr}.")
        self._notify_listeners()
