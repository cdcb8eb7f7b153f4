"""The compiled engine: the rule traced over a group and compiled by inductor (C++/OpenMP loops
on CPU, Triton on GPU) into fused loops that read and write each tensor once per pass.

How (measured figures: RESULTS.md; ``benchmarks/engine_bench.py`` measures them):

* The rule is traced as written — no per-algorithm copy of the math. A traced function loops
  over the bucket's params, rebuilds each param's ``state`` dict and calls ``rule(param, grad,
  state, **hyper)``; with a float32 master weight it updates the master with a float32 grad and
  writes the rounded copy to the param, inside the same compiled function.
* Every float hyper-parameter (lr, betas, eps, weight decay, ...) is a 0-d view of a persistent
  per-bucket float64 buffer (float64, so arithmetic on it is the eager engine's Python-float
  arithmetic). The buffer is refilled in place only when a value changed: a changing lr never
  recompiles, and a step allocates nothing param-sized. Flags (bools, ints, None, strings) are
  baked in and are part of the cache key.
* The group is traced with ``make_fx`` on fake tensors and compiled with inductor's
  ``compile_fx`` — the backend ``torch.compile`` itself calls — without dynamo: tracing is
  faster than dynamo's, and a step calls the compiled code directly, with no guard evaluation
  over hundreds of tensors. The guard is ours (``_GroupPlan.check``): the cache key holds the
  rule, flags, and every input's dtype, shape and stride. Compiled functions are saved beside
  inductor's cache and loaded by later processes without tracing (:mod:`oar.engine.artifacts`).
* Graph passes before inductor (:mod:`oar.engine.graph_passes`) keep the rule's result to float
  rounding: divisions by a scalar become products, costly scalars are computed once, and a rule
  with whole-tensor norms (LAMB) becomes two graphs (28 bytes/param read instead of 32, no
  temporaries).
* Buckets are (device, dtype) groups of at most ``_CHUNK`` params; on CPU each loop is its own
  C++ kernel, so loops of equal shape compile once. Params the compiler should not see (sparse
  grads, tensor subclasses such as DTensor, complex or non-contiguous tensors, state on another
  device, a tensor updated twice) run on the eager engine.
* A rule that cannot be traced as one graph (data-dependent Python control flow, ``.item()``)
  falls back to eager with a warning; tracing happens before any tensor is touched.

The bound is the bytes a step *reads* (writes overlap): Adam and RMSProp read 16 bytes/param,
as torch's fused Adam does; LAMB reads 28.

Names: a *group plan* (``_GroupPlan``) is how one group runs, checked at every step; it holds
*compiled buckets* (``_CompiledBucket``: params of one (device, dtype) and their hyper buffer),
each running the *bucket plan* (``_BucketPlan``: the compiled function of a bucket structure,
shared by every group of that structure).
"""

from __future__ import annotations

import collections
import itertools
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from . import torch_private
from .artifacts import Layout, Meta, TwoPass, build, trace_step
from .common import PLAIN, DropCache
from .eager import run_eager
from .graph_passes import split_at_reductions
from .rule import Hyper, Rule, State

__all__ = ["clear_cache", "compilable", "compile_available", "run_compiled", "stats"]

_TwoPass = TwoPass  # the function of a rule split in two graphs (tests/test_engine.py checks it)

_MAX_PLANS = 64
# Params per compiled function of a rule that is split in two passes (LAMB). Inductor stopped
# fusing the moments' write-back into pass 1 somewhere between 8 and 24 params per graph (a
# separate loop re-read g, m, v); chunks of 8 keep each graph small, and repeated layers share a
# compiled chunk. Rules compiled whole (Adam, RMSProp) are not chunked: one call per chunk
# instead of one per bucket cost them time.
_CHUNK = 8
_split_memo: dict[tuple, bool] = {}
_plans: collections.OrderedDict[tuple, _BucketPlan] = collections.OrderedDict()
_lock = threading.RLock()
_stats: dict[str, Any] = collections.Counter()  # counts, and compile_s (seconds)
_available: dict[str, bool] = {}


def stats() -> dict[str, float]:
    """Counters of this process: ``compiles`` (bucket functions compiled or loaded), ``loaded``
    (of those, loaded from a saved artifact), ``compile_s`` (seconds spent tracing, compiling
    and loading), ``fallbacks`` (buckets sent to eager because tracing or compiling failed),
    ``eager_params`` (param updates run eagerly because the compiler should not see them)."""
    return dict(_stats)


def clear_cache() -> None:
    """Forget every compiled function of this process (inductor's on-disk cache is kept)."""
    with _lock:
        _plans.clear()
        _groups.clear()


def compile_available(device: torch.device) -> bool:
    """Whether inductor can compile for tensors on ``device`` (a C++ compiler for CPU, Triton
    for CUDA/XPU)."""
    kind = device.type
    if kind not in _available:
        ok = False
        try:
            if torch_private.dynamo_supported():
                if kind == "cpu":
                    ok = any(shutil.which(c) for c in torch_private.inductor_cxx()) or shutil.which("g++") is not None
                elif kind in ("cuda", "xpu"):
                    ok = torch_private.has_triton()
        except Exception:  # pragma: no cover - broken installs
            ok = False
        _available[kind] = ok
    return _available[kind]


def _dense(t: torch.Tensor) -> bool:
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


def compilable(param: torch.Tensor, grad: torch.Tensor, state: State) -> bool:
    """Whether one param can be updated by compiled code (else the eager engine runs it)."""
    if type(param) not in PLAIN or type(grad) is not torch.Tensor:
        return False
    if param.layout != torch.strided or grad.layout != torch.strided or param.is_complex():
        return False
    device = param.device
    if grad.device != device or not _dense(param):
        return False
    for value in state.values():
        if type(value) is not torch.Tensor or value.device != device or not _dense(value):
            return False
    return compile_available(device)


def _hyper_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _split_hyper(hyper: Hyper) -> tuple[tuple[str, ...], list[Any], tuple[tuple[str, Any], ...]]:
    """(names of float hypers, their values, flags) of one param's hyper dict. Floats and 0-d
    tensors become inputs; everything else (bools, ints, None, strings) is baked in."""
    names, values, flags = [], [], []
    for name, value in hyper.items():
        if type(value) is float or (isinstance(value, torch.Tensor) and value.numel() == 1):
            names.append(name)
            values.append(value)
        elif isinstance(value, float):  # float subclasses (numpy.float64)
            names.append(name)
            values.append(float(value))
        else:
            flags.append((name, value))
    return tuple(names), values, tuple(flags)


class _BucketPlan:
    """The compiled function of one bucket structure, shared by every group of that structure
    (``fn`` None until the first step; ``broken`` after tracing or compiling failed)."""

    __slots__ = ("broken", "fn", "key", "width")

    def __init__(self, width: int, key: tuple[Rule, tuple[Layout, ...], list[Meta | None], torch.device]) -> None:
        self.fn: Callable[..., Any] | None = None
        self.width = width
        self.broken = False
        self.key = key


class _CompiledBucket:
    """The params of one (device, dtype) bucket of a group: their indices, their bucket plan,
    and the buffer of their float hypers."""

    __slots__ = ("flags", "has_tensor_hypers", "hbuf", "hrows", "idx", "last", "names", "plan")

    def __init__(
        self,
        idx: list[int],
        plan: _BucketPlan,
        names: list[tuple[str, ...]],
        flags: list[tuple[tuple[str, Any], ...]],
        has_tensor_hypers: bool,
        device: torch.device,
    ) -> None:
        self.idx = idx
        self.plan = plan
        self.names = names
        self.flags = flags
        self.has_tensor_hypers = has_tensor_hypers
        # The bucket's float hypers, one row per param. Each row is passed as its own input:
        # one buffer read by every node made inductor's fusion search quadratic in the number
        # of params.
        self.hbuf = torch.zeros((len(idx), max(plan.width, 1)), dtype=_hyper_dtype(device), device=device)
        self.hrows = list(self.hbuf.unbind(0))
        self.last: list[list[float]] | None = None


class _GroupPlan:
    """How a group runs (its compiled buckets and the params that run eagerly), and what the
    group looked like when it was planned, to check cheaply at each step that nothing changed
    (the compiled code has no guards of its own).

    Params and state tensors are held by weak reference (``_groups``): when one dies the plan is
    dropped, so a live plan means that the ids it recorded still name the same objects."""

    __slots__ = (
        "__weakref__",
        "buckets",
        "eager_idx",
        "gmeta",
        "hypers",
        "key",
        "pmeta",
        "refs",
        "state_ids",
    )

    def __init__(
        self, key: tuple, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], states: Sequence[State]
    ) -> None:
        self.key = key
        self.pmeta = [(p.dtype, p.shape) for p in params]
        self.gmeta = _grad_meta(grads)
        self.state_ids = [id(t) for st in states for t in st.values()]
        self.hypers: Sequence[Hyper] | None = None
        self.buckets: list[_CompiledBucket] = []
        self.eager_idx: list[int] = []
        self.refs: list = []

    def check(
        self,
        params: Sequence[torch.Tensor],
        grads: Sequence[torch.Tensor],
        states: Sequence[State],
        hypers: Sequence[Hyper],
    ) -> bool:
        if [(p.dtype, p.shape) for p in params] != self.pmeta:
            return False
        if [id(t) for st in states for t in st.values()] != self.state_ids:
            return False
        return _grad_meta(grads) == self.gmeta


def _grad_meta(grads: Sequence[torch.Tensor]) -> list[tuple]:
    return [
        (type(g), g.layout, g.dtype, g.device, g.shape, g.stride() if g.layout == torch.strided else None)
        for g in grads
    ]


_groups: DropCache[tuple, _GroupPlan] = DropCache(_lock)


def _metas(tensors: Sequence[torch.Tensor]) -> list[Meta]:
    return [(t.dtype, t.shape, t.stride()) for t in tensors]


def _splits(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    i: int,
) -> bool:
    """Whether ``rule`` traced for param ``i`` is split in two passes (memoized per layout)."""
    st = states[i]
    names, _, flags = _split_hyper(hypers[i])
    device = params[i].device
    layout: Layout = (tuple(st), names, flags)
    metas = _metas((params[i], grads[i], *st.values()))
    metas.append((_hyper_dtype(device), (max(len(names), 1),), (1,)))
    key = (rule, layout, tuple(m[0] for m in metas), device.type)
    if key not in _split_memo:
        try:
            with torch.no_grad():
                gm, _ = trace_step(rule, (layout,), metas, device)
            _split_memo[key] = split_at_reductions(gm) is not None
        except Exception:
            _split_memo[key] = False
    return _split_memo[key]


def _plan_bucket(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    idx: list[int],
) -> _CompiledBucket:
    """Find or build the bucket plan of one bucket (``idx``: its params' indices in the group).

    Raises:
        TypeError: an unhashable flag (the caller runs the group eagerly).
    """
    device = params[idx[0]].device
    layouts: list[Layout] = []
    metas: list[Meta | None] = []
    names_all, flags_all = [], []
    has_tensor_hypers = False
    for i in idx:
        st = states[i]
        names, vals, flags = _split_hyper(hypers[i])
        has_tensor_hypers = has_tensor_hypers or any(isinstance(v, torch.Tensor) for v in vals)
        layouts.append((tuple(st), names, flags))
        names_all.append(names)
        flags_all.append(flags)
        metas.extend(_metas((params[i], grads[i], *st.values())))
        metas.append(None)  # the hyper row
    width = max((len(n) for n in names_all), default=0)
    key = (rule, device, tuple(layouts), tuple(metas))
    hash(key)  # TypeError for an unhashable flag: the caller runs eager
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            plan = _BucketPlan(width, (rule, tuple(layouts), metas, device))
            _plans[key] = plan
            while len(_plans) > _MAX_PLANS:
                _plans.popitem(last=False)
        else:
            _plans.move_to_end(key)
    return _CompiledBucket(idx, plan, names_all, flags_all, has_tensor_hypers, device)


def _fill_hypers(bucket: _CompiledBucket, hypers: Sequence[Hyper]) -> bool:
    """Write the bucket's float hypers into its buffer (one copy; skipped when unchanged).
    False: a flag or the set of float hypers changed, the bucket must be planned again."""
    plan = bucket.plan
    rows = []
    tensors = []
    for r, i in enumerate(bucket.idx):
        names, row, flags = _split_hyper(hypers[i])
        if names != bucket.names[r] or flags != bucket.flags[r]:
            return False
        for j, v in enumerate(row):
            if isinstance(v, torch.Tensor):
                tensors.append((r, j, v))
                row[j] = 0.0
        row.extend([0.0] * (plan.width - len(row)))
        rows.append(row)
    if not plan.width:
        return True
    if rows != bucket.last:
        bucket.hbuf.copy_(torch.tensor(rows, dtype=bucket.hbuf.dtype))
        bucket.last = rows
    for r, j, t in tensors:
        bucket.hbuf[r, j].copy_(t.reshape(()))
        bucket.last = None
    return True


def _run_bucket(
    rule: Rule,
    bucket: _CompiledBucket,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
) -> bool:
    """Run one bucket's compiled function (compiling it first if needed). False: the rule could
    not be compiled and nothing was run."""
    plan = bucket.plan
    if plan.broken:
        return False
    flat = []
    for i, row in zip(bucket.idx, bucket.hrows, strict=False):
        flat.append(params[i])
        flat.append(grads[i])
        flat.extend(states[i].values())
        flat.append(row)
    if plan.fn is None:
        rule_, layouts, metas, device = plan.key
        row_meta = (bucket.hbuf.dtype, bucket.hrows[0].shape, bucket.hrows[0].stride())
        full = [m if m is not None else row_meta for m in metas]
        start = time.perf_counter()
        try:
            with _lock, torch.no_grad():
                if plan.fn is None:
                    plan.fn, loaded = build(rule_, layouts, full, device)
                    _stats["compiles"] += 1
                    if loaded:
                        _stats["loaded"] += 1
        except Exception as exc:  # tracing/compiling touched no tensor: run eagerly from now on
            plan.broken = True
            _stats["fallbacks"] += 1
            msg = str(exc).strip().splitlines()
            warnings.warn(
                f"oar: compiling {getattr(rule, '__qualname__', rule)} failed, the eager engine "
                f"runs this group ({type(exc).__name__}: {msg[0] if msg else ''})",
                RuntimeWarning,
                stacklevel=4,
            )
            return False
        finally:
            _stats["compile_s"] += time.perf_counter() - start
    with torch.no_grad():
        plan.fn(*flat)
    return True


def _plan_group(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    key: tuple,
) -> _GroupPlan:
    """Bucket a group, plan each bucket, and record what the plan assumed."""
    buckets: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    grp = _GroupPlan(key, params, grads, states)
    for i, (p, g, st) in enumerate(zip(params, grads, states, strict=False)):
        if compilable(p, g, st):
            buckets.setdefault((p.device, p.dtype), []).append(i)
        else:
            grp.eager_idx.append(i)
    try:
        for idx in buckets.values():
            size = _CHUNK if len(idx) > _CHUNK and _splits(rule, params, grads, states, hypers, idx[0]) else len(idx)
            grp.buckets += [
                _plan_bucket(rule, params, grads, states, hypers, idx[k : k + size]) for k in range(0, len(idx), size)
            ]
    except TypeError:  # an unhashable flag
        grp.buckets = []
        grp.eager_idx = list(range(len(params)))
    persistent = [id(t) for t in itertools.chain(params, *(st.values() for st in states))]
    if len(set(persistent)) != len(persistent):  # a tensor updated twice: only eager is sequential
        grp.buckets = []
        grp.eager_idx = list(range(len(params)))
    try:
        grp.refs = _groups.watch(key, grp, itertools.chain(params, *(st.values() for st in states)))
    except TypeError:  # objects without weak references: do not remember this group
        pass
    return grp


def run_compiled(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
) -> None:
    """Run ``rule`` over a group with compiled code, one compiled function per (device, dtype)
    bucket; params the compiler should not see run on the eager engine."""
    key = (rule, tuple(map(id, params)))
    grp = _groups.get(key)
    if grp is None or not grp.check(params, grads, states, hypers):
        grp = _plan_group(rule, params, grads, states, hypers, key)
    fresh = grp.hypers is None or hypers != grp.hypers
    if fresh and not all(_fill_hypers(b, hypers) for b in grp.buckets):
        grp = _plan_group(rule, params, grads, states, hypers, key)
        for b in grp.buckets:
            _fill_hypers(b, hypers)
    eager_idx = grp.eager_idx
    for bucket in grp.buckets:
        if bucket.has_tensor_hypers and not fresh:
            _fill_hypers(bucket, hypers)
        if not _run_bucket(rule, bucket, params, grads, states):
            eager_idx = eager_idx + bucket.idx
    if not any(b.has_tensor_hypers for b in grp.buckets):
        grp.hypers = hypers
    if eager_idx:
        _stats["eager_params"] += len(eager_idx)
        if len(eager_idx) == len(params):
            run_eager(rule, params, grads, states, hypers)
        else:
            run_eager(rule, *(_pick(x, eager_idx) for x in (params, grads, states, hypers)))


def _pick(items: Sequence[Any], idx: list[int]) -> list[Any]:
    return [items[i] for i in idx]
