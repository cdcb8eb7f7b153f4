"""A bucket's compiled function, and the artifact cache that keeps it on disk.

``build`` traces the rule over a bucket's structure on fake tensors, runs the graph passes
(:mod:`oar.engine.graph_passes`) and compiles the graph(s) with inductor. With
``torch._inductor.standalone_compile`` (torch >= 2.8) each compiled graph is saved beside
inductor's cache, with a JSON manifest, and a later process loads it without tracing or
compiling. Saved artifacts are keyed by the bucket's structure, torch's version, the CPU's ISA
(or GPU's capability), and the source of the rule's module and of the engine modules that shape
the code. Measured figures: RESULTS.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from . import graph_passes, torch_private
from .common import atomic_path, cache_path, read_json, write_json
from .eager import apply_rule
from .rule import Rule

__all__ = [
    "INDUCTOR_OPTIONS",
    "SPLIT_OPTIONS",
    "Layout",
    "Meta",
    "TwoPass",
    "build",
    "make_step",
    "trace_step",
]

#: One param's structure in a bucket: (state keys, names of float hypers, flags as (name, value)).
Layout = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, Any], ...]]
#: (dtype, shape, stride) of one input of a bucket's function.
Meta = torch_private.Meta

# Inductor options for a graph compiled whole. ``realize_*_threshold``: never store an
# intermediate that has several users but recompute it in each consumer. Before the two-graph
# split existed, LAMB's r (used by ||r|| and by p -= lr*ratio*r) was stored in a param-sized
# buffer allocated every step (first touch of fresh memory is slow); these options keep any
# rule that cannot be split free of temporaries. ``size_asserts``: our cache key already holds
# every input's shape and stride. The two graphs of a split rule use inductor's defaults
# (``SPLIT_OPTIONS``), with which pass 1 stores the new moments where it computes them.
INDUCTOR_OPTIONS: dict[str, Any] = {
    "size_asserts": False,
    "realize_reads_threshold": 1 << 20,
    "realize_opcount_threshold": 1 << 20,
}
SPLIT_OPTIONS: dict[str, Any] = {"size_asserts": False}

# Saved artifacts are keyed by this version, torch's, the rule's module source and the engine's.
_CODEGEN_VERSION = 1


def make_step(rule: Rule, layouts: Sequence[Layout]) -> Callable[..., None]:
    """The function traced for a bucket: ``step(*flat)`` with, per param, ``param, grad,
    *state values, hyper row``. ``layouts[i] = (state_keys, hyper_names, flags)``."""

    def step(*flat: torch.Tensor) -> None:
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
            hyper: dict[str, Any] = dict(flags)
            for j, name in enumerate(names):
                hyper[name] = row[j]
            apply_rule(rule, param, grad, state, hyper)

    return step


def trace_step(
    rule: Rule, layouts: Sequence[Layout], metas: Sequence[Meta], device: torch.device
) -> tuple[fx.GraphModule, list[torch.Tensor]]:
    """The bucket's step traced on fake inputs of ``metas``, and those inputs. Call it under
    ``torch.no_grad()``.

    Raises:
        Exception: the rule cannot be traced as one graph (data-dependent control flow).
    """
    examples = torch_private.fake_tensors(metas, device)
    return torch_private.trace(make_step(rule, layouts), examples), examples


class TwoPass:
    """Graph A then graph B; A's last ``extra`` outputs are B's last inputs."""

    __slots__ = ("a", "b", "extra")

    def __init__(self, a: Callable[..., Any], b: Callable[..., Any], extra: int) -> None:
        self.a, self.b, self.extra = a, b, extra

    def __call__(self, *flat: torch.Tensor) -> Any:
        out = self.a(*flat)
        extra = tuple(out[len(out) - self.extra :]) if self.extra else ()
        return self.b(*flat, *extra)


def build(
    rule: Rule, layouts: Sequence[Layout], metas: Sequence[Meta], device: torch.device
) -> tuple[Callable[..., Any], bool]:
    """The bucket's compiled function and whether it was loaded from a saved artifact: loaded
    when one is saved, else traced, passed and compiled with inductor (as two graphs when the
    rule has whole-tensor reductions, see ``graph_passes.split_at_reductions``) and saved.

    Raises:
        Exception: tracing or compiling failed; no tensor was touched.
    """
    path = _artifact_path(rule, layouts, metas, device) if torch_private.has_standalone_compile() else None
    loaded = _load(path)
    if loaded is not None:
        return loaded, True
    fn: Callable[..., Any]
    with torch.no_grad():
        gm, examples = trace_step(rule, layouts, metas, device)
        graph_passes.reciprocal_scalar_divisions(gm)
        graph_passes.hoist_scalars(gm)
        split = graph_passes.split_at_reductions(gm)
        if split is None:
            fn = _compile_graph(gm, examples, path and f"{path}.0", device, INDUCTOR_OPTIONS)
            parts, extra = 1, 0
        else:
            gm_a, gm_b, extra = split
            # Split, no intermediate has two users: inductor's own thresholds then store the
            # new moments in pass 1 (they are both used there and written back).
            fa = _compile_graph(gm_a, examples, path and f"{path}.0", device, SPLIT_OPTIONS)
            b_examples = (
                examples
                + [torch_private.node_value(n) for n in gm_b.graph.nodes if n.op == "placeholder"][len(examples) :]
            )
            fb = _compile_graph(gm_b, b_examples, path and f"{path}.1", device, SPLIT_OPTIONS)
            fn, parts = TwoPass(fa, fb, extra), 2
    if path is not None and all(os.path.exists(f"{path}.{i}") for i in range(parts)):
        with contextlib.suppress(Exception):
            write_json(path + ".json", {"parts": parts, "extra": extra})
    return fn, False


def _artifact_path(rule: Rule, layouts: Sequence[Layout], metas: Sequence[Meta], device: torch.device) -> str | None:
    """Where the compiled artifact of this bucket structure is saved (beside inductor's own
    cache), or None when the rule's source cannot be identified."""
    try:
        with open(inspect.getsourcefile(rule), "rb") as f:  # type: ignore[arg-type]
            source = f.read()
        for module in (__file__, graph_passes.__file__, torch_private.__file__):
            with open(module, "rb") as f:  # the engine's passes and options shape the code too
                source += f.read()
        if device.type == "cuda":
            isa = str(torch.cuda.get_device_capability(device))
        else:
            isa = torch.backends.cpu.get_cpu_capability()
        parts = (
            _CODEGEN_VERSION,
            torch.__version__,
            rule.__module__,
            rule.__qualname__,
            hashlib.sha1(source).hexdigest(),
            repr(layouts),
            repr(metas),
            device.type,
            isa,
            sorted(INDUCTOR_OPTIONS.items()),
            sorted(SPLIT_OPTIONS.items()),
        )
        digest = hashlib.sha1(repr(parts).encode()).hexdigest()
        return cache_path("oar", f"{digest}.bin")
    except Exception:
        return None


def _compile_graph(
    gm: fx.GraphModule,
    examples: Sequence[torch.Tensor],
    path: str | None,
    device: torch.device,
    options: dict[str, Any],
) -> Callable[..., Any]:
    """Compile one traced graph (saving it when ``path``), returning a callable."""
    options = {**options, **torch_private.cpu_vec_options(device)}
    out = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    if out.args[0] is None:  # return a tuple, as standalone_compile expects
        out.args = ((),)
        gm.recompile()
    with torch_private.one_kernel_per_loop(device):
        if path is not None:
            try:
                artifact = torch_private.standalone_compile(gm, examples, options)
            except Exception:
                artifact = None
            if artifact is not None:
                with contextlib.suppress(Exception), atomic_path(path) as tmp:
                    torch_private.save_artifact(artifact, tmp)
                return artifact
        return torch_private.compile_fx(gm, examples, options)


def _load(path: str | None) -> Callable[..., Any] | None:
    """The saved compiled function at ``path`` (a one- or two-pass manifest), or None."""
    if path is None or not os.path.exists(path + ".json"):
        return None
    try:
        manifest = read_json(path + ".json")
        parts = [torch_private.load_artifact(f"{path}.{i}") for i in range(manifest["parts"])]
        return parts[0] if len(parts) == 1 else TwoPass(parts[0], parts[1], manifest["extra"])
    except Exception:
        with contextlib.suppress(OSError):
            os.remove(path + ".json")
        return None
