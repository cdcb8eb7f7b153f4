"""The fused engine: hand-written C/OpenMP kernels for CPU, one memory pass per step (LAMB: two).

An algorithm may give its rule a *fused form*: a C kernel under ``oar/kernels/`` and a
:class:`Kernel` that says how the rule's state and hyper-parameters map onto the kernel's
arguments (``register``). The kernel runs over every eligible param of a group in one OpenMP
region, split evenly by elements across ``torch.get_num_threads()`` threads. Each kernel is
tested against its rule on the eager engine (tests/test_engine.py).

Why next to the compiled engine (measured figures: RESULTS.md; ``benchmarks/engine_bench.py``
measures them):

* Speed. A step reads the bytes the rule needs once (Adam, RMSProp: 16 bytes/param, like
  ``torch.optim.Adam(fused=True)``; LAMB: 28 in two passes). Inductor emits one kernel per tensor
  with its own parallel region; here one region covers the group, split by elements. What is
  left of a step is its Python work: the kernel's streaming evicts every Python object the step
  touches.
* Start-up. The kernels build with the system C compiler in about a second, once per machine
  (cached beside inductor's cache, keyed by source, compiler and CPU), where inductor compiles a
  group for tens of seconds cold.

A step of a group checks its *kernel plan* (``_KernelPlan``: which params the kernel takes, in
one ``_KernelBatch`` per dtype with the C arrays of their param and state addresses): it is
rebuilt when a param or state tensor is another object, or a param's storage moved
(``p.data = ...``). Grads are checked at every step.

Eligible: dense contiguous params on CPU, plain ``torch.Tensor``/``Parameter`` (no subclass),
grads of the param's dtype, and hyper-parameters the kernel supports (``Kernel.hypers`` returns
None otherwise: Adam's amsgrad); float32 or float64 params with state of the same dtype, or
bfloat16 params with a float32 master weight and state where the kernel has a bfloat16 form
(Adam, LAMB: the master is updated and the param receives its rounded copy, as the eager
engine's ``apply_rule`` does). Everything else goes to the ``fallback`` engine (compiled, or
the auto engine's choice).

A kernel may also export a two-pass form, ``oar_<name>_<suffix>_sums`` and ``_apply`` (the
ABI plus ``double *sums``): pass 1 writes each param's partial sums of what its step needs over
the whole tensor, pass 2 finishes the step with those sums added over the ranks. The sharded
engine (:mod:`oar.engine.sharded`, FSDP2) runs it through :func:`split_run` (LAMB's norms).

The build needs a C compiler (``cc``, ``gcc`` or ``clang``, or ``$CC``); without one, or if the
build fails, a warning is issued once and every param takes the fallback.
"""

from __future__ import annotations

import array
import collections
import ctypes
import dataclasses
import hashlib
import operator
import os
import shutil
import subprocess
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from .common import PLAIN, DropCache, atomic_path, cache_path
from .rule import Engine, Hyper, Rule, State
from .torch_private import increment_version

__all__ = [
    "NONFINITE",
    "SPLIT_PHASES",
    "Kernel",
    "SplitRun",
    "kernel_for",
    "library",
    "nonfinite",
    "register",
    "run_fused",
    "split_run",
    "stats",
]

_KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
# -ffp-contract=off: no fused multiply-add (each op rounds as the rule's); -fno-trapping-math:
# floating-point comparisons may be evaluated speculatively, so selects (Rprop's, Adamax's max)
# vectorize; results are unchanged (only the exception flags, which nothing reads, may differ).
_FLAGS = [
    "-O3",
    "-fopenmp",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-std=c11",
    "-shared",
    "-fPIC",
]
#: Environment variable naming the ISA the kernels are built for (``-march=``): ``native`` by
#: default; ``x86-64`` (SSE2 only) builds for the baseline, so that the tests can run the same
#: kernels on any x86-64 machine and an ISA-dependent assumption fails everywhere (.ci/run does).
MARCH_ENV = "OAR_FUSED_MARCH"
_SUFFIX = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16"}
# the state's dtype for a param dtype; bfloat16 params go through a float32 master weight
_STATE_DTYPE = {torch.float32: torch.float32, torch.float64: torch.float64, torch.bfloat16: torch.float32}


@dataclasses.dataclass(frozen=True)
class Kernel:
    """The fused form of a rule.

    Attributes:
        source (str): C file under ``oar/kernels/`` defining ``oar_<name>_f32``, ``_f64`` and
            optionally ``_bf16`` (float32 master weights) with the ABI in ``common.h``;
            ``name`` is the file's stem.
        state (tuple[str]): element-wise state tensors (param shape), in the kernel's order.
        pows (tuple[str]): one-element state tensors the kernel reads and updates (beta pows).
        hypers (callable(dict) -> tuple[float] | None): one param's hyper-parameter dict (as the
            eager rule receives it) to the kernel's doubles; None where the kernel does not
            implement the combination (the param then takes the fallback engine).
        rows (tuple[str]): states of shape ``[k, *param.shape]`` (ASGD's stored grads), passed
            by their base address after ``state``.
        counters (tuple[str]): int64 one-element states (step counts), passed after ``pows``
            in ``W`` (the kernel reads and writes them as ``int64_t``).
    """

    source: str
    state: tuple[str, ...]
    pows: tuple[str, ...]
    hypers: Callable[[Hyper], tuple[float, ...] | None]
    rows: tuple[str, ...] = ()
    counters: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.source))[0]


_kernels: dict[Rule, Kernel] = {}
_libs: dict[str, ctypes.CDLL | Literal[False]] = {}  # source -> ctypes.CDLL, or False after a failed build
_fns: dict[tuple[str, torch.dtype], Any] = {}  # (source, param dtype) -> the kernel's C function
#: the kernels' two-pass forms: (source, param dtype, phase) -> C function (ABI + ``double *sums``)
_split_fns: dict[tuple[str, torch.dtype, str], Any] = {}
#: the phases of a kernel's two-pass form: ``oar_<name>_<suffix>_sums`` writes each param's
#: local partial sums, ``_apply`` finishes the step with the sums added over the ranks
SPLIT_PHASES = ("sums", "apply")
_building: dict[str, threading.Thread] = {}  # source -> the thread building it
_lock = threading.Lock()
_stats: collections.Counter[str] = collections.Counter()


def register(rule: Rule, kernel: Kernel) -> None:
    """Give ``rule`` a fused form (called by the algorithm's module)."""
    _kernels[rule] = kernel


def kernel_for(rule: Rule) -> Kernel | None:
    """The fused form registered for ``rule``, or None."""
    return _kernels.get(rule)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir() -> str:
    """Where built kernels are kept: beside inductor's cache, else in the user's cache dir."""
    path = cache_path("oar_kernels")
    if path is None:  # pragma: no cover - other torch layouts
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "oar", "kernels")
    return path


def _flags() -> list[str]:
    """The compiler flags, ``-march`` from ``$OAR_FUSED_MARCH`` (default ``native``).

    Raises:
        ValueError: ``$OAR_FUSED_MARCH`` is not a plain ISA name.
    """
    march = os.environ.get(MARCH_ENV, "").strip() or "native"
    if not all(c.isalnum() or c in "-_.+" for c in march):
        raise ValueError(f"${MARCH_ENV} must name an ISA for -march= (e.g. native, x86-64), got {march!r}")
    return [f"-march={march}", *_FLAGS]


def _cpu_id() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))][:2]
        return "".join(lines)
    except OSError:  # pragma: no cover - not Linux
        import platform

        return platform.processor() + platform.machine()


def _lib_path(kernel: Kernel, cc: str) -> str:
    h = hashlib.sha1()
    for name in sorted(os.listdir(_KERNEL_DIR)):
        if name == os.path.basename(kernel.source) or name.endswith(".h"):
            with open(os.path.join(_KERNEL_DIR, name), "rb") as f:
                h.update(name.encode() + f.read())
    h.update(" ".join([cc, *_flags(), _cpu_id(), sys.platform]).encode())
    return os.path.join(_cache_dir(), f"oar_{kernel.name}_{h.hexdigest()[:16]}.so")


def _build(kernel: Kernel) -> None:
    """Compile (unless already in the cache) and load the kernel's library into ``_libs``."""
    lib: ctypes.CDLL | Literal[False] = False
    try:
        cc = _compiler()
        if cc is None:
            raise RuntimeError("no C compiler found (set $CC, or install cc, gcc or clang)")
        path = _lib_path(kernel, cc)
        if not os.path.exists(path):
            src = os.path.join(_KERNEL_DIR, kernel.source)
            with atomic_path(path) as tmp:  # a failed build leaves no partial library
                proc = subprocess.run([cc, *_flags(), src, "-o", tmp], check=False, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"{cc} failed on {src}:\n{proc.stderr[-2000:]}")
            _stats["builds"] += 1
        lib = ctypes.CDLL(path)
        for dtype, suffix in _SUFFIX.items():
            try:
                fn = getattr(lib, f"oar_{kernel.name}_{suffix}")
            except AttributeError:  # no kernel for this dtype (bf16 is optional)
                continue
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 6 + [ctypes.c_int]
            _fns[kernel.source, dtype] = fn
            for phase in SPLIT_PHASES:  # the optional two-pass form (oar.engine.sharded)
                split = getattr(lib, f"oar_{kernel.name}_{suffix}_{phase}", None)
                if split is not None:
                    split.restype = ctypes.c_int
                    split.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 6 + [ctypes.c_int, ctypes.c_void_p]
                    _split_fns[kernel.source, dtype, phase] = split
    except Exception as e:
        warnings.warn(
            f"oar: the fused {kernel.name} kernel is unavailable, its params take the fallback engine ({e})",
            RuntimeWarning,
            stacklevel=2,
        )
        lib = False
    with _lock:
        _libs[kernel.source] = lib
        _building.pop(kernel.source, None)


def _is_built(kernel: Kernel) -> bool:
    cc = _compiler()
    return cc is not None and os.path.exists(_lib_path(kernel, cc))


def library(kernel: Kernel, wait: bool = True) -> ctypes.CDLL | None:
    """The loaded library of ``kernel``, or None if it cannot be built. A library already in
    the cache is loaded at once; otherwise ``wait=False`` starts the build in a background
    thread and returns None until it is done."""
    lib = _libs.get(kernel.source)
    if lib is not None:
        return lib or None
    with _lock:
        thread = _building.get(kernel.source)
    if thread is None and (wait or _is_built(kernel)):
        _build(kernel)
    elif thread is not None and wait:
        thread.join()
    elif thread is None:
        with _lock:
            if kernel.source not in _building:
                thread = threading.Thread(target=_build, args=(kernel,), daemon=True, name=f"oar-build-{kernel.name}")
                _building[kernel.source] = thread
                thread.start()
    lib = _libs.get(kernel.source)
    return lib or None


def stats() -> dict[str, int]:
    """Counters: ``builds`` (libraries compiled), ``fused_params`` (param updates run by a
    kernel), ``fallback_params`` (param updates handed to the fallback engine)."""
    return dict(_stats)


def _param_ok(kernel: Kernel, param: torch.Tensor, state: State) -> bool:
    """The grad-independent half of eligibility, checked when a group's plan is made."""
    dtype = param.dtype
    if type(param) not in PLAIN or not param.is_cpu or (kernel.source, dtype) not in _fns or not param.is_contiguous():
        return False
    sdtype, numel = _STATE_DTYPE[dtype], param.numel()
    if ("master_weight" in state) != (sdtype is not dtype):
        return False
    for name in (n for n in _element_states(kernel, dtype) if n not in kernel.rows):
        s = state.get(name)
        if not (
            s is not None
            and type(s) in PLAIN
            and s.dtype is sdtype
            and s.is_cpu
            and s.numel() == numel
            and s.is_contiguous()
        ):
            return False
    for name in kernel.rows:
        s = state.get(name)
        if not (
            s is not None
            and type(s) in PLAIN
            and s.dtype is sdtype
            and s.is_cpu
            and s.dim() >= 1
            and s.shape[1:] == param.shape
            and s.is_contiguous()
        ):
            return False
    for names, want in ((kernel.pows, sdtype), (kernel.counters, torch.int64)):
        for name in names:
            s = state.get(name)
            if not (s is not None and type(s) in PLAIN and s.dtype is want and s.is_cpu and s.numel() == 1):
                return False
    return True


def _element_states(kernel: Kernel, dtype: torch.dtype) -> tuple[str, ...]:
    """The param-sized state tensors the kernel takes for params of ``dtype``, in order (rows
    by their base address)."""
    return kernel.state + kernel.rows + (("master_weight",) if _STATE_DTYPE[dtype] is not dtype else ())


def _grad_ok(grad: torch.Tensor, dtype: torch.dtype, numel: int) -> bool:
    return (
        type(grad) in PLAIN
        and grad.dtype is dtype
        and grad.layout is torch.strided
        and grad.is_cpu
        and grad.numel() == numel
        and grad.is_contiguous()
    )


def _address(values: Sequence[int] | Sequence[float], typecode: str) -> tuple[array.array, int]:
    """A C array of ``values`` and its address (the array must be kept alive)."""
    buf = array.array(typecode, values)
    return buf, buf.buffer_info()[0]


class _KernelBatch:
    """The params of one dtype in a kernel plan, run by one kernel call, with the C arrays of
    their param, state and pow addresses and sizes (built once; the grads' and
    hyper-parameters' are built per step)."""

    __slots__ = ("arrays", "fn", "idx", "numels")

    def __init__(
        self,
        kernel: Kernel,
        dtype: torch.dtype,
        idx: list[int],
        params: Sequence[torch.Tensor],
        states: Sequence[State],
    ) -> None:
        self.fn = _fns[kernel.source, dtype]
        self.idx = idx
        self.numels = [params[i].numel() for i in idx]
        names = _element_states(kernel, dtype)
        self.arrays = (
            _address([params[i].data_ptr() for i in idx], "Q"),
            _address([states[i][k].data_ptr() for i in idx for k in names], "Q"),
            _address([states[i][k].data_ptr() for i in idx for k in kernel.pows + kernel.counters], "Q"),
            _address(self.numels, "q"),
        )


class _KernelPlan:
    """How a group runs: which params the kernel takes, in one batch per dtype. Valid while the
    params and state tensors are the same objects at the same addresses (checked at every step;
    held by weak references, so a plan keeps no tensor alive)."""

    __slots__ = ("__weakref__", "batches", "param_ptrs", "refs", "rest")

    def __init__(self, kernel: Kernel, params: Sequence[torch.Tensor], states: Sequence[State]) -> None:
        self.refs: list[Callable[[], Any]] = []  # set by _plan_for, with the drop callback
        self.param_ptrs = [_ptr(p) for p in params]
        ok = [_param_ok(kernel, p, st) for p, st in zip(params, states, strict=False)]
        self.rest = [i for i, good in enumerate(ok) if not good]
        by_dtype: dict[torch.dtype, list[int]] = {}
        for i, good in enumerate(ok):
            if good:
                by_dtype.setdefault(params[i].dtype, []).append(i)
        self.batches = [_KernelBatch(kernel, dt, idx, params, states) for dt, idx in by_dtype.items()]

    def valid(self, kernel: Kernel, params: Sequence[torch.Tensor], states: Sequence[State]) -> bool:
        current = _state_list(kernel, params, states)
        if len(current) != len(self.refs) or not all(map(operator.is_, current, [r() for r in self.refs])):
            return False
        return [_ptr(p) for p in params] == self.param_ptrs


def _state_names(kernel: Kernel) -> tuple[str, ...]:
    return kernel.state + kernel.rows + kernel.pows + kernel.counters + ("master_weight",)


def _state_list(kernel: Kernel, params: Sequence[torch.Tensor], states: Sequence[State]) -> list[torch.Tensor | None]:
    """Each param followed by its state tensors (None where absent), as a plan depends on them."""
    names = _state_names(kernel)
    out: list[torch.Tensor | None] = []
    for p, st in zip(params, states, strict=False):
        out.append(p)
        out.extend([st.get(name) for name in names])
    return out


def _state_refs(
    kernel: Kernel, params: Sequence[torch.Tensor], states: Sequence[State], drop: Callable[[object], None]
) -> list[Callable[[], Any]]:
    """Weak references to ``_state_list``'s entries; a param's death drops the plan."""
    stride = 1 + len(_state_names(kernel))
    return [
        _none if t is None else weakref.ref(t, drop if j % stride == 0 else None)
        for j, t in enumerate(_state_list(kernel, params, states))
    ]


def _none() -> None:
    return None  # stands for the weak reference of an absent state


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr() if type(t) in PLAIN and t.layout is torch.strided else 0


_plans: DropCache[tuple, _KernelPlan] = DropCache()


def _plan_for(kernel: Kernel, rule: Rule, params: Sequence[torch.Tensor], states: Sequence[State]) -> _KernelPlan:
    # the first state dict tells apart two optimizers over the same params (one plan each)
    key = (rule, tuple(map(id, params)), id(states[0]) if states else 0)
    plan = _plans.get(key)
    if plan is None or not plan.valid(kernel, params, states):
        plan = _KernelPlan(kernel, params, states)
        plan.refs = _state_refs(kernel, params, states, _plans.dropper(key, plan))
        _plans[key] = plan
    return plan


def run_fused(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    fallback: Engine | None = None,
    wait: bool = True,
) -> None:
    """Update the params the rule's fused kernel may handle with it, and hand the others to
    ``fallback`` (default: the compiled engine). ``wait=False``: do not wait for a kernel being
    built; its params take the fallback meanwhile."""
    if fallback is None:
        from .compiled import run_compiled

        fallback = run_compiled
    kernel = _kernels.get(rule)
    lib = None
    if kernel is not None and any(p.is_cpu for p in params):
        lib = library(kernel, wait)
    rest: list[int]
    if lib is None or kernel is None:
        rest = list(range(len(params)))
    else:
        plan = _plan_for(kernel, rule, params, states)
        rest = list(plan.rest)
        converted: dict = {}  # hyper dicts are shared between params (Optimizer._apply_group)
        for batch in plan.batches:
            idx, dtype = batch.idx, params[batch.idx[0]].dtype
            values = []
            for i, numel in zip(idx, batch.numels, strict=False):
                hy = hypers[i]
                v = converted.get(id(hy), converted)
                if v is converted:
                    v = converted[id(hy)] = kernel.hypers(hy)
                if v is None or not _grad_ok(grads[i], dtype, numel):
                    break
                values.extend(v)
            else:
                _launch(batch, [params[i] for i in idx], [grads[i] for i in idx], values)
                continue
            # some param of the batch cannot run fused this step: launch the others on their own
            good = [
                i for i in idx if kernel.hypers(hypers[i]) is not None and _grad_ok(grads[i], dtype, params[i].numel())
            ]
            chosen = set(good)
            rest.extend(i for i in idx if i not in chosen)
            if good:
                sub = _KernelBatch(kernel, dtype, good, params, states)
                _launch(
                    sub,
                    [params[i] for i in good],
                    [grads[i] for i in good],
                    [x for i in good for x in kernel.hypers(hypers[i]) or ()],
                )
    _stats["fused_params"] += len(params) - len(rest)
    if rest:
        _stats["fallback_params"] += len(rest)
        if len(rest) == len(params):
            fallback(rule, params, grads, states, hypers)
        else:
            rest = sorted(rest)
            fallback(
                rule,
                [params[i] for i in rest],
                [grads[i] for i in rest],
                [states[i] for i in rest],
                [hypers[i] for i in rest],
            )


class SplitRun:
    """One step of the two-pass form of a rule's kernel over a group's params: ``taken``
    (indices the kernel runs), :meth:`sums` (pass 1: their local partial sums, rows of a float64
    tensor) and :meth:`apply` (pass 2, with the sums added over the ranks)."""

    def __init__(
        self,
        kernel: Kernel,
        batches: list[tuple[_KernelBatch, list[float]]],
        params: Sequence[torch.Tensor],
        grads: Sequence[torch.Tensor],
        count: int,
    ) -> None:
        self.kernel, self.batches, self.count = kernel, batches, count
        self.params, self.grads = params, grads
        self.taken = [i for batch, _ in batches for i in batch.idx]

    def _run(self, phase: str, sums: torch.Tensor) -> None:
        row = 0
        for batch, values in self.batches:
            n = len(batch.idx)
            dtype = self.params[batch.idx[0]].dtype
            fn = _split_fns[self.kernel.source, dtype, phase]
            part = sums[row : row + n]
            _g_buf, g_addr = _address([self.grads[i].data_ptr() for i in batch.idx], "Q")
            _h_buf, h_addr = _address(values, "d")
            (_, p), (_, s), (_, w), (_, nn) = batch.arrays
            if phase == "apply":
                increment_version([self.params[i] for i in batch.idx])
            if fn(n, p, g_addr, s, w, nn, h_addr, torch.get_num_threads(), part.data_ptr()) != 0:
                raise MemoryError(f"oar: the fused kernel could not allocate its scratch memory for {n} params")
            row += n

    def sums(self) -> torch.Tensor:
        """Pass 1 over ``taken``: a float64 tensor ``[len(taken), count]`` of local partial sums."""
        out = torch.zeros(len(self.taken), self.count, dtype=torch.float64)
        self._run("sums", out)
        return out

    def apply(self, sums: torch.Tensor) -> None:
        """Pass 2 over ``taken`` with ``sums`` (``sums()``'s shape, contiguous float64)."""
        self._run("apply", sums)


def split_run(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    count: int,
    wait: bool = True,
) -> SplitRun | None:
    """The two-pass form of ``rule``'s kernel for the params it can take this step (see
    :class:`SplitRun`), or None when the rule has no kernel, no two-pass form, or its library is
    not available (being built, with ``wait=False``)."""
    kernel = _kernels.get(rule)
    if kernel is None or not any(p.is_cpu for p in params) or library(kernel, wait) is None:
        return None
    plan = _plan_for(kernel, rule, params, states)
    batches: list[tuple[_KernelBatch, list[float]]] = []
    for batch in plan.batches:
        dtype = params[batch.idx[0]].dtype
        if any((kernel.source, dtype, ph) not in _split_fns for ph in SPLIT_PHASES):
            continue
        good: list[int] = []
        values: list[float] = []
        for i in batch.idx:
            v = kernel.hypers(hypers[i])
            if v is not None and _grad_ok(grads[i], dtype, params[i].numel()):
                good.append(i)
                values.extend(v)
        if good:
            sub = batch if len(good) == len(batch.idx) else _KernelBatch(kernel, dtype, good, params, states)
            batches.append((sub, values))
    _stats["fused_params"] += sum(len(b.idx) for b, _ in batches)
    return SplitRun(kernel, batches, params, grads, count)


def _launch(bucket: _KernelBatch, params: list[torch.Tensor], grads: list[torch.Tensor], values: list[float]) -> None:
    _g_buf, g_addr = _address([g.data_ptr() for g in grads], "Q")  # buffers live until return
    _h_buf, h_addr = _address(values, "d")
    (_, p), (_, s), (_, w), (_, n) = bucket.arrays
    # What an in-place torch op does: autograd then refuses a backward through the old values.
    # Done before the kernel, while these objects are still in cache (the kernel evicts them).
    increment_version(params)
    if bucket.fn(len(bucket.idx), p, g_addr, s, w, n, h_addr, torch.get_num_threads()) != 0:
        # the kernel allocates its scratch before writing anything: nothing has changed
        raise MemoryError(f"oar: the fused kernel could not allocate its scratch memory for {len(bucket.idx)} params")


#: The non-finite guard's check of the grads (``oar.step_check``, ``skip_nonfinite=True``):
#: ``kernels/nonfinite.c``, the kernel ABI with only the grads and their sizes (no rule).
NONFINITE = Kernel("nonfinite.c", (), (), lambda hyper: ())
#: The dtypes ``nonfinite`` takes (dense, contiguous, on CPU).
NONFINITE_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def nonfinite(grads: Sequence[torch.Tensor], wait: bool = False) -> bool | None:
    """Whether any element of ``grads`` (plain, dense, contiguous CPU tensors of one dtype of
    ``NONFINITE_DTYPES``) is a NaN or an inf: one read of each grad, in one parallel region over
    all of them, at the machine's read bandwidth. None when the kernel is not available (not
    built yet, with ``wait=False``: it then builds in the background; no C compiler).

    Raises:
        ValueError: a tensor the kernel cannot read, or dtypes that differ.
    """
    if not grads:
        return False
    dtype = grads[0].dtype
    for g in grads:
        if not (
            type(g) in PLAIN
            and g.dtype is dtype
            and g.layout is torch.strided
            and g.is_cpu
            and g.is_contiguous()
            and dtype in NONFINITE_DTYPES
        ):
            raise ValueError(
                f"nonfinite: takes dense contiguous CPU tensors of one dtype among "
                f"{NONFINITE_DTYPES}, got {type(g).__name__} {g.dtype} {g.layout} on {g.device}"
            )
    if library(NONFINITE, wait) is None:
        return None
    fn = _fns.get((NONFINITE.source, dtype))
    if fn is None:
        return None
    _g_buf, g_addr = _address([g.data_ptr() for g in grads], "Q")  # buffers live until return
    _n_buf, n_addr = _address([g.numel() for g in grads], "q")
    return bool(fn(len(grads), None, g_addr, None, None, n_addr, None, torch.get_num_threads()))
