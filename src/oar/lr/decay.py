"""Decay schedules with a closed form in the epoch: ``lr = f(base_lr, last_epoch)`` (Paddle 3.3.1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .base import LRScheduler, _holds

__all__ = [
    "ExponentialDecay",
    "InverseTimeDecay",
    "LambdaDecay",
    "MultiStepDecay",
    "MultiplicativeDecay",
    "NaturalExpDecay",
    "NoamDecay",
    "PiecewiseDecay",
    "PolynomialDecay",
    "StepDecay",
]


class NoamDecay(LRScheduler):
    r"""Noam decay (*Attention Is All You Need*), ``paddle.optimizer.lr.NoamDecay``.

    ``lr = learning_rate * d_model**-0.5 * min(a, warmup_steps**-1.5 * epoch)`` with ``a = 1`` at epoch 0
    (so lr = 0 there) and ``a = epoch**-0.5`` afterwards.

    Args:
        d_model (int|float): model width, > 0.
        warmup_steps (int): number of warm-up steps, > 0 (checked at each step, as in Paddle, where the formula
            fails: 0 → ZeroDivisionError, < 0 → TypeError).
        learning_rate (float): scale factor. Default 1.0.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        ValueError: ``d_model <= 0``; plus the base-class errors for ``learning_rate``.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.NoamDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.NoamDecay(d_model=64, warmup_steps=3, learning_rate=1.0)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.0, 0.024056, 0.048113, 0.072169, 0.0625, 0.055902]
    """

    def __init__(
        self,
        d_model: int,
        warmup_steps: int,
        learning_rate: float = 1.0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if _holds(lambda: d_model <= 0, "d_model", d_model, "a number > 0"):
            raise ValueError("d_model should be grater than 0")  # sic, Paddle's message
        self.d_model = d_model
        self.warmup_steps = warmup_steps
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        warmup = self.warmup_steps
        if isinstance(warmup, (int, float)) and warmup <= 0:
            # Paddle fails here too (same exception types), with less explicit messages.
            if warmup == 0:
                raise ZeroDivisionError(
                    f"NoamDecay: 'warmup_steps' must be > 0, but received {warmup!r} (0 ** -1.5 is undefined)."
                )
            raise TypeError(
                f"NoamDecay: 'warmup_steps' must be > 0, but received {warmup!r} (a negative value makes the "
                "learning rate complex)."
            )
        epoch = self.last_epoch
        a = 1 if epoch == 0 else epoch**-0.5
        b = self.warmup_steps**-1.5 * epoch
        lr: float = self.base_lr * (self.d_model**-0.5) * min(a, b)
        return lr


class StepDecay(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs, ``paddle.optimizer.lr.StepDecay``.

    ``lr = learning_rate * gamma ** (epoch // step_size)``.

    Args:
        learning_rate (float): initial lr, >= 0.
        step_size (int): decay interval, > 0.
        gamma (float): decay factor, < 1.0. Default 0.1.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``step_size`` is not an int.
        ValueError: ``gamma >= 1.0``.
        AssertionError: ``step_size <= 0``.
        plus the base-class errors for ``learning_rate``.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.StepDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.StepDecay(learning_rate=0.5, step_size=2, gamma=0.1)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.5, 0.05, 0.05, 0.005, 0.005]
    """

    def __init__(
        self,
        learning_rate: float,
        step_size: int,
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not isinstance(step_size, int):
            raise TypeError(f"The type of 'step_size' must be 'int', but received {type(step_size)}.")
        if _holds(lambda: gamma >= 1.0, "gamma", gamma, "a float < 1.0"):
            raise ValueError("gamma should be < 1.0.")
        if not step_size > 0:
            raise AssertionError(f"'step_size' must be a positive integer, but received {step_size!r}.")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        return self.base_lr * (self.gamma ** (self.last_epoch // self.step_size))


def _length(value: Any, name: str) -> int:
    """``len(value)``; a TypeError names the argument."""
    try:
        return len(value)
    except TypeError:
        raise TypeError(f"'{name}' must be a list or tuple, but received {value!r} ({type(value)}).") from None


def _before(epoch: float, bounds: Sequence[float], i: int, name: str) -> bool:
    """``epoch < bounds[i]``; a TypeError (element not comparable with the epoch, or not indexable) names the
    argument."""
    return _holds(
        lambda: epoch < bounds[i], name, bounds, f"a list/tuple of numbers comparable with the epoch {epoch!r}"
    )


class PiecewiseDecay(LRScheduler):
    """Piecewise-constant schedule, ``paddle.optimizer.lr.PiecewiseDecay``.

    ``lr = values[i]`` for the first ``i`` with ``epoch < boundaries[i]``, and ``values[-1]`` (the last element of
    ``values``, also when ``values`` holds more than ``len(boundaries) + 1`` entries) when the epoch is not below
    any boundary. The element of ``values`` is returned as given (an int stays an int).
    There is no ``learning_rate`` argument: ``base_lr`` is the base-class default 0.1 and is not used.

    Args:
        boundaries (list|tuple of int): epochs where the lr changes; not empty. Neither the order nor the type
            of the elements is checked (as in Paddle): an element that cannot be compared with the epoch raises
            TypeError at the step that reaches it.
        values (list|tuple of float): the lrs, ``len(values) >= len(boundaries) + 1`` (entries between
            ``values[len(boundaries)]`` and the last one are never used). The elements are not checked (as in
            Paddle): a non-number only fails where an optimizer uses the lr.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``boundaries`` or ``values`` has no length; at a step, a boundary cannot be compared with
            (or indexed for) the epoch.
        ValueError: ``boundaries`` is empty, or ``len(values) <= len(boundaries)``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/PiecewiseDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.PiecewiseDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.PiecewiseDecay(boundaries=[2, 4], values=[0.1, 0.01, 0.001])
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """

    boundaries: Sequence[int]
    values: Sequence[float]

    def __init__(
        self,
        boundaries: Sequence[int],
        values: Sequence[float],
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        n_boundaries = _length(boundaries, "boundaries")
        if n_boundaries == 0:
            raise ValueError("The boundaries cannot be empty.")
        n_values = _length(values, "values")
        if n_values <= n_boundaries:
            raise ValueError(
                "The values have one more element than boundaries, but received "
                f"len(values) [{n_values}] < len(boundaries) + 1 [{n_boundaries + 1}]."
            )
        self.boundaries = boundaries
        self.values = values
        super().__init__(last_epoch=last_epoch, verbose=verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch, boundaries = self.last_epoch, self.boundaries
        for i in range(len(boundaries)):
            if _before(epoch, boundaries, i, "boundaries"):
                return self.values[i]
        return self.values[len(self.values) - 1]


class NaturalExpDecay(LRScheduler):
    r"""Natural exponential decay, ``paddle.optimizer.lr.NaturalExpDecay``.

    ``lr = learning_rate * exp(-gamma * epoch)`` (computed as ``base_lr * math.exp(-1 * gamma * epoch)``).

    Args:
        learning_rate (float|int): initial lr, >= 0.
        gamma (float|int): decay rate per epoch, > 0 (required: Paddle's documentation gives a default of 0.1, its
            signature none).
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        AssertionError: ``gamma <= 0`` (or NaN).
        TypeError: ``gamma`` cannot be compared with 0.
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/NaturalExpDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.NaturalExpDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.NaturalExpDecay(learning_rate=0.5, gamma=0.1)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.452419, 0.409365, 0.370409, 0.33516]
    """

    gamma: float

    def __init__(
        self,
        learning_rate: float,
        gamma: float,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not _holds(lambda: gamma > 0.0, "gamma", gamma, "a number > 0"):
            raise AssertionError(f"'gamma' must be > 0 so that the learning rate decays, but received {gamma!r}.")
        self.gamma = gamma
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        return self.base_lr * math.exp(-1 * self.gamma * self.last_epoch)


class InverseTimeDecay(LRScheduler):
    r"""Inverse time decay, ``paddle.optimizer.lr.InverseTimeDecay``.

    ``lr = learning_rate / (1 + gamma * epoch)``.

    Args:
        learning_rate (float|int): initial lr, >= 0.
        gamma (float|int): decay rate (required: Paddle's documentation gives a default of 0.1, its
            signature none). It is not validated, as in Paddle: a non-number raises TypeError, and a value
            with ``1 + gamma * epoch == 0`` raises ZeroDivisionError, at the step that computes it (the
            constructor's first step included). A negative gamma makes the lr grow.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``1 + gamma * epoch`` cannot be computed (at a step).
        ZeroDivisionError: ``1 + gamma * epoch == 0`` (at a step).
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/InverseTimeDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.InverseTimeDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.InverseTimeDecay(learning_rate=0.5, gamma=0.1)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.454545, 0.416667, 0.384615, 0.357143]
    """

    gamma: float

    def __init__(
        self,
        learning_rate: float,
        gamma: float,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.gamma = gamma
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        gamma, epoch = self.gamma, self.last_epoch
        try:
            return self.base_lr / (1 + gamma * epoch)
        except TypeError:
            raise TypeError(
                f"InverseTimeDecay: 'gamma' must be a number, but received {gamma!r} ({type(gamma)}) (epoch {epoch!r})."
            ) from None
        except ZeroDivisionError:
            raise ZeroDivisionError(
                f"InverseTimeDecay: 1 + gamma * epoch is 0 for 'gamma' = {gamma!r} at epoch {epoch!r}."
            ) from None


class PolynomialDecay(LRScheduler):
    r"""Polynomial decay from ``learning_rate`` to ``end_lr``, ``paddle.optimizer.lr.PolynomialDecay``.

    ``lr = (learning_rate - end_lr) * (1 - e / D) ** power + end_lr`` where, for ``cycle=False``,
    ``e = min(epoch, decay_steps)`` and ``D = decay_steps`` (the lr stays at ``end_lr`` after ``decay_steps``),
    and, for ``cycle=True``, ``e = epoch`` and ``D = decay_steps * ceil(epoch / decay_steps)`` (``decay_steps`` at
    epoch 0), so the lr jumps back up at each multiple of ``decay_steps``.

    With ``cycle=True`` a negative epoch behaves as in Paddle: ``-decay_steps < epoch < 0`` gives ``D = 0``
    (ZeroDivisionError) and ``epoch <= -decay_steps`` raises a negative base to ``power`` (a complex lr for a
    non-integer power).

    Args:
        learning_rate (float|int): initial lr, >= 0.
        decay_steps (int): length of the decay (of one cycle), a positive int.
        end_lr (float|int): final lr. Default 0.0001. Not validated, as in Paddle: a non-number raises TypeError
            at the first step (in the constructor).
        power (float|int): exponent, > 0. Default 1.0.
        cycle (bool): restart the decay every ``decay_steps`` epochs. Default False.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        AssertionError: ``decay_steps`` is not a positive int, or ``power <= 0``.
        TypeError: ``decay_steps`` or ``power`` cannot be compared with 0; ``end_lr`` is not a number (at a step).
        ZeroDivisionError: ``cycle=True`` and ``-decay_steps < epoch < 0`` (at a step).
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/PolynomialDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.PolynomialDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.PolynomialDecay(learning_rate=0.5, decay_steps=4, end_lr=0.1, power=1.0)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.1]
    """

    decay_steps: int
    end_lr: float
    power: float
    cycle: bool

    def __init__(
        self,
        learning_rate: float,
        decay_steps: int,
        end_lr: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not (
            _holds(lambda: decay_steps > 0, "decay_steps", decay_steps, "a positive integer")
            and isinstance(decay_steps, int)
        ):
            raise AssertionError(f"'decay_steps' must be a positive integer, but received {decay_steps!r}.")
        self.decay_steps = decay_steps
        self.end_lr = end_lr
        if not _holds(lambda: power > 0.0, "power", power, "a number > 0"):
            raise AssertionError(f"'power' must be > 0 so that the learning rate decays, but received {power!r}.")
        self.power = power
        self.cycle = cycle
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch: float = self.last_epoch
        decay_steps: float = self.decay_steps
        if self.cycle:
            cycles = 1 if self.last_epoch == 0 else math.ceil(float(self.last_epoch) / float(self.decay_steps))
            decay_steps = self.decay_steps * cycles
            if decay_steps == 0:
                raise ZeroDivisionError(
                    f"PolynomialDecay(cycle=True) is undefined at epoch {self.last_epoch!r}: for "
                    f"-decay_steps < epoch < 0 the cycle length decay_steps * ceil(epoch / decay_steps) is 0 "
                    f"('decay_steps' = {self.decay_steps!r})."
                )
        else:
            epoch = min(self.last_epoch, self.decay_steps)
        end_lr, power = self.end_lr, self.power
        try:
            lr: float = (self.base_lr - end_lr) * ((1 - float(epoch) / float(decay_steps)) ** power) + end_lr
        except TypeError:
            raise TypeError(
                f"PolynomialDecay: 'end_lr' and 'power' must be numbers, but received end_lr={end_lr!r} "
                f"({type(end_lr)}) and power={power!r} ({type(power)})."
            ) from None
        return lr


class ExponentialDecay(LRScheduler):
    r"""Exponential decay, ``paddle.optimizer.lr.ExponentialDecay``.

    ``lr = learning_rate * gamma ** epoch`` (computed from ``base_lr`` at every step, not by repeated
    multiplication).

    Args:
        learning_rate (float|int): initial lr, >= 0.
        gamma (float): decay factor per epoch, ``0 < gamma < 1``.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        AssertionError: ``gamma`` is not in the open interval (0, 1) (or is NaN).
        TypeError: ``gamma`` cannot be compared with numbers.
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/ExponentialDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.ExponentialDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.ExponentialDecay(learning_rate=0.5, gamma=0.9)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.45, 0.405, 0.3645, 0.32805]
    """

    gamma: float

    def __init__(
        self,
        learning_rate: float,
        gamma: float,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not _holds(lambda: gamma > 0.0 and gamma < 1.0, "gamma", gamma, "a number in (0.0, 1.0)"):
            raise AssertionError(
                f"'gamma' must be in the interval (0.0, 1.0) so that the learning rate decays, but received {gamma!r}."
            )
        self.gamma = gamma
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        return self.base_lr * (self.gamma**self.last_epoch)


class MultiStepDecay(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone, ``paddle.optimizer.lr.MultiStepDecay``.

    ``lr = learning_rate * gamma ** i`` where ``i`` is the index of the first milestone with
    ``epoch < milestones[i]`` (``len(milestones)`` past the last one), i.e. the number of milestones ``<= epoch``.

    Args:
        learning_rate (float|int): initial lr, >= 0.
        milestones (list|tuple of int): strictly increasing epochs (may be empty). The list is kept, not copied.
            Elements that compare with each other but not with the epoch (e.g. strings) raise TypeError at the
            first step, as in Paddle.
        gamma (float): decay factor, < 1.0. Default 0.1.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``milestones`` is not a list or tuple, or its elements cannot be compared (with each other, or
            with the epoch at a step); ``gamma`` cannot be compared with 1.0.
        ValueError: ``milestones`` is not strictly increasing, or ``gamma >= 1.0``.
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/MultiStepDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.MultiStepDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.MultiStepDecay(learning_rate=0.5, milestones=[2, 4], gamma=0.1)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.5, 0.05, 0.05, 0.005, 0.005]
    """

    milestones: Sequence[int]
    gamma: float

    def __init__(
        self,
        learning_rate: float,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not isinstance(milestones, (tuple, list)):
            raise TypeError(
                f"The type of 'milestones' in 'MultiStepDecay' must be 'tuple, list', but received {type(milestones)}."
            )
        if not _holds(
            lambda: all(milestones[i] < milestones[i + 1] for i in range(len(milestones) - 1)),
            "milestones",
            milestones,
            "a strictly increasing list/tuple of numbers",
        ):
            raise ValueError("The elements of milestones must be incremented")
        if _holds(lambda: gamma >= 1.0, "gamma", gamma, "a float < 1.0"):
            raise ValueError("gamma should be < 1.0.")
        self.milestones = milestones
        self.gamma = gamma
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch, milestones = self.last_epoch, self.milestones
        for i in range(len(milestones)):
            if _before(epoch, milestones, i, "milestones"):
                return self.base_lr * (self.gamma**i)
        return self.base_lr * (self.gamma ** len(milestones))


class _LambdaSchedule(LRScheduler):
    """A schedule driven by a user function of the epoch, ``lr_lambda`` (LambdaDecay, MultiplicativeDecay)."""

    lr_lambda: Callable[[int], float]

    def __init__(
        self,
        learning_rate: float,
        lr_lambda: Callable[[int], float],
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"The type of 'lr_lambda' in '{type(self).__name__}' must be 'function', "
                f"but received {type(lr_lambda)}."
            )
        self.lr_lambda = lr_lambda
        super().__init__(learning_rate, last_epoch, verbose)


class LambdaDecay(_LambdaSchedule):
    """Scale the initial lr by a function of the epoch, ``paddle.optimizer.lr.LambdaDecay``.

    ``lr = learning_rate * lr_lambda(epoch)``.

    ``state_dict()`` holds only ``last_epoch`` and ``last_lr`` (as in Paddle): the function is never saved, so the
    dict stays plain data (loadable with ``torch.load(..., weights_only=True)``).

    Args:
        learning_rate (float|int): initial lr, >= 0.
        lr_lambda (Callable[[int], float]): the factor for an epoch. It is called once per step; its errors
            propagate, and a result that cannot multiply a float raises TypeError at that step (as in Paddle).
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``lr_lambda`` is not callable, or (at a step) returns a value that cannot multiply a float.
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/LambdaDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.LambdaDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.LambdaDecay(learning_rate=0.5, lr_lambda=lambda epoch: 0.9**epoch)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.45, 0.405, 0.3645]
    """

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        factor = self.lr_lambda(self.last_epoch)
        return _scale(self.base_lr, factor, self.last_epoch)


def _scale(lr: float, factor: float, epoch: int) -> float:
    """``lr * factor``; a TypeError names ``lr_lambda`` and the value it returned."""
    try:
        return lr * factor
    except TypeError:
        raise TypeError(
            f"'lr_lambda' must return a number, but returned {factor!r} ({type(factor)}) for epoch {epoch!r}."
        ) from None


class MultiplicativeDecay(_LambdaSchedule):
    """Multiply the lr by a function of the epoch at every epoch, ``paddle.optimizer.lr.MultiplicativeDecay``.

    ``lr = learning_rate * lr_lambda(1) * lr_lambda(2) * ... * lr_lambda(epoch)`` (``learning_rate`` at epoch 0
    and below). As in Paddle the product is recomputed from ``base_lr`` at every step, left to right (so
    ``lr_lambda`` is called ``epoch`` times per step, and a loaded ``last_lr`` does not feed the next value).

    ``state_dict()`` holds only ``last_epoch`` and ``last_lr`` (as in Paddle): the function is never saved, so the
    dict stays plain data (loadable with ``torch.load(..., weights_only=True)``).

    Args:
        learning_rate (float|int): initial lr, >= 0.
        lr_lambda (Callable[[int], float]): the factor applied at epoch ``k`` (k >= 1). Its errors propagate, and a
            result that cannot multiply a float raises TypeError at the step (as in Paddle).
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``lr_lambda`` is not callable; at a step, ``lr_lambda`` returns a value that cannot multiply a
            float, or the epoch is not an integer (e.g. ``step(2.5)``, a TypeError in Paddle too).
        plus the base-class errors for ``learning_rate``.

    Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/MultiplicativeDecay_en.html

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.MultiplicativeDecay`` gives the same):

        >>> import oar
        >>> sched = oar.lr.MultiplicativeDecay(learning_rate=0.5, lr_lambda=lambda epoch: 0.5)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.5, 0.25, 0.125, 0.0625]
    """

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        try:
            epochs = range(1, self.last_epoch + 1)
        except TypeError:
            raise TypeError(
                f"MultiplicativeDecay needs an integer epoch, but received {self.last_epoch!r} "
                f"({type(self.last_epoch)})."
            ) from None
        lr = self.base_lr
        for epoch in epochs:
            lr = _scale(lr, self.lr_lambda(epoch), epoch)
        return lr
