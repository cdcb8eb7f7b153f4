"""Learning-rate schedulers with the semantics of ``paddle.optimizer.lr`` (Paddle 3.3.1; https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/LRScheduler_en.html).

A scheduler is a plain-Python object holding ``base_lr``, ``last_epoch`` and ``last_lr`` (Python floats
computed in float64, bit-identical to Paddle).  Constructing one performs one ``step()``, so a fresh
scheduler has ``last_epoch == 0`` (or ``last_epoch + 1`` when a ``last_epoch`` is given) and
``last_lr == get_lr()``.  ``scheduler()`` returns ``last_lr``; the optimizer reads it at every update and
never steps the scheduler itself: call ``scheduler.step()`` yourself.

Optimizers register themselves as *listeners* (``_add_listener``): every change of ``last_lr`` (``step``,
``set_state_dict``) calls ``listener._on_lr_change()``.  Listeners are held through weak references, are
never part of ``state_dict()`` and are not carried by ``copy``/``deepcopy``/``pickle``.

This module depends on nothing else in ``oar``.
"""
from __future__ import annotations

import math
import sys
import warnings
import weakref
from typing import Any, Callable

__all__ = [
    "LRScheduler",
    "NoamDecay",
    "LinearWarmup",
    "StepDecay",
    "CosineAnnealingDecay",
]


def _plain(value: Any) -> Any:
    """Convert a size-1 torch tensor (→ float, as Paddle does for its Tensors) or numpy value (→ Python
    scalar) to plain Python data, so that state dicts load with ``torch.load(weights_only=True)``."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise AssertionError("numel of Tensor in state_dict must be 1")
        return float(value)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, (np.generic, np.ndarray)):
        if value.size != 1:
            raise AssertionError("numel of array in state_dict must be 1")
        return value.item()
    return value


def _holds(condition: Callable[[], Any], name: str, value: Any, expected: str) -> bool:
    """Evaluate a validation comparison; a TypeError from it (e.g. a str compared with a number, the same
    exception type Paddle raises there) is re-raised with a message naming the argument."""
    try:
        return bool(condition())
    except TypeError:
        raise TypeError(f"'{name}' must be {expected}, but received {value!r} ({type(value)}).") from None


class LRScheduler:
    """Base class of all schedulers (``paddle.optimizer.lr.LRScheduler``).

    Subclasses set their own attributes, call ``super().__init__`` and implement ``get_lr()``, which
    returns the learning rate for ``self.last_epoch`` (it may read ``self.last_lr``, the previous value).
    A subclass may also define ``_get_closed_form_lr()``; ``step(epoch)`` then uses it instead of ``get_lr()``.

    Args:
        learning_rate (float|int): initial learning rate, stored as ``base_lr = last_lr = float(learning_rate)``.
            Default 0.1.
        last_epoch (int): index of the last epoch; the constructor steps once, to ``last_epoch + 1``.
            Default -1.
        verbose (bool): print ``Epoch {last_epoch}: {ClassName} set learning rate to {last_lr}.`` at every
            step, the constructor's included. Default False.

    Raises:
        TypeError: ``learning_rate`` is not a float or int.
        ValueError: ``learning_rate < 0``.
        NotImplementedError: ``get_lr()`` is not overridden (raised by the constructor's step).

    ``state_dict()`` returns ``{'last_epoch', 'last_lr'}`` (the attributes named by ``state_keys()``);
    ``set_state_dict`` (alias ``set_dict``) raises RuntimeError for a missing key and warns (UserWarning)
    when the dict holds more entries than ``state_keys()`` names.
    """

    base_lr: float
    last_lr: float
    last_epoch: int
    verbose: bool

    def __init__(self, learning_rate: float = 0.1, last_epoch: int = -1, verbose: bool = False) -> None:
        if not isinstance(learning_rate, (float, int)):
            raise TypeError(
                f"The type of learning rate must be float, but received {type(learning_rate)}"
            )
        if learning_rate < 0:
            raise ValueError(f"Invalid learning rate: {learning_rate}")
        self._listeners: list[weakref.ref] = []
        self.base_lr = float(learning_rate)
        self.last_lr = float(learning_rate)
        self.last_epoch = last_epoch
        self.verbose = verbose
        self.step()

    # ------------------------------------------------------------------ schedule
    def __call__(self) -> float:
        """Return the current learning rate, ``last_lr``."""
        return self.last_lr

    def get_lr(self) -> float:
        """Learning rate for ``self.last_epoch``; subclasses must override it."""
        raise NotImplementedError(
            f"{type(self).__name__}.get_lr() is not implemented: a subclass of LRScheduler must override get_lr()"
        )

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule: ``last_epoch += 1`` (or ``last_epoch = epoch``), then recompute ``last_lr``.

        With an explicit ``epoch`` the closed form ``_get_closed_form_lr()`` is used when the class has one,
        ``get_lr()`` otherwise. Call it after ``optimizer.step()``.
        """
        if epoch is None:
            self.last_epoch += 1
            self.last_lr = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form: Callable[[], float] | None = getattr(self, "_get_closed_form_lr", None)
            self.last_lr = closed_form() if closed_form is not None else self.get_lr()
        if self.verbose:
            print(f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to {self.last_lr}.")
        self._notify_listeners()

    # ------------------------------------------------------------------ state
    def state_keys(self) -> None:
        """Set ``self.keys``, the attribute names saved by ``state_dict()`` (default: last_epoch, last_lr)."""
        self.keys = ["last_epoch", "last_lr"]

    def state_dict(self) -> dict[str, Any]:
        """Return ``{key: getattr(self, key)}`` for the keys of ``state_keys()`` that are set (plain data)."""
        self.state_keys()
        return {key: _plain(self.__dict__[key]) for key in self.keys if key in self.__dict__}

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state produced by ``state_dict()``; listeners are notified afterwards.

        Raises:
            RuntimeError: a key of ``state_keys()`` is missing (nothing is loaded then).
        """
        self.state_keys()
        for key in self.keys:
            if key not in state_dict:
                raise RuntimeError(
                    "Please check whether state_dict is correct for optimizer. "
                    f"Can't find [ {key} ] in state_dict"
                )
        for key in self.keys:
            self.__dict__[key] = state_dict[key]
        if len(state_dict) > len(self.keys):
            warnings.warn(
                "There are some unused values in state_dict. Maybe the optimizer have different "
                "'LearningRateDecay' when invoking state_dict and set_dict"
            )
        self._notify_listeners()

    def set_dict(self, state_dict: dict[str, Any]) -> None:
        """Alias of ``set_state_dict`` (dispatches to the subclass's override)."""
        self.set_state_dict(state_dict)

    # ------------------------------------------------------------------ listeners
    def _add_listener(self, obj: Any) -> None:
        """Register ``obj`` (weakly); ``obj._on_lr_change()`` is called after every change of ``last_lr``."""
        listeners = self.__dict__.setdefault("_listeners", [])
        listeners[:] = [ref for ref in listeners if ref() is not None]
        if not any(ref() is obj for ref in listeners):
            listeners.append(weakref.ref(obj))

    def _remove_listener(self, obj: Any) -> None:
        """Unregister ``obj`` (no error if it is not registered)."""
        listeners = self.__dict__.get("_listeners")
        if listeners:
            listeners[:] = [ref for ref in listeners if ref() is not None and ref() is not obj]

    def _notify_listeners(self) -> None:
        listeners = self.__dict__.get("_listeners")
        if not listeners:
            return
        live = []
        for ref in list(listeners):
            obj = ref()
            if obj is not None:
                live.append(obj)
        # drop dead references (keeping any listener added meanwhile)
        listeners[:] = [ref for ref in listeners if ref() is not None]
        for obj in live:
            obj._on_lr_change()

    # copies and pickles never carry listeners
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_listeners", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._listeners = []


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
                "the type of learning_rate should be [int, float or LRScheduler], "
                f"the current type is {learning_rate}"
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

    def get_lr(self) -> float:
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

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().set_state_dict(state_dict)
        if isinstance(self.learning_rate, LRScheduler):
            self.learning_rate.set_state_dict(state_dict["LinearWarmup_LR"])
