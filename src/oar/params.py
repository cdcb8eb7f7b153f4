"""Parsing of the ``parameters`` argument and Paddle's per-parameter attributes (ParamAttr).

Paddle accepts a list of tensors (*list mode*) or a list of param-group dicts (*group mode*);
torch additionally accepts ``model.named_parameters()``. This module turns all of them into
torch-style group dicts and reads the ParamAttr-like attributes oar keeps on tensors:

* ``param.optimize_attr = {'learning_rate': m}``: a per-parameter lr multiplier (list mode only),
* ``param.regularizer``: an ``L1Decay``/``L2Decay`` taking precedence over the optimizer's weight_decay,
* ``param.need_clip``: False excludes the parameter from gradient clipping.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import torch

from .regularizer import WeightDecayRegularizer

__all__ = ["set_param_attr", "parse_parameters", "lr_multiplier", "looks_like_parameters"]

_UNSET = object()


def set_param_attr(param: torch.Tensor, *, learning_rate=_UNSET, regularizer=_UNSET, need_clip=_UNSET):
    """Set Paddle's ParamAttr options on a tensor, in place, and return it.

    Args:
        param (torch.Tensor): the parameter.
        learning_rate (float): multiplier of the optimizer's learning rate for this parameter
            (list mode; a param group's ``learning_rate`` replaces it). Default: unchanged.
        regularizer (L1Decay | L2Decay | None): coupled weight decay for this parameter; takes
            precedence over the optimizer's ``weight_decay`` in list mode. Default: unchanged.
        need_clip (bool): False leaves this parameter's gradient out of every gradient clip.

    Raises:
        TypeError: a value of the wrong type (the message names the argument).
    """
    if not isinstance(param, torch.Tensor):
        raise TypeError(f"set_param_attr: param must be a torch.Tensor, got {type(param).__name__}")
    if learning_rate is not _UNSET:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(f"set_param_attr: learning_rate must be a float, got {learning_rate!r}")
        param.optimize_attr = {"learning_rate": float(learning_rate)}
    if regularizer is not _UNSET:
        if regularizer is not None and not isinstance(regularizer, WeightDecayRegularizer):
            raise TypeError(
                f"set_param_attr: regularizer must be L1Decay, L2Decay or None, got {regularizer!r}"
            )
        param.regularizer = regularizer
    if need_clip is not _UNSET:
        if not isinstance(need_clip, bool):
            raise TypeError(f"set_param_attr: need_clip must be a bool, got {need_clip!r}")
        param.need_clip = need_clip
    return param


def lr_multiplier(param: torch.Tensor) -> float:
    """The ParamAttr learning-rate multiplier of ``param`` (1.0 when unset)."""
    attr = getattr(param, "optimize_attr", None)
    if attr is None:
        return 1.0
    return float(attr.get("learning_rate", 1.0))


def _is_named(item) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], torch.Tensor)
    )


def looks_like_parameters(obj) -> bool:
    """True when ``obj`` is what torch passes as ``params``: an iterable (not a str, dict, tensor
    or scheduler) — a generator, list or tuple of tensors, named tensors or group dicts."""
    if isinstance(obj, (str, bytes, dict, torch.Tensor, numbers.Number)):
        return False
    return isinstance(obj, Iterable) and not hasattr(obj, "get_lr")


def _check_param(p, where: str):
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor, got {type(p).__name__}")


def _normalize_params(params, where: str) -> list:
    """A list of tensors or of (name, tensor) pairs, one kind only."""
    if isinstance(params, torch.Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{where}: parameters must be an ordered iterable (list, tuple, generator), not a set"
        )
    if isinstance(params, dict) or not isinstance(params, Iterable):
        raise TypeError(f"{where}: parameters must be an iterable of tensors, got {type(params).__name__}")
    items = list(params)
    named = [_is_named(i) for i in items]
    if any(named) and not all(named):
        raise TypeError(f"{where}: mix of named (name, tensor) pairs and plain tensors")
    for i in items:
        _check_param(i[1] if _is_named(i) else i, where)
    return items


def parse_parameters(parameters) -> tuple[list[dict], bool]:
    """Turn Paddle's or torch's ``parameters`` into torch-style group dicts.

    Returns ``(groups, list_mode)``: list mode is a single group built from a flat list of
    tensors (ParamAttr multipliers and regularizers then apply); group mode keeps each dict's
    options. Named tensors become ``'params'`` plus torch's ``'param_names'``.

    Raises:
        AttributeError: ``parameters`` is None (as Paddle in dygraph).
        TypeError: a tensor, a dict, a set, a non-iterable, or a non-tensor element.
        AssertionError: a group dict without ``'params'`` (as Paddle).
        ValueError: an empty list.
    """
    if parameters is None:
        raise AttributeError(
            "parameters argument given to the Optimizer should be an iterable of tensors "
            "(or of (name, tensor) pairs, or of param-group dicts), but got None"
        )
    if isinstance(parameters, torch.Tensor):
        raise TypeError(
            "parameters argument given to the optimizer should be an iterable of Tensors or dicts, "
            f"but got {type(parameters).__name__}"
        )
    if isinstance(parameters, (dict, set, frozenset)) or not isinstance(parameters, Iterable):
        raise TypeError(
            "parameters argument given to the optimizer should be an iterable of Tensors or dicts, "
            f"but got {type(parameters).__name__}"
        )
    items = list(parameters)
    if not items:
        raise ValueError("optimizer got an empty parameter list (parameters=[])")
    if all(isinstance(i, dict) for i in items):
        groups = []
        for k, g in enumerate(items):
            if "params" not in g:
                raise AssertionError(f"parameters[{k}]: a param group dict must contain 'params'")
            groups.append(_group(g["params"], {kk: v for kk, v in g.items() if kk != "params"},
                                 f"parameters[{k}]['params']"))
        return groups, False
    if any(isinstance(i, dict) for i in items):
        raise TypeError("parameters: mix of param-group dicts and tensors")
    return [_group(items, {}, "parameters")], True


def _group(params, options: dict, where: str) -> dict:
    items = _normalize_params(params, where)
    group = dict(options)
    if items and _is_named(items[0]):
        group["params"] = [t for _, t in items]
        group["param_names"] = [n for n, _ in items]
    else:
        group["params"] = items
    return group
