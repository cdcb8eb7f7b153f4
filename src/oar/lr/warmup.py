"""Linear schedules: ``LinearWarmup`` (before a float or another scheduler) and ``LinearLR``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import LRScheduler, _holds

__all__ = ["LinearLR", "LinearWarmup"]


class LinearWarmup(LRScheduler):
    r"""Linear warm-up before a float lr or another scheduler, ``paddle.optimizer.lr.LinearWarmup``.

    For ``e = last_epoch < warmup_steps``: ``lr = (end_lr - start_lr) * e / warmup_steps + start_lr``.
    Afterwards ``lr = learning_rate`` when it is a number (returned as given, an int stays an int), or,
    for a scheduler, ``learning_rate.step(e - warmup_steps)`` (explicit epoch) then ``learning_rate()``.
    ``base_lr`` is ``start_lr``. When wrapping a scheduler, ``state_dict()`` adds the inner state under
    ``'LinearWarmup_LR'`` and ``set_state_dict`` requires it (KeyError otherwise) and, as in Paddle, warns
    about unused values (the base check counts the extra key).

    Args:
        learning_rate (float|int|LRScheduler): lr after warm-up.
        warmup_steps (int): warm-up length, > 0.
        start_lr (float|int): lr at epoch 0, >= 0.
        end_lr (float|int): lr reached at the end of warm-up, > start_lr.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``learning_rate`` is not a float, int or LRScheduler.
        AssertionError: ``warmup_steps`` is not a positive int, or ``end_lr <= start_lr``.
        plus the base-class errors, applied to ``start_lr``.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.LinearWarmup`` gives the same):

        >>> import oar
        >>> sched = oar.lr.LinearWarmup(
        ...     learning_rate=oar.lr.CosineAnnealingDecay(learning_rate=0.5, T_max=4), warmup_steps=2,
        ...     start_lr=0.0, end_lr=0.5)
        >>> lrs = []
        >>> for epoch in range(7):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.0, 0.25, 0.5, 0.426777, 0.25, 0.073223, 0.0]
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        warmup_steps: int,
        start_lr: float,
        end_lr: float,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not isinstance(learning_rate, (float, int, LRScheduler)):
            raise TypeError(
                f"the type of learning_rate should be [int, float or LRScheduler], the current type is {learning_rate}"
            )
        self.learning_rate = learning_rate
        if not (
            _holds(lambda: warmup_steps > 0, "warmup_steps", warmup_steps, "a positive integer")
            and isinstance(warmup_steps, int)
        ):
            raise AssertionError(f"'warmup_steps' must be a positive integer, but received {warmup_steps!r}.")
        self.warmup_steps = warmup_steps
        self.start_lr = start_lr
        self.end_lr = end_lr
        if not _holds(lambda: end_lr > start_lr, "end_lr", end_lr, f"a number greater than start_lr={start_lr!r}"):
            raise AssertionError(f"end_lr {end_lr} must be greater than start_lr {start_lr}")
        super().__init__(start_lr, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch = self.last_epoch
        if epoch < self.warmup_steps:
            return (self.end_lr - self.start_lr) * float(epoch) / float(self.warmup_steps) + self.start_lr
        inner = self.learning_rate
        if isinstance(inner, LRScheduler):
            inner.step(epoch - self.warmup_steps)
            return inner()
        return inner

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if isinstance(self.learning_rate, LRScheduler):
            state["LinearWarmup_LR"] = self.learning_rate.state_dict()
        return state

    def set_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().set_state_dict(state_dict)
        if isinstance(self.learning_rate, LRScheduler):
            self.learning_rate.set_state_dict(state_dict["LinearWarmup_LR"])


class LinearLR(LRScheduler):
    r"""Linear ramp of a multiplicative factor, ``paddle.optimizer.lr.LinearLR``
    (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/LinearLR_en.html).

    The lr goes linearly from ``start_factor * learning_rate`` (epoch 0) to ``end_factor * learning_rate``
    (epoch ``total_steps``) and stays there. It is computed recursively from the previous lr, with
    ``e = last_epoch``, ``T = total_steps``, ``s = start_factor``, ``f = end_factor``:
    ``e == 0 → base_lr * s``; ``e > T → last_lr``; otherwise
    ``last_lr * (1 + (f - s) / (T * s + (e - 1) * (f - s)))``.

    There is no closed form: ``step(epoch)`` applies the single factor of ``epoch`` to the current
    ``last_lr`` (it does not jump to ``base_lr * (s + (f - s) * epoch / T)``), as in Paddle.

    Args:
        learning_rate (float|int): the reference lr, >= 0.
        total_steps (int): number of steps of the ramp, > 0 (not type-checked, as in Paddle).
        start_factor (float): factor at epoch 0, in (0, 1]. Default 1/3.
        end_factor (float): factor from epoch ``total_steps`` on, in [0, 1] (may be below ``start_factor``).
            Default 1.0.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        ValueError: ``start_factor`` outside (0, 1], ``end_factor`` outside [0, 1] or ``total_steps <= 0``.
        TypeError: one of them is not comparable with a number; plus the base-class errors for
            ``learning_rate``.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.LinearLR`` gives the same):

        >>> import oar
        >>> sched = oar.lr.LinearLR(learning_rate=0.5, total_steps=4, start_factor=0.25)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.125, 0.21875, 0.3125, 0.40625, 0.5, 0.5]
    """

    start_factor: float
    end_factor: float
    total_steps: int

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        # Paddle's messages, verbatim (the end_factor wording is Paddle's)
        if _holds(lambda: start_factor > 1.0 or start_factor <= 0, "start_factor", start_factor, "a float in (0, 1]"):
            raise ValueError(f"`start_factor` must be greater than 0 and less or equal to 1, but got {start_factor}")
        if _holds(lambda: end_factor > 1.0 or end_factor < 0, "end_factor", end_factor, "a float in [0, 1]"):
            raise ValueError(f"`end_factor` must be greater than 0 and less than 1, but got {end_factor}")
        if _holds(lambda: total_steps <= 0, "total_steps", total_steps, "a positive integer"):
            raise ValueError(f"`total_steps` must be greater than 0, but got {total_steps}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_steps = total_steps
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch = self.last_epoch
        if epoch == 0:
            return self.base_lr * self.start_factor
        if epoch > self.total_steps:
            return self.last_lr
        start = self.total_steps * self.start_factor
        delta = self.end_factor - self.start_factor
        return self.last_lr * (1.0 + delta / (start + (epoch - 1) * delta))
