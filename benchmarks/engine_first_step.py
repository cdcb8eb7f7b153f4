"""Time to the first step of a fresh process, per engine, cold and warm cache.

    PYTHONPATH=src .venv/bin/python benchmarks/engine_first_step.py [--algos adam,lamb,rmsprop]
        [--engines compiled,fused,auto]

For each optimizer of the algorithm table (``--algos``: keys, default all) and engine, runs a
child process twice with a fresh TORCHINDUCTOR_CACHE_DIR (cold, then warm: same dir; the fused
kernels are cached there too) on ``oar bench``'s 27.4M-param set and prints: import time (torch
+ oar), first step (tracing + compiling, or building the C kernel, + one step), second step, and
the eager engine's first step for reference. ``auto`` on a cold cache runs its first steps
eagerly while the fused kernel builds in the background.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[3])
from engine_common import make_optimizer, make_params
t1 = time.perf_counter()
algo, engine = sys.argv[1], sys.argv[2]
opt = make_optimizer(algo, make_params(), engine)
t2 = time.perf_counter(); opt.step(); t3 = time.perf_counter(); opt.step(); t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_step_s": t3 - t2, "second_step_s": t4 - t3}))
"""


def child(algo: str, engine: str, cache: str) -> dict[str, Any]:
    """One fresh process's timings of ``algo`` on ``engine`` with the inductor cache ``cache``."""
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, algo, engine, HERE],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.path.join(HERE, ".."),
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, HERE)
    from engine_common import algorithms

    ap = argparse.ArgumentParser()
    ap.add_argument("--algos", default=",".join(a.key for a in algorithms.algorithms()))
    ap.add_argument("--engines", default="compiled,fused,auto")
    a = ap.parse_args()
    print(
        f"{'optimizer':9s} {'engine':9s} {'cache':6s} {'import s':>9s} {'1st step s':>11s} "
        f"{'2nd step ms':>12s}  load {os.getloadavg()[0]:.1f}"
    )
    for algo in a.algos.split(","):
        runs = [(engine, label) for engine in a.engines.split(",") for label in ("cold", "warm")]
        for engine, label in runs + [("eager", "-")]:
            if label != "warm":
                tmp = tempfile.TemporaryDirectory()
            r = child(algo, engine, tmp.name)
            print(
                f"{algo:9s} {engine:9s} {label:6s} {r['import_s']:9.2f} {r['first_step_s']:11.2f} "
                f"{r['second_step_s'] * 1e3:12.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
