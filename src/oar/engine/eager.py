"""The per-tensor eager engine: the reference every other engine is tested against, and the
path for tensor subclasses (DTensor, sparse gradients)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .rule import Hyper, Rule, State


def run_eager(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
) -> None:
    """Call ``rule`` once per parameter.

    With a float32 master weight in ``state['master_weight']`` the rule updates the master (the
    grad is cast to float32) and the parameter receives a rounded copy.
    """
    for param, grad, state, hyper in zip(params, grads, states, hypers, strict=False):
        apply_rule(rule, param, grad, state, hyper)


def apply_rule(rule: Rule, param: torch.Tensor, grad: torch.Tensor, state: State, hyper: Hyper) -> None:
    """One param's update, through its float32 master weight when ``state`` has one: the rule
    updates the master with a float32 grad and the param receives the rounded copy. Every
    engine applies a rule through this function."""
    master = state.get("master_weight")
    if master is None:
        rule(param, grad, state, **hyper)
    else:
        rule(master, grad.to(master.dtype), state, **hyper)
        param.copy_(master)
