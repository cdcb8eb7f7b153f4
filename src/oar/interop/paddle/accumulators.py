"""An oar optimizer's state to and from Paddle's accumulator dicts (``.pdopt``): names, master
weights, beta pows, the LR scheduler."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ...lr import LRScheduler
from ...nadam import PowsAdam
from ...optimizer import Optimizer
from .layout import (
    NAME_TABLE,
    Layout,
    as_array,
    from_paddle_array,
    join_big_arrays,
    to_paddle_array,
)

__all__ = ["MASTER", "optimizer_params", "state_from_paddle", "state_to_paddle"]

#: The key of the master weights in a ``.pdopt`` dict, and the infix of their names.
MASTER = "master_weight"


@dataclasses.dataclass(frozen=True)
class _Owned:
    """A param of the optimizer: its index in oar's state dict, its group and its layout."""

    index: int
    param: torch.Tensor
    group: dict[str, Any]
    layout: Layout


def optimizer_params(model: torch.nn.Module, optimizer: Optimizer, layouts: Mapping[str, Layout]) -> list[_Owned]:
    """The optimizer's params in oar's state-dict order, each found in the model by identity."""
    key_of = {id(p): key for key, p in model.named_parameters()}
    out: list[_Owned] = []
    seen: dict[int, int] = {}
    by_name: dict[str, str] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) in seen:
                continue
            seen[id(p)] = len(out)
            key = key_of.get(id(p))
            if key is None:
                raise ValueError(
                    f"the optimizer's parameter #{len(out)} (shape {list(p.shape)}) is not a parameter of the model"
                )
            layout = layouts[key]
            if layout.name is not None:
                if layout.name in by_name:
                    raise ValueError(
                        f"parameters {by_name[layout.name]!r} and {key!r} have the same Paddle name {layout.name!r}"
                    )
                by_name[layout.name] = key
            out.append(_Owned(len(out), p, group, layout))
    return out


def _collapse_or_shape(
    array: np.ndarray, ref: torch.Tensor, owned: _Owned, pows: bool, where: str
) -> tuple[np.ndarray, bool]:
    """``(array, transposed)`` in oar's shape for accumulator ``ref``, or raise naming ``where``."""
    layout = owned.layout
    shape, got = tuple(ref.shape), tuple(array.shape)
    if shape == layout.shape:
        want: tuple[int, ...] = layout.paddle_shape
    elif len(shape) == len(layout.shape) + 1 and shape[1:] == layout.shape:  # ASGD's y: [n, *shape]
        want = (shape[0], *layout.paddle_shape)
    elif shape == (1,):
        if pows and got == layout.paddle_shape and got != (1,):  # NAdam/RAdam: param-shaped in Paddle
            flat = array.reshape(-1)
            if flat.size and not np.array_equal(flat, np.full_like(flat, flat[0]), equal_nan=True):
                raise ValueError(
                    f"{where} holds different values; this one-value accumulator must hold one value in every element"
                )
            return flat[:1], False
        want = (1,)
    else:  # pragma: no cover - oar's accumulators are of one of these shapes
        raise ValueError(f"{where}: no Paddle layout for an accumulator of shape {list(shape)}")
    if got != want:
        raise ValueError(
            f"{where} has shape {list(got)}, expected {list(want)} for parameter {layout.key!r} "
            f"(torch shape {list(layout.shape)})"
        )
    return array, layout.transposed and len(shape) >= 2 and shape != (1,)


def _pows_of(optimizer: Optimizer) -> frozenset[str]:
    """The accumulators oar keeps as [1] and Paddle as param-shaped (NAdam's and RAdam's pows)."""
    return frozenset(optimizer._pows) if isinstance(optimizer, PowsAdam) else frozenset()


def _prefix(optimizer: Optimizer) -> str:
    name = optimizer._name
    return f"{name}_" if name else ""


def _plain_lr_state(value: Any) -> Any:
    """A scheduler state as plain Python data (numpy scalars and one-element arrays -> numbers)."""
    if isinstance(value, dict):
        return {k: _plain_lr_state(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], np.ndarray):
        value = value[1]
    if isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
        return value.item()
    return value


def _check_scheduler_state(optimizer: Optimizer, scheduler: LRScheduler, state: Any, where: str) -> None:
    """Load ``state`` into a copy of ``scheduler`` (unbound from the optimizer), so that a bad
    state is found before anything changes."""
    if not isinstance(state, dict):
        raise ValueError(f"{where}['LR_Scheduler'] is a {type(state).__name__}, not a dict")
    memo: dict[int, Any] = {id(optimizer): optimizer}
    todo, seen = [scheduler], set()
    while todo:  # the scheduler and those it holds (LinearWarmup's): the copies notify no one
        s = todo.pop()
        if id(s) not in seen:
            seen.add(id(s))
            listeners = vars(s).get("_listeners")
            if listeners is not None:
                memo[id(listeners)] = []
            todo.extend(v for v in vars(s).values() if isinstance(v, LRScheduler))
    clone = copy.deepcopy(scheduler, memo)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the real load repeats its warnings and prints
            clone.set_state_dict(copy.deepcopy(state))
    except (RuntimeError, KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"{where}['LR_Scheduler'] does not load into {type(scheduler).__name__}: {exc}") from None


def _scheduler_state(optimizer: Optimizer, raw: dict[str, Any], where: str) -> dict[str, Any] | None:
    scheduler = optimizer._scheduler()
    state = raw.pop("LR_Scheduler", None)
    if scheduler is None and state is not None:
        raise ValueError(
            f"{where} has an 'LR_Scheduler' state but the optimizer's learning_rate is a float "
            f"({optimizer.get_lr()!r}): give it the scheduler Paddle used"
        )
    if scheduler is not None and state is None:
        raise ValueError(
            f"{where} has no 'LR_Scheduler' state but the optimizer's learning_rate is a "
            f"{type(scheduler).__name__}: Paddle's learning rate was a float"
        )
    if scheduler is None:
        return None
    state = _plain_lr_state(state)
    _check_scheduler_state(optimizer, scheduler, state, where)
    return dict(state)


def state_from_paddle(
    model: torch.nn.Module, optimizer: Optimizer, raw: Any, layouts: Mapping[str, Layout], where: str
) -> dict[str, Any]:
    """The oar state dict equivalent to Paddle's ``raw``, checked whole."""
    if not isinstance(raw, dict):
        raise ValueError(
            f"{where}: expected the dict paddle.save writes for opt.state_dict(), got a {type(raw).__name__}"
        )
    raw = dict(raw)
    join_big_arrays(raw, where)
    raw.pop(NAME_TABLE, None)
    scheduler_state = _scheduler_state(optimizer, raw, where)
    masters = raw.pop("master_weights", None)
    if masters is not None and not isinstance(masters, dict):
        raise ValueError(f"{where}['master_weights'] is a {type(masters).__name__}, not a dict")
    masters = dict(masters or {})
    owned = optimizer_params(model, optimizer, layouts)
    prefix = _prefix(optimizer)
    lookup: dict[str, tuple[int, str]] = {}
    expected: dict[int, dict[str, torch.Tensor]] = {}
    targets: dict[int, str] = {}
    master_arrays: dict[int, np.ndarray] = {}
    for o in owned:
        exp = expected[o.index] = optimizer._expected_state(o.param, o.group)
        if o.layout.name is None:
            if exp:
                raise ValueError(
                    f"no Paddle name for parameter {o.layout.key!r}: the pdparams file has no "
                    "name table; pass param_names={structured name: Paddle name}"
                )
            continue
        target = o.layout.name
        if MASTER in exp:
            target = f"{o.layout.name}_fp32_master_0"
            if o.layout.name in masters:
                array, name = as_array(masters.pop(o.layout.name), f"{where}['master_weights'][{o.layout.name!r}]")
                master_arrays[o.index] = array
                target = name or target
        targets[o.index] = target
        for acc in exp:
            if acc != MASTER:
                lookup[f"{target}_{prefix}{acc}"] = (o.index, acc)
    if masters:
        raise ValueError(
            f"{where}['master_weights'] has entries for no parameter of the optimizer that "
            f"keeps a master weight: {sorted(masters)}"
        )
    claimed: dict[tuple[int, str], str] = {}
    unexpected = []
    for key in raw:
        base, sep, counter = key.rpartition("_") if isinstance(key, str) else ("", "", "")
        hit = lookup.get(base) if sep and counter.isdigit() else None
        if hit is None:
            unexpected.append(key)
        elif hit in claimed:
            raise ValueError(
                f"{where}: {claimed[hit]!r} and {key!r} are the same accumulator (two optimizers' states?)"
            )
        else:
            claimed[hit] = key
    if unexpected:
        some = [
            f"{targets[o.index]}_{prefix}{acc}_0"
            for o in owned
            if o.index in targets
            for acc in expected[o.index]
            if acc != MASTER
        ][:4]
        raise ValueError(
            f"{where}: keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} match no "
            f"accumulator of this {type(optimizer).__name__} (name={optimizer._name!r}) over the "
            f"model's parameters, which expects keys like {some}: a checkpoint of another kind "
            "of optimizer, another model, or another optimizer name?"
        )
    pows = _pows_of(optimizer)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for o in owned:
        exp = expected[o.index]
        accs = [acc for acc in exp if acc != MASTER]
        have = [acc for acc in accs if (o.index, acc) in claimed]
        if not have and o.index not in master_arrays:
            continue  # never updated in Paddle: no state yet
        target = targets[o.index]
        missing = [f"{target}_{prefix}{acc}_0" for acc in accs if acc not in have]
        if MASTER in exp and o.index not in master_arrays:
            missing.append(f"master_weights[{o.layout.name!r}]")
        if missing:
            raise ValueError(
                f"{where} is missing {missing} (parameter {o.layout.key!r}, Paddle name "
                f"{o.layout.name!r}, has {[claimed[(o.index, acc)] for acc in have]})"
            )
        entries: dict[str, torch.Tensor] = {}
        for acc in exp:
            if acc == MASTER:
                array, at = master_arrays[o.index], f"{where}['master_weights'][{o.layout.name!r}]"
            else:
                key = claimed[(o.index, acc)]
                array, _ = as_array(raw[key], f"{where}[{key!r}]")
                at = f"{where}[{key!r}]"
            array, transposed = _collapse_or_shape(array, exp[acc], o, acc in pows, at)
            entries[acc] = from_paddle_array(array, transposed, exp[acc].dtype, o.param.device)
        state[o.index] = entries
    out = optimizer.state_dict()
    # entries of opt.state not tied to a param (a user's, a hook's) are kept as they are
    out["state"] = {**{k: v for k, v in out["state"].items() if not isinstance(k, int)}, **state}
    if scheduler_state is not None:
        out["LR_Scheduler"] = scheduler_state
    return out


def state_to_paddle(model: torch.nn.Module, optimizer: Optimizer, layouts: Mapping[str, Layout]) -> dict[str, Any]:
    owned = optimizer_params(model, optimizer, layouts)
    prefix = _prefix(optimizer)
    pows = _pows_of(optimizer)
    by_acc: dict[str, dict[str, np.ndarray]] = {}
    masters: dict[str, tuple[str, np.ndarray]] = {}
    for o in owned:
        state = optimizer.state.get(o.param)
        if not state:
            continue
        name = o.layout.name
        if name is None:
            raise ValueError(f"no Paddle name for parameter {o.layout.key!r}; pass param_names")
        target = name
        if MASTER in state:
            target = f"{name}_fp32_master_0"
            masters[name] = (target, to_paddle_array(state[MASTER], o.layout.transposed))
        for acc, value in state.items():
            if acc == MASTER:
                continue
            shape = tuple(value.shape)
            transposed = (
                o.layout.transposed and shape != (1,) and (shape == o.layout.shape or shape[1:] == o.layout.shape)
            )
            array = to_paddle_array(value, transposed)
            if acc in pows and shape == (1,):
                array = np.broadcast_to(array.reshape(()), o.layout.paddle_shape).copy()
            by_acc.setdefault(acc, {})[f"{target}_{prefix}{acc}_0"] = array
    flat = {key: array for arrays in by_acc.values() for key, array in arrays.items()}
    scheduler = optimizer._scheduler()
    out: dict[str, Any]
    if masters:  # Paddle's _pickle_save format: every tensor a (name, ndarray) tuple, no name table
        out = {key: (key, array) for key, array in flat.items()}
        out["master_weights"] = masters
    else:
        out = dict(flat)
    if scheduler is not None:
        out["LR_Scheduler"] = scheduler.state_dict()
    if not masters:
        out[NAME_TABLE] = {key: key for key in flat}
    return out
