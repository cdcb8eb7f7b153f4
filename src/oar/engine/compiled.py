"""The compiled engine: the rule traced over a group and compiled by inductor (C++/OpenMP loops
on CPU, Triton on GPU) into fused loops that read and write each tensor once per pass.

How (each point measured with ``benchmarks/engine_bench.py``, 27.4M-param set, 2 cores):

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
  ``compile_fx`` — the backend ``torch.compile`` itself calls — without dynamo: tracing is 2-5x
  faster than dynamo's, and a step calls the compiled code directly, with no guard evaluation
  over hundreds of tensors. The guard is ours (``_Group.check``): the cache key holds the rule,
  flags, and every input's dtype, shape and stride. With ``torch._inductor.standalone_compile``
  (torch >= 2.8) each compiled function is saved beside inductor's cache and later processes
  load it without tracing (first step of the 27.4M set: ~3-5 s warm, mostly importing
  inductor, against 30-60 s cold).
* Graph passes before inductor (each keeps the rule's result to float rounding):
  ``_reciprocal_scalar_divisions`` (x / s -> x * (1/s) for one-element s: LAMB was bound by the
  divider), ``_hoist_scalars`` (costly one-element values computed once, not per 16 floats),
  and ``_split_at_reductions`` (a rule with whole-tensor norms, LAMB, becomes two graphs: pass
  1 stores the moments and accumulates the norms in one loop, pass 2 recomputes r from p, m, v
  and applies the trust ratio — 28 bytes/param read instead of 32, no temporaries).
* Buckets are (device, dtype) groups of at most ``_CHUNK`` params; on CPU each loop is its own
  C++ kernel, so loops of equal shape compile once. Params the compiler should not see (sparse
  grads, tensor subclasses such as DTensor, complex or non-contiguous tensors, state on another
  device, a tensor updated twice) run on the eager engine.
* A rule that cannot be traced as one graph (data-dependent Python control flow, ``.item()``)
  falls back to eager with a warning; tracing happens before any tensor is touched.

The bound on this machine is the bytes a step *reads* (~23 GB/s of reads on two cores; writes
overlap): Adam and RMSProp read 16 bytes/param like torch's fused Adam and run at ~1.0-1.05x of
it (a no-arithmetic rule moving the same bytes: ~0.9x); LAMB reads 28 and runs at ~1.8-1.9x.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import functools
import itertools
import shutil
import threading
import time
import warnings
import weakref

import torch

from .eager import apply_rule, run_eager

__all__ = ["run_compiled", "compile_available", "compilable", "stats", "clear_cache"]

_MAX_PLANS = 64
# Params per compiled function of a rule that is split in two passes (LAMB). Inductor stopped
# fusing the moments' write-back into pass 1 somewhere between 8 and 24 params per graph (a
# separate loop re-read g, m, v: 2.5x fused Adam instead of 1.85x); chunks of 8 keep each graph
# small, and repeated layers share a compiled chunk. Rules compiled whole (Adam, RMSProp) are not
# chunked: 7 calls instead of one cost them 2-6%.
_CHUNK = 8
_split_memo: dict = {}
_plans: collections.OrderedDict = collections.OrderedDict()
_lock = threading.RLock()
_stats: collections.Counter = collections.Counter()
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def stats() -> dict:
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


_available: dict = {}


def compile_available(device: torch.device) -> bool:
    """Whether inductor can compile for tensors on ``device`` (a C++ compiler for CPU, Triton
    for CUDA/XPU)."""
    kind = device.type
    if kind not in _available:
        ok = False
        try:
            import torch._dynamo

            if torch._dynamo.is_dynamo_supported():
                if kind == "cpu":
                    from torch._inductor import config as ind_config

                    cxx = ind_config.cpp.cxx
                    names = [c for c in (cxx if isinstance(cxx, (tuple, list)) else (cxx,)) if c]
                    ok = any(shutil.which(c) for c in names) or shutil.which("g++") is not None
                elif kind in ("cuda", "xpu"):
                    from torch.utils._triton import has_triton

                    ok = has_triton()
        except Exception:  # pragma: no cover - broken installs
            ok = False
        _available[kind] = ok
    return _available[kind]


def _dense(t: torch.Tensor) -> bool:
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


def compilable(param, grad, state) -> bool:
    """Whether one param can be updated by compiled code (else the eager engine runs it)."""
    if type(param) not in _PLAIN or type(grad) is not torch.Tensor:
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


def _split_hyper(hyper: dict):
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


class _Plan:
    """A compiled function for one bucket structure (shared by every group of that structure)."""

    __slots__ = ("fn", "width", "broken", "key")

    def __init__(self, width, key):
        self.fn = None
        self.width = width
        self.broken = False
        self.key = key


def _make_step(rule, layouts):
    """The function traced for a bucket: ``step(*flat)`` with, per param, ``param, grad,
    *state values, hyper row``. ``layouts[i] = (state_keys, hyper_names, flags)``."""

    def step(*flat):
        k = 0
        for keys, names, flags in layouts:
            param, grad = flat[k], flat[k + 1]
            k += 2
            state = {}
            for key in keys:
                state[key] = flat[k]
                k += 1
            row = flat[k]
            k += 1
            hyper = dict(flags)
            for j, name in enumerate(names):
                hyper[name] = row[j]
            apply_rule(rule, param, grad, state, hyper)

    return step


# Inductor options for a graph compiled whole. ``realize_*_threshold``: never store an
# intermediate that has several users but recompute it in each consumer. Before the two-graph
# split existed, LAMB's r (used by ||r|| and by p -= lr*ratio*r) was stored in a param-sized
# buffer allocated every step (first touch of fresh memory is ~4 GB/s here); these options keep
# any rule that cannot be split free of temporaries. ``size_asserts``: our cache key already
# holds every input's shape and stride. The two graphs of a split rule use inductor's defaults
# (``_SPLIT_OPTIONS``), with which pass 1 stores the new moments where it computes them.
_INDUCTOR_OPTIONS = {
    "size_asserts": False,
    "realize_reads_threshold": 1 << 20,
    "realize_opcount_threshold": 1 << 20,
}


_SPLIT_OPTIONS = {"size_asserts": False}


@contextlib.contextmanager
def _one_kernel_per_loop(device: torch.device):
    """CPU: end inductor's C++ kernel after every loop, so that loops of equal shape are the
    same source and are compiled once (codegen runs inside ``compile_fx``, in this thread)."""
    if device.type != "cpu":
        yield
        return
    try:
        from torch._inductor.codegen.cpp import CppScheduling
    except Exception:  # pragma: no cover - other torch layouts
        yield
        return
    old = getattr(CppScheduling, "MAX_FUSED_KERNEL_ARGS_NUM", None)
    if old is None:  # pragma: no cover
        yield
        return
    CppScheduling.MAX_FUSED_KERNEL_ARGS_NUM = 0
    try:
        yield
    finally:
        CppScheduling.MAX_FUSED_KERNEL_ARGS_NUM = old


def _reciprocal_scalar_divisions(gm) -> None:
    """Rewrite ``x / s`` (x a tensor of many elements, s of one) as ``x * (1 / s)``.

    A vector division costs ~10 cycles per 16 floats on AVX-512 and shares its unit with sqrt:
    LAMB divides m and v by their bias corrections in both of its passes, and those divisions
    alone made the compiled LAMB compute-bound (2.3x fused Adam instead of ~1.5x). The product
    with the reciprocal differs from the quotient by at most one rounding (torch's own CUDA
    kernels divide by a CPU scalar this way)."""
    aten = torch.ops.aten
    graph = gm.graph
    changed = False
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not aten.div.Tensor or len(node.args) != 2:
            continue
        num, den = node.args
        vn = num.meta.get("val") if hasattr(num, "meta") else None
        vd = den.meta.get("val") if hasattr(den, "meta") else None
        if not (isinstance(vn, torch.Tensor) and isinstance(vd, torch.Tensor)):
            continue
        if not (vn.is_floating_point() and vd.is_floating_point() and vd.numel() == 1 and vn.numel() > 1):
            continue
        with graph.inserting_before(node):
            inv = graph.call_function(aten.reciprocal.default, (den,))
            inv.meta["val"] = torch.reciprocal(vd)
            mul = graph.call_function(aten.mul.Tensor, (num, inv))
            mul.meta["val"] = node.meta.get("val")
        node.replace_all_uses_with(mul)
        graph.erase_node(node)
        changed = True
    if changed:
        graph.lint()
        gm.recompile()


# Ops that are cheap on a scalar: a scalar computed from these only is left inline in the loops.
_CHEAP = frozenset({
    "select", "view", "reshape", "_unsafe_view", "squeeze", "unsqueeze", "expand", "alias",
    "clone", "_to_copy", "convert_element_type", "lift_fresh_copy", "detach",
    "add", "sub", "rsub", "mul", "neg", "gt", "ge", "lt", "le", "eq", "ne", "bitwise_and",
    "bitwise_or", "logical_and", "logical_or", "logical_not", "scalar_tensor", "full", "ones_like",
    "zeros_like",
})


def _hoist_scalars(gm) -> None:
    """Compute each costly one-element value that feeds the elementwise loops once, before them.

    Inductor inlines one-element intermediates into the consuming loop, and the C++ compiler
    cannot hoist them (the pointers may alias, and libm keeps errno): Adam's ``sqrt(1-β2^t)`` and
    ``lr·sqrt(1-β2^t)/(1-β1^t)``, or LAMB's trust ratio (two square roots, a division and a
    select on the two norms), were recomputed for every 16 floats, on the divider that the loop
    needs for its own division and square root. A one-element value with an elementwise user,
    computed with anything but cheap arithmetic, is made an output of the graph: inductor then
    stores it once and the loops load it."""
    graph = gm.graph
    costly: dict = {}

    def val(n):
        return n.meta.get("val") if hasattr(n, "meta") else None

    def is_scalar(n):
        v = val(n)
        return isinstance(v, torch.Tensor) and v.numel() == 1

    def is_costly(n) -> bool:
        if n not in costly:
            result = False
            if n.op == "call_function":
                name = getattr(n.target, "_opname", None) or getattr(n.target, "__name__", "")
                result = name.split(".")[0] not in _CHEAP or any(
                    is_costly(a) for a in n.all_input_nodes if is_scalar(a))
            costly[n] = result
        return costly[n]

    hoisted = []
    for node in graph.nodes:
        if node.op != "call_function" or not is_scalar(node) or not is_costly(node):
            continue
        if any(isinstance(val(u), torch.Tensor) and val(u).numel() > 1 for u in node.users):
            hoisted.append(node)
    if hoisted:
        out = next(n for n in reversed(graph.nodes) if n.op == "output")
        old = out.args[0]
        extra = tuple(old) if isinstance(old, (tuple, list)) else (() if old is None else (old,))
        out.args = (extra + tuple(hoisted),)
        graph.lint()
        gm.recompile()


# Saved artifacts are keyed by this version, torch's, the rule's module source and this file's.
_CODEGEN_VERSION = 1


def _artifact_path(rule, layouts, metas, device):
    """Where the compiled artifact of this bucket structure is saved (beside inductor's own
    cache), or None when the rule's source cannot be identified."""
    try:
        import inspect

        from torch._inductor.runtime.cache_dir_utils import cache_dir

        with open(inspect.getsourcefile(rule), "rb") as f:
            source = f.read()
        with open(__file__, "rb") as f:  # this engine's passes shape the code too
            source += f.read()
        if device.type == "cuda":
            isa = str(torch.cuda.get_device_capability(device))
        else:
            isa = torch.backends.cpu.get_cpu_capability()
        parts = (_CODEGEN_VERSION, torch.__version__, rule.__module__, rule.__qualname__,
                 hashlib.sha1(source).hexdigest(), repr(layouts), repr(metas), device.type, isa,
                 sorted(_INDUCTOR_OPTIONS.items()), sorted(_SPLIT_OPTIONS.items()))
        digest = hashlib.sha1(repr(parts).encode()).hexdigest()
        return os.path.join(cache_dir(), "oar", f"{digest}.bin")
    except Exception:
        return None


_REDUCTIONS = frozenset({
    "linalg_vector_norm", "norm", "sum", "mean", "amax", "amin", "max", "min", "prod", "var",
    "std", "var_mean", "dot", "vdot", "all", "any", "argmax", "argmin", "logsumexp",
})


_VIEWS = frozenset({"select", "view", "reshape", "squeeze", "unsqueeze", "alias", "expand"})


def _opname(node) -> str:
    return getattr(node.target, "_opname", None) or str(getattr(node.target, "__name__", ""))


def _split_at_reductions(gm):
    """Split a traced step into two graphs at its whole-tensor reductions, or None.

    LAMB's trust ratio needs ||r|| before any param moves. Compiled as one graph, inductor
    recomputed the new moments in the second pass from the gradient and the old moments (the
    moments are stored only where the graph ends), reading 16 bytes/param twice. Split, graph A
    is everything that does not depend on a reduction — the moment updates, stored where they
    are computed, and the norms — and graph B the rest: it recomputes the values it needs (r)
    from the stored moments and the param, reading 12 bytes/param. One-element values (bias
    corrections, the ratio's inputs) go from A to B as extra inputs.

    Returns (graph A, graph B, number of extra values A returns for B at the end of its
    outputs), or None when the graph has no such structure or B would need a value it cannot
    recompute (one read before a later in-place update)."""
    import torch.fx as fx

    graph = gm.graph
    nodes = list(graph.nodes)
    order = {n: i for i, n in enumerate(nodes)}
    output = nodes[-1]

    def val(n):
        return n.meta.get("val") if isinstance(n, fx.Node) else None

    def numel(n):
        v = val(n)
        return v.numel() if isinstance(v, torch.Tensor) else 0

    def inplace(n):
        return n.op == "call_function" and _opname(n).endswith("_")

    # the placeholder each in-place chain updates, and the last update of each placeholder
    root, last = {}, {}
    for n in nodes:
        if inplace(n):
            first = n.args[0] if n.args else None
            r = None
            if isinstance(first, fx.Node):
                r = first if first.op == "placeholder" else root.get(first)
            if r is None:  # an update through a view or of a list: do not split
                return None
            root[n] = r
            last[r] = n
    updates: dict = {}
    for n, r in root.items():
        updates.setdefault(r, []).append(n)
    dependent = set()
    for n in nodes:
        if n.op != "call_function":
            continue
        if any(a in dependent for a in n.all_input_nodes):
            dependent.add(n)
        elif _opname(n).split(".")[0] in _REDUCTIONS and any(numel(a) > 1 for a in n.all_input_nodes):
            dependent.add(n)
            dependent.add(("reduction", n))
    reductions = {x[1] for x in dependent if isinstance(x, tuple)}
    dependent = {n for n in dependent if not isinstance(n, tuple)} - reductions
    if not any(numel(n) > 1 for n in dependent):
        return None
    in_b = dependent
    # A must not read a placeholder after B updated it (A runs first)
    for n in nodes:
        if n in in_b or n.op != "call_function":
            continue
        for a in n.all_input_nodes:
            r = a if a.op == "placeholder" else root.get(a)
            if r is not None and any(u in in_b and order[u] < order[n]
                                     for u in nodes if root.get(u) is r):
                return None
    # values B needs from A
    extra = []           # one-element A values passed to B
    recompute = []       # multi-element A nodes B recomputes
    seen = set()

    def need(a, reader) -> bool:
        if a in seen or a in in_b:
            return True
        seen.add(a)
        if a.op == "placeholder":
            # B reads the placeholder after all of A's updates: valid if none came after reader
            return not any(u not in in_b and order[u] > order[reader] for u in updates.get(a, ()))
        if a in root:   # an in-place update: B may read its placeholder if it is the last one
            return last[root[a]] is a and not any(
                order[u] > order[a] and u in in_b for u in nodes if root.get(u) is root[a])
        if numel(a) <= 1 and not (_opname(a).split(".")[0] in _VIEWS
                                  and all(x.op == "placeholder" and x not in last for x in a.all_input_nodes)):
            extra.append(a)
            return True
        recompute.append(a)
        return all(need(x, a) for x in a.all_input_nodes)

    for n in in_b:
        for a in n.all_input_nodes:
            if not need(a, n):
                return None
    # graph A: drop B's nodes; return its outputs plus the extra values
    outs = output.args[0]
    outs = tuple(outs) if isinstance(outs, (tuple, list)) else (() if outs is None else (outs,))
    a_outs = tuple(o for o in outs if o not in in_b)
    b_outs = tuple(o for o in outs if o in in_b)
    gA = fx.Graph()
    envA = {}
    for n in nodes:
        if n.op == "output" or n in in_b:
            continue
        envA[n] = gA.node_copy(n, lambda x: envA[x])
    gA.output(tuple(envA[o] for o in a_outs) + tuple(envA[e] for e in extra))
    _store_updates_where_computed(gA)
    # graph B: the same placeholders plus the extra values
    gB = fx.Graph()
    envB = {}
    placeholders = [n for n in nodes if n.op == "placeholder"]
    for n in placeholders:
        envB[n] = gB.node_copy(n)
    for i, e in enumerate(extra):
        ph = gB.placeholder(f"extra_{i}")
        ph.meta["val"] = val(e)
        envB[e] = ph
    for n, r in root.items():   # in-place updates done by A: read their placeholder
        if n not in in_b:
            envB[n] = envB[r]
    keep = set(recompute) | in_b
    for n in nodes:
        if n in keep and n not in envB:
            envB[n] = gB.node_copy(n, lambda x: envB[x])
    gB.output(tuple(envB[o] for o in b_outs))
    gmA = fx.GraphModule(gm, gA)
    gmB = fx.GraphModule(gm, gB)
    gmA.graph.lint()
    gmB.graph.lint()
    return gmA, gmB, len(extra)


def _store_updates_where_computed(graph) -> None:
    """Pass each multi-element in-place update that is read afterwards through inductor's
    ``force_stride_order`` prim: inductor then computes it once, in the loop that first needs
    it, and writes it back there (otherwise it recomputed the update in a loop of its own)."""
    import torch.fx as fx
    from torch._inductor import inductor_prims

    barrier = inductor_prims.force_stride_order
    nodes = list(graph.nodes)
    root, last = {}, {}
    for n in nodes:
        if n.op == "call_function" and _opname(n).endswith("_") and n.args and isinstance(n.args[0], fx.Node):
            first = n.args[0]
            r = first if first.op == "placeholder" else root.get(first)
            if r is not None:
                root[n] = r
                last[r] = n
    for n in last.values():
        v = n.meta.get("val")
        users = [u for u in n.users if u.op != "output"]
        if not isinstance(v, torch.Tensor) or v.numel() <= 1 or not users:
            continue
        with graph.inserting_after(n):
            stored = graph.call_function(barrier, (n, tuple(v.stride())))
            stored.meta["val"] = v
        for u in users:
            u.replace_input_with(n, stored)


class _TwoPass:
    """Graph A then graph B; A's last ``extra`` outputs are B's last inputs."""

    __slots__ = ("a", "b", "extra")

    def __init__(self, a, b, extra):
        self.a, self.b, self.extra = a, b, extra

    def __call__(self, *flat):
        out = self.a(*flat)
        extra = tuple(out[len(out) - self.extra:]) if self.extra else ()
        return self.b(*flat, *extra)


def _compile_graph(gm, examples, path, device, options=None):
    """Compile one traced graph (saving it when ``path``), returning a callable."""
    options = dict(_INDUCTOR_OPTIONS if options is None else options)
    from torch._inductor.compile_fx import compile_fx

    out = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    if out.args[0] is None:  # return a tuple, as standalone_compile expects
        out.args = ((),)
        gm.recompile()
    standalone = getattr(torch._inductor, "standalone_compile", None)
    with _one_kernel_per_loop(device):
        if path is not None and standalone is not None:
            try:
                artifact = standalone(gm, examples, options={"config_patches": options})
            except Exception:
                artifact = None
            if artifact is not None:
                with contextlib.suppress(Exception):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    tmp = f"{path}.{os.getpid()}.tmp"
                    artifact.save(path=tmp, format="binary")
                    os.replace(tmp, path)
                return artifact
        return compile_fx(gm, examples, config_patches=options)


def _load(path):
    """The saved compiled function at ``path`` (a one- or two-pass manifest), or None."""
    artifact_cls = getattr(torch._inductor, "CompiledArtifact", None)
    if path is None or artifact_cls is None or not os.path.exists(path + ".json"):
        return None
    try:
        import json

        with open(path + ".json") as f:
            manifest = json.load(f)
        parts = [artifact_cls.load(path=f"{path}.{i}", format="binary") for i in range(manifest["parts"])]
        _stats["loaded"] += 1
        return parts[0] if len(parts) == 1 else _TwoPass(parts[0], parts[1], manifest["extra"])
    except Exception:
        with contextlib.suppress(OSError):
            os.remove(path + ".json")
        return None


def _compile(rule, layouts, metas, device):
    """Trace ``rule`` over the bucket on fake tensors and compile it with inductor (as two
    graphs when it has whole-tensor reductions, see ``_split_at_reductions``).

    With ``torch._inductor.standalone_compile`` (torch >= 2.8) the result is saved, and a later
    process loads it without tracing or compiling (~0.3 s instead of ~3.5 s for 51 params)."""
    import json

    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    has_standalone = hasattr(torch._inductor, "standalone_compile") and hasattr(torch._inductor, "CompiledArtifact")
    path = _artifact_path(rule, layouts, metas, device) if has_standalone else None
    loaded = _load(path)
    if loaded is not None:
        return loaded

    step = _make_step(rule, layouts)
    # A shape env (with static shapes only) lets inductor use its on-disk FX graph cache.
    fake_mode = FakeTensorMode(shape_env=ShapeEnv())
    with fake_mode:
        examples = [torch.empty_strided(shape, stride, dtype=dtype, device=device)
                    for dtype, shape, stride in metas]
    with torch.no_grad():
        gm = make_fx(step, tracing_mode="fake")(*examples)
        _reciprocal_scalar_divisions(gm)
        _hoist_scalars(gm)
        split = _split_at_reductions(gm)
        if split is None:
            fn = _compile_graph(gm, examples, path and f"{path}.0", device)
            parts, extra = 1, 0
        else:
            gm_a, gm_b, extra = split
            # Split, no intermediate has two users: inductor's own thresholds then store the
            # new moments in pass 1 (they are both used there and written back).
            fa = _compile_graph(gm_a, examples, path and f"{path}.0", device, _SPLIT_OPTIONS)
            b_examples = examples + [n.meta["val"] for n in gm_b.graph.nodes
                                     if n.op == "placeholder"][len(examples):]
            fb = _compile_graph(gm_b, b_examples, path and f"{path}.1", device, _SPLIT_OPTIONS)
            fn, parts = _TwoPass(fa, fb, extra), 2
    if path is not None and all(os.path.exists(f"{path}.{i}") for i in range(parts)):
        with contextlib.suppress(Exception):
            tmp = f"{path}.json.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump({"parts": parts, "extra": extra}, f)
            os.replace(tmp, path + ".json")
    return fn


class _Bucket:
    """The params of one (device, dtype) bucket of a group: their indices and compiled plan."""

    __slots__ = ("idx", "plan", "names", "flags", "has_tensor_hypers", "hbuf", "hrows", "last")

    def __init__(self, idx, plan, names, flags, has_tensor_hypers, device):
        self.idx = idx
        self.plan = plan
        self.names = names
        self.flags = flags
        self.has_tensor_hypers = has_tensor_hypers
        # The bucket's float hypers, one row per param. Each row is passed as its own input:
        # one buffer read by every node made inductor's fusion search quadratic in the number
        # of params (21 s of a 51-param compile).
        self.hbuf = torch.zeros((len(idx), max(plan.width, 1)), dtype=_hyper_dtype(device),
                                device=device)
        self.hrows = list(self.hbuf.unbind(0))
        self.last = None


class _Group:
    """What a group looked like when its buckets were planned, to check cheaply at each step
    that nothing changed (the compiled code has no guards of its own).

    Params and state tensors are held by weak reference: when one dies the entry is dropped, so
    a live entry means that the ids it recorded still name the same objects."""

    __slots__ = ("key", "pmeta", "gmeta", "state_ids", "hypers", "buckets", "eager_idx",
                 "refs", "__weakref__")

    def __init__(self):
        self.hypers = None

    def check(self, params, grads, states, hypers) -> bool:
        if [(p.dtype, p.shape) for p in params] != self.pmeta:
            return False
        if [id(t) for st in states for t in st.values()] != self.state_ids:
            return False
        return _grad_meta(grads) == self.gmeta


def _grad_meta(grads):
    return [(type(g), g.layout, g.dtype, g.device, g.shape,
             g.stride() if g.layout == torch.strided else None) for g in grads]


_groups: dict = {}


def _drop_group(key, ref):
    with _lock:
        if _groups.get(key) is not None and _groups[key] is ref():
            del _groups[key]


def _splits(rule, params, grads, states, hypers, i) -> bool:
    """Whether ``rule`` traced for param ``i`` is split in two passes (memoized per layout)."""
    st = states[i]
    names, _, flags = _split_hyper(hypers[i])
    device = params[i].device
    layout = (tuple(st), names, flags)
    metas = [(t.dtype, t.shape, t.stride()) for t in (params[i], grads[i], *st.values())]
    metas.append((_hyper_dtype(device), (max(len(names), 1),), (1,)))
    key = (rule, layout, tuple(m[0] for m in metas), device.type)
    if key not in _split_memo:
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.proxy_tensor import make_fx
        from torch.fx.experimental.symbolic_shapes import ShapeEnv

        try:
            with FakeTensorMode(shape_env=ShapeEnv()):
                examples = [torch.empty_strided(shape, stride, dtype=dtype, device=device)
                            for dtype, shape, stride in metas]
            with torch.no_grad():
                gm = make_fx(_make_step(rule, (layout,)), tracing_mode="fake")(*examples)
            _split_memo[key] = _split_at_reductions(gm) is not None
        except Exception:
            _split_memo[key] = False
    return _split_memo[key]


def _plan_bucket(rule, params, grads, states, hypers, idx):
    """Find or build the plan of one bucket (``idx``: its params' indices in the group)."""
    device = params[idx[0]].device
    layouts, metas, names_all, flags_all = [], [], [], []
    has_tensor_hypers = False
    for i in idx:
        st = states[i]
        names, vals, flags = _split_hyper(hypers[i])
        has_tensor_hypers = has_tensor_hypers or any(isinstance(v, torch.Tensor) for v in vals)
        layouts.append((tuple(st), names, flags))
        names_all.append(names)
        flags_all.append(flags)
        for t in (params[i], grads[i], *st.values()):
            metas.append((t.dtype, t.shape, t.stride()))
        metas.append(None)  # the hyper row
    width = max((len(n) for n in names_all), default=0)
    key = (rule, device, tuple(layouts), tuple(metas))
    hash(key)  # TypeError for an unhashable flag: the caller runs eager
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            plan = _Plan(width, (rule, tuple(layouts), metas, device))
            _plans[key] = plan
            while len(_plans) > _MAX_PLANS:
                _plans.popitem(last=False)
        else:
            _plans.move_to_end(key)
    return _Bucket(idx, plan, names_all, flags_all, has_tensor_hypers, device)


def _fill_hypers(bucket, hypers) -> bool:
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


def _run_plan(rule, bucket, params, grads, states, hypers) -> bool:
    """Run one bucket's compiled function (compiling it first if needed). False: the rule could
    not be compiled and nothing was run."""
    plan = bucket.plan
    if plan.broken:
        return False
    flat = []
    for i, row in zip(bucket.idx, bucket.hrows):
        flat.append(params[i])
        flat.append(grads[i])
        flat.extend(states[i].values())
        flat.append(row)
    if plan.fn is None:
        rule_, layouts, metas, device = plan.key
        row_meta = (bucket.hbuf.dtype, bucket.hrows[0].shape, bucket.hrows[0].stride())
        metas = [m if m is not None else row_meta for m in metas]
        start = time.perf_counter()
        try:
            with _lock, torch.no_grad():
                if plan.fn is None:
                    plan.fn = _compile(rule_, layouts, metas, device)
                    _stats["compiles"] += 1
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


def _plan_group(rule, params, grads, states, hypers, key):
    """Bucket a group, plan each bucket, and record what the plan assumed."""
    buckets: dict = {}
    eager_idx = []
    for i, (p, g, st) in enumerate(zip(params, grads, states)):
        if compilable(p, g, st):
            buckets.setdefault((p.device, p.dtype), []).append(i)
        else:
            eager_idx.append(i)
    grp = _Group()
    grp.key = key
    try:
        grp.buckets = []
        for idx in buckets.values():
            size = _CHUNK if len(idx) > _CHUNK and _splits(rule, params, grads, states, hypers, idx[0]) \
                else len(idx)
            grp.buckets += [_plan_bucket(rule, params, grads, states, hypers, idx[k:k + size])
                            for k in range(0, len(idx), size)]
    except TypeError:  # an unhashable flag
        grp.buckets = []
        eager_idx = list(range(len(params)))
    persistent = [id(t) for t in itertools.chain(params, *(st.values() for st in states))]
    if len(set(persistent)) != len(persistent):  # a tensor updated twice: only eager is sequential
        grp.buckets = []
        eager_idx = list(range(len(params)))
    grp.eager_idx = eager_idx
    grp.pmeta = [(p.dtype, p.shape) for p in params]
    grp.gmeta = _grad_meta(grads)
    grp.state_ids = [id(t) for st in states for t in st.values()]
    grp.hypers = None
    drop = functools.partial(_drop_group, key, weakref.ref(grp))
    try:
        grp.refs = [weakref.ref(t, lambda _r, d=drop: d())
                    for t in itertools.chain(params, *(st.values() for st in states))]
    except TypeError:  # objects without weak references: do not remember this group
        return grp
    with _lock:
        _groups[key] = grp
    return grp


def run_compiled(rule, params, grads, states, hypers) -> None:
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
        if not _run_plan(rule, bucket, params, grads, states, hypers):
            eager_idx = eager_idx + bucket.idx
    if not any(b.has_tensor_hypers for b in grp.buckets):
        grp.hypers = hypers
    if eager_idx:
        _stats["eager_params"] += len(eager_idx)
        if len(eager_idx) == len(params):
            run_eager(rule, params, grads, states, hypers)
        else:
            run_eager(rule, *(_pick(x, eager_idx) for x in (params, grads, states, hypers)))


def _pick(items, idx):
    return [items[i] for i in idx]
