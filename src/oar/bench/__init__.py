"""``oar bench``: oar's optimizers against their peers, on one transformer-shaped parameter set.

One process, one parameter set, every optimizer measured *interleaved*: each round runs one
step of every optimizer (and of a memory-bandwidth probe), in an order rotated every round, so
that a burst of contention from another process hits all of them alike. Ratios (to
``torch.optim.Adam(fused=True)``, and to the measured bandwidth) are taken per round, then the
median over rounds is reported.

The rows come from the algorithm table (:func:`oar.algorithms.algorithms`), when available: for
every algorithm, oar's optimizer with ``engine='auto'`` and every engine in
``oar.engine.ENGINES`` (enumerated at run time), ``paddle.optimizer``'s class of the same name
(CPU), and the algorithm's peers (torch.optim, pytorch_optimizer, timm, ...).

Bytes that must move per parameter (the GB/s and %BW columns) are each algorithm's
:class:`oar.algorithms.Traffic` (a peer's own where it keeps other state): whole tensors read or
written once per step, with ``P`` the parameter's element size and ``S`` the state's. For the
algorithms registered today:

* Adam: reads p, g, m, v; writes p, m, v -> 3P + 4S (28 B in float32).
* RMSProp (Paddle's, uncentered: mean_square and momentum): reads p, g, ms, mom; writes p, ms,
  mom -> 3P + 4S (28 B). torch's RMSprop with momentum=0 keeps no momentum buffer: 3P + 2S (20 B).
* Lamb, two streaming passes (the trust ratio needs the norm of the whole update before any
  element changes): pass 1 reads p, g, m, v and writes m, v (and the norms); pass 2 reads p, m,
  v and writes p -> 4P + 6S (40 B).
* With float32 master weights (16-bit params, ``multi_precision=True``) every read and write of
  p becomes one of the master weight (S) and each write of p also writes p (P).

Modules: :mod:`.params` (the parameter set), :mod:`.rows` (the rows, from the table),
:mod:`.probes` (memory, CPU clock, machine, bandwidth probes), :mod:`.runner` (the interleaved
timing), :mod:`.report` (the result and its table), :mod:`.cli` (options and :func:`run`).

Usage: ``oar bench [options]`` or ``python benchmarks/bench_step.py [options]``; ``--help``
lists the options.
"""

from __future__ import annotations

from .cli import DTYPES, add_arguments, main, run, select
from .params import ParamSet, build_param_set, param_shapes, scale_for_params
from .probes import BANDWIDTH_ROWS
from .report import COLUMNS, Record, format_table, summarize
from .rows import REFERENCE, Row

__all__ = [
    "BANDWIDTH_ROWS",
    "COLUMNS",
    "DTYPES",
    "REFERENCE",
    "ParamSet",
    "Record",
    "Row",
    "add_arguments",
    "build_param_set",
    "format_table",
    "main",
    "param_shapes",
    "run",
    "scale_for_params",
    "select",
    "summarize",
]
