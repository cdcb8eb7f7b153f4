"""The types an engine runs: an update *rule*, one param's ``State`` and its ``Hyper`` dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

__all__ = ["Engine", "Hyper", "Rule", "State"]

#: One param's optimizer state: accumulators (param-shaped or one-element tensors), and
#: ``'master_weight'``, the float32 copy of a low-precision param, when it has one.
State = dict[str, torch.Tensor]

#: One param's keyword arguments to the rule: floats (lr, betas, eps, ...), flags (bools, ints,
#: None, strings) and one-element tensors. Params with equal values may share one dict.
Hyper = dict[str, Any]


class Rule(Protocol):
    """An update rule, ``rule(param, grad, state, **hyper)``: one optimizer step of one param.

    The contract every engine relies on:

    * It updates ``param`` and the tensors of ``state`` in place and returns nothing; it adds,
      removes or replaces no entry of ``state``.
    * It is a pure function of its tensors and hyper-parameters: no Python control flow on a
      tensor's value (no ``.item()``, no ``if tensor > 0``), no global state, so that it can be
      traced as one graph (the compiled engine) and replaced by a kernel (the fused engine).
    * Flags (``amsgrad``, ``lazy_mode``, ...) are Python bools (or ints, None, strings); control
      flow may depend on them, and the compiled engine bakes them into its code.
    * Float hyper-parameters arrive already rounded to the param's kernel type (float32 for a
      bfloat16 param with a float32 master weight; ``Optimizer._hypers_for``); the rule computes
      derived constants (``1 - beta``, bias corrections) from them in that type. The compiled
      engine passes them as 0-d float64 tensors instead of Python floats.
    """

    def __call__(self, param: torch.Tensor, grad: torch.Tensor, state: State, *args: Any, **kwargs: Any) -> None: ...


#: An engine: ``engine(rule, params, grads, states, hypers)`` runs ``rule`` once for each
#: ``(param, grad, state, hyper)`` of a group (``oar.engine.ENGINES``).
Engine = Callable[[Rule, Sequence[torch.Tensor], Sequence[torch.Tensor], Sequence[State], Sequence[Hyper]], None]
