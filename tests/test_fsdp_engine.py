"""Sharded (DTensor, FSDP2-style Shard(0)) params on the fused/compiled/auto engines, checked
against the single-process eager run of the same optimizer, in ONE launch of 2 gloo ranks (every
case runs in the workers; the results come back to the parent, one test per case)."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import oar
from oar import algorithms

dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():  # pragma: no cover
    pytest.skip("torch.distributed with gloo is required", allow_module_level=True)

WORLD = 2
STEPS = 3
#: the project's bounds; measured here (largest |sharded - single| / max |single| over the table):
#: float64 7e-17, float32 5e-9 (Lamb's sums of squares added per shard, then across ranks)
RTOL = {torch.float64: 1e-10, torch.float32: 1e-5}
#: dim 0 of 1 gives rank 1 an empty shard; 5 an uneven split
SHAPES = [(6, 4), (5, 3), (1, 7), (8,)]


def _table() -> list[Any]:
    return [a for a in algorithms.algorithms() if a.rule is not None and not a.full_batch]


def _engines(a: Any) -> list[str]:
    """fused and auto for every optimizer; compiled (tens of seconds per cold compile) for the
    first algorithm of the table and for those with a :class:`oar.engine.sharded.Reduction`."""
    from oar.engine import sharded

    first = _table()[0] is a
    return ["fused", "auto"] + (["compiled"] if first or sharded.reduction_for(a.rule) else [])


def _make(a: Any, params: Any, engine: str, **extra: Any) -> Any:
    return a.cls(params, learning_rate=1e-2, engine=engine, **a.bench, **extra)


def _values(dtype: torch.dtype, seed: int) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    gen = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in SHAPES]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) * 0.1 for s in SHAPES] for _ in range(STEPS)]
    return values, grads


def _run(
    a: Any,
    engine: str,
    dtype: torch.dtype,
    mesh: Any,
    sharded: bool,
    seed: int = 0,
    nan_rank: int | None = None,
    skip: int | None = None,
    **extra: Any,
) -> tuple[list[torch.Tensor], Any]:
    from torch.distributed.tensor import Shard, distribute_tensor

    values, grads = _values(dtype, seed)
    if sharded:
        params = [torch.nn.Parameter(distribute_tensor(v.clone(), mesh, [Shard(0)])) for v in values]
    else:
        params = [torch.nn.Parameter(v.clone()) for v in values]
    opt = _make(a, params, engine, **extra)
    for step in range(STEPS):
        for p, g in zip(params, grads[step], strict=True):
            if sharded:
                g = distribute_tensor(g.clone(), mesh, [Shard(0)])
                if nan_rank is not None and step == 1 and dist.get_rank() == nan_rank and g.to_local().numel():
                    g.to_local()[0] = float("nan")
            p.grad = g
        if step != skip:
            opt.step()
    out = [p.detach().full_tensor() if sharded else p.detach() for p in params]
    return out, opt


def _close(got: list[torch.Tensor], want: list[torch.Tensor], dtype: torch.dtype) -> str | None:
    for i, (x, y) in enumerate(zip(got, want, strict=True)):
        err = float((x - y).abs().max() / y.abs().max().clamp_min(1e-30))
        if not err <= RTOL[dtype]:
            return f"param {i}: relative error {err:.3g} > {RTOL[dtype]}"
    return None


@contextlib.contextmanager
def _count_all_reduce() -> Iterator[list[int]]:
    """Counts torch.distributed.all_reduce calls (the engine's, the clip's, the guard's) in a
    one-element list."""
    calls = [0]
    orig = dist.all_reduce

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return orig(*args, **kwargs)

    dist.all_reduce = counted
    try:
        yield calls
    finally:
        dist.all_reduce = orig


def _cases(mesh: Any) -> dict[str, str | None]:
    """Every case's failure message (None: passed)."""
    from torch.distributed.tensor import Shard, distribute_tensor

    results: dict[str, str | None] = {}

    def case(name: str, fn: Any) -> None:
        try:
            results[name] = fn()
        except Exception:
            results[name] = traceback.format_exc()

    for a in _table():
        for dtype in (torch.float64, torch.float32):
            want, _ = _run(a, "eager", dtype, mesh, sharded=False)
            try:  # does DTensor's own eager path take this optimizer's state?
                _run(a, "eager", dtype, mesh, sharded=True)
                eager_error = None
            except Exception as exc:
                eager_error = type(exc)
            for engine in _engines(a):

                def one(
                    a: Any = a,
                    engine: str = engine,
                    dtype: torch.dtype = dtype,
                    want: list[torch.Tensor] = want,
                    eager_error: Any = eager_error,
                ) -> str | None:
                    if eager_error is None:
                        return _close(_run(a, engine, dtype, mesh, sharded=True)[0], want, dtype)
                    # not run under FSDP (a state that is not a DTensor): the same error, never
                    # silently wrong numbers
                    try:
                        _run(a, engine, dtype, mesh, sharded=True)
                    except eager_error:
                        return None
                    return f"eager raised {eager_error.__name__}, {engine} did not"

                case(f"{a.name}-{engine}-{str(dtype)[6:]}", one)

    lamb = algorithms.get("lamb")
    for clip_name, clip in (("global", oar.ClipGradByGlobalNorm(0.05)), ("norm", oar.ClipGradByNorm(0.05))):

        def clip_case(clip: Any = clip) -> str | None:
            want, _ = _run(lamb, "eager", torch.float64, mesh, sharded=False, grad_clip=clip)
            got, _ = _run(lamb, "fused", torch.float64, mesh, sharded=True, grad_clip=clip)
            return _close(got, want, torch.float64)

        case(f"clip-{clip_name}", clip_case)

    def nan_one_rank(**extra: Any) -> str | None:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            # the step with the NaN changes nothing: the single-process run without that step
            want, _ = _run(lamb, "eager", torch.float64, mesh, sharded=False, skip=1, **extra)
            got, opt = _run(lamb, "fused", torch.float64, mesh, sharded=True, skip_nonfinite=True, nan_rank=1, **extra)
        if opt.skipped_steps != 1:
            return f"rank {dist.get_rank()} skipped {opt.skipped_steps} steps, not 1"
        return _close(got, want, torch.float64)

    case("skip-nonfinite-one-rank", nan_one_rank)
    case("skip-nonfinite-one-rank-global-clip", lambda: nan_one_rank(grad_clip=oar.ClipGradByGlobalNorm(0.05)))

    def count(extra: dict[str, Any], want: int) -> Any:
        def fn() -> str | None:
            values, grads = _values(torch.float64, 0)
            params = [torch.nn.Parameter(distribute_tensor(v.clone(), mesh, [Shard(0)])) for v in values]
            opt = _make(lamb, params, "fused", **extra)
            for p, g in zip(params, grads[0], strict=True):
                p.grad = distribute_tensor(g.clone(), mesh, [Shard(0)])
            opt.step()  # state created
            with _count_all_reduce() as calls:
                opt.step()
            return None if calls[0] == want else f"{calls[0]} all-reduces, want {want}"

        return fn

    case("all-reduces-lamb", count({}, 1))
    case("all-reduces-lamb-global-clip", count({"grad_clip": oar.ClipGradByGlobalNorm(1.0)}, 2))
    case("all-reduces-lamb-norm-clip", count({"grad_clip": oar.ClipGradByNorm(1.0)}, 2))
    case("all-reduces-lamb-skip-nonfinite", count({"skip_nonfinite": True}, 2))
    # the guard's flag folded into the global-norm clip's all-reduce
    case(
        "all-reduces-lamb-global-clip-skip-nonfinite",
        count({"grad_clip": oar.ClipGradByGlobalNorm(1.0), "skip_nonfinite": True}, 2),
    )

    def fallback_warning() -> str | None:
        from oar.engine import sharded

        adam = algorithms.get("adam")
        values, grads = _values(torch.float64, 0)
        params = [
            torch.nn.Parameter(distribute_tensor(v.clone(), mesh, [Shard(v.dim() - 1)])) for v in values if v.dim() == 2
        ]
        opt = _make(adam, params, "fused")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                for p, g in zip(params, [g for g in grads[0] if g.dim() == 2], strict=True):
                    p.grad = distribute_tensor(g.clone(), mesh, [Shard(g.dim() - 1)])
                opt.step()
        ours = [w for w in caught if "sharded params run on the eager engine" in str(w.message)]
        if len(ours) != 1:
            return f"{len(ours)} fallback warnings, want 1"
        return None if any("placements" in r for r in sharded.fallback_warned()) else "no reason recorded"

    case("fallback-warning-once", fallback_warning)
    return results


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (WORLD,))
        results = _cases(mesh)
    finally:
        dist.destroy_process_group()
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def results() -> dict[int, dict[str, str | None]]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(_free_port(), tmp), nprocs=WORLD, join=True)
        return {r: torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(WORLD)}


def _names() -> list[str]:
    names = []
    for a in _table():
        for dtype in ("float64", "float32"):
            for engine in _engines(a):
                names.append(f"{a.name}-{engine}-{dtype}")
    return names + [
        "clip-global",
        "clip-norm",
        "skip-nonfinite-one-rank",
        "skip-nonfinite-one-rank-global-clip",
        "all-reduces-lamb",
        "all-reduces-lamb-global-clip",
        "all-reduces-lamb-norm-clip",
        "all-reduces-lamb-skip-nonfinite",
        "all-reduces-lamb-global-clip-skip-nonfinite",
        "fallback-warning-once",
    ]


@pytest.mark.parametrize("name", _names())
def test_case(results: dict[int, dict[str, str | None]], name: str) -> None:
    for rank in range(WORLD):
        assert name in results[rank], f"rank {rank} did not run {name}"
        assert results[rank][name] is None, f"rank {rank}: {results[rank][name]}"
