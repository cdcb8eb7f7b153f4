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

__all__ = ["accept_torch_convention", "same_lr", "zero_defaults"]

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
    Groups ZeRO adds later (``add_param_group``) are read the same way.

    The ZeRO also gets (once) a step pre-hook that keeps an oar scheduler's lr in force through
    ZeRO's copies of the group settings (:func:`_follow_scheduler`), and state-dict hooks that
    store its groups' regularizers and clips as oar's state dicts do, as plain data
    (:func:`_plain_zero_groups`, :func:`_restore_zero_groups`), so that the consolidated
    ``state_dict()`` loads with ``torch.load(..., weights_only=True)`` and into a plain oar
    optimizer as well as into a ZeRO."""
    frame = sys._getframe(1)
    for _ in range(12):  # ZeRO -> subclass __init__ -> torch-convention wrapper -> here
        if frame is None:
            break
        if frame.f_code.co_name == "_init_local_optimizer":
            owner: Any = frame.f_locals.get("self")
            zero = _zero_class()
            if zero is not None and isinstance(owner, zero):
                if not getattr(owner, "_oar_follows_scheduler", False):
                    owner.register_step_pre_hook(_follow_scheduler)
                    owner.register_state_dict_post_hook(_plain_zero_groups)
                    owner.register_load_state_dict_pre_hook(_restore_zero_groups)
                    owner._oar_follows_scheduler = True
                return dict(owner.defaults)
        frame = frame.f_back
    return {}


def _follow_scheduler(zero: Any, args: Any, kwargs: Any) -> None:
    """ZeRO's step pre-hook: when its oar optimizer's base lr is an ``oar.lr`` scheduler, copy
    that optimizer's group lrs (the scheduler's value times each group's multiplier, set when
    the scheduler steps) into ZeRO's own groups.

    ``ZeroRedundancyOptimizer.step`` first copies every setting of its own groups into the local
    optimizer's, so without this the lr of the step before the scheduler's last ``step()``
    would be used (ZeRO's groups only learn the local lrs after a step). ZeRO's groups and the
    local optimizer's correspond one to one, in order (each rank's optimizer holds its share of
    every group). With a float base lr nothing is copied: a torch scheduler driving the ZeRO's
    groups keeps working."""
    local = getattr(zero, "optim", None)
    if local is None or getattr(local, "_scheduler", lambda: None)() is None:
        return
    local._refresh_lr()
    for outer, inner in zip(zero.param_groups, local.param_groups, strict=True):
        outer["lr"] = inner["lr"]


def _zero_class() -> type[Any] | None:
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
                raise TypeError(f"{type(self).__name__}() got parameters both positionally and as parameters=")
            kwargs["parameters"] = args[0]
            args = args[1:]
        init(self, *args, **kwargs)
        if engine is not None:
            self.set_engine(engine)
        if skip_nonfinite:
            self._skip_nonfinite = True

    wrapper._oar_wrapped = True
    return wrapper


def _plain_zero_groups(zero: Any, state_dict: dict[str, Any]) -> dict[str, Any]:
    """ZeRO's state-dict post-hook: its param groups (torch's ``Optimizer.state_dict`` of the
    ZeRO's own groups, values as they are) in oar's plain form: ``weight_decay`` and
    ``grad_clip`` as small dicts (:mod:`oar.state_dict`), callables (Lamb's
    ``exclude_from_weight_decay_fn``) left out."""
    from .state_dict import _TO_STATE

    callables = getattr(getattr(zero, "optim", None), "_callable_keys", ())
    state_dict["param_groups"] = [
        {key: _TO_STATE.get(key, _same)(value) for key, value in group.items() if key not in callables}
        for group in state_dict["param_groups"]
    ]
    return state_dict


def _restore_zero_groups(zero: Any, state_dict: dict[str, Any]) -> None:
    """ZeRO's load-state-dict pre-hook: the inverse of :func:`_plain_zero_groups`, in place in
    each group dict of ``state_dict['param_groups']`` (``ZeroRedundancyOptimizer.load_state_dict``
    copies those into its own groups and the local optimizer's after the hooks ran; it changes
    the dict it loads in place itself).

    Raises:
        ValueError: a ``weight_decay`` or ``grad_clip`` that is no saved regularizer or clip.
    """
    from .state_dict import _FROM_STATE

    for group in state_dict["param_groups"]:  # the same dicts ZeRO reads (torch hands the hook a shallow copy)
        for key, convert in _FROM_STATE.items():
            if key in group:
                group[key] = convert(group[key])


def _same(value: Any) -> Any:
    return value
