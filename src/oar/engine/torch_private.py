"""Every private or unstable torch API the engines use, in one place: the checklist for a torch
upgrade. No other engine module touches ``torch._inductor``, ``torch._dynamo``,
``torch._subclasses``, ``torch.fx.experimental`` or an FX node's ``meta`` directly.

Each entry says what it is for and what to check when torch changes (last checked: torch 2.13).
Inductor and dynamo are imported on first use, never at ``import oar``: importing inductor takes
seconds, and a process that runs only the eager or fused engine never pays it.

After an upgrade, run ``tests/test_engine.py`` and ``tests/test_graph_passes.py``; a layout
change mostly shows as a silent fallback (eager engine, no saved artifacts, no inductor cache
dir), which those tests catch through the engines' ``stats()``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

__all__ = [
    "compile_fx",
    "dynamo_supported",
    "fake_tensors",
    "force_stride_order",
    "has_standalone_compile",
    "has_triton",
    "increment_version",
    "inductor_cache_dir",
    "inductor_cxx",
    "load_artifact",
    "node_value",
    "one_kernel_per_loop",
    "op_name",
    "save_artifact",
    "set_node_value",
    "standalone_compile",
    "trace",
]

#: (dtype, shape, stride) of one tensor, as the engines describe a traced input.
Meta = tuple[torch.dtype, Sequence[int], Sequence[int]]

# ---------------------------------------------------------------- autograd

#: Bumps tensors' version counters as an in-place op does: the fused kernels write through raw
#: pointers, and autograd must then refuse a backward through the old values. Check: still in
#: ``torch.autograd.graph`` and taking a list of tensors.
increment_version: Callable[[Any], None] = torch.autograd.graph.increment_version

# ---------------------------------------------------------------- inductor's cache directory


def inductor_cache_dir() -> str | None:
    """Inductor's cache directory (``$TORCHINDUCTOR_CACHE_DIR``, else a per-user temp dir):
    oar keeps its kernels, saved artifacts and compile times beside inductor's cache. Check:
    ``cache_dir`` moved from ``torch._inductor.utils`` to ``torch._inductor.runtime.cache_dir_utils``
    once already."""
    for module in ("torch._inductor.runtime.cache_dir_utils", "torch._inductor.utils"):
        try:
            return str(importlib.import_module(module).cache_dir())
        except Exception:  # pragma: no cover - other torch layouts
            continue
    return None  # pragma: no cover


# ---------------------------------------------------------------- can inductor compile here


def dynamo_supported() -> bool:
    """Whether torch.compile works in this Python at all. Check: ``torch._dynamo.is_dynamo_supported``."""
    import torch._dynamo

    return bool(torch._dynamo.is_dynamo_supported())


def inductor_cxx() -> tuple[str, ...]:
    """The C++ compiler names inductor tries on CPU. Check: ``torch._inductor.config.cpp.cxx`` (a
    name, or a tuple of names with None entries)."""
    from torch._inductor import config

    cxx = config.cpp.cxx
    return tuple(c for c in (cxx if isinstance(cxx, (tuple, list)) else (cxx,)) if c)


def has_triton() -> bool:
    """Whether Triton (inductor's GPU backend) is usable. Check: ``torch.utils._triton.has_triton``."""
    from torch.utils._triton import has_triton as _has_triton

    return bool(_has_triton())


# ---------------------------------------------------------------- tracing and FX graphs


def fake_tensors(metas: Sequence[Meta], device: torch.device) -> list[torch.Tensor]:
    """Fake tensors (no storage) of the given (dtype, shape, stride) to trace with. Their fake
    mode has a shape env with static shapes only, which lets inductor use its on-disk FX graph
    cache. Check: ``FakeTensorMode(shape_env=)`` and ``ShapeEnv()`` in
    ``torch._subclasses.fake_tensor`` and ``torch.fx.experimental.symbolic_shapes``."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    with FakeTensorMode(shape_env=ShapeEnv()):
        return [torch.empty_strided(shape, stride, dtype=dtype, device=device) for dtype, shape, stride in metas]


def trace(fn: Callable[..., Any], examples: Sequence[torch.Tensor]) -> torch.fx.GraphModule:
    """``fn`` traced on fake ``examples`` into an aten-level FX graph whose in-place ops stay in
    place, with each node's fake value in ``node.meta['val']``. Check:
    ``torch.fx.experimental.proxy_tensor.make_fx(tracing_mode='fake')``."""
    from torch.fx.experimental.proxy_tensor import make_fx

    return make_fx(fn, tracing_mode="fake")(*examples)


def node_value(node: Any) -> Any:
    """The fake tensor (or other value) ``make_fx`` recorded for an FX node, None for anything
    else. Check: the ``'val'`` key of ``Node.meta``, which inductor reads too."""
    meta = getattr(node, "meta", None)
    return meta.get("val") if isinstance(meta, dict) else None


def set_node_value(node: torch.fx.Node, value: Any) -> None:
    """Record the fake value of a node a graph pass created (inductor needs it)."""
    node.meta["val"] = value


def op_name(target: Any) -> str:
    """The aten name of an FX node's target without overload (``'add_'`` for
    ``aten.add_.Tensor``), else its ``__name__``. Check: ``OpOverload._opname``."""
    return getattr(target, "_opname", None) or str(getattr(target, "__name__", ""))


def force_stride_order() -> Any:
    """Inductor's ``force_stride_order`` prim: a node passed through it is stored (realized) where
    it is computed. Check: ``torch._inductor.inductor_prims.force_stride_order(x, stride)``."""
    from torch._inductor import inductor_prims

    return inductor_prims.force_stride_order


# ---------------------------------------------------------------- compiling and saving


def compile_fx(
    gm: torch.fx.GraphModule, examples: Sequence[torch.Tensor], options: dict[str, Any]
) -> Callable[..., Any]:
    """Inductor's backend on an aten graph (what torch.compile calls after dynamo). Check:
    ``torch._inductor.compile_fx.compile_fx(gm, examples, config_patches=)``; the option names
    in ``compiled._INDUCTOR_OPTIONS`` still exist in ``torch._inductor.config``."""
    from torch._inductor.compile_fx import compile_fx as _compile_fx

    fn: Callable[..., Any] = _compile_fx(gm, list(examples), config_patches=options)  # type: ignore[assignment]
    return fn


def has_standalone_compile() -> bool:
    """Whether compiled graphs can be saved and loaded (torch >= 2.8). Check:
    ``torch._inductor.standalone_compile`` and ``torch._inductor.CompiledArtifact``."""
    import torch._inductor

    return hasattr(torch._inductor, "standalone_compile") and hasattr(torch._inductor, "CompiledArtifact")


def standalone_compile(gm: torch.fx.GraphModule, examples: Sequence[torch.Tensor], options: dict[str, Any]) -> Any:
    """Compile like ``compile_fx`` into a ``CompiledArtifact`` that can be saved. The graph must
    return a tuple. Check: ``standalone_compile(gm, examples, options={'config_patches': ...})``."""
    import torch._inductor

    return torch._inductor.standalone_compile(gm, list(examples), options={"config_patches": options})


def save_artifact(artifact: Any, path: str) -> None:
    """Write a ``CompiledArtifact`` to one file. Check: ``save(path=, format='binary')``."""
    artifact.save(path=path, format="binary")


def load_artifact(path: str) -> Callable[..., Any]:
    """A saved ``CompiledArtifact``, callable like the compiled graph. Check:
    ``CompiledArtifact.load(path=, format='binary')``."""
    import torch._inductor

    return torch._inductor.CompiledArtifact.load(path=path, format="binary")


def cpu_vec_options(device: torch.device) -> dict[str, Any]:
    """CPU: inductor's vector width (``cpp.simdlen``) as this process picks it, made explicit.
    Inductor picks the ISA from ``ATEN_CPU_CAPABILITY`` when ``cpp.simdlen`` is unset, but its
    FX-graph cache key holds only the (unset) option: a process with another
    ``ATEN_CPU_CAPABILITY`` sharing the cache loaded code generated for the other width and
    computed wrong values (torch 2.13, AVX-512 then AVX2 on one cache: 4 of 12 float64 elements
    wrong). An explicit width is part of the key. Check:
    ``torch._inductor.cpu_vec_isa.pick_vec_isa().bit_width()`` and ``config.cpp.simdlen``."""
    if device.type != "cpu":
        return {}
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        return {"cpp.simdlen": int(pick_vec_isa().bit_width())}
    except Exception:  # pragma: no cover - other torch layouts
        return {}


@contextlib.contextmanager
def one_kernel_per_loop(device: torch.device) -> Iterator[None]:
    """CPU: end inductor's C++ kernel after every loop, so that loops of equal shape are the same
    source and are compiled once (codegen runs inside ``compile_fx``, in this thread). Check:
    the class attribute ``torch._inductor.codegen.cpp.CppScheduling.MAX_FUSED_KERNEL_ARGS_NUM``
    (without it this does nothing: correct, compiles slower)."""
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
