"""Quick engine timing: oar optimizers per engine vs torch.optim.Adam(fused=True), interleaved.

    PYTHONPATH=src .venv/bin/python benchmarks/engine_bench.py [--rounds 15] [--only adam,lamb]
        [--engines compiled] [--scale 1.0] [--dtype float32]

Every candidate gets its own copy of the 27.4M-param transformer-shaped set (issue 3); each
round times one step of every candidate in turn; reported: median ms/step and the median over
rounds of (candidate / fused Adam of the same round).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.dirname(__file__))

import torch

import oar
from engine_common import make_params, transformer_shapes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default="adam,rmsprop,lamb")
    ap.add_argument("--engines", default="compiled")
    ap.add_argument("--scale", type=float, default=1.0, help="vocab and widths scaled by this")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--steps", type=int, default=1, help="steps per timed sample")
    ap.add_argument("--floor", action="store_true", help="also time a no-arithmetic 28 B/param rule")
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    s = a.scale
    shapes = transformer_shapes(vocab=int(8000 * s), d=int(768 * s), ff=int(3072 * s))
    low = dtype in (torch.bfloat16, torch.float16)
    cands = {"torch_fused_adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)}
    makers = {
        "adam": lambda ps, e: oar.Adam(ps, learning_rate=1e-3, multi_precision=low, engine=e),
        "rmsprop": lambda ps, e: oar.RMSProp(ps, learning_rate=1e-3, momentum=0.9, engine=e),
        "lamb": lambda ps, e: oar.Lamb(ps, learning_rate=1e-3, multi_precision=low, engine=e),
    }
    if a.floor:
        from oar.engine import run_compiled

        def floor_rule(param, grad, state, lr):
            """Adam's 28 bytes/param with no arithmetic: the engine's floor."""
            state["moment1"].add_(grad)
            state["moment2"].add_(grad)
            param.add_(state["moment1"])

        class Floor:
            def __init__(self, ps):
                self.ps = ps
                self.states = [{"moment1": torch.zeros_like(p), "moment2": torch.zeros_like(p)} for p in ps]

            def step(self):
                run_compiled(floor_rule, self.ps, [p.grad for p in self.ps], self.states,
                             [{"lr": 1e-3}] * len(self.ps))

        cands["floor_28B_compiled"] = Floor
    for name in a.only.split(","):
        for e in a.engines.split(","):
            cands[f"{name}_{e}"] = (lambda n, e: (lambda ps: makers[n](ps, e)))(name, e)
    opts, first = {}, {}
    for name, mk in cands.items():
        ps = make_params(shapes, torch.float32 if name.startswith("torch") and low else dtype)
        opt = mk(ps)
        t = time.perf_counter()
        opt.step()
        first[name] = time.perf_counter() - t
        print(f"{name}: first step {first[name]:.2f} s  maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MB", flush=True)
        opts[name] = opt
    for opt in opts.values():  # warm-up
        opt.step()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = {n: [] for n in opts}
    ratios = {n: [] for n in opts}
    for _ in range(a.rounds):
        row = {}
        for name, opt in opts.items():
            t = time.perf_counter()
            for _ in range(a.steps):
                opt.step()
            row[name] = (time.perf_counter() - t) * 1e3 / a.steps
            times[name].append(row[name])
        for name in opts:
            ratios[name].append(row[name] / row["torch_fused_adam"])
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = sum(p.numel() for p in make_params(shapes[:1]))
    print(f"params {sum(__import__('math').prod(x) for x in shapes)/1e6:.1f}M  dtype {a.dtype}  rounds {a.rounds}  "
          f"maxrss growth during rounds {(rss1-rss0)/1024:.0f} MB  load {os.getloadavg()[0]:.1f}")
    print(f"{'candidate':24s} {'min':>7s} {'median':>7s} {'max':>7s}  ratio(median)  first-step s")
    for name in opts:
        ts = times[name]
        print(f"{name:24s} {min(ts):7.2f} {statistics.median(ts):7.2f} {max(ts):7.2f}  {statistics.median(ratios[name]):6.3f}"
              f"        {first[name]:.2f}")


if __name__ == "__main__":
    main()
