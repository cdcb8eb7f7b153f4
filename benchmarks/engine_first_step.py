"""Time to the first step of a fresh process, per engine, cold and warm cache.

    PYTHONPATH=src .venv/bin/python benchmarks/engine_first_step.py [--algos adam,lamb,rmsprop]
        [--engines compiled,fused,auto]

For each optimizer and engine, runs a child process twice with a fresh TORCHINDUCTOR_CACHE_DIR
(cold, then warm: same dir; the fused kernels are cached there too) on the 27.4M-param set and
prints: import time (torch + oar), first step (tracing + compiling, or building the C kernel, +
one step), second step, and the eager engine's first step for reference. ``auto`` on a cold
cache runs its first steps eagerly while the fused kernel builds in the background.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r'''
import json, os, sys, time
t0 = time.perf_counter()
sys.path.insert(0, os.path.join(os.getcwd(), "src")); sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import torch, oar
from engine_common import make_params, transformer_shapes
t1 = time.perf_counter()
algo, engine = sys.argv[1], sys.argv[2]
ps = make_params(transformer_shapes())
mk = {"adam": lambda: oar.Adam(ps, learning_rate=1e-3, engine=engine),
      "lamb": lambda: oar.Lamb(ps, learning_rate=1e-3, engine=engine),
      "rmsprop": lambda: oar.RMSProp(ps, learning_rate=1e-3, momentum=0.9, engine=engine)}[algo]
opt = mk()
t2 = time.perf_counter(); opt.step(); t3 = time.perf_counter(); opt.step(); t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_step_s": t3 - t2, "second_step_s": t4 - t3}))
'''


def child(algo, engine, cache):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, algo, engine], env=env, capture_output=True,
                         text=True, cwd=os.path.join(os.path.dirname(__file__), ".."), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--algos", default="adam,rmsprop,lamb")
    ap.add_argument("--engines", default="compiled,fused,auto")
    a = ap.parse_args()
    print(f"{'optimizer':9s} {'engine':9s} {'cache':6s} {'import s':>9s} {'1st step s':>11s} "
          f"{'2nd step ms':>12s}  load {os.getloadavg()[0]:.1f}")
    for algo in a.algos.split(","):
        runs = [(engine, label) for engine in a.engines.split(",") for label in ("cold", "warm")]
        for engine, label in runs + [("eager", "-")]:
            if label != "warm":
                tmp = tempfile.TemporaryDirectory()
            r = child(algo, engine, tmp.name)
            print(f"{algo:9s} {engine:9s} {label:6s} {r['import_s']:9.2f} {r['first_step_s']:11.2f} "
                  f"{r['second_step_s']*1e3:12.1f}", flush=True)


if __name__ == "__main__":
    main()
