"""Decay schedules with a closed form in the epoch: ``lr = f(base_lr, last_epoch)`` (Paddle 3.3.1)."""
from __future__ import annotations


from .base import LRScheduler, _holds

__all__ = ["NoamDecay", "StepDecay"]


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

    def get_lr(self) -> float:
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
        return self.base_lr * (self.d_model**-0.5) * min(a, b)


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

    def get_lr(self) -> float:
        return self.base_lr * (self.gamma ** (self.last_epoch // self.step_size))
