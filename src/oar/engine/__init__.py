"""Execution engines: how an update rule is run over the params of one group.

A *rule* is a pure function of tensors, ``rule(param, grad, state, **hyper)``, that updates
``param`` and the accumulators in ``state`` in place (see ``oar.adam.adam_update``; the contract:
:class:`oar.engine.rule.Rule`). An engine runs a rule over lists of params; every engine must
give the results of the per-tensor eager engine up to float rounding.

Engines (``ENGINES``), chosen per optimizer with ``engine=`` / ``set_engine``:

* ``'eager'``: the rule once per param — the reference, and the path for tensor subclasses
  and sparse grads.

DTensor params (FSDP2) run on the chosen engine with their local shards; a rule that needs sums
over whole params (LAMB's norms) runs in two passes around one all-reduce. See
:mod:`oar.engine.sharded`.
* ``'compiled'``: the rule traced over the whole group and compiled by inductor, one function
  per (device, dtype) bucket, hyper-parameters as 0-d tensors (a new lr never recompiles);
  params the compiler should not see run eagerly. See :mod:`oar.engine.compiled`.
* ``'fused'``: the rule's hand-written C/OpenMP kernel on CPU, when its algorithm has one
  (every element-wise algorithm): one memory pass (LAMB: two), built once per machine; params it cannot
  take run compiled. See :mod:`oar.engine.fused`.
* ``'auto'`` (the default; not in ``ENGINES``): the fused kernel where there is one (eager
  while it builds, in the background), else eager for small groups or where inductor cannot
  compile, and for large groups until compiling has paid for itself, then compiled.
  See :mod:`oar.engine.auto`.

Modules besides the engines: :mod:`~oar.engine.rule` (the ``Rule`` contract, ``State``,
``Hyper``), :mod:`~oar.engine.graph_passes` and :mod:`~oar.engine.artifacts` (the compiled
engine's graph rewrites, and its compiled functions saved on disk), :mod:`~oar.engine.common`
(shared helpers) and :mod:`~oar.engine.torch_private` (every private torch API the engines use:
the checklist for a torch upgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .auto import run_auto
from .compiled import run_compiled
from .eager import run_eager
from .fused import run_fused
from .rule import Engine, Hyper, Rule, State
from .sharded import run_sharded, split_sharded

__all__ = [
    "ENGINES",
    "Engine",
    "Hyper",
    "Rule",
    "State",
    "run",
    "run_auto",
    "run_compiled",
    "run_eager",
    "run_fused",
]

ENGINES: dict[str, Engine] = {"eager": run_eager, "compiled": run_compiled, "fused": run_fused}


def run(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    engine: str = "auto",
) -> None:
    """Run ``rule`` for each ``(param, grad, state, hyper)`` of a group with the named engine
    (``'auto'`` or a key of ``ENGINES``).

    Raises:
        ValueError: an unknown engine name.
    """
    fn: Engine
    if engine == "auto":
        fn = run_auto
    else:
        try:
            fn = ENGINES[engine]
        except KeyError:
            raise ValueError(f"engine must be 'auto' or one of {sorted(ENGINES)}, got {engine!r}") from None
    if fn is not run_eager and torch.compiler.is_compiling():
        # Inside a user's torch.compile: let dynamo trace the plain rule into its graph.
        fn = run_eager
    sharded_idx, plain_idx = split_sharded(params)
    if not sharded_idx:
        fn(rule, params, grads, states, hypers)
        return
    # DTensor params (FSDP2): the engine runs on their local shards (oar.engine.sharded)
    run_sharded(
        rule,
        [params[i] for i in sharded_idx],
        [grads[i] for i in sharded_idx],
        [states[i] for i in sharded_idx],
        [hypers[i] for i in sharded_idx],
        fn,
    )
    if plain_idx:
        fn(
            rule,
            [params[i] for i in plain_idx],
            [grads[i] for i in plain_idx],
            [states[i] for i in plain_idx],
            [hypers[i] for i in plain_idx],
        )
