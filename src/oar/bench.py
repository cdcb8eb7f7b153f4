"""``oar bench``: oar's optimizers against their peers, on one transformer-shaped parameter set.

One process, one parameter set, every optimizer measured *interleaved*: each round runs one
step of every optimizer (and of a memory-bandwidth probe), in an order rotated every round, so
that a burst of contention from another process hits all of them alike. Ratios (to
``torch.optim.Adam(fused=True)``, and to the measured bandwidth) are taken per round, then the
median over rounds is reported.

Measured, when available: oar Adam/Lamb/RMSProp with ``engine='auto'`` and every engine in
``oar.engine.ENGINES`` (enumerated at run time); torch.optim.Adam (for-loop, foreach, fused) and
RMSprop (for-loop, foreach, fused if it exists); paddle.optimizer Adam/Lamb/RMSProp (CPU);
pytorch_optimizer's Lamb; timm's Lamb.

Bytes that must move per parameter (the GB/s and %BW columns), counted as whole tensors read
or written once per step, with ``P`` the parameter's element size and ``S`` the state's:

* Adam: reads p, g, m, v; writes p, m, v -> 3P + 4S (28 B in float32).
* RMSProp (Paddle's, uncentered: mean_square and momentum): reads p, g, ms, mom; writes p, ms,
  mom -> 3P + 4S (28 B). torch's RMSprop with momentum=0 keeps no momentum buffer: 3P + 2S (20 B).
* Lamb, two streaming passes: pass 1 reads p, g, m, v and writes m, v (and the norms); pass 2
  reads p, m, v and writes p -> 4P + 6S (40 B).
* With float32 master weights (oar with bfloat16 params, ``multi_precision=True``) every read
  and write of p becomes one of the master weight (S) and each write of p also writes p (P).

Usage: ``oar bench [options]`` or ``python benchmarks/bench_step.py [options]``; ``--help``
lists the options.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["add_arguments", "run", "main", "param_shapes", "COLUMNS"]

HIDDEN = 768
VOCAB = 8000
BLOCKS = 3
REFERENCE = "torch.Adam(fused=True)"
# Memory-bandwidth probes, run every round. The read-modify-write one moves memory the way an
# optimizer step does (no read-for-ownership of a separate output); the per-round bandwidth is
# the faster of the two.
BANDWIDTH_INPLACE = "memory: a.add_(b)"
BANDWIDTH_OUT = "memory: torch.add(a,b,out=c)"
BANDWIDTH_ROWS = (BANDWIDTH_INPLACE, BANDWIDTH_OUT)

# Column headers of the printed table (also the keys a reader of the table can rely on).
COLUMNS = [
    "optimizer", "B/param", "ms min", "ms median", "ms max", "GB/s", "%BW",
    "vs fused Adam", "first step ms", "state MB", "peak extra MB",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _log(msg: str) -> None:
    print(f"[oar bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- parameter set
def param_shapes(scale: float = 1.0, blocks: int = BLOCKS) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the transformer-shaped parameter set.

    At ``scale=1``: a [8000, 768] embedding, then ``blocks`` blocks of 4 [768, 768] attention
    weights with their biases, a [768, 3072] and a [3072, 768] feed-forward weight with their
    biases and 2 LayerNorms (weight and bias), then a final LayerNorm: 51 tensors, 27,409,152
    parameters. ``scale`` multiplies the hidden size and the vocabulary (the feed-forward size
    stays 4x hidden).
    """
    h = max(1, round(HIDDEN * scale))
    vocab = max(1, round(VOCAB * scale))
    ffn = 4 * h
    shapes: list[tuple[str, tuple[int, ...]]] = [("embedding.weight", (vocab, h))]
    for b in range(blocks):
        pre = f"block{b}."
        for w in ("q", "k", "v", "o"):
            shapes.append((pre + f"attn.{w}.weight", (h, h)))
            shapes.append((pre + f"attn.{w}.bias", (h,)))
        shapes += [
            (pre + "ffn.fc1.weight", (h, ffn)), (pre + "ffn.fc1.bias", (ffn,)),
            (pre + "ffn.fc2.weight", (ffn, h)), (pre + "ffn.fc2.bias", (h,)),
            (pre + "ln1.weight", (h,)), (pre + "ln1.bias", (h,)),
            (pre + "ln2.weight", (h,)), (pre + "ln2.bias", (h,)),
        ]
    shapes += [("ln_f.weight", (h,)), ("ln_f.bias", (h,))]
    return shapes


def _numel(shapes) -> int:
    return sum(math.prod(s) for _, s in shapes)


def scale_for_params(n: int, blocks: int = BLOCKS) -> float:
    """The ``scale`` whose parameter set is closest to ``n`` parameters."""
    if n <= 0:
        raise ValueError(f"--params must be positive, got {n}")
    lo, hi = 1e-5, 1e3
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if _numel(param_shapes(mid, blocks)) < n:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda s: abs(_numel(param_shapes(s, blocks)) - n))


def _init_value(name: str, shape, gen: torch.Generator) -> torch.Tensor:
    if name.endswith(".bias"):
        return torch.zeros(shape)
    if ".ln" in name or name.startswith("ln_"):
        return torch.ones(shape)
    return torch.randn(shape, generator=gen) * 0.02


@dataclass
class ParamSet:
    names: list[str]
    values: list[torch.Tensor]  # float32 initial values (the source of every copy)
    grads: list[torch.Tensor]  # float32 gradients
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        return sum(v.numel() for v in self.values)

    def torch_params(self) -> list[torch.Tensor]:
        """Fresh leaf tensors of ``dtype`` with ``.grad`` set (the gradients are shared)."""
        grads = self.torch_grads()
        out = []
        for v, g in zip(self.values, grads):
            p = v.to(self.dtype, copy=True).requires_grad_(True)
            p.grad = g
            out.append(p)
        return out

    _grads_cache: list[torch.Tensor] | None = None
    created: list[list[torch.Tensor]] = field(default_factory=list)  # every torch param set handed out

    def torch_grads(self) -> list[torch.Tensor]:
        if self._grads_cache is None:
            self._grads_cache = [g.to(self.dtype, copy=True) for g in self.grads]
        return self._grads_cache


def build_param_set(scale: float, dtype: torch.dtype, seed: int, blocks: int = BLOCKS) -> ParamSet:
    gen = torch.Generator().manual_seed(seed)
    shapes = param_shapes(scale, blocks)
    names = [n for n, _ in shapes]
    values = [_init_value(n, s, gen) for n, s in shapes]
    grads = [torch.randn(s, generator=gen) * 0.01 for _, s in shapes]
    return ParamSet(names, values, grads, dtype)


# ---------------------------------------------------------------------------- bytes model
@dataclass(frozen=True)
class Traffic:
    """Whole param-sized tensors one step must read or write."""

    p_reads: int
    p_writes: int
    g_reads: int
    state_rw: int
    what: str

    def bytes_per_param(self, p_size: int, s_size: int, master: bool = False) -> int:
        if master:
            return self.g_reads * p_size + (self.p_reads + self.p_writes + self.state_rw) * s_size \
                + self.p_writes * p_size
        return (self.p_reads + self.p_writes + self.g_reads) * p_size + self.state_rw * s_size


ADAM = Traffic(1, 1, 1, 4, "Adam: reads p,g,m,v; writes p,m,v (3P+4S)")
LAMB = Traffic(2, 1, 1, 6, "Lamb, two passes: reads p,g,m,v, writes m,v; reads p,m,v, writes p (4P+6S)")
RMSPROP = Traffic(1, 1, 1, 4, "RMSProp (Paddle's, uncentered): reads p,g,ms,mom; writes p,ms,mom (3P+4S)")
RMSPROP_NO_MOMENTUM = Traffic(1, 1, 1, 2, "torch RMSprop, momentum=0: reads p,g,sq; writes p,sq (3P+2S)")


# ---------------------------------------------------------------------------- memory probes
class _Memory:
    """Resident-set measurements of this process (Linux /proc first, then psutil, then
    ``resource.getrusage``)."""

    def __init__(self):
        self._libc = None
        try:
            self._libc = ctypes.CDLL("libc.so.6")
            self._libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            self._libc = None
        self.method = self._pick_method()

    def _pick_method(self) -> str:
        if os.path.exists("/proc/self/status"):
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                if self._status("VmHWM") is not None:
                    return "hwm"
            except OSError:
                pass
            return "sample-proc"
        try:
            import psutil  # noqa: F401

            return "sample-psutil"
        except ImportError:
            return "rusage"

    @property
    def description(self) -> str:
        return {
            "hwm": "peak RSS from /proc/self/status VmHWM, reset through /proc/self/clear_refs "
                   "before the step, minus VmRSS before it (after malloc_trim)",
            "sample-proc": "RSS sampled every 0.2 ms from /proc/self/statm during the step, minus RSS before it",
            "sample-psutil": "RSS sampled every 0.2 ms with psutil during the step, minus RSS before it",
            "rusage": "growth of resource.getrusage ru_maxrss (the process peak: a lower bound, "
                      "only new peaks are seen)",
        }[self.method]

    @staticmethod
    def _status(key: str) -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def rss(self) -> int:
        if self.method in ("hwm", "sample-proc"):
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        try:
            import psutil

            return psutil.Process().memory_info().rss
        except ImportError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def trim(self) -> None:
        gc.collect()
        if self._libc is not None:
            self._libc.malloc_trim(0)

    def peak_during(self, fn: Callable[[], Any]) -> int:
        """Bytes by which the resident set grew, at its peak, while ``fn()`` ran."""
        self.trim()
        before = self.rss()
        if self.method == "hwm":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            fn()
            return max(0, (self._status("VmHWM") or before) - before)
        if self.method == "rusage":
            import resource

            peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            fn()
            return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - max(peak0, before))
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], self.rss())
                time.sleep(0.0002)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            fn()
        finally:
            done.set()
            t.join()
        peak[0] = max(peak[0], self.rss())
        return max(0, peak[0] - before)


# ---------------------------------------------------------------------------- contention
class _CpuClock:
    """System-wide busy CPU time (from /proc/stat) and this process's CPU time."""

    @staticmethod
    def read() -> dict[str, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(x) for x in fields[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        steal = ticks[7] if len(ticks) > 7 else 0
        total = sum(ticks[:8])
        t = os.times()
        return {
            "busy": (total - idle - steal) / hz, "steal": steal / hz, "total": total / hz,
            "self": t.user + t.system, "wall": time.monotonic(),
        }

    @staticmethod
    def others(a, b) -> dict[str, float] | None:
        """Average number of cores kept busy by other processes between two readings, and the
        share of CPU time stolen by the hypervisor."""
        if a is None or b is None:
            return None
        wall = b["wall"] - a["wall"]
        total = b["total"] - a["total"]
        if wall <= 0 or total <= 0:
            return None
        busy = b["busy"] - a["busy"]
        mine = b["self"] - a["self"]
        return {
            "other_cores": max(0.0, (busy - mine) / wall),
            "steal_pct": 100.0 * (b["steal"] - a["steal"]) / total,
        }


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# ---------------------------------------------------------------------------- rows
@dataclass
class Row:
    """One measured optimizer (or the bandwidth probe)."""

    name: str
    library: str
    algorithm: str
    traffic: Traffic | None
    make: Callable[[], tuple[Callable[[], Any], Callable[[], int]]]
    p_size: int = 4
    s_size: int = 4
    master: bool = False
    note: str = ""
    # results
    step: Callable[[], Any] | None = None
    state_bytes_fn: Callable[[], int] | None = None
    times: list[float] = field(default_factory=list)
    cpu_per_wall: list[float] = field(default_factory=list)
    first_step_s: float | None = None
    create_s: float | None = None
    state_bytes: int | None = None
    first_step_rss_growth: int | None = None
    peak_extra: int | None = None
    error: str | None = None

    @property
    def bytes_per_param(self) -> int | None:
        if self.traffic is None:
            return None
        return self.traffic.bytes_per_param(self.p_size, self.s_size, self.master)


def _tensor_bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            continue
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def _torch_state_bytes(opt) -> Callable[[], int]:
    def count() -> int:
        tensors = []
        for st in opt.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    tensors.append(v)
        return _tensor_bytes(tensors)

    return count


def _torch_row(pset: ParamSet, params_for: Callable[[], list[torch.Tensor]], cls, **kw):
    def make():
        opt = cls(params_for(), **kw)
        return opt.step, _torch_state_bytes(opt)

    return make


def _oar_engines(wanted) -> list[str]:
    """``'auto'`` and every engine of ``oar.engine.ENGINES`` (as registered now), or those of
    ``wanted`` (names, comma-separated allowed) that exist."""
    from oar import engine as oar_engine

    available = ["auto"] + sorted(oar_engine.ENGINES)
    if not wanted:
        return available
    names = [s.strip() for w in wanted for s in w.split(",") if s.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown oar engine(s) {unknown}; available: {available}")
    return [n for n in available if n in names]


def _oar_rows(pset: ParamSet, params_for, lr: float, rmsprop_momentum: float,
              engines: list[str]) -> list[Row]:
    import oar

    dtype = pset.dtype
    low = dtype in (torch.float16, torch.bfloat16)
    p_size = torch.empty((), dtype=dtype).element_size()
    s_size = 4 if low else p_size
    rows = []
    algos = [
        ("Adam", ADAM, lambda ps, e: oar.Adam(ps, learning_rate=lr, multi_precision=low, engine=e)),
        ("Lamb", LAMB, lambda ps, e: oar.Lamb(ps, learning_rate=lr, lamb_weight_decay=0.01,
                                              multi_precision=low, engine=e)),
        ("RMSProp", RMSPROP, lambda ps, e: oar.RMSProp(learning_rate=lr, parameters=ps,
                                                       momentum=rmsprop_momentum, engine=e)),
    ]
    for algo, traffic, ctor in algos:
        for eng in engines:
            def make(ctor=ctor, eng=eng):
                opt = ctor(params_for(), eng)
                return opt.step, _torch_state_bytes(opt)

            master = low and algo != "RMSProp"  # oar.RMSProp has no multi_precision
            rows.append(Row(f"oar.{algo}[{eng}]", "oar", algo, traffic, make,
                            p_size=p_size, s_size=s_size, master=master))
    return rows


def _torch_rows(pset: ParamSet, params_for, lr: float, rmsprop_momentum: float) -> list[Row]:
    import inspect

    p_size = torch.empty((), dtype=pset.dtype).element_size()
    rows = []
    for label, kw in (("foreach=False", {"foreach": False}), ("foreach=True", {"foreach": True}),
                      ("fused=True", {"fused": True})):
        rows.append(Row(f"torch.Adam({label})", "torch", "Adam", ADAM,
                        _torch_row(pset, params_for, torch.optim.Adam, lr=lr, **kw),
                        p_size=p_size, s_size=p_size))
    rms_variants = [("foreach=False", {"foreach": False}), ("foreach=True", {"foreach": True})]
    if "fused" in inspect.signature(torch.optim.RMSprop).parameters:
        rms_variants.append(("fused=True", {"fused": True}))
    traffic = RMSPROP_NO_MOMENTUM if rmsprop_momentum == 0 else RMSPROP
    for label, kw in rms_variants:
        rows.append(Row(f"torch.RMSprop({label})", "torch", "RMSProp", traffic,
                        _torch_row(pset, params_for, torch.optim.RMSprop, lr=lr, alpha=0.95,
                                   eps=1e-6, momentum=rmsprop_momentum, **kw),
                        p_size=p_size, s_size=p_size,
                        note="torch's eps is outside the sqrt; momentum=0 keeps no buffer"
                        if rmsprop_momentum == 0 else "torch's eps is outside the sqrt"))
    return rows


def _load_timm_lamb():
    """timm's Lamb class: ``from timm.optim.lamb import Lamb``; when importing the ``timm``
    package fails (it needs torchvision), the three files of ``timm/optim`` that Lamb needs are
    loaded on their own under a private package name. Returns ``(cls, how)`` or ``(None, why)``."""
    try:
        from timm.optim.lamb import Lamb

        return Lamb, "timm.optim.lamb"
    except Exception as exc:  # noqa: BLE001 - any import failure means "use the fallback"
        why = f"{type(exc).__name__}: {exc}"
    import importlib.util
    import types

    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None, "timm is not installed"
    optim_dir = os.path.join(list(spec.submodule_search_locations)[0], "optim")
    if not os.path.exists(os.path.join(optim_dir, "lamb.py")):
        return None, f"timm has no optim/lamb.py ({why})"
    pkg_name = "_oar_bench_timm_optim"
    try:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [optim_dir]
        sys.modules[pkg_name] = pkg
        mod_spec = importlib.util.spec_from_file_location(f"{pkg_name}.lamb", os.path.join(optim_dir, "lamb.py"))
        mod = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = mod
        mod_spec.loader.exec_module(mod)
        return mod.Lamb, f"timm/optim/lamb.py loaded standalone (import timm failed: {why})"
    except Exception as exc:  # noqa: BLE001
        for key in [k for k in sys.modules if k == pkg_name or k.startswith(pkg_name + ".")]:
            del sys.modules[key]
        return None, f"timm's Lamb could not be loaded: {type(exc).__name__}: {exc}"


def _third_party_rows(pset: ParamSet, params_for, lr: float) -> tuple[list[Row], list[str]]:
    p_size = torch.empty((), dtype=pset.dtype).element_size()
    rows, notes = [], []
    try:
        from pytorch_optimizer import Lamb as POLamb

        rows.append(Row("pytorch_optimizer.Lamb", "pytorch_optimizer", "Lamb", LAMB,
                        _torch_row(pset, params_for, POLamb, lr=lr, weight_decay=0.01),
                        p_size=p_size, s_size=p_size, note="defaults (max_grad_norm=1.0), weight_decay=0.01"))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"pytorch_optimizer Lamb skipped: {type(exc).__name__}: {exc}")
    cls, how = _load_timm_lamb()
    if cls is None:
        notes.append(f"timm Lamb skipped: {how}")
    else:
        rows.append(Row("timm.Lamb", "timm", "Lamb", LAMB,
                        _torch_row(pset, params_for, cls, lr=lr, weight_decay=0.01),
                        p_size=p_size, s_size=p_size,
                        note="defaults (max_grad_norm=1.0), weight_decay=0.01; " + how))
    return rows, notes


class _PaddleParams:
    """Paddle parameters holding the same data as the torch set, with their gradients set."""

    def __init__(self, pset: ParamSet):
        self.pset = pset
        self._params = None

    def get(self):
        if self._params is None:
            import paddle

            dtype = {torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16"}[self.pset.dtype]
            params = []
            for name, v, g in zip(self.pset.names, self.pset.values, self.pset.grads):
                p = paddle.create_parameter(list(v.shape), "float32",
                                            default_initializer=paddle.nn.initializer.Assign(v.numpy()))
                pg = paddle.to_tensor(g.numpy())
                if dtype != "float32":
                    p = paddle.create_parameter(list(v.shape), dtype,
                                                default_initializer=paddle.nn.initializer.Assign(p.astype(dtype)))
                    pg = pg.astype(dtype)
                p._set_grad_ivar(pg)
                params.append(p)
            self._params = params
        return self._params


def _paddle_state_bytes(opt) -> Callable[[], int]:
    def count() -> int:
        total = 0
        for per_param in getattr(opt, "_accumulators", {}).values():
            for t in per_param.values():
                total += int(math.prod(t.shape)) * t.element_size()
        for t in getattr(opt, "_master_weights", {}).values():
            total += int(math.prod(t.shape)) * t.element_size()
        return total

    return count


def _paddle_rows(pset: ParamSet, lr: float, rmsprop_momentum: float) -> tuple[list[Row], list[str]]:
    try:
        import paddle
    except Exception as exc:  # noqa: BLE001
        return [], [f"Paddle rows skipped: {type(exc).__name__}: {exc}"]
    paddle.set_device("cpu")
    pparams = _PaddleParams(pset)
    low = pset.dtype == torch.bfloat16
    p_size = torch.empty((), dtype=pset.dtype).element_size()
    s_size = 4 if low else p_size

    def row(algo, traffic, ctor, master):
        def make():
            opt = ctor(pparams.get())
            return opt.step, _paddle_state_bytes(opt)

        return Row(f"paddle.{algo}", "paddle", algo, traffic, make, p_size=p_size, s_size=s_size,
                   master=master)

    opt_mod = paddle.optimizer
    return [
        row("Adam", ADAM, lambda ps: opt_mod.Adam(learning_rate=lr, parameters=ps, multi_precision=low), low),
        row("Lamb", LAMB, lambda ps: opt_mod.Lamb(learning_rate=lr, lamb_weight_decay=0.01, parameters=ps,
                                                  multi_precision=low), low),
        row("RMSProp", RMSPROP, lambda ps: opt_mod.RMSProp(learning_rate=lr, momentum=rmsprop_momentum,
                                                           parameters=ps), False),
    ], []


def _bandwidth_rows(megabytes: float) -> list[Row]:
    """The two probes, on float32 buffers of ``megabytes`` MiB allocated (and touched) once."""
    n = max(1024, int(megabytes * 2**20 / 4))
    buffers: dict[str, torch.Tensor] = {}

    def buf(name: str, value: float) -> torch.Tensor:
        if name not in buffers:
            buffers[name] = torch.full((n,), value)
        return buffers[name]

    def make_inplace():
        a, b = buf("a", 1.0), buf("b", 2.0)
        sign = [1.0]

        def step():  # a += b then a -= b: the values stay bounded
            a.add_(b, alpha=sign[0])
            sign[0] = -sign[0]

        return step, lambda: 0

    def make_out():
        a, b, c = buf("a", 1.0), buf("b", 2.0), buf("c", 0.0)

        def step():
            torch.add(a, b, out=c)

        return step, lambda: 0

    size = f"float32 buffers of {n * 4 / 2**20:.0f} MiB, reused"
    rows = [
        Row(BANDWIDTH_INPLACE, "probe", "bandwidth", None, make_inplace,
            note=f"reads a, b, writes a: 3 x N x 4 bytes; {size}"),
        Row(BANDWIDTH_OUT, "probe", "bandwidth", None, make_out,
            note=f"reads a, b, writes c: 3 x N x 4 bytes; {size}"),
    ]
    for r in rows:
        r.probe_bytes = 3 * n * 4  # type: ignore[attr-defined]
        r.probe_mib = n * 4 / 2**20  # type: ignore[attr-defined]
    return rows


# ---------------------------------------------------------------------------- statistics
def _median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else None


def _fmt(x, digits=1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan"
    return f"{x:.{digits}f}"



def _proc_field(path: str, key: str) -> str | None:
    """The value after ``key:`` on the first matching line of a /proc file, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None

def _machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    cpu = _proc_field("/proc/cpuinfo", "model name")
    if cpu is not None:
        info["cpu"] = cpu
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    if mem_kb is not None:
        info["mem_total_gb"] = round(int(mem_kb.split()[0]) / 2**20, 1)
    try:
        import oar

        info["oar"] = oar.__version__
        from oar import engine as oar_engine

        info["oar_engines"] = sorted(oar_engine.ENGINES)
    except Exception as exc:  # noqa: BLE001
        info["oar"] = f"unavailable: {exc}"
    for mod in ("paddle", "pytorch_optimizer", "timm"):
        try:
            from importlib.metadata import version

            info[mod] = version({"paddle": "paddlepaddle", "pytorch_optimizer": "pytorch_optimizer"}.get(mod, mod))
        except Exception:  # noqa: BLE001
            info[mod] = None
    return info


# ---------------------------------------------------------------------------- CLI
EPILOG = (
    "Columns: B/param = bytes one step must move per parameter (Adam and Paddle's RMSProp 28, "
    "torch's RMSprop without momentum 20, two-pass Lamb 40, in float32); ms min/median/max over "
    "the timed rounds; GB/s = B/param x params / median; %BW and 'vs fused Adam' = ratio to the "
    "bandwidth probe and to torch.Adam(fused=True) in the same round, median over rounds; first "
    "step = the first step of a fresh optimizer (state allocation, compilation); state MB = the "
    "optimizer's state tensors; peak extra MB = resident-memory growth during one steady step. "
    "Another busy process on this machine slows multi-threaded steps many times: read the "
    "contention line under the table."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``oar bench``'s options to ``parser`` (and its epilog, if it has none)."""
    if parser.epilog is None:
        parser.epilog = EPILOG
    size = parser.add_argument_group("parameter set")
    size.add_argument("--scale", type=float, default=1.0,
                      help="multiply the hidden size (768) and vocabulary (8000) of the transformer-shaped "
                           "set; 1.0 gives 27.4M parameters in 51 tensors (default 1.0)")
    size.add_argument("--params", type=int, default=None, metavar="N",
                      help="size the set to about N parameters (overrides --scale)")
    size.add_argument("--dtype", choices=sorted(_DTYPES), default="float32",
                      help="parameter dtype (bfloat16: oar and Paddle use float32 master weights "
                           "and state, torch keeps bfloat16 state); default float32")
    size.add_argument("--seed", type=int, default=0, help="seed of the parameters and gradients (default 0)")
    meas = parser.add_argument_group("measurement")
    meas.add_argument("--repeats", type=int, default=12,
                      help="timed rounds; each round runs one step of every optimizer, interleaved "
                           "(default 12)")
    meas.add_argument("--warmup", type=int, default=2,
                      help="untimed rounds after each optimizer's first step (default 2)")
    meas.add_argument("--only", action="append", default=None, metavar="SUBSTR",
                      help="measure only optimizers whose name contains SUBSTR (case-insensitive; "
                           "repeat or separate with commas for several). torch.Adam(fused=True), the "
                           "reference of the ratio column, and the bandwidth probes are always measured")
    meas.add_argument("--engines", action="append", default=None, metavar="NAMES",
                      help="oar engines to measure: 'auto' and names of oar.engine.ENGINES, comma-"
                           "separated or repeated (default: 'auto' and every engine registered)")
    meas.add_argument("--skip", action="append", default=None, metavar="SUBSTR",
                      help="leave out optimizers whose name contains SUBSTR (repeatable, commas)")
    meas.add_argument("--bandwidth-mb", type=float, default=256.0, metavar="MB",
                      help="size of each float32 buffer of the memory-bandwidth probes, a.add_(b) and "
                           "torch.add(a, b, out=c), run every round (3 x N x 4 bytes each; the faster "
                           "one is the round's bandwidth); keep it well above the last-level cache "
                           "(default 256)")
    meas.add_argument("--threads", type=int, default=None,
                      help="torch.set_num_threads(N) before measuring (default: torch's default)")
    meas.add_argument("--lr", type=float, default=1e-3, help="learning rate of every optimizer (default 1e-3)")
    meas.add_argument("--rmsprop-momentum", type=float, default=0.0,
                      help="momentum of every RMSProp (default 0.0, Paddle's default; Paddle and oar "
                           "keep the momentum buffer either way, torch only when > 0)")
    meas.add_argument("--private-params", action="store_true",
                      help="give every optimizer its own copy of the parameters (default: all torch-"
                           "tensor optimizers update one shared set; Paddle has its own copy)")
    meas.add_argument("--cold-compile-cache", action="store_true",
                      help="point TORCHINDUCTOR_CACHE_DIR at a fresh empty directory, so first-step "
                           "times include a cold compile (default: inductor's usual cache, warm if "
                           "the bench ran before)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", default=None,
                     help="write every row, per-round times and the machine info as JSON to PATH")
    out.add_argument("--plain", action="store_true", help="plain-text table even if rich is installed")
    out.add_argument("--list", action="store_true", help="list the optimizers that would be measured and exit")


def _split(values) -> list[str]:
    out = []
    for v in values or []:
        out += [s.strip().lower() for s in v.split(",") if s.strip()]
    return out


def _select(rows: list[Row], only, skip) -> list[Row]:
    only, skip = _split(only), _split(skip)
    chosen = []
    for r in rows:
        name = r.name.lower()
        keep = r.name == REFERENCE or r.name in BANDWIDTH_ROWS or (
            (not only or any(s in name for s in only)) and not any(s in name for s in skip))
        if keep:
            chosen.append(r)
    return chosen


def _all_rows(pset: ParamSet, args, notes: list[str]) -> list[Row]:
    shared: list[list[torch.Tensor]] = []

    def params_for() -> list[torch.Tensor]:
        if args.private_params or not shared:
            shared.append(pset.torch_params())
        return shared[-1]

    pset.created = shared

    rows: list[Row] = _bandwidth_rows(args.bandwidth_mb)
    try:
        rows += _oar_rows(pset, params_for, args.lr, args.rmsprop_momentum, _oar_engines(args.engines))
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001
        notes.append(f"oar rows skipped: {type(exc).__name__}: {exc}")
    rows += _torch_rows(pset, params_for, args.lr, args.rmsprop_momentum)
    prow, pnotes = _paddle_rows(pset, args.lr, args.rmsprop_momentum)
    rows += prow
    notes += pnotes
    trows, tnotes = _third_party_rows(pset, params_for, args.lr)
    rows += trows
    notes += tnotes
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (from :func:`add_arguments`). Returns the exit code."""
    started = time.monotonic()
    if args.repeats < 1:
        _log("--repeats must be >= 1")
        return 2
    if args.warmup < 0:
        _log("--warmup must be >= 0")
        return 2
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    cold_dir = None
    if args.cold_compile_cache:
        cold_dir = tempfile.mkdtemp(prefix="oar-bench-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cold_dir
        os.environ["TRITON_CACHE_DIR"] = os.path.join(cold_dir, "triton")
    try:
        return _run(args, started, cold_dir)
    finally:
        torch.set_num_threads(threads_before)
        if cold_dir:
            shutil.rmtree(cold_dir, ignore_errors=True)


def _run(args, started: float, cold_dir: str | None) -> int:
    dtype = _DTYPES[args.dtype]
    scale = scale_for_params(args.params) if args.params else args.scale
    notes: list[str] = []
    load_start = _loadavg()
    clock_start = _CpuClock.read()
    memory = _Memory()

    _log(f"building the parameter set (scale {scale:.4g}, {args.dtype})")
    pset = build_param_set(scale, dtype, args.seed)
    n = pset.numel
    try:
        rows = _select(_all_rows(pset, args, notes), args.only, args.skip)
    except ValueError as exc:
        _log(str(exc))
        return 2
    if args.list:
        for r in rows:
            print(r.name)
        return 0
    _log(f"{n:,} parameters in {len(pset.names)} tensors; {len(rows)} rows; "
         f"{args.warmup} warm-up + {args.repeats} timed rounds")

    # Create each optimizer and time its very first step (state allocation, compilation).
    for r in rows:
        try:
            rss0 = memory.rss()
            t0 = time.perf_counter()
            r.step, r.state_bytes_fn = r.make()
            r.create_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            r.step()
            r.first_step_s = time.perf_counter() - t0
            r.first_step_rss_growth = memory.rss() - rss0
            r.state_bytes = r.state_bytes_fn() if r.traffic is not None else None
            _log(f"  {r.name}: first step {r.first_step_s * 1e3:.0f} ms")
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
            r.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            r.step = None
            _log(f"  {r.name}: FAILED ({r.error})")

    active = [r for r in rows if r.step is not None]
    rounds: list[dict[str, Any]] = []
    total_rounds = args.warmup + args.repeats
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    clock_timed = None
    try:
        for k in range(total_rounds):
            if k == args.warmup:
                clock_timed = _CpuClock.read()
            c0 = _CpuClock.read()
            t_round = time.perf_counter()
            shift = k % len(active) if active else 0
            order = active[shift:] + active[:shift]
            times: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for r in order:
                if r.step is None:
                    continue
                try:
                    p0 = time.process_time()
                    t0 = time.perf_counter()
                    r.step()
                    times[r.name] = time.perf_counter() - t0
                    cpu[r.name] = time.process_time() - p0
                except Exception as exc:  # noqa: BLE001
                    r.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                    r.step = None
                    _log(f"  {r.name}: FAILED in round {k} ({r.error})")
            timed = k >= args.warmup
            if timed:
                for r in active:
                    if r.name in times:
                        r.times.append(times[r.name])
                        r.cpu_per_wall.append(cpu[r.name] / times[r.name] if times[r.name] > 0 else 0.0)
                rounds.append({"round": k - args.warmup, "seconds": times,
                               "contention": _CpuClock.others(c0, _CpuClock.read())})
            gc.collect()
            _log(f"round {k + 1}/{total_rounds}{'' if timed else ' (warm-up)'}: "
                 f"{time.perf_counter() - t_round:.1f} s")
    finally:
        if gc_was_enabled:
            gc.enable()
    clock_end = _CpuClock.read()

    # Transient memory of one more step of each, measured alone.
    _log(f"memory: one more step of each ({memory.method})")
    for r in rows:
        if r.step is None or r.traffic is None:
            continue
        try:
            r.peak_extra = memory.peak_during(r.step)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"{r.name}: memory probe failed: {exc}")

    bad = sorted({name for params in pset.created for name, p in zip(pset.names, params)
                  if not bool(torch.isfinite(p).all())})
    if bad:
        notes.append(f"non-finite values in the shared parameters after the run: {bad[:5]}")
    if pset._grads_cache is not None:
        changed = [name for name, g, g0 in zip(pset.names, pset._grads_cache, pset.grads)
                   if not torch.equal(g, g0.to(pset.dtype))]
        if changed:
            notes.append(f"an optimizer modified the shared gradients in place: {changed[:5]}")

    result = _summarize(rows, rounds, n, pset, args, scale, notes, memory, cold_dir,
                        load_start, clock_start, clock_timed, clock_end, started)
    _print_table(result, plain=args.plain)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        _log(f"wrote {args.json}")
    return 0


def _summarize(rows, rounds, n, pset, args, scale, notes, memory, cold_dir,
               load_start, clock_start, clock_timed, clock_end, started) -> dict[str, Any]:
    probes = [r for r in rows if r.name in BANDWIDTH_ROWS and r.step is not None]
    bw_by_round: list[float | None] = []  # bytes/s of the faster probe, per round
    for rd in rounds:
        rates = [p.probe_bytes / rd["seconds"][p.name] for p in probes  # type: ignore[attr-defined]
                 if rd["seconds"].get(p.name)]
        bw_by_round.append(max(rates) if rates else None)
    valid = [b for b in bw_by_round if b]
    bandwidth = {
        "probes": {
            p.name: {
                "note": p.note,
                "bytes": p.probe_bytes,  # type: ignore[attr-defined]
                "best_gbs": p.probe_bytes / min(p.times) / 1e9 if p.times else None,  # type: ignore[attr-defined]
                "median_gbs": p.probe_bytes / statistics.median(p.times) / 1e9 if p.times else None,  # type: ignore[attr-defined]
            } for p in probes
        },
        "buffer_mib": probes[0].probe_mib if probes else None,  # type: ignore[attr-defined]
        "best_gbs": max(valid) / 1e9 if valid else None,
        "median_gbs": statistics.median(valid) / 1e9 if valid else None,
        "per_round_gbs": [b / 1e9 if b else None for b in bw_by_round],
        "definition": "per round, the faster of the probes; %BW divides by it",
    }
    out_rows = []
    for r in rows:
        if r.traffic is None:
            continue
        d: dict[str, Any] = {
            "name": r.name, "library": r.library, "algorithm": r.algorithm,
            "bytes_per_param": r.bytes_per_param, "traffic": r.traffic.what,
            "master_weights": r.master, "note": r.note, "error": r.error,
        }
        if r.times:
            total_bytes = r.bytes_per_param * n
            ratios, pcts = [], []
            for rd, bw in zip(rounds, bw_by_round):
                s = rd["seconds"]
                if r.name in s and REFERENCE in s:
                    ratios.append(s[r.name] / s[REFERENCE])
                if r.name in s and bw:
                    pcts.append(100.0 * (total_bytes / s[r.name]) / bw)
            med = statistics.median(r.times)
            d.update({
                "ms_min": min(r.times) * 1e3, "ms_median": med * 1e3, "ms_max": max(r.times) * 1e3,
                "gbs": total_bytes / med / 1e9,
                "pct_bandwidth": _median(pcts),
                "ratio_to_fused_adam": _median(ratios),
                "cpu_per_wall": _median(r.cpu_per_wall),
                "ms_per_round": [t * 1e3 for t in r.times],
            })
        d.update({
            "first_step_ms": r.first_step_s * 1e3 if r.first_step_s is not None else None,
            "create_ms": r.create_s * 1e3 if r.create_s is not None else None,
            "state_mb": r.state_bytes / 1e6 if r.state_bytes is not None else None,
            "first_step_rss_growth_mb": r.first_step_rss_growth / 1e6 if r.first_step_rss_growth is not None else None,
            "peak_extra_mb": r.peak_extra / 1e6 if r.peak_extra is not None else None,
        })
        out_rows.append(d)
    per_round = [rd["contention"] for rd in rounds if rd["contention"]]
    timed = _CpuClock.others(clock_timed, clock_end)
    contention = {
        "cpu_count": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": _loadavg(),
        "other_processes_cores_timed": timed["other_cores"] if timed else None,
        "other_processes_cores_max_round": max((c["other_cores"] for c in per_round), default=None),
        "steal_pct_timed": timed["steal_pct"] if timed else None,
        "whole_run": _CpuClock.others(clock_start, clock_end),
    }
    return {
        "machine": _machine_info(),
        "config": {
            "options": {k: v for k, v in vars(args).items()
                        if isinstance(v, (str, int, float, bool, list, type(None)))},
            "params": n, "tensors": len(pset.names), "scale": scale,
            "dtype": args.dtype, "repeats": args.repeats, "warmup": args.warmup,
            "lr": args.lr, "rmsprop_momentum": args.rmsprop_momentum,
            "shared_params": not args.private_params,
            "compile_cache": "cold (fresh TORCHINDUCTOR_CACHE_DIR)" if cold_dir
            else f"default ({os.environ.get('TORCHINDUCTOR_CACHE_DIR') or 'inductor default dir'})",
            "reference": REFERENCE,
        },
        "definitions": {
            "bytes_per_param": "whole param-sized tensors one step must read or write, times their "
                               "element size (P: param, S: state); see each row's 'traffic'",
            "gbs": "bytes_per_param x params / median step time",
            "pct_bandwidth": "per round, (bytes / step time) / (the faster probe's bytes / its time); "
                             "median over rounds (over 100 means the step streamed faster than the probe)",
            "ratio_to_fused_adam": f"per round, step time / {REFERENCE}'s step time; median over rounds",
            "first_step_ms": "the very first step of a freshly created optimizer: state allocation, and "
                             "compilation for compiled engines (torch.compile's once-per-process start-up "
                             "lands on the first row that compiles)",
            "cpu_per_wall": "this process's CPU time during the step / its wall time (about the number "
                            "of busy threads; spinning OpenMP workers count)",
            "state_mb": "bytes of the tensors in the optimizer's state (Paddle: its accumulators and master weights)",
            "peak_extra_mb": "extra memory during one steady-state step: " + memory.description,
        },
        "bandwidth": bandwidth,
        "contention": contention,
        "rows": out_rows,
        "rounds": rounds,
        "notes": notes,
        "elapsed_s": time.monotonic() - started,
    }


def _table_cells(d: dict[str, Any]) -> list[str]:
    return [
        d["name"], str(d["bytes_per_param"]),
        _fmt(d.get("ms_min"), 2), _fmt(d.get("ms_median"), 2), _fmt(d.get("ms_max"), 2),
        _fmt(d.get("gbs"), 1), _fmt(d.get("pct_bandwidth"), 0), _fmt(d.get("ratio_to_fused_adam"), 2),
        _fmt(d.get("first_step_ms"), 0), _fmt(d.get("state_mb"), 0), _fmt(d.get("peak_extra_mb"), 1),
    ]


def _footer(result: dict[str, Any]) -> list[str]:
    cfg, bw, con, mach = result["config"], result["bandwidth"], result["contention"], result["machine"]
    lines = [
        f"{cfg['params']:,} params in {cfg['tensors']} tensors, {cfg['dtype']}; {cfg['warmup']} warm-up + "
        f"{cfg['repeats']} timed rounds, interleaved; torch threads {mach['torch_threads']}, "
        f"{mach.get('cpu', '?')}, {mach['cpu_count']} CPUs",
        f"memory bandwidth, per round the faster of "
        + " and ".join(f"{name.split(': ', 1)[1]} (best {_fmt(p['best_gbs'], 1)}, median {_fmt(p['median_gbs'], 1)} GB/s)"
                       for name, p in bw["probes"].items())
        + f" on {_fmt(bw['buffer_mib'], 0)} MiB float32 buffers, bytes = 3 x N x 4: "
        f"best {_fmt(bw['best_gbs'], 1)} GB/s, median {_fmt(bw['median_gbs'], 1)} GB/s",
        "B/param: bytes that must move per parameter per step (Adam 3P+4S, RMSProp 3P+4S "
        "[torch momentum=0: 3P+2S], Lamb two passes 4P+6S; P, S = param, state element size)",
        "%BW and 'vs fused Adam': ratio taken in each round, median over rounds",
        f"peak extra MB: {result['definitions']['peak_extra_mb']}",
        f"first step: {result['definitions']['first_step_ms']}; compile cache: {cfg['compile_cache']}",
    ]
    other = con["other_processes_cores_timed"]
    lines.append(
        f"contention: load average {con['loadavg_start']} at start, {con['loadavg_end']} at end, "
        f"{con['cpu_count']} CPUs; other processes kept {_fmt(other, 2)} cores busy on average during the "
        f"timed rounds (max {_fmt(con['other_processes_cores_max_round'], 2)} in a round), steal "
        f"{_fmt(con['steal_pct_timed'], 1)}%"
    )
    if other is not None and other > 0.2:
        lines.append(
            "  -> contended run: steps using several torch threads stall while another process holds a "
            "core (single-threaded ones, e.g. Paddle's CPU kernels, suffer less); the per-round ratios "
            "are the figures to trust, or rerun on an idle machine or with --threads 1")
    for d in result["rows"]:
        if d["error"]:
            lines.append(f"{d['name']}: FAILED: {d['error']}")
    lines += result["notes"]
    lines.append(f"elapsed {result['elapsed_s']:.0f} s")
    return lines


def format_table(result: dict[str, Any]) -> str:
    """The plain-text table (and its footer) of a result from :func:`run`."""
    body = [_table_cells(d) for d in result["rows"]]
    widths = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(COLUMNS)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(COLUMNS), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in body]
    out.append("")
    out += _footer(result)
    return "\n".join(out)


def _print_table(result: dict[str, Any], plain: bool = False) -> None:
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(format_table(result), flush=True)
        return
    table = Table(*COLUMNS)
    for d in result["rows"]:
        table.add_row(*_table_cells(d))
    console = Console()
    console.print(table)
    for line in _footer(result):
        console.print(line, markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m oar.bench`` / ``benchmarks/bench_step.py``: parse ``argv`` and :func:`run`."""
    parser = argparse.ArgumentParser(
        prog="oar bench",
        description="Time one optimizer step of oar's optimizers and their peers (torch.optim, Paddle, "
                    "pytorch_optimizer, timm) on a transformer-shaped parameter set, interleaved in "
                    "one process, against the memory bandwidth measured in the same run.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
