"""``engine='auto'``: the fused kernel where the rule has one, else eager until compiling has
paid for itself, then compiled.

Params the rule's fused C kernel can take (:mod:`oar.engine.fused`: dense float32/float64 on
CPU, and bfloat16 with float32 master weights for Adam and Lamb) run on it: it needs no tracing,
and its 0.3-0.7 s build, once per machine, runs in a background thread while the first steps run
as below. The other params are handled as follows.

A group is compiled only when (1) inductor can compile for its device (a C++ compiler on CPU,
Triton on GPU), (2) it has at least ``MIN_NUMEL`` elements in params the compiler may see, and
(3) the time its eager steps have lost so far, against the compiled engine, reaches the time
compiling it is expected to take (the "ski rental" rule: a script never waits for a compilation
longer than it has already lost by not compiling, and a short script never compiles at all).

Measured on the 2-core development machine (torch 2.13 CPU, median ms/step, one group):

    params x elements      Adam eager  compiled   Lamb eager  compiled
    1 x 10k                     0.14      0.09          0.38      0.08
    1 x 100k                    0.43      0.12          0.58      0.17
    1 x 1M                      7.5       0.7          18         1.2
    50 x 20k (1M)              11         1.1          18         2.2
    1 x 10M                   122         8.4         184        15

Compiling the 51-param set takes 30-60 s cold; warm (inductor's cache and oar's saved
functions on disk) its first step takes 3-5 s, mostly importing inductor once per process. A compiled step saves >= 85% of an eager step, so with a warm
cache compiling pays after ~1000 steps of a 1M-element group (eager 7.5 ms) and after ~50 steps
of the 27.4M-param transformer set (eager ~110 ms); cold, after 10x as many. Below ~1M elements
the break-even is many thousands of steps: such groups stay eager (``MIN_NUMEL``).

The expected compile time of a group is the last one measured for the same structure (a cold
compile is recorded as the load it makes possible), kept in ``oar_compile_times.json`` beside
inductor's cache, else ``COLD_BASE_S + COLD_PER_PARAM_S * params``: a second run of the same
script compiles after ~1/10 of the steps the first one waited.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import weakref

import torch

from .compiled import compilable, run_compiled
from .compiled import stats as compiled_stats
from .eager import run_eager
from .fused import kernel_for, run_fused

__all__ = ["run_auto", "MIN_NUMEL", "SAVED_FRACTION", "COLD_BASE_S", "COLD_PER_PARAM_S", "decisions"]

#: Groups with fewer elements (in params the compiler may see) always run eagerly.
MIN_NUMEL = 1 << 20
#: Fraction of an eager step's time a compiled step saves (measured: 0.85-0.95).
SAVED_FRACTION = 0.85
#: Expected cold compile time of a group: a base plus a cost per param (measured: 51 params
#: took 30-60 s on 2 busy cores, ~15 s of it inductor's one-time probes of the C++ compiler).
COLD_BASE_S = 10.0
COLD_PER_PARAM_S = 0.8

_lock = threading.Lock()
_groups: dict = {}


class _Auto:
    __slots__ = ("mode", "lost_s", "steps", "expected_s", "digest", "refs", "__weakref__")


def decisions() -> list[dict]:
    """The state of every group seen by the auto engine: mode ('eager', 'measuring' or
    'compiled'), steps run eagerly, seconds lost against compiled code, expected compile time."""
    with _lock:
        return [{"mode": a.mode, "eager_steps": a.steps, "lost_s": a.lost_s,
                 "expected_compile_s": a.expected_s} for a in _groups.values()]


def _history_path():
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir
    except Exception:  # pragma: no cover - older layouts
        try:
            from torch._inductor.utils import cache_dir
        except Exception:
            return None
    try:
        return os.path.join(cache_dir(), "oar_compile_times.json")
    except Exception:  # pragma: no cover
        return None


def _read_history() -> dict:
    path = _history_path()
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except Exception:
        return {}


def _record(digest: str, seconds: float) -> None:
    path = _history_path()
    if path is None:
        return
    try:
        data = _read_history()
        data[digest] = round(seconds, 3)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except Exception:
        pass


def _digest(rule, params, states, hypers) -> str:
    parts = [torch.__version__, getattr(rule, "__module__", ""), getattr(rule, "__qualname__", repr(rule))]
    for p, st, hy in zip(params, states, hypers):
        parts.append(f"{p.device.type}:{p.dtype}:{tuple(p.shape)}:{tuple(st)}:"
                     f"{sorted((k, v) for k, v in hy.items() if not isinstance(v, (float, torch.Tensor)))}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _new_group(key, rule, params, grads, states, hypers) -> _Auto:
    a = _Auto()
    a.lost_s = 0.0
    a.steps = 0
    a.expected_s = 0.0
    a.digest = None
    numel = sum(p.numel() for p, g, st in zip(params, grads, states) if compilable(p, g, st))
    if numel < MIN_NUMEL:
        a.mode = "eager"
    else:
        a.mode = "measuring"
        a.digest = _digest(rule, params, states, hypers)
        known = _read_history().get(a.digest)
        a.expected_s = float(known) if isinstance(known, (int, float)) else (
            COLD_BASE_S + COLD_PER_PARAM_S * len(params))
    drop = _dropper(key, weakref.ref(a))
    try:
        a.refs = [weakref.ref(p, drop) for p in params]
    except TypeError:
        return a
    with _lock:
        _groups[key] = a
    return a


def _dropper(key, ref):
    def drop(_):
        with _lock:
            if _groups.get(key) is not None and _groups[key] is ref():
                del _groups[key]
    return drop


def run_auto(rule, params, grads, states, hypers) -> None:
    """Run a group fused, eagerly or compiled, as described in this module's docstring."""
    if kernel_for(rule) is not None:
        run_fused(rule, params, grads, states, hypers, fallback=_run_unfused, wait=False)
    else:
        _run_unfused(rule, params, grads, states, hypers)


def _run_unfused(rule, params, grads, states, hypers) -> None:
    key = (rule, tuple(map(id, params)))
    a = _groups.get(key)
    if a is None:
        a = _new_group(key, rule, params, grads, states, hypers)
    if a.mode == "compiled":
        run_compiled(rule, params, grads, states, hypers)
        return
    if a.mode == "eager":
        run_eager(rule, params, grads, states, hypers)
        return
    if a.lost_s >= a.expected_s:
        loaded = compiled_stats().get("loaded", 0)
        start = time.perf_counter()
        run_compiled(rule, params, grads, states, hypers)
        seconds = time.perf_counter() - start
        a.mode = "compiled"
        if compiled_stats().get("loaded", 0) == loaded:
            # compiled from scratch: the next process loads the saved functions instead
            # (measured: ~3 s to import inductor, then ~10% of the cold compile)
            seconds = min(seconds, 3.0 + 0.1 * seconds)
        _record(a.digest, seconds)
        return
    start = time.perf_counter()
    run_eager(rule, params, grads, states, hypers)
    a.steps += 1
    a.lost_s += SAVED_FRACTION * (time.perf_counter() - start)
