"""``ReduceOnPlateau``: lower the lr when a metric stops improving (Paddle 3.3.1)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau as _TorchReduceLROnPlateau

from .base import LRScheduler, _holds

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Metric = int | float | np.float32 | np.float64 | npt.NDArray[Any] | torch.Tensor

__all__ = ["ReduceOnPlateau"]


def _numpy() -> Any:
    """The numpy module if it is imported (a numpy metric cannot exist otherwise), else None."""
    return sys.modules.get("numpy")


def _compare(less: bool, a: Any, b: Any) -> bool:
    """``a < b`` (``less``) or ``a > b`` as Paddle evaluates it for its Tensors, ndarrays and numbers.

    torch does not compare a Tensor with an ndarray; Paddle does, converting the ndarray to a Tensor of its
    own dtype and promoting as torch does (a 0-d operand does not decide the dtype against a 1-d one), so
    the ndarray is converted here in the same way. numpy scalars are left as they are: torch and Paddle
    both treat them as Python scalars.
    """
    np = _numpy()
    if np is not None:
        if isinstance(a, torch.Tensor) and isinstance(b, np.ndarray):
            b = torch.as_tensor(b, device=a.device)
        elif isinstance(a, np.ndarray) and isinstance(b, torch.Tensor):
            a = torch.as_tensor(a, device=b.device)
    return bool(a < b) if less else bool(a > b)


class ReduceOnPlateau(LRScheduler, _TorchReduceLROnPlateau):
    r"""Reduce the lr when a monitored metric stops improving, ``paddle.optimizer.lr.ReduceOnPlateau``
    (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/ReduceOnPlateau_en.html).

    Unlike the other schedulers, the constructor does not step: a fresh scheduler has ``last_epoch == 0``,
    ``best is None`` and ``last_lr == base_lr == float(learning_rate)``. Call ``step(metrics)`` once per
    evaluation (or training step); with ``t = threshold``, ``metrics`` is *better* than ``best`` when

    * ``mode='min'``, ``threshold_mode='rel'``: ``metrics < best - best * t``;
    * ``mode='min'``, ``threshold_mode='abs'``: ``metrics < best - t``;
    * ``mode='max'``, ``threshold_mode='rel'``: ``metrics > best + best * t``;
    * ``mode='max'``, ``threshold_mode='abs'``: ``metrics > best + t``.

    Each ``step(metrics, epoch=None)`` sets ``last_epoch`` (``+= 1``, or ``epoch``), then

    1. while ``cooldown_counter > 0``: decrements it and does nothing else (``best`` is not updated, bad
       epochs are not counted);
    2. otherwise: ``best = metrics`` and ``num_bad_epochs = 0`` when ``best is None`` or ``metrics`` is
       better, ``num_bad_epochs += 1`` otherwise; once ``num_bad_epochs > patience``:
       ``cooldown_counter = cooldown``, ``num_bad_epochs = 0``, ``new = max(last_lr * factor, min_lr)``,
       and ``last_lr = new`` only when ``last_lr - new > epsilon`` (then, with ``verbose``, it prints
       ``Epoch {last_epoch}: ReduceOnPlateau set learning rate to {last_lr}.``).

    The metric is kept as given (``best`` is that object; a tensor is detached), so the comparisons run in
    its own arithmetic: a float32 tensor compares in float32, as a float32 Paddle Tensor does in Paddle.
    ``state_dict()`` holds ``cooldown_counter, best, num_bad_epochs, last_epoch, last_lr``; a tensor or
    ndarray ``best`` is written out as a Python number. ``get_lr()`` returns ``last_lr`` (Paddle's class has
    no ``get_lr`` and raises NotImplementedError).

    The class is also a ``torch.optim.lr_scheduler.ReduceLROnPlateau``, so trainers that step plateau
    schedulers with a metric (PyTorch Lightning, Hugging Face ``Trainer``) treat it as one. Its behaviour is
    Paddle's, which differs from torch's ``ReduceLROnPlateau`` in these ways:

    * cooldown: torch keeps comparing during cooldown (``best`` is updated) and only zeroes the bad-epoch
      count; Paddle skips the whole step, so a better metric seen during cooldown is not recorded;
    * the initial ``best``: torch starts from ``inf`` (``-inf`` for ``'max'``), Paddle from ``None`` (the
      first metric always becomes ``best``, even NaN, after which nothing is better);
    * the ``'rel'`` comparison: torch computes ``best * (1 - threshold)`` (``best * (threshold + 1)``),
      Paddle ``best - best * threshold`` (``best + best * threshold``), which may round differently;
    * the metric: torch converts it with ``float()`` (float64 arithmetic); Paddle keeps its type;
    * accepted metrics: torch anything with ``__float__``; Paddle only int, float, np.float32, np.float64
      and size-1 ndarrays/tensors;
    * ``min_lr``: torch accepts a list (one per param group); Paddle a single number for its one lr;
    * ``epsilon`` is torch's ``eps`` (same default, 1e-8);
    * ``mode``/``threshold_mode`` are lower-cased by Paddle, not by torch; ``learning_rate`` replaces torch's
      ``optimizer`` argument; the state dict has Paddle's five keys, not torch's ``__dict__``;
    * torch warns about an explicit ``epoch``; Paddle accepts it silently;
    * ``verbose`` prints only when the lr is reduced (torch has removed its ``verbose``).

    Args:
        learning_rate (float|int): initial lr. Unlike the other schedulers, Paddle does not reject a
            negative one (it is then never reduced).
        mode (str): ``'min'`` (reduce when the metric stops decreasing) or ``'max'`` (stops increasing),
            case-insensitive. Default ``'min'``.
        factor (float): reduction factor, ``new_lr = last_lr * factor``; must be < 1.0. Default 0.1.
        patience (int): number of bad epochs tolerated before a reduction. Default 10.
        threshold (float): minimal improvement, relative or absolute (see ``threshold_mode``). Default 1e-4.
        threshold_mode (str): ``'rel'`` or ``'abs'``, case-insensitive. Default ``'rel'``.
        cooldown (int): epochs to wait after a reduction before resuming. Default 0.
        min_lr (float): lower bound of the lr. Default 0.
        epsilon (float): a reduction smaller than or equal to this is not applied. Default 1e-8.
        verbose (bool): print a line when the lr is reduced. Default False.

    ``patience``, ``threshold``, ``cooldown``, ``min_lr`` and ``epsilon`` are not validated (as in Paddle).

    Raises:
        AttributeError: ``mode`` or ``threshold_mode`` is not a str (Paddle fails calling ``.lower()``).
        ValueError: an unknown ``mode`` or ``threshold_mode``, or ``factor >= 1.0``.
        TypeError: ``factor`` is not comparable with 1.0, or ``learning_rate`` is not a float or int.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.ReduceOnPlateau`` gives the same):

        >>> import oar
        >>> sched = oar.lr.ReduceOnPlateau(learning_rate=0.5, patience=1, factor=0.5)
        >>> lrs = []
        >>> for loss in [1.0, 0.8, 0.8, 0.8, 0.8, 0.8]:
        ...     lrs.append(round(sched(), 6))
        ...     sched.step(loss)  # the metric it watches
        >>> lrs
        [0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    """

    mode: Literal["min", "max"]
    factor: float
    patience: int
    threshold: float
    threshold_mode: Literal["rel", "abs"]
    cooldown: int
    min_lr: float
    epsilon: float
    cooldown_counter: int
    best: Any
    num_bad_epochs: int

    def __init__(
        self,
        learning_rate: float,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float = 0,
        epsilon: float = 1e-8,
        verbose: bool = False,
    ) -> None:
        # Paddle's order of checks; the messages naming the argument are Paddle's own words.
        if not isinstance(mode, str):
            raise AttributeError(f"'mode' must be a str, 'min' or 'max', but received {mode!r} ({type(mode)}).")
        mode_lower = mode.lower()
        if mode_lower not in ("min", "max"):
            raise ValueError("mode: " + mode_lower + " is unknown!")
        if _holds(lambda: factor >= 1.0, "factor", factor, "a float < 1.0"):
            raise ValueError(f"'factor' must be < 1.0 (new_lr = origin_lr * factor), but received {factor!r}.")
        if not isinstance(threshold_mode, str):
            raise AttributeError(
                f"'threshold_mode' must be a str, 'rel' or 'abs', but received {threshold_mode!r} "
                f"({type(threshold_mode)})."
            )
        threshold_mode_lower = threshold_mode.lower()
        if threshold_mode_lower not in ("rel", "abs"):
            raise ValueError("threshold mode: " + threshold_mode_lower + " is unknown!")
        if not isinstance(learning_rate, (float, int)):
            raise TypeError(
                f"The type of 'learning_rate' in 'ReduceOnPlateau' must be 'float', but received {type(learning_rate)}."
            )
        self.mode = "min" if mode_lower == "min" else "max"
        self.factor = factor
        self.threshold_mode = "rel" if threshold_mode_lower == "rel" else "abs"
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.epsilon = epsilon
        self.cooldown_counter = 0
        self.best = None
        self.num_bad_epochs = 0
        # LRScheduler.__init__ steps once and rejects a negative lr; Paddle's ReduceOnPlateau does neither
        # (there is no metric to step with yet).
        self._init_state(learning_rate, 0, verbose)

    def state_keys(self) -> None:
        """Set ``self.keys``: ``cooldown_counter, best, num_bad_epochs, last_epoch, last_lr``."""
        self.keys = ["cooldown_counter", "best", "num_bad_epochs", "last_epoch", "last_lr"]

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        """The current lr, ``last_lr`` (it depends on the metrics seen, not on ``last_epoch``)."""
        return self.last_lr

    def step(self, metrics: Metric, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record ``metrics`` and reduce the lr once it has not improved for more than ``patience`` epochs.

        Call it after ``optimizer.step()``; the new lr applies from the next update.

        Args:
            metrics (int|float|numpy.float32|numpy.float64|numpy.ndarray|torch.Tensor): the monitored
                value; an ndarray or tensor must hold exactly one element.
            epoch (int|None): the epoch to record as ``last_epoch``; None means ``last_epoch + 1``.
                Default None.

        Raises:
            AssertionError: ``metrics`` is an ndarray or tensor with more (or fewer) than one element.
            TypeError: ``metrics`` has another type.

        As in Paddle, ``last_epoch`` is updated before ``metrics`` is checked.
        """
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        np = _numpy()
        if isinstance(metrics, torch.Tensor) or (np is not None and isinstance(metrics, np.ndarray)):
            size = metrics.numel() if isinstance(metrics, torch.Tensor) else metrics.size
            if size != 1:
                raise AssertionError(
                    f"the size of metrics must be 1, but received metrics of size {size} (shape "
                    f"{tuple(metrics.shape)}): {metrics!r}. Reduce it first, e.g. with .mean()."
                )
            if isinstance(metrics, torch.Tensor):
                metrics = metrics.detach()
        elif not (
            isinstance(metrics, (int, float)) or (np is not None and isinstance(metrics, (np.float32, np.float64)))
        ):
            raise TypeError(
                "metrics must be 'int', 'float', 'np.float32', 'np.float64', 'numpy.ndarray' or 'torch.Tensor', "
                f"but received {metrics!r} ({type(metrics)})"
            )

        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            return
        if self.best is None or self._is_better(metrics, self.best):
            self.best = metrics
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
            new_lr = max(self.last_lr * self.factor, self.min_lr)
            if self.last_lr - new_lr > self.epsilon:
                self.last_lr = new_lr
                if self.verbose:
                    print(f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to {self.last_lr}.")
                self._notify_listeners()

    def _is_better(self, current: Any, best: Any) -> bool:
        """Whether ``current`` improves on ``best`` (see the class docstring), in Paddle's arithmetic."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return _compare(True, current, best - best * self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return _compare(True, current, best - self.threshold)
        if self.mode == "max" and self.threshold_mode == "rel":
            return _compare(False, current, best + best * self.threshold)
        return _compare(False, current, best + self.threshold)
