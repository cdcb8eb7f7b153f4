"""Learning-rate schedulers with the semantics of ``paddle.optimizer.lr`` (Paddle 3.3.1; https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/LRScheduler_en.html).

A scheduler is a plain-Python object holding ``base_lr``, ``last_epoch`` and ``last_lr`` (Python floats
computed in float64, bit-identical to Paddle).  Constructing one performs one ``step()``, so a fresh
scheduler has ``last_epoch == 0`` (or ``last_epoch + 1`` when a ``last_epoch`` is given) and
``last_lr == get_lr()``.  ``scheduler()`` returns ``last_lr``; the optimizer reads it at every update and
never steps the scheduler itself: call ``scheduler.step()`` yourself.

Optimizers register themselves as *listeners* (``_add_listener``): every change of ``last_lr`` (``step``,
``set_state_dict``) calls ``listener._on_lr_change()``.  Listeners are held through weak references, are
never part of ``state_dict()`` and are not carried by ``copy``/``deepcopy``/``pickle``.

Every scheduler is also a ``torch.optim.lr_scheduler.LRScheduler`` and speaks torch's scheduler protocol
once it drives an optimizer (as an oar optimizer's ``learning_rate``, or a torch optimizer through
:func:`oar.lr.attach`): ``optimizer``, ``step()``, ``get_last_lr()``, ``state_dict()`` / ``load_state_dict()``
(Paddle's keys; ``load_state_dict`` is ``set_state_dict``). Trainers that accept only torch schedulers
(PyTorch Lightning, Hugging Face ``Trainer``) therefore accept oar's. One difference remains: ``get_lr()``
is Paddle's (the float for ``last_epoch``), not torch's list; use ``get_last_lr()`` for the list.

This module depends on nothing else in ``oar``.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler

__all__ = ["LRScheduler", "attach"]


def _plain(value: Any) -> Any:
    """Convert a size-1 torch tensor (→ float, as Paddle does for its Tensors) or numpy value (→ Python
    scalar) to plain Python data, so that state dicts load with ``torch.load(weights_only=True)``."""
    if isinstance(value, torch.Tensor):
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


class LRScheduler(_TorchLRScheduler):
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
    _step_count: int = 0  # step() calls, the constructor's included (torch's counter; accelerate reads it)

    def __init__(self, learning_rate: float = 0.1, last_epoch: int = -1, verbose: bool = False) -> None:
        if not isinstance(learning_rate, (float, int)):
            raise TypeError(f"The type of learning rate must be float, but received {type(learning_rate)}")
        if learning_rate < 0:
            raise ValueError(f"Invalid learning rate: {learning_rate}")
        self._init_state(learning_rate, last_epoch, verbose)
        self.step()

    def _init_state(self, learning_rate: float, last_epoch: int, verbose: bool) -> None:
        """Set the base attributes, without validation and without the first step (a subclass that
        neither validates nor steps like the others, ``ReduceOnPlateau``, calls this instead of ``__init__``)."""
        self._listeners: list[weakref.ref[Any]] = []
        self.base_lr = float(learning_rate)
        self.last_lr = float(learning_rate)
        self.last_epoch = last_epoch
        self.verbose = verbose

    # ------------------------------------------------------------------ schedule
    def __call__(self) -> float:
        """Return the current learning rate, ``last_lr``."""
        return self.last_lr

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        """Learning rate for ``self.last_epoch``; subclasses must override it."""
        raise NotImplementedError(
            f"{type(self).__name__}.get_lr() is not implemented: a subclass of LRScheduler must override get_lr()"
        )

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule: ``last_epoch += 1`` (or ``last_epoch = epoch``), then recompute ``last_lr``.

        With an explicit ``epoch`` the closed form ``_get_closed_form_lr()`` is used when the class has one,
        ``get_lr()`` otherwise. Call it after ``optimizer.step()``.
        """
        self._step_count += 1
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

    #: attributes saved after the keys of ``state_keys()`` and restored when present, never required
    #: (Paddle's dicts lack them) nor counted as unused: state that Paddle forgets to save
    _extra_state: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        """Return ``{key: getattr(self, key)}`` for the keys of ``state_keys()`` that are set (plain data),
        then the subclass's extra state."""
        self.state_keys()
        state = {key: _plain(self.__dict__[key]) for key in self.keys if key in self.__dict__}
        state.update((key, _plain(self.__dict__[key])) for key in self._extra_state)
        return state

    def set_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state produced by ``state_dict()``; listeners are notified afterwards.

        Raises:
            RuntimeError: a key of ``state_keys()`` is missing (nothing is loaded then).
        """
        self.state_keys()
        for key in self.keys:
            if key not in state_dict:
                raise RuntimeError(
                    f"Please check whether state_dict is correct for optimizer. Can't find [ {key} ] in state_dict"
                )
        for key in self.keys:
            self.__dict__[key] = state_dict[key]
        extra = [key for key in self._extra_state if key in state_dict]
        if extra:
            for key in extra:
                self.__dict__[key] = state_dict[key]
        else:
            self._restore_extra_state()
        if len(state_dict) - len(extra) > len(self.keys):
            warnings.warn(
                "There are some unused values in state_dict. Maybe the optimizer have different "
                "'LearningRateDecay' when invoking state_dict and set_dict",
                stacklevel=2,
            )
        self._notify_listeners()

    def _restore_extra_state(self) -> None:
        """Rebuild the extra state from the loaded keys, for a dict without it (one that Paddle wrote)."""

    def set_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Alias of ``set_state_dict`` (dispatches to the subclass's override)."""
        self.set_state_dict(state_dict)

    # ------------------------------------------------------------------ torch's scheduler protocol
    @property
    def optimizer(self) -> torch.optim.Optimizer:  # type: ignore[override]  # torch's is a plain attribute
        """The optimizer this scheduler drives (torch's protocol): the oar optimizer built with it as
        ``learning_rate`` (or given it by ``set_lr_scheduler``), or the torch optimizer given to
        :func:`oar.lr.attach`; the first one bound when there are several.

        Raises:
            AttributeError: no optimizer is bound to this scheduler (so ``hasattr`` is False).
        """
        for obj in self._live_listeners():
            if isinstance(obj, torch.optim.Optimizer):
                return obj
            if isinstance(obj, _TorchOptimizerBinding):
                return obj.optimizer
        raise AttributeError(
            f"{type(self).__name__} drives no optimizer: pass it as an oar optimizer's learning_rate, "
            "or bind a torch optimizer with oar.lr.attach(optimizer, scheduler)"
        )

    def get_last_lr(self) -> list[float | torch.Tensor]:
        """torch's protocol: the lr of each param group of the bound optimizer (the effective lr, the
        scheduler's value times the group's multiplier, for an oar optimizer), or ``[last_lr]`` when no
        optimizer is bound. Tensors are returned as copies."""
        try:
            optimizer = self.optimizer
        except AttributeError:
            return [self.last_lr]
        return [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"] for g in optimizer.param_groups]

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """torch's name for :meth:`set_state_dict` (Paddle's keys)."""
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

    def _live_listeners(self) -> list[Any]:
        """The listeners still alive, in the order they were added (dead references are dropped)."""
        listeners = self.__dict__.get("_listeners")
        if not listeners:
            return []
        live = [obj for obj in (ref() for ref in listeners) if obj is not None]
        listeners[:] = [ref for ref in listeners if ref() is not None]
        return live

    def _notify_listeners(self) -> None:
        for obj in self._live_listeners():
            obj._on_lr_change()

    # copies and pickles never carry listeners
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_listeners", None)
        state.pop("_bindings", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._listeners = []
        self._bindings: list[_TorchOptimizerBinding] = []


class _TorchOptimizerBinding:
    """Listener that writes a scheduler's lr into every param group of a torch optimizer.

    The scheduler holds it strongly (in ``_bindings``) and it holds the optimizer strongly, as a torch
    scheduler holds its optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: LRScheduler) -> None:
        self.optimizer = optimizer
        self._scheduler = weakref.ref(scheduler)

    def _on_lr_change(self) -> None:
        scheduler = self._scheduler()
        if scheduler is None:
            return
        lr = float(scheduler())
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # keeps a tensor lr (fused/capturable torch optimizers) a tensor
            else:
                group["lr"] = lr


def attach(optimizer: torch.optim.Optimizer, scheduler: LRScheduler) -> LRScheduler:
    """Let a Paddle-style ``scheduler`` drive a ``torch.optim`` optimizer.

    Every param group's ``lr`` is set to ``scheduler()`` now and after every change of the scheduler's
    value (``scheduler.step()``, ``set_state_dict``); call ``scheduler.step()`` after ``optimizer.step()``
    as with any torch scheduler. A tensor ``lr`` stays a tensor (filled in place). Every group gets the
    same lr: groups that need different ones need an oar optimizer (its groups' ``learning_rate``
    multipliers) or one scheduler per optimizer. For an oar optimizer this is ``set_lr_scheduler``.
    The scheduler then speaks torch's protocol for it (``scheduler.optimizer is optimizer``,
    ``get_last_lr()``), so it can be given to trainers that take torch schedulers.

    Args:
        optimizer (torch.optim.Optimizer): the optimizer to drive.
        scheduler (oar.lr.LRScheduler): the schedule.

    Returns:
        oar.lr.LRScheduler: ``scheduler``, for chaining.

    Raises:
        TypeError: ``optimizer`` is not a ``torch.optim.Optimizer`` or ``scheduler`` not an
            ``oar.lr.LRScheduler``.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"attach: 'optimizer' must be a torch.optim.Optimizer, but received {optimizer!r}")
    if not isinstance(scheduler, LRScheduler):
        raise TypeError(f"attach: 'scheduler' must be an oar.lr.LRScheduler, but received {scheduler!r}")
    set_lr_scheduler = getattr(optimizer, "set_lr_scheduler", None)
    if set_lr_scheduler is not None and hasattr(optimizer, "_on_lr_change"):  # an oar optimizer
        set_lr_scheduler(scheduler)
        return scheduler
    bindings: list[_TorchOptimizerBinding] = scheduler.__dict__.setdefault("_bindings", [])
    for binding in bindings:
        if binding.optimizer is optimizer:
            binding._on_lr_change()
            return scheduler
    binding = _TorchOptimizerBinding(optimizer, scheduler)
    bindings.append(binding)
    scheduler._add_listener(binding)
    binding._on_lr_change()
    return scheduler
