"""Execution engines: how an update rule is run over the params of one group.

A *rule* is a pure function of tensors, ``rule(param, grad, state, **hyper)``, that updates
``param`` and the accumulators in ``state`` in place (see ``oar.adam.adam_update``). An engine
runs a rule over lists of params; every engine must give the results of the per-tensor eager
engine up to float rounding.

Engines (``ENGINES``):

* ``'eager'``: the rule once per param (the reference; any tensor subclass, sparse grads).
* ``'compiled'``: ``torch.compile`` (inductor) of the rule over the whole group, per
  (device, dtype) bucket, hyper-parameters as 0-d tensors (see :mod:`oar.engine.compiled`).
* ``'auto'`` (not in ``ENGINES``; the default): see :func:`select`.
"""
from __future__ import annotations

from .eager import run_eager
from .compiled import run_compiled

__all__ = ["ENGINES", "run", "run_eager", "run_compiled"]

ENGINES = {"eager": run_eager, "compiled": run_compiled}


def run(rule, params, grads, states, hypers, engine: str = "auto") -> None:
    """Run ``rule`` for each ``(param, grad, state, hyper)`` of a group with the named engine."""
    ENGINES.get(engine, run_eager)(rule, params, grads, states, hypers)
