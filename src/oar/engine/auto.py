"""``engine='auto'``: the fused kernel where the rule has one, else eager until compiling has
paid for itself, then compiled.

Params the rule's fused C kernel can take (:mod:`oar.engine.fused`: dense float32/float64 on
CPU, and bfloat16 with float32 master weights for Adam and Lamb) run on it: it needs no tracing,
and its build (about a second, once per machine) runs in a background thread while the first
steps run as below. The other params are handled as follows.

A group is compiled only when (1) inductor can compile for its device (a C++ compiler on CPU,
Triton on GPU), (2) it has at least ``MIN_NUMEL`` elements in params the compiler may see, and
(3) the time its eager steps have lost so far, against the compiled engine, reaches the time
compiling it is expected to take (the "ski rental" rule: a script never waits for a compilation
longer than it has already lost by not compiling, and a short script never compiles at all).

Why (measured figures: RESULTS.md): a compiled step saves most of an eager step
(``SAVED_FRACTION``), but compiling a group takes tens of seconds cold, and a few seconds warm
(inductor's cache and oar's saved functions on disk: mostly importing inductor, once per
process). A large group therefore pays for its compile after some hundreds to thousands of steps
(cold: ten times as many); below ``MIN_NUMEL`` elements the break-even is many thousands of
steps, and such groups stay eager.

The expected compile time of a group is the last one measured for the same structure (a cold
compile is recorded as the load it makes possible), kept in ``oar_compile_times.json`` beside
inductor's cache, else ``COLD_BASE_S + COLD_PER_PARAM_S * params``: a second run of the same
script compiles after ~1/10 of the steps the first one waited.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import torch

from .common import DropCache, cache_path, read_json, write_json
from .compiled import compilable, run_compiled
from .compiled import stats as compiled_stats
from .eager import run_eager
from .fused import kernel_for, run_fused
from .rule import Hyper, Rule, State

__all__ = ["COLD_BASE_S", "COLD_PER_PARAM_S", "MIN_NUMEL", "SAVED_FRACTION", "decisions", "run_auto"]

#: Groups with fewer elements (in params the compiler may see) always run eagerly.
MIN_NUMEL = 1 << 20
#: Fraction of an eager step's time a compiled step saves (the low end of the measured range).
SAVED_FRACTION = 0.85
#: Expected cold compile time of a group: a base (mostly inductor's one-time probes of the C++
#: compiler) plus a cost per param, fitted to measured compiles.
COLD_BASE_S = 10.0
COLD_PER_PARAM_S = 0.8


class _Auto:
    """The auto engine's record of one group: its mode, and what running it eagerly has cost."""

    __slots__ = ("__weakref__", "digest", "expected_s", "lost_s", "mode", "refs", "steps")

    def __init__(self) -> None:
        self.mode = "eager"
        self.lost_s = 0.0
        self.steps = 0
        self.expected_s = 0.0
        self.digest = ""  # of the group's structure, when it is measured
        self.refs: list = []


_groups: DropCache[tuple, _Auto] = DropCache()


def decisions() -> list[dict[str, Any]]:
    """The state of every group seen by the auto engine: mode ('eager', 'measuring' or
    'compiled'), steps run eagerly, seconds lost against compiled code, expected compile time."""
    with _groups.lock:
        return [
            {"mode": a.mode, "eager_steps": a.steps, "lost_s": a.lost_s, "expected_compile_s": a.expected_s}
            for a in _groups.values()
        ]


def _history_path() -> str | None:
    return cache_path("oar_compile_times.json")


def _read_history() -> dict[str, float]:
    data = read_json(_history_path())
    return data if isinstance(data, dict) else {}


def _record(digest: str, seconds: float) -> None:
    path = _history_path()
    if path is None:
        return
    try:
        data = _read_history()
        data[digest] = round(seconds, 3)
        write_json(path, data)
    except Exception:
        pass


def _digest(rule: Rule, params: Sequence[torch.Tensor], states: Sequence[State], hypers: Sequence[Hyper]) -> str:
    parts = [torch.__version__, getattr(rule, "__module__", ""), getattr(rule, "__qualname__", repr(rule))]
    for p, st, hy in zip(params, states, hypers, strict=False):
        parts.append(
            f"{p.device.type}:{p.dtype}:{tuple(p.shape)}:{tuple(st)}:"
            f"{sorted((k, v) for k, v in hy.items() if not isinstance(v, (float, torch.Tensor)))}"
        )
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _new_group(
    key: tuple,
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
) -> _Auto:
    a = _Auto()
    numel = sum(p.numel() for p, g, st in zip(params, grads, states, strict=False) if compilable(p, g, st))
    if numel >= MIN_NUMEL:
        a.mode = "measuring"
        a.digest = _digest(rule, params, states, hypers)
        known = _read_history().get(a.digest)
        a.expected_s = (
            float(known) if isinstance(known, (int, float)) else (COLD_BASE_S + COLD_PER_PARAM_S * len(params))
        )
    try:
        a.refs = _groups.watch(key, a, params)
    except TypeError:  # params without weak references: do not remember this group
        pass
    return a


def run_auto(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
) -> None:
    """Run a group fused, eagerly or compiled, as described in this module's docstring."""
    if kernel_for(rule) is not None:
        run_fused(rule, params, grads, states, hypers, fallback=_run_unfused, wait=False)
    else:
        _run_unfused(rule, params, grads, states, hypers)


def _run_unfused(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
) -> None:
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
