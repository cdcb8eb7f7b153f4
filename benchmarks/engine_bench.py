"""Quick engine timing: oar's optimizers per engine vs torch.optim.Adam(fused=True), interleaved.

    PYTHONPATH=src .venv/bin/python benchmarks/engine_bench.py [--rounds 15] [--only adam,lamb]
        [--engines compiled] [--scale 1.0] [--dtype float32] [--rmsprop-momentum 0.9]

``oar bench``'s rows, parameter set and interleaved runner (``oar.bench``) without its peers,
Paddle and bandwidth probes: every candidate gets its own copy of the transformer-shaped set
(27.4M params at ``--scale 1``; the reference keeps float32 params when ``--dtype`` is 16-bit);
each round times ``--steps`` steps of every candidate; reported: min/median/max ms per step and
the median over rounds of (candidate / fused Adam of the same round).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
from engine_common import algorithms, build_param_set

from oar.bench.cli import DTYPES, add_algorithm_options, algorithm_options
from oar.bench.probes import Memory
from oar.bench.report import Record, summarize
from oar.bench.rows import REFERENCE, Made, Row, TorchParams, oar_rows, peer_rows, reference_peer
from oar.bench.runner import create, time_rounds

FLOOR = algorithms.Traffic(1, 1, 1, 4, "floor: Adam's bytes with no arithmetic (3P+4S)")


def floor_row(pset: Any) -> Row:
    """A compiled rule that moves Adam's 28 bytes/param with no arithmetic: the engine's floor."""
    from oar.engine import run_compiled

    def floor_rule(param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], lr: float) -> None:
        state["moment1"].add_(grad)
        state["moment2"].add_(grad)
        param.add_(state["moment1"])

    def make() -> Made:
        ps = pset.torch_params()
        states = [{"moment1": torch.zeros_like(p), "moment2": torch.zeros_like(p)} for p in ps]

        def step() -> None:
            run_compiled(floor_rule, ps, [p.grad for p in ps], states, [{"lr": 1e-3}] * len(ps))

        return step, lambda: sum(t.numel() * t.element_size() for s in states for t in s.values())

    return Row("floor_28B_compiled", "test", "floor", FLOOR, make)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument(
        "--only",
        default=",".join(a.key for a in algorithms.algorithms()),
        help="algorithm keys, comma-separated (default: every algorithm)",
    )
    ap.add_argument("--engines", default="compiled")
    ap.add_argument("--scale", type=float, default=1.0, help="vocab and widths scaled by this")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--steps", type=int, default=1, help="steps per timed sample")
    ap.add_argument("--floor", action="store_true", help="also time a no-arithmetic 28 B/param rule")
    add_algorithm_options(ap)
    a = ap.parse_args()
    dtype = DTYPES[a.dtype]
    options = algorithm_options(a)
    pset = build_param_set(a.scale, dtype, 0)
    ref_set = build_param_set(a.scale, torch.float32, 0) if dtype != torch.float32 else pset
    ref_algorithm, _ = reference_peer()
    rows = [
        r
        for r in peer_rows([ref_algorithm], ref_set, TorchParams(ref_set, private=True), 1e-3, options)[0]
        if r.name == REFERENCE
    ]
    if a.floor:
        rows.append(floor_row(pset))
    rows += oar_rows(
        [algorithms.get(k) for k in a.only.split(",")],
        pset,
        TorchParams(pset, private=True),
        1e-3,
        options,
        a.engines.split(","),
    )
    create(rows, Memory())
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timing = time_rounds(rows, warmup=1, repeats=a.rounds, steps=a.steps)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = summarize(
        Record(
            rows=rows,
            timing=timing,
            params=pset.numel,
            tensors=len(pset.names),
            scale=a.scale,
            dtype=a.dtype,
            repeats=a.rounds,
            warmup=1,
            lr=1e-3,
        )
    )
    print(
        f"params {pset.numel / 1e6:.1f}M  dtype {a.dtype}  rounds {a.rounds}  "
        f"maxrss growth during rounds {(rss1 - rss0) / 1024:.0f} MB  load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'candidate':24s} {'min':>7s} {'median':>7s} {'max':>7s}  ratio(median)  first-step s")
    for r in result["rows"]:
        if r["error"]:
            print(f"{r['name']:24s} FAILED: {r['error']}")
            continue
        print(
            f"{r['name']:24s} {r['ms_min']:7.2f} {r['ms_median']:7.2f} {r['ms_max']:7.2f}  "
            f"{r['ratio_to_fused_adam']:6.3f}        {r['first_step_ms'] / 1e3:.2f}"
        )


if __name__ == "__main__":
    main()
