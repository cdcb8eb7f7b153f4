"""Param groups that leave biases and normalization weights undecayed (timm's convention).

Weight decay on a bias or on the scale of a normalization layer only pulls it towards 0, which
these parameters have no reason to be; BERT's recipe (``apply_decay_param_fun`` in Paddle's
AdamW examples) and timm (``timm.optim.param_groups_weight_decay``) leave them out. This module
builds the two groups once, for both API styles::

    groups = oar.param_groups_weight_decay(model, weight_decay=0.01)
    opt = oar.AdamW(learning_rate=1e-3, parameters=groups)   # Paddle's style
    opt = oar.AdamW(groups, lr=1e-3)                          # torch's style
    opt = oar.Lamb(parameters=oar.param_groups_weight_decay(model, 0.01, key="lamb_weight_decay"))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .validate import show

__all__ = ["param_groups_weight_decay"]


def param_groups_weight_decay(
    model: torch.nn.Module,
    weight_decay: float = 1e-5,
    no_weight_decay_list: Iterable[str] = (),
    *,
    key: str = "weight_decay",
) -> list[dict[str, Any]]:
    """Two param groups over ``model``'s trainable params, timm's rule: a param is *not* decayed
    when it has at most one dimension (biases, the scales and shifts of BatchNorm, LayerNorm,
    GroupNorm, RMSNorm...), its name ends in ``'.bias'``, or its name is in
    ``no_weight_decay_list``; the others are decayed by ``weight_decay``. Frozen params
    (``requires_grad=False``) are left out, as timm does.

    Params are given as ``(name, param)`` pairs, so error messages and Paddle's
    ``apply_decay_param_fun`` see their names. Groups with no params are left out.

    Args:
        model (torch.nn.Module): the model whose ``named_parameters()`` are grouped.
        weight_decay (float): the decayed group's ``'weight_decay'`` (a float, or an
            ``L1Decay``/``L2Decay`` for the coupled-decay optimizers). Default 1e-5 (timm's).
            The undecayed group gets ``0.0``. It is judged by the optimizer, as any group option.
        no_weight_decay_list (Iterable[str]): more names of params not to decay (exact
            ``named_parameters()`` names, as timm). Default none.
        key (str, keyword only): the group option that holds the decay: ``'weight_decay'``
            (default: AdamW's decoupled decay, the coupled L1/L2 of the others) or
            ``'lamb_weight_decay'`` for :class:`oar.Lamb`, whose own decay it is (a Lamb group's
            ``'weight_decay'`` would add a coupled L2 term besides).

    Returns:
        list[dict]: ``[{'params': [...], key: 0.0}, {'params': [...], key: weight_decay}]``, in
        ``named_parameters()`` order within each group.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``; ``no_weight_decay_list`` is a string
            or holds a non-string; ``key`` is not a string.
        ValueError: a name of ``no_weight_decay_list`` that is not a param of ``model``.

    Examples:
        >>> import torch, oar
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
        >>> groups = oar.param_groups_weight_decay(model, weight_decay=0.01)
        >>> [([name for name, _ in g["params"]], g["weight_decay"]) for g in groups]
        [(['0.bias', '1.weight', '1.bias', '2.bias'], 0.0), (['0.weight', '2.weight'], 0.01)]
        >>> opt = oar.AdamW(learning_rate=1e-3, parameters=groups)  # or oar.AdamW(groups, 1e-3)
        >>> [g["weight_decay"] for g in opt.param_groups]
        [0.0, 0.01]
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(key, str):
        raise TypeError(f"key must be a str (a group option), got {show(key)}")
    if isinstance(no_weight_decay_list, str):
        raise TypeError(f"no_weight_decay_list must be an iterable of names, not a string: {no_weight_decay_list!r}")
    skip = list(no_weight_decay_list)
    bad = [name for name in skip if not isinstance(name, str)]
    if bad:
        raise TypeError(f"no_weight_decay_list must hold param names (str), got {show(bad[0])}")
    named = list(model.named_parameters())
    unknown = sorted(set(skip) - {name for name, _ in named})
    if unknown:
        raise ValueError(f"no_weight_decay_list names {unknown[0]!r}, which is not a parameter of the model")
    undecayed: list[tuple[str, torch.nn.Parameter]] = []
    decayed: list[tuple[str, torch.nn.Parameter]] = []
    for name, param in named:
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or name in skip:
            undecayed.append((name, param))
        else:
            decayed.append((name, param))
    groups = [{"params": undecayed, key: 0.0}, {"params": decayed, key: weight_decay}]
    return [group for group in groups if group["params"]]
