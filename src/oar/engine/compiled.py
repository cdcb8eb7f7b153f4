"""The compiled engine: one ``torch.compile`` (inductor) function per group bucket that runs the
rule over every param of the bucket (C++/OpenMP loops on CPU, Triton on GPU).

Design (the numbers behind it are in ``benchmarks/engine_bench.py`` and the engine's docs):

* The rule is traced as written — no per-algorithm copy of the math. The traced function loops
  over the bucket's params, rebuilds each param's ``state`` dict and calls ``rule(param, grad,
  state, **hyper)``; with a float32 master weight it updates the master with a float32 grad and
  writes the rounded copy to the param, inside the same compiled function.
* Every float hyper-parameter (lr, betas, eps, weight decay, ...) is a 0-d view of a persistent
  per-bucket float64 buffer (float64: arithmetic on it matches Python-float arithmetic in the
  eager engine). The buffer is refilled in place only when a value changed, so a changing lr
  never recompiles and a step allocates nothing param-sized. Flags (Python bools, ints, None,
  strings) are baked into the compiled function and are part of its cache key.
* A bucket is the params of one group with the same device and dtype. Params that the compiler
  should not see (sparse grads, tensor subclasses such as DTensor, complex tensors, state on
  another device) run on the eager engine.
* Each compiled function gets its own code object, so dynamo's per-code cache (and its
  recompile limit) belongs to one bucket structure; compiled functions are cached per
  (rule, structure, flags) and evicted least-recently-used.
* A rule that cannot be compiled as one graph (``fullgraph=True``) falls back to eager with a
  warning: the whole compile happens before any tensor is touched, so the fallback is exact.
"""
from __future__ import annotations

import collections
import itertools
import math
import shutil
import threading
import warnings

import torch

from .eager import run_eager

__all__ = ["run_compiled", "compile_available", "stats", "clear_cache"]

_MAX_PLANS = 64
_plans: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()
_counter = itertools.count()
_stats = collections.Counter()
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def stats() -> dict:
    """Counters: ``compiles`` (compiled functions built), ``fallbacks`` (buckets sent to eager
    because compiling failed), ``eager_params`` (params run eagerly because the compiler
    should not see them)."""
    return dict(_stats)


def clear_cache() -> None:
    """Forget every compiled function (the on-disk inductor cache is kept)."""
    with _lock:
        _plans.clear()


_available: dict = {}


def compile_available(device: torch.device) -> bool:
    """Whether ``torch.compile`` with inductor can be used for tensors on ``device``."""
    kind = device.type
    if kind not in _available:
        ok = False
        try:
            import torch._dynamo  # noqa: F401

            if torch._dynamo.is_dynamo_supported():
                if kind == "cpu":
                    from torch._inductor import config as ind_config

                    cxx = ind_config.cpp.cxx
                    names = [c for c in (cxx if isinstance(cxx, tuple) else (cxx,)) if c]
                    ok = any(shutil.which(c) for c in names) or shutil.which("g++") is not None
                elif kind == "cuda":
                    from torch.utils._triton import has_triton

                    ok = has_triton()
                else:
                    ok = kind in ("xpu",)
        except Exception:  # pragma: no cover - broken installs
            ok = False
        _available[kind] = ok
    return _available[kind]


def _hyper_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _is_plain(t) -> bool:
    return type(t) in _PLAIN and t.layout == torch.strided and not t.is_complex()


def compilable(param, grad, state) -> bool:
    """Whether one param can be run by a compiled function (else: eager)."""
    if not (_is_plain(param) and type(grad) is torch.Tensor and grad.layout == torch.strided):
        return False
    device = param.device
    for value in state.values():
        if not (isinstance(value, torch.Tensor) and _is_plain(value) and value.device == device):
            return False
    return True


class _Plan:
    """A compiled function for one bucket structure and its hyper-parameter buffer."""

    __slots__ = ("fn", "hbuf", "last", "width", "broken", "calls")

    def __init__(self, fn, n, width, device):
        self.fn = fn
        self.width = width
        self.hbuf = torch.zeros((n, max(width, 1)), dtype=_hyper_dtype(device), device=device)
        self.last = None
        self.broken = False
        self.calls = 0


def _make_step(rule, layouts):
    """Build the function dynamo traces. ``layouts[i] = (state_keys, hyper_names, flags)``."""

    def step(params, grads, flat_states, hbuf):
        k = 0
        for i, (keys, names, flags) in enumerate(layouts):
            state = {}
            for key in keys:
                state[key] = flat_states[k]
                k += 1
            hyper = dict(flags)
            for j, name in enumerate(names):
                hyper[name] = hbuf[i, j]
            master = state.get("master_weight")
            if master is None:
                rule(params[i], grads[i], state, **hyper)
            else:
                rule(master, grads[i].to(master.dtype), state, **hyper)
                params[i].copy_(master)

    # A code object of its own: dynamo caches compiled graphs (and counts recompiles) per code
    # object, so every bucket structure gets a fresh cache instead of sharing one.
    code = step.__code__.replace(co_name=f"oar_compiled_step_{next(_counter)}")
    fn = type(step)(code, step.__globals__, code.co_name, None, step.__closure__)
    return torch.compile(fn, fullgraph=True, dynamic=False)


def _split_hyper(hyper: dict):
    """(names of float hypers, their values, flags) of one param's hyper dict."""
    names, values, flags = [], [], []
    for name, value in hyper.items():
        if isinstance(value, float) or (isinstance(value, torch.Tensor) and value.numel() == 1):
            names.append(name)
            values.append(value)
        else:
            flags.append((name, value))
    return tuple(names), values, tuple(flags)


def _run_bucket(rule, params, grads, states, hypers) -> None:
    device = params[0].device
    layouts = []
    structure = []
    values: list = []
    tensor_hypers = []
    flat_states = []
    width = 0
    for i, (p, g, st, hy) in enumerate(zip(params, grads, states, hypers)):
        names, vals, flags = _split_hyper(hy)
        keys = tuple(st)
        layouts.append((keys, names, flags))
        structure.append((p.dtype, p.shape, g.dtype, g.shape, keys, names, flags,
                          tuple((v.dtype, v.shape) for v in st.values())))
        width = max(width, len(names))
        for j, v in enumerate(vals):
            if isinstance(v, torch.Tensor):
                tensor_hypers.append((i, j, v))
                vals[j] = math.nan
        values.append(vals)
        flat_states.extend(st.values())
    key = (rule, device, tuple(structure))
    try:
        hash(key)
    except TypeError:  # an unhashable flag value: let eager handle it
        run_eager(rule, params, grads, states, hypers)
        return
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            plan = _Plan(_make_step(rule, tuple(layouts)), len(params), width, device)
            _plans[key] = plan
            _stats["compiles"] += 1
            while len(_plans) > _MAX_PLANS:
                _plans.popitem(last=False)
        else:
            _plans.move_to_end(key)
    if plan.broken:
        run_eager(rule, params, grads, states, hypers)
        return
    flat_vals = [v for vals in values for v in itertools.chain(vals, [0.0] * (plan.width - len(vals)))]
    if flat_vals != plan.last:
        if plan.width:
            plan.hbuf.copy_(torch.tensor(flat_vals, dtype=plan.hbuf.dtype).view(plan.hbuf.shape))
        plan.last = flat_vals
    for i, j, t in tensor_hypers:
        plan.hbuf[i, j].copy_(t.reshape(()))
        plan.last = None
    with torch.no_grad():
        if plan.calls == 0:
            try:
                plan.fn(params, grads, flat_states, plan.hbuf)
            except Exception as exc:  # compile failed: nothing was touched, run eagerly
                plan.broken = True
                _stats["fallbacks"] += 1
                warnings.warn(
                    f"oar: compiling {getattr(rule, '__name__', rule)} failed; using the eager "
                    f"engine for this group ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                    RuntimeWarning,
                    stacklevel=4,
                )
                run_eager(rule, params, grads, states, hypers)
                return
        else:
            plan.fn(params, grads, flat_states, plan.hbuf)
    plan.calls += 1


def run_compiled(rule, params, grads, states, hypers) -> None:
    """Run ``rule`` over a group with compiled functions, one per (device, dtype) bucket; params
    the compiler should not see run on the eager engine."""
    buckets: dict = {}
    eager = None
    for i, (p, g, st) in enumerate(zip(params, grads, states)):
        if compilable(p, g, st) and compile_available(p.device):
            buckets.setdefault((p.device, p.dtype), []).append(i)
        else:
            eager = eager or []
            eager.append(i)
    for idx in buckets.values():
        if len(idx) == len(params):
            _run_bucket(rule, params, grads, states, hypers)
        else:
            _run_bucket(rule, *(_pick(x, idx) for x in (params, grads, states, hypers)))
    if eager:
        _stats["eager_params"] += len(eager)
        run_eager(rule, *(_pick(x, eager) for x in (params, grads, states, hypers)))


def _pick(items, idx):
    return [items[i] for i in idx]
