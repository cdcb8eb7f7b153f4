"""Optimizer state dicts: packing to plain data, and checking a whole dict before loading it.

Layout (torch's, with Paddle's accumulator names and Paddle's scheduler key)::

    {'optimizer': 'Adam',
     'state': {index: {'moment1': T, 'moment2': T, 'beta1_pow_acc': T, ..., 'master_weight': T}},
     'param_groups': [{'params': [index, ...], 'lr': ..., 'learning_rate': ..., ...}],
     'learning_rate': float            # when the base lr is a float
     'LR_Scheduler': {...}}            # when it is an LRScheduler

Everything is plain data (tensors, numbers, strings, dicts, lists), so ``torch.load(...,
weights_only=True)`` reads it back. Regularizers and clips are stored as small dicts; group keys
holding callables (Lamb's ``exclude_from_weight_decay_fn``) are not saved. Entries of
``opt.state`` not tied to a param (``opt.state['note'] = ...``, e.g. by a state-dict hook) are
saved and loaded under their own key, as they are, as torch does; their keys cannot be ints.

Distributed checkpoints (``torch.distributed.checkpoint.state_dict``): its
``get_optimizer_state_dict`` keeps only ``'state'`` and ``'param_groups'``, with every param index
replaced by the param's fully qualified name (a str, ``'0.weight'``), and its
``set_optimizer_state_dict`` hands ``load_state_dict`` that layout back. :func:`unpack` therefore
also takes str param keys (matched by position, as torch's ``Optimizer.load_state_dict`` does) and,
for such a dict only, loads without ``'LR_Scheduler'``: the scheduler keeps its state, which the
caller saves and restores beside the optimizer's (``scheduler.state_dict()`` in the same
checkpoint), as torch's schedulers are. See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch

from .clip import clip_from_state, clip_to_state
from .lr import LRScheduler
from .regularizer import regularizer_from_state, regularizer_to_state
from .validate import check_lr, number, show

if TYPE_CHECKING:
    from .optimizer import Optimizer

__all__ = ["Unpacked", "pack", "unpack", "unpack_lbfgs", "unpack_skipped_steps"]

# How a group value is stored and restored, by key.
_TO_STATE: dict[str, Callable[[Any], Any]] = {"weight_decay": regularizer_to_state, "grad_clip": clip_to_state}
_FROM_STATE: dict[str, Callable[[Any], Any]] = {"weight_decay": regularizer_from_state, "grad_clip": clip_from_state}


def pack(opt: Optimizer) -> dict[str, Any]:
    """``opt``'s state dict (see the module docstring); params are numbered in group order."""
    index_of: dict[int, int] = {}
    groups = []
    for group in opt.param_groups:
        saved = {
            key: _TO_STATE.get(key, _same)(value)
            for key, value in group.items()
            if key != "params" and key not in opt._callable_keys
        }
        saved["params"] = [index_of.setdefault(id(p), len(index_of)) for p in group["params"]]
        groups.append(saved)
    state: dict[Any, Any] = {}
    for key, entries in opt.state.items():
        if not isinstance(key, torch.Tensor):
            state[_free_key(key)] = entries  # torch keeps state not tied to a param, as it is
        elif id(key) in index_of and entries:
            state[index_of[id(key)]] = dict(entries)
    out: dict[str, Any] = {"optimizer": type(opt).__name__, "state": state, "param_groups": groups}
    scheduler = opt._scheduler()
    if scheduler is not None:
        out["LR_Scheduler"] = scheduler.state_dict()
    else:
        out["learning_rate"] = float(opt._learning_rate)
    if opt._skip_nonfinite:
        out["skipped_steps"] = opt._skipped_steps  # the non-finite guard's count (oar.step_check)
    return out


def unpack_skipped_steps(state_dict: Mapping[str, Any]) -> int:
    """The non-finite guard's count saved in ``state_dict`` (``'skipped_steps'``; 0 when the
    dict has none: saved without the guard, or by Paddle). Read by optimizers with the guard
    (``skip_nonfinite=True``) only; the others ignore the entry.

    Raises:
        ValueError: not an int >= 0.
    """
    value = state_dict.get("skipped_steps", 0)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"state_dict['skipped_steps'] is {value!r}, expected an int >= 0 (the steps skipped by skip_nonfinite=True)"
        )
    return int(value)


@dataclasses.dataclass
class Unpacked:
    """A checked state dict, ready to apply: nothing of the optimizer has changed yet."""

    groups: list[dict[str, Any]]
    state: dict[Any, Any]  # param -> accumulators; other keys (not tied to a param) as saved
    scheduler: Mapping[str, Any] | None
    learning_rate: float | None


def unpack(opt: Optimizer, state_dict: Any) -> Unpacked:
    """Check the whole of ``state_dict`` against ``opt`` and convert it (tensors cast to each
    param's device and accumulator dtype, copied, laid out as the optimizer's own state).

    Checked: the optimizer kind; ``'state'`` a dict and ``'param_groups'`` a list of as many
    groups as ``opt`` has, each with as many param indices (ints, each in one group only);
    each group's values as ``add_param_group`` checks them (the lr multiplier and ``lr`` finite
    and >= 0, ``weight_decay`` and ``grad_clip`` forms, ``param_names``, every other option of
    the kind the optimizer has, finite where a number, then the algorithm's
    ``_validate_group``); each param's accumulators: exactly the algorithm's names (for the
    loaded group's options), tensors, dense, of the expected shape, floating point where the
    state is (any float dtype, cast) and integer where it counts (ASGD's ``m``, >= 0), finite
    where a one-element state is (beta pows, running products); the base ``learning_rate``
    (finite, >= 0); ``'LR_Scheduler'``: a dict of finite numbers (a metric such as
    ``ReduceOnPlateau``'s ``best`` may be any number or None; other types only where the
    scheduler's own state has that type) that loads into a copy of the scheduler.

    Raises:
        ValueError: the first bad entry, named (its path in ``state_dict``, and what is wrong).
        AssertionError: ``opt`` uses a scheduler and ``'LR_Scheduler'`` is missing (as Paddle).
    """
    if not isinstance(state_dict, dict):
        raise ValueError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    kind = state_dict.get("optimizer", type(opt).__name__)
    if not isinstance(kind, str) or kind != type(opt).__name__:
        raise ValueError(f"state_dict['optimizer'] is {show(kind)}, this optimizer is {type(opt).__name__}")
    if not isinstance(state_dict.get("state"), dict):
        raise ValueError(
            "state_dict['state'] must be a dict {param index: {accumulator: tensor}}, got "
            f"{_kind(state_dict.get('state', _MISSING))}"
        )
    saved_groups = state_dict.get("param_groups", _MISSING)
    if isinstance(saved_groups, (str, bytes)) or not isinstance(saved_groups, Sequence):
        raise ValueError(f"state_dict['param_groups'] must be a list of param groups, got {_kind(saved_groups)}")
    if len(saved_groups) != len(opt.param_groups):
        raise ValueError(
            f"state_dict['param_groups'] has {len(saved_groups)} groups, this optimizer has {len(opt.param_groups)}"
        )
    params: dict[int | str, tuple[torch.Tensor, int]] = {}
    groups = []
    for k, (saved, group) in enumerate(zip(saved_groups, opt.param_groups, strict=True)):
        indices = _group_indices(k, saved, group, params)
        _check_key_kinds(k, indices, next(iter(params), indices[0] if indices else None))
        params.update((index, (p, k)) for index, p in zip(indices, group["params"], strict=True))
        groups.append(_unpack_group(opt, k, saved, group))
    scalars: dict[tuple[int, torch.dtype], frozenset[str]] = {}  # one-element states, per group and dtype
    state: dict[Any, Any] = {}
    for index, entries in state_dict["state"].items():
        if index not in params:
            if isinstance(index, numbers.Integral):
                raise ValueError(f"state_dict['state'][{index!r}] refers to no parameter of this optimizer")
            state[index] = entries  # not tied to a param (torch keeps such entries as they are)
            continue
        p, k = params[index]
        if (k, p.dtype) not in scalars:
            scalars[k, p.dtype] = _scalar_states(opt, groups[k], p.dtype)
        state[p] = _unpack_state(index, entries, opt._expected_state(p, groups[k]), p.device, scalars[k, p.dtype])
    scheduler = opt._scheduler()
    loaded_scheduler, learning_rate = None, None
    if scheduler is not None:
        if "LR_Scheduler" not in state_dict and any(isinstance(key, str) for key in params):
            base = opt._base_lr()  # torch.distributed.checkpoint's layout: the caller restores the scheduler
        elif "LR_Scheduler" not in state_dict:
            raise AssertionError("LR_Scheduler state must be included in the state dict except LambdaDecay")
        else:
            loaded_scheduler, base = _unpack_scheduler(scheduler, state_dict["LR_Scheduler"])
    else:
        learning_rate = state_dict.get("learning_rate")
        if learning_rate is not None:
            try:
                learning_rate = check_lr("learning_rate", learning_rate)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"state_dict['learning_rate']: {exc}") from None
        base = opt._base_lr() if learning_rate is None else learning_rate
    for saved, group in zip(saved_groups, groups, strict=True):
        if "lr" not in saved:  # the effective lr of the loaded base lr, not the optimizer's current one
            group["lr"] = base * group["learning_rate"]
    return Unpacked(groups, state, loaded_scheduler, learning_rate)


def _same(value: Any) -> Any:
    return value


def _free_key(key: Any) -> Any:
    """The key of an ``opt.state`` entry not tied to a param (``opt.state['step'] = ...``), kept as
    it is, as torch keeps it.

    Raises:
        ValueError: an int key, which a state dict cannot tell from a param's index.
    """
    if isinstance(key, numbers.Integral):
        raise ValueError(
            f"opt.state[{key!r}]: an entry not tied to a param cannot have an int key "
            "(a state dict numbers the params with ints); use another key, e.g. a str"
        )
    return key


def _unpack_group(opt: Optimizer, k: int, saved: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """A group restored and checked as ``add_param_group`` checks one: each saved value converted
    back (see :func:`_group_value`), then the whole group checked by the algorithm's
    ``_validate_group``. Options the saved group lacks keep the optimizer's values; keys the
    optimizer does not know (torch schedulers' ``initial_lr``) are kept as saved (copied)."""
    new = dict(group)
    for key, value in saved.items():
        if key == "params":
            continue
        try:
            new[key] = _group_value(opt, key, value, group)
        except _LOAD_ERRORS as exc:
            raise ValueError(f"state_dict['param_groups'][{k}][{key!r}]: {_reason(exc)}") from None
    try:
        opt._validate_group(new)
    except (TypeError, ValueError) as exc:  # its messages name the option and the value
        raise ValueError(f"state_dict['param_groups'][{k}]: {exc}") from None
    return new


def _unpack_state(
    index: Any,
    entries: Any,
    expected: dict[str, torch.Tensor],
    device: torch.device,
    scalars: frozenset[str] = frozenset(),
) -> dict[str, torch.Tensor]:
    """One param's accumulators, checked (see :func:`_accumulator`) and converted; ``scalars``
    names its one-element states (beta pows, running products), which must be finite."""
    where = f"state_dict['state'][{index!r}]"
    if not isinstance(entries, dict):
        raise ValueError(f"{where} must be a dict of the accumulators {sorted(expected)}, got {_kind(entries)}")
    if set(entries) != set(expected):
        missing = sorted(set(expected) - set(entries))
        extra = sorted(map(str, set(entries) - set(expected)))
        raise ValueError(
            f"{where} has accumulators {sorted(map(str, entries))}, expected {sorted(expected)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    return {
        name: _accumulator(f"{where}[{name!r}]", entries[name], ref, device, name in scalars)
        for name, ref in expected.items()
    }


# ---------------------------------------------------------------------------- checks before loading

#: No value (a key that is missing), for messages and lookups.
_MISSING: Any = object()

#: What a check of a loaded value may raise (converters and constructors of clips and
#: regularizers, Paddle-type exceptions included); each is reported as a ValueError naming the entry.
_LOAD_ERRORS = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    AssertionError,
    RuntimeError,
    OverflowError,
)

#: Entries of a scheduler's state that record a metric (``ReduceOnPlateau``'s best value so far):
#: any number or None (a diverged run records inf or NaN). Every other number must be finite.
_METRIC_KEYS = frozenset({"best"})


def _kind(value: Any) -> str:
    """What ``value`` is, for a message."""
    if value is _MISSING:
        return "nothing (the key is missing)"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{show(value)} ({type(value).__name__})"


def _reason(exc: BaseException) -> str:
    """An exception raised by a check, in words (a KeyError's message is the bare key)."""
    if isinstance(exc, KeyError):
        return f"lacks the key {show(exc.args[0]) if exc.args else '?'}"
    return str(exc) or type(exc).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """Whether a number is finite (an int always is, however large)."""
    return isinstance(value, numbers.Integral) or math.isfinite(value)


def _group_indices(k: int, saved: Any, group: dict[str, Any], seen: Mapping[int | str, Any]) -> list[int | str]:
    """The param keys of saved group ``k``: a list of ints (``state_dict()``'s indices) or strs
    (the params' names, as ``torch.distributed.checkpoint.state_dict`` writes them), as many as
    ``group`` has params, none already ``seen`` in an earlier group.

    Raises:
        ValueError: otherwise, naming the group.
    """
    where = f"state_dict['param_groups'][{k}]"
    if not isinstance(saved, dict):
        raise ValueError(f"{where} must be a dict (a param group), got {_kind(saved)}")
    indices = saved.get("params", _MISSING)
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Sequence):
        raise ValueError(f"{where}['params'] must be a list of param indices, got {_kind(indices)}")
    if len(indices) != len(group["params"]):
        raise ValueError(f"{where} has {len(indices)} params, this optimizer's group has {len(group['params'])}")
    found: list[int | str] = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, (numbers.Integral, str)):
            raise ValueError(f"{where}['params'] holds {_kind(index)}, not a param index (an int) or name (a str)")
        key = index if isinstance(index, str) else int(index)
        if key in seen or key in found:
            raise ValueError(f"{where}['params']: the param index {index!r} appears twice")
        found.append(key)
    return found


def _check_key_kinds(k: int, indices: Sequence[int | str], first: int | str | None) -> None:
    """Every param key of the dict of one kind, that of ``first`` (the first key seen): all
    indices (ints, ``state_dict()``) or all names (strs, ``torch.distributed.checkpoint``).

    Raises:
        ValueError: a key of saved group ``k`` of the other kind, named.
    """
    named = isinstance(first, str)
    for key in indices:
        if isinstance(key, str) != named:
            raise ValueError(
                f"state_dict['param_groups'][{k}]['params'] holds {_kind(key)}, but the first param key is "
                f"{_kind(first)}: a state dict numbers every param "
                "(ints, as state_dict() writes) or names every param (strs, as "
                "torch.distributed.checkpoint's get_optimizer_state_dict writes)"
            )


def _group_value(opt: Optimizer, key: str, value: Any, group: dict[str, Any]) -> Any:
    """A saved group value, converted and checked as ``add_param_group`` checks it:
    ``weight_decay`` and ``grad_clip`` rebuilt from their stored forms (``weight_decay`` then read
    by the optimizer: AdamW's is a decoupled coefficient); ``learning_rate`` (the multiplier) and
    ``lr`` finite and >= 0 (``lr`` may be a one-element tensor, as torch allows; it is read as a
    float); ``param_names`` a list of one str per param; any other option of the same kind as the
    optimizer's value (:func:`_same_kind`), copied.

    Raises:
        TypeError, ValueError (and the clip's or regularizer's own exceptions): a bad value.
    """
    if key in _FROM_STATE:
        value = _FROM_STATE[key](value)
        return opt._parse_group_weight_decay(value) if key == "weight_decay" else value  # type: ignore[no-untyped-call]
    if key == "learning_rate":
        return check_lr("the lr multiplier", value)
    if key == "lr":
        lr = number("lr", value, low=0.0, finite=True, tensor=True)
        return float(lr.detach().reshape(()).item()) if isinstance(lr, torch.Tensor) else lr
    if key == "param_names":
        count = len(group["params"])
        if (
            isinstance(value, (str, bytes))
            or not isinstance(value, Sequence)
            or len(value) != count
            or not all(isinstance(name, str) for name in value)
        ):
            raise ValueError(f"must be a list of {count} parameter names (str), got {_kind(value)}")
        return list(value)
    _same_kind(value, group.get(key, _MISSING))
    return copy.deepcopy(value)


def _same_kind(value: Any, current: Any) -> None:
    """Check that ``value`` can stand where the optimizer's group holds ``current``: a bool for a
    bool; a finite number (or a one-element floating-point tensor) for a number or a tensor; a str
    for a str; a sequence of as many values, each of the same kind, for a tuple or list. Anything
    goes where the optimizer has no value or None (the algorithm's ``_validate_group`` judges).

    Raises:
        TypeError: another kind. ValueError: a non-finite number, a sequence of another length.
    """
    if current is _MISSING or current is None:
        return
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise TypeError(f"must be a bool, got {_kind(value)}")
    elif _is_number(current) or isinstance(current, torch.Tensor):
        if isinstance(value, torch.Tensor):
            if value.numel() != 1 or not value.dtype.is_floating_point or value.device.type == "meta":
                raise TypeError(f"must be a number or a one-element floating-point tensor, got {_kind(value)}")
            x: Any = float(value.detach().reshape(()).item())
        elif _is_number(value):
            x = value
        else:
            raise TypeError(f"must be a number, got {_kind(value)}")
        if not _finite(x):
            raise ValueError(f"must be a finite number, got {show(value)}")
    elif isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError(f"must be a str, got {_kind(value)}")
    elif isinstance(current, (tuple, list)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"must be a sequence of {len(current)} values, got {_kind(value)}")
        if len(value) != len(current):
            raise ValueError(f"must hold {len(current)} values, got {show(value)}")
        for item, now in zip(value, current, strict=True):
            _same_kind(item, now)


def _scalar_states(opt: Optimizer, group: dict[str, Any], dtype: torch.dtype) -> frozenset[str]:
    """The one-element accumulators of params of ``dtype`` in ``group`` (beta pows, running
    products, counts): those of one element for a param of several (a meta probe)."""
    probe = torch.empty((2, 3), dtype=dtype, device="meta")
    return frozenset(name for name, ref in opt._expected_state(probe, group).items() if ref.numel() == 1)


def _accumulator(where: str, value: Any, ref: torch.Tensor, device: torch.device, scalar: bool) -> torch.Tensor:
    """A loaded accumulator: a dense tensor of ``ref``'s shape, floating point where ``ref`` is
    (any float dtype: cast to ``ref``'s) and finite if ``scalar``, integer where ``ref`` counts
    (>= 0); returned as a new tensor on ``device`` with ``ref``'s dtype and strides (those the
    optimizer gives its own state, so a loaded state runs on the same engine path).

    Raises:
        ValueError: otherwise, naming ``where``.
    """
    shape = tuple(ref.shape)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{where} is {_kind(value)}, expected a tensor of shape {shape}")
    if value.layout != torch.strided:
        raise ValueError(f"{where} is a {value.layout} tensor, expected a dense (strided) one")
    if value.device.type == "meta":
        raise ValueError(f"{where} is a meta tensor, which holds no values")
    if tuple(value.shape) != shape:
        raise ValueError(f"{where} has shape {tuple(value.shape)}, expected {shape}")
    if ref.dtype.is_floating_point:
        if not value.dtype.is_floating_point:
            raise ValueError(
                f"{where} has dtype {value.dtype}, expected a floating-point tensor (loaded as {ref.dtype})"
            )
        if scalar and not bool(torch.isfinite(value).all()):
            raise ValueError(
                f"{where} is {value.detach().cpu().reshape(-1).tolist()}, expected a finite number "
                "(a one-element state: a beta pow or a running product)"
            )
    else:
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise ValueError(f"{where} has dtype {value.dtype}, expected an integer tensor ({ref.dtype}: a count)")
        if bool((value < 0).any()):
            raise ValueError(f"{where} holds {show(value.detach().cpu().reshape(-1).tolist())}, expected a count >= 0")
    dtensor = _dtensor_class()
    if dtensor is not None and isinstance(ref, dtensor):
        return _sharded_accumulator(value.detach(), ref, dtensor)
    if dtensor is not None and isinstance(value, dtensor):
        value = cast(Any, value).full_tensor()  # a sharded state loaded into an optimizer of whole params
    out = torch.empty_strided(shape, ref.stride(), dtype=ref.dtype, device=device)
    out.copy_(value.detach())
    return out


def _dtensor_class() -> type | None:
    """``torch.distributed.tensor.DTensor``, or None in a torch built without distributed."""
    try:
        from torch.distributed.tensor import DTensor
    except (ImportError, RuntimeError):  # pragma: no cover - torch without distributed
        return None
    return DTensor


def _sharded_accumulator(value: torch.Tensor, ref: Any, dtensor: type) -> torch.Tensor:
    """The accumulator of a sharded param (FSDP2: ``ref`` is a DTensor on the meta device, with
    the param's mesh and placements): a DTensor laid out as ``ref``, of ``ref``'s dtype, a copy.

    ``value`` is a DTensor as ``torch.distributed.checkpoint`` loads it (same layout, or
    redistributed when its placements differ), or a whole tensor that every rank holds (a
    plain ``state_dict()`` of an unsharded run), which each rank slices without communication.
    """
    if isinstance(value, dtensor):
        if value.placements != ref.placements:  # type: ignore[attr-defined]
            value = value.redistribute(ref.device_mesh, ref.placements)  # type: ignore[attr-defined]
    else:
        from torch.distributed.tensor import distribute_tensor

        value = distribute_tensor(value, ref.device_mesh, ref.placements, src_data_rank=None)
    return value.to(dtype=ref.dtype, copy=True)


def _schedulers(scheduler: LRScheduler) -> Iterator[LRScheduler]:
    """``scheduler`` and the schedulers it holds (``LinearWarmup``'s), depth first."""
    seen: set[int] = set()
    todo = [scheduler]
    while todo:
        s = todo.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        yield s
        todo.extend(v for v in vars(s).values() if isinstance(v, LRScheduler))


def _detached_copy(scheduler: LRScheduler) -> LRScheduler | None:
    """A deep copy of ``scheduler`` bound to nothing (its listeners, and those of the schedulers
    it holds, left out: loading into it notifies no optimizer), or None if it cannot be copied
    (a user's scheduler holding something ``copy.deepcopy`` refuses)."""
    memo: dict[int, Any] = {}
    for s in _schedulers(scheduler):
        listeners = vars(s).get("_listeners")
        if listeners is not None:
            memo[id(listeners)] = []
    try:
        return copy.deepcopy(scheduler, memo)
    except Exception:
        return None


def _check_scheduler_values(where: str, saved: Mapping[Any, Any], current: Any) -> None:
    """Every number of a scheduler's saved state finite (a metric: any number or None), a dict
    where the scheduler's own state (``current``) has one (checked the same way), a value of
    another type only where ``current`` holds that type under that key. Keys ``current`` lacks
    are left alone: the scheduler does not read them (its ``set_state_dict`` warns about them).

    Raises:
        ValueError: the first bad value, named.
    """
    for key, value in saved.items():
        here = f"{where}[{key!r}]"
        now = current.get(key, _MISSING) if isinstance(current, Mapping) else _MISSING
        if now is _MISSING:
            continue  # not the scheduler's: unused by its set_state_dict (which warns about it)
        if isinstance(value, Mapping) or isinstance(now, Mapping):
            if not (isinstance(value, Mapping) and isinstance(now, Mapping)):
                raise ValueError(
                    f"{here} is {_kind(value)}, expected "
                    f"{'a dict (a nested scheduler state)' if isinstance(now, Mapping) else 'a number'}"
                )
            _check_scheduler_values(here, value, now)
        elif key in _METRIC_KEYS:
            if value is not None and not _is_number(value):
                raise ValueError(f"{here} is {_kind(value)}, expected a number or None (a metric)")
        elif _is_number(value):
            if not _finite(value):
                raise ValueError(f"{here} is {show(value)}, expected a finite number")
        elif type(now) is not type(value):
            raise ValueError(f"{here} is {_kind(value)}, expected a finite number")


def _unpack_scheduler(scheduler: LRScheduler, saved: Any) -> tuple[dict[str, Any], float]:
    """A copy of the saved ``'LR_Scheduler'`` entry, checked, and the learning rate it gives: a
    dict of finite numbers (see :func:`_check_scheduler_values`) that loads into a detached copy
    of ``scheduler`` (its own checks: every key of its ``state_keys()``, nested states) and gives
    a finite learning rate. The trial load's warnings and prints are silenced (the real load
    repeats them). Without a copy (a scheduler ``copy.deepcopy`` refuses) the lr is the saved
    ``last_lr``.

    Raises:
        ValueError: otherwise, naming the entry.
    """
    where = "state_dict['LR_Scheduler']"
    if not isinstance(saved, dict):
        raise ValueError(f"{where} must be a dict (a scheduler's state_dict()), got {_kind(saved)}")
    _check_scheduler_values(where, saved, scheduler.state_dict())
    try:
        loaded: dict[str, Any] = copy.deepcopy(saved)
    except _LOAD_ERRORS as exc:  # an entry the scheduler does not read, which cannot be copied
        raise ValueError(f"{where} cannot be copied: {_reason(exc)}") from None
    probe = _detached_copy(scheduler)
    if probe is not None:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                probe.set_state_dict(copy.deepcopy(loaded))
                lr = probe()
        except _LOAD_ERRORS as exc:
            raise ValueError(
                f"{where} does not load into this optimizer's {type(scheduler).__name__}: {_reason(exc)}"
            ) from None
    else:
        lr = loaded.get("last_lr", scheduler())
    if not _is_number(lr) or not _finite(lr):
        raise ValueError(f"{where} gives the learning rate {_kind(lr)}, expected a finite number")
    return loaded, float(lr)


def unpack_lbfgs(
    state_dict: Any, params: Sequence[torch.Tensor], history_size: int, keys: Sequence[str]
) -> dict[str, Any]:
    """Check an LBFGS state dict (Paddle's layout, ``{'state': {...}}``) against the params LBFGS
    optimizes and convert it (tensors copied to the params' device and floating dtype).

    Checked: ``'optimizer'``, when present, is ``'LBFGS'``; ``'state'`` a dict with keys among
    ``keys``; ``func_evals`` and ``n_iter`` ints >= 0; once an iteration ran (``n_iter >= 1``),
    the state of one (``d``, ``alpha``, ``old_yk``, ``old_sk``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``) is all there; ``d`` and ``prev_flat_grad`` floating-point
    vectors of the params' total size (real views: a complex param counts twice); ``old_yk`` and
    ``old_sk`` lists of such vectors, as many as ``ro`` (finite numbers or one-element tensors),
    at most ``history_size``; ``alpha`` and ``H_diag`` finite numbers or one-element tensors;
    ``prev_loss`` a number; ``al`` a list of ``history_size`` entries, each None or a number or a
    one-element tensor. One-element tensors are loaded 0-d, as LBFGS makes them.

    Raises:
        ValueError: the first bad entry, named (``state_dict['state'][key]``).
    """
    if not isinstance(state_dict, dict):
        raise ValueError(f"state_dict must be a dict {{'state': {{...}}}}, got {_kind(state_dict)}")
    kind = state_dict.get("optimizer", "LBFGS")
    if not isinstance(kind, str) or kind != "LBFGS":
        raise ValueError(f"state_dict['optimizer'] is {show(kind)}, this optimizer is LBFGS")
    state = state_dict.get("state", _MISSING)
    if not isinstance(state, dict):
        raise ValueError(f"state_dict['state'] must be a dict, got {_kind(state)}")
    unknown = [key for key in state if key not in keys]
    if unknown:
        raise ValueError(
            f"state_dict['state'] has the keys {sorted(map(show, unknown))}, which an LBFGS state "
            f"dict does not have (its keys: {list(keys)})"
        )
    device = params[0].device if params else torch.device("cpu")
    floats = [p for p in params if p.dtype.is_floating_point or p.dtype.is_complex]
    dtype = torch.empty((), dtype=floats[0].dtype).real.dtype if floats else torch.get_default_dtype()
    size = sum(2 * p.numel() if p.dtype.is_complex else p.numel() for p in params)
    out: dict[str, Any] = {}
    for key in ("func_evals", "n_iter"):
        if key in state:
            value = state[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"state_dict['state'][{key!r}] is {_kind(value)}, expected an int >= 0 (a count)")
            out[key] = int(value)
    if out.get("n_iter", 0) >= 1:
        needed = ("d", "alpha", "old_yk", "old_sk", "ro", "H_diag", "prev_flat_grad", "prev_loss")
        missing = [key for key in needed if key not in state]
        if missing:
            raise ValueError(
                f"state_dict['state'] has n_iter={out['n_iter']} but lacks {missing} (the state an iteration leaves)"
            )

    def vector(where: str, value: Any) -> torch.Tensor:
        if (
            not isinstance(value, torch.Tensor)
            or value.layout != torch.strided
            or value.device.type == "meta"
            or not value.dtype.is_floating_point
            or tuple(value.shape) != (size,)
        ):
            raise ValueError(f"{where} is {_kind(value)}, expected a floating-point tensor of shape ({size},)")
        return value.detach().to(device=device, dtype=dtype, copy=True)

    def scalar(where: str, value: Any, finite: bool = True) -> Any:
        if isinstance(value, torch.Tensor):
            if (
                value.numel() != 1
                or value.layout != torch.strided
                or value.device.type == "meta"
                or not value.dtype.is_floating_point
            ):
                raise ValueError(f"{where} is {_kind(value)}, expected a number or a one-element tensor")
            if finite and not bool(torch.isfinite(value).all()):
                raise ValueError(f"{where} is {value.detach().cpu().reshape(-1).tolist()}, expected a finite number")
            # 0-d, as LBFGS makes them (a [1, 1] ro would broadcast the update to a matrix)
            return value.detach().to(device=device, dtype=dtype, copy=True).reshape(())
        if not _is_number(value):
            raise ValueError(f"{where} is {_kind(value)}, expected a number or a one-element tensor")
        try:
            x = float(value)  # a float, as LBFGS makes them (an int beyond int64 breaks tensor products)
        except OverflowError:
            raise ValueError(f"{where} is {show(value)}, beyond the float range") from None
        if finite and not math.isfinite(x):
            raise ValueError(f"{where} is {show(value)}, expected a finite number")
        return x

    def listed(key: str) -> list[Any]:
        value = state[key]
        if not isinstance(value, list):
            raise ValueError(f"state_dict['state'][{key!r}] is {_kind(value)}, expected a list")
        return value

    for key in ("d", "prev_flat_grad"):
        if key in state:
            out[key] = vector(f"state_dict['state'][{key!r}]", state[key])
    for key in ("alpha", "H_diag"):
        if key in state:
            out[key] = scalar(f"state_dict['state'][{key!r}]", state[key])
    if "prev_loss" in state:
        out["prev_loss"] = scalar("state_dict['state']['prev_loss']", state["prev_loss"], finite=False)
    history = [key for key in ("old_yk", "old_sk", "ro") if key in state]
    if history and len(history) != 3:
        raise ValueError(f"state_dict['state'] has {history} but not all of ['old_yk', 'old_sk', 'ro']")
    if history:
        lengths = {key: len(listed(key)) for key in history}
        if len(set(lengths.values())) != 1 or lengths["ro"] > history_size:
            raise ValueError(
                f"state_dict['state']: old_yk, old_sk and ro must be lists of one length, at most "
                f"history_size={history_size}, got lengths {lengths}"
            )
        for key in ("old_yk", "old_sk"):
            out[key] = [vector(f"state_dict['state'][{key!r}][{i}]", v) for i, v in enumerate(state[key])]
        out["ro"] = [scalar(f"state_dict['state']['ro'][{i}]", v) for i, v in enumerate(state["ro"])]
    if "al" in state:
        al = listed("al")
        if len(al) != history_size:
            raise ValueError(f"state_dict['state']['al'] has {len(al)} entries, expected history_size={history_size}")
        out["al"] = [None if v is None else scalar(f"state_dict['state']['al'][{i}]", v) for i, v in enumerate(al)]
    return out
