"""Optimizer state dicts: packing to plain data, and checking a whole dict before loading it.

Layout (torch's, with Paddle's accumulator names and Paddle's scheduler key)::

    {'optimizer': 'Adam',
     'state': {index: {'moment1': T, 'moment2': T, 'beta1_pow_acc': T, ..., 'master_weight': T}},
     'param_groups': [{'params': [index, ...], 'lr': ..., 'learning_rate': ..., ...}],
     'learning_rate': float            # when the base lr is a float
     'LR_Scheduler': {...}}            # when it is an LRScheduler

Everything is plain data (tensors, numbers, strings, dicts, lists), so ``torch.load(...,
weights_only=True)`` reads it back. Regularizers and clips are stored as small dicts; group keys
holding callables (Lamb's ``exclude_from_weight_decay_fn``) are not saved.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from .clip import clip_from_state, clip_to_state
from .regularizer import regularizer_from_state, regularizer_to_state

if TYPE_CHECKING:
    from .optimizer import Optimizer

__all__ = ["pack", "unpack", "Unpacked"]

# How a group value is stored and restored, by key.
_TO_STATE: dict[str, Callable[[Any], Any]] = {"weight_decay": regularizer_to_state, "grad_clip": clip_to_state}
_FROM_STATE: dict[str, Callable[[Any], Any]] = {"weight_decay": regularizer_from_state,
                                                "grad_clip": clip_from_state}


def pack(opt: Optimizer) -> dict[str, Any]:
    """``opt``'s state dict (see the module docstring); params are numbered in group order."""
    index_of: dict[int, int] = {}
    groups = []
    for group in opt.param_groups:
        saved = {key: _TO_STATE.get(key, _same)(value) for key, value in group.items()
                 if key != "params" and key not in opt._callable_keys}
        saved["params"] = [index_of.setdefault(id(p), len(index_of)) for p in group["params"]]
        groups.append(saved)
    state = {index_of[id(p)]: dict(s) for p, s in opt.state.items() if id(p) in index_of and s}
    out: dict[str, Any] = {"optimizer": type(opt).__name__, "state": state, "param_groups": groups}
    scheduler = opt._scheduler()
    if scheduler is not None:
        out["LR_Scheduler"] = scheduler.state_dict()
    else:
        out["learning_rate"] = float(opt._learning_rate)
    return out


@dataclasses.dataclass
class Unpacked:
    """A checked state dict, ready to apply: nothing of the optimizer has changed yet."""

    groups: list[dict[str, Any]]
    state: dict[torch.Tensor, dict[str, torch.Tensor]]
    scheduler: Mapping[str, Any] | None
    learning_rate: float | None


def unpack(opt: Optimizer, state_dict: Any) -> Unpacked:
    """Check the whole of ``state_dict`` against ``opt`` (optimizer kind, groups, params,
    accumulator names and shapes) and convert it (tensors cast to each param's device and
    accumulator dtype, copied).

    Raises:
        ValueError: the first bad entry, named.
        AssertionError: ``opt`` uses a scheduler and ``'LR_Scheduler'`` is missing (as Paddle).
    """
    if not isinstance(state_dict, dict):
        raise ValueError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    kind = state_dict.get("optimizer", type(opt).__name__)
    if kind != type(opt).__name__:
        raise ValueError(f"state_dict['optimizer'] is {kind!r}, this optimizer is {type(opt).__name__}")
    for key in ("state", "param_groups"):
        if not isinstance(state_dict.get(key), (dict, list)):
            raise ValueError(f"state_dict[{key!r}] is missing or not a dict/list")
    saved_groups = state_dict["param_groups"]
    if len(saved_groups) != len(opt.param_groups):
        raise ValueError(
            f"state_dict['param_groups'] has {len(saved_groups)} groups, this optimizer has {len(opt.param_groups)}")
    params: dict[Any, tuple[torch.Tensor, dict[str, Any]]] = {}
    groups = []
    for k, (saved, group) in enumerate(zip(saved_groups, opt.param_groups)):
        if not isinstance(saved, dict) or len(saved.get("params", ())) != len(group["params"]):
            count = len(saved.get("params", ())) if isinstance(saved, dict) else "?"
            raise ValueError(f"state_dict['param_groups'][{k}] has {count} params, "
                             f"this optimizer's group has {len(group['params'])}")
        for index, p in zip(saved["params"], group["params"]):
            params[index] = (p, group)
        groups.append(_unpack_group(opt, k, saved, group))
    state = {}
    for index, entries in state_dict["state"].items():
        if index not in params:
            raise ValueError(f"state_dict['state'][{index!r}] refers to no parameter of this optimizer")
        p, group = params[index]
        state[p] = _unpack_state(index, entries, opt._expected_state(p, group), p.device)
    scheduler = opt._scheduler()
    if scheduler is not None and "LR_Scheduler" not in state_dict:
        raise AssertionError("LR_Scheduler state must be included in the state dict except LambdaDecay")
    learning_rate = state_dict.get("learning_rate") if scheduler is None else None
    return Unpacked(groups, state, state_dict["LR_Scheduler"] if scheduler is not None else None,
                    None if learning_rate is None else float(learning_rate))


def _same(value: Any) -> Any:
    return value


def _unpack_group(opt: Optimizer, k: int, saved: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """A group restored: each saved value converted back, and its ``weight_decay`` read by the
    optimizer as ``add_param_group`` reads it (AdamW: a decoupled coefficient)."""
    new = dict(group)
    for key, value in saved.items():
        if key == "params":
            continue
        try:
            new[key] = _FROM_STATE.get(key, _same)(value)
            if key == "weight_decay":
                new[key] = opt._parse_group_weight_decay(new[key])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state_dict['param_groups'][{k}][{key!r}]: {exc}") from None
    return new


def _unpack_state(index: Any, entries: Any, expected: dict[str, torch.Tensor],
                  device: torch.device) -> dict[str, torch.Tensor]:
    if not isinstance(entries, dict) or set(entries) != set(expected):
        got = sorted(entries) if isinstance(entries, dict) else type(entries).__name__
        raise ValueError(f"state_dict['state'][{index}] has accumulators {got}, expected {sorted(expected)}")
    loaded = {}
    for name, ref in expected.items():
        value = entries[name]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(ref.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"state_dict['state'][{index}][{name!r}] has shape {shape}, expected {tuple(ref.shape)}")
        loaded[name] = value.detach().to(device=device, dtype=ref.dtype, copy=True)
    return loaded
