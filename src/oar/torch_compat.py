"""Where torch's conventions meet Paddle's signatures: the positional ``params`` argument,
torch's keyword names (refused with a hint naming Paddle's), and wrappers that build an
optimizer from group dicts (``ZeroRedundancyOptimizer``). Used by :class:`oar.Optimizer` only."""
from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Callable
from typing import Any

import torch

from .lr import LRScheduler
from .params import looks_like_parameters, params_type_error

__all__ = ["accept_torch_convention", "zero_defaults", "same_lr"]

# torch.optim keyword names and the Paddle name oar uses instead.
_TORCH_KWARGS = {
    "params": "parameters",
    "lr": "learning_rate",
    "betas": "beta1 and beta2",
    "eps": "epsilon",
    "alpha": "rho",
    "foreach": "use_multi_tensor",
    "fused": "use_multi_tensor",
    "maximize": "(no equivalent; negate the loss)",
    "capturable": "(no equivalent)",
    "differentiable": "(no equivalent)",
}


def zero_defaults() -> dict[str, Any]:
    """The constructor keywords of the ``ZeroRedundancyOptimizer`` that is building this
    optimizer, or ``{}``.

    ZeRO (``torch.distributed.optim``) calls ``optimizer_class(groups, **defaults)`` with every
    group dict already filled with its ``defaults`` (torch's convention: a constructor keyword is
    a per-group default). In Paddle's vocabulary a group's ``learning_rate`` is a *multiplier*,
    so the base lr copied into a group must be read as 1.0, while a multiplier the user gave a
    group is kept. The two are told apart by who calls: only inside ZeRO is a group's
    ``learning_rate`` equal to the constructor's taken as the copy (a multiplier equal to the base
    lr itself cannot be given through ZeRO; give the base lr as a scheduler, or another value).
    Groups ZeRO adds later (``add_param_group``) are read the same way."""
    frame = sys._getframe(1)
    for _ in range(12):  # ZeRO -> subclass __init__ -> torch-convention wrapper -> here
        if frame is None:
            break
        if frame.f_code.co_name == "_init_local_optimizer":
            owner = frame.f_locals.get("self")
            zero = _zero_class()
            if zero is not None and isinstance(owner, zero):
                return dict(owner.defaults)
        frame = frame.f_back
    return {}


def _zero_class() -> type | None:
    try:
        from torch.distributed.optim import ZeroRedundancyOptimizer
    except (ImportError, RuntimeError):  # torch built without distributed
        return None
    return ZeroRedundancyOptimizer


def same_lr(a: Any, b: Any) -> bool:
    """Equal learning rates: the same scheduler object, or equal numbers."""
    if isinstance(a, LRScheduler) or isinstance(b, LRScheduler):
        return a is b
    return not isinstance(a, bool) and isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and a == b


def accept_torch_convention(init: Callable) -> Callable:
    """Let ``Algo(model.parameters(), ...)`` mean ``Algo(parameters=model.parameters(), ...)``, and
    reject torch's keyword names with a hint naming Paddle's. Takes oar's keyword-only options
    of every optimizer, ``engine=`` and ``skip_nonfinite=`` (not in Paddle's signatures)."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        hints = {**_TORCH_KWARGS, **getattr(type(self), "_torch_kwarg_hints", {})}
        for key in kwargs:
            if key in hints:
                raise TypeError(
                    f"{type(self).__name__}() got torch.optim's keyword argument {key!r}; "
                    f"oar uses Paddle's names: {hints[key]}"
                )
        engine = kwargs.pop("engine", None)
        skip_nonfinite = kwargs.pop("skip_nonfinite", False)  # oar's non-finite guard (oar.step_check)
        if not isinstance(skip_nonfinite, bool):
            raise TypeError(f"{type(self).__name__}(): skip_nonfinite must be a bool, got {skip_nonfinite!r}")
        if args and isinstance(args[0], torch.Tensor):
            # a tensor first is torch's params (Paddle's learning_rate is never a tensor): torch's error
            raise params_type_error(args[0])
        if args and looks_like_parameters(args[0]):
            if "parameters" in kwargs:
                raise TypeError(
                    f"{type(self).__name__}() got parameters both positionally and as parameters="
                )
            kwargs["parameters"] = args[0]
            args = args[1:]
        init(self, *args, **kwargs)
        if engine is not None:
            self.set_engine(engine)
        if skip_nonfinite:
            self._skip_nonfinite = True

    wrapper._oar_wrapped = True
    return wrapper
