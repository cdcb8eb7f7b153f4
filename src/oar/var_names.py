"""Paddle's ``Optimizer.get_opti_var_name_list()``: the names of the accumulators an optimizer has
created, in the order it created them.

Paddle 3.3.1 (``paddle/optimizer/optimizer.py``, ``_add_accumulator``) names the accumulator
``acc`` of a parameter ``unique_name.generate(f"{param.name}_{acc}")``, with ``name + "_"``
before ``acc`` when the optimizer was given a ``name``, and appends the name to the list when it
creates the accumulator (lazily, at the first step that param has a grad). With
``multi_precision``, a float16/bfloat16 param's accumulators belong to its float32 master weight,
named ``unique_name.generate(f"{param.name}_fp32_master")``; the master weight itself is not in
the list. LBFGS creates no accumulators (an empty list).

oar reads the same from ``opt.state`` (accumulators are created in the order Paddle creates
them, and ``opt.state`` keeps that order). Two differences, both because torch tensors carry no
Paddle name:

* a param's name is its torch name when the optimizer was given them
  (``model.named_parameters()``, or a group's ``'param_names'``), else ``'param_<i>'``, ``i``
  being its index in ``state_dict()``;
* the unique-name suffix is always ``_0``: Paddle's per-process counter gives a second optimizer
  over the same params ``_1`` names (and then that optimizer cannot load the first one's state
  dict, see the spec), a history oar does not keep.

After ``load_state_dict`` the order is that of the loaded state (Paddle creates the loaded
accumulators at the next step, in that step's order).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["opti_var_names", "param_names"]

_MASTER = "master_weight"


def param_names(opt: torch.optim.Optimizer) -> dict[int, str]:
    """``id(param) -> name`` for every param of ``opt``: its group's ``'param_names'`` entry, else
    ``'param_<i>'`` (``i``: its index in ``state_dict()``, params numbered in group order)."""
    names: dict[int, str] = {}
    for group in opt.param_groups:
        given = group.get("param_names") or []
        for k, p in enumerate(group["params"]):
            if id(p) not in names:
                names[id(p)] = str(given[k]) if k < len(given) else f"param_{len(names)}"
    return names


def opti_var_names(opt: Any) -> list[str]:
    """Paddle's accumulator names for ``opt`` (an ``oar.Optimizer``), in creation order: for each
    param with state, ``f"{name}_{prefix}{acc}_0"`` for each accumulator ``acc`` of its state,
    where ``prefix`` is ``f"{opt._name}_"`` when the optimizer has a name; a param with a master
    weight is named ``f"{name}_fp32_master_0"``. Entries of ``opt.state`` not keyed by a param
    (LBFGS's, torch's extra entries) have none."""
    names = param_names(opt)
    prefix = "" if opt._name is None else f"{opt._name}_"
    out: list[str] = []
    for param, state in opt.state.items():
        if not isinstance(param, torch.Tensor) or id(param) not in names or not state:
            continue
        base = names[id(param)]
        if _MASTER in state:
            base += "_fp32_master_0"
        out.extend(f"{base}_{prefix}{acc}_0" for acc in state if acc != _MASTER)
    return out
