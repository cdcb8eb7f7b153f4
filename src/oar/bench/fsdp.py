"""``oar bench --fsdp N``: one optimizer step under FSDP2, per rank.

N gloo ranks on 127.0.0.1 (``torch.multiprocessing``, one thread each) hold the bench's
parameter set (:func:`oar.bench.params.build_param_set`) with every tensor in its own module,
each ``fully_shard``-ed (``torch.distributed.fsdp``), so params, grads and state are DTensors
sharded on dim 0. Each rank times one ``step()`` of every optimizer of the algorithm table that
runs under FSDP (the ``auto`` engine), of ``torch.optim.Adam(fused=True)`` (the reference of the
ratio column) and of ``Adam(foreach=True)``; rounds are interleaved and start on a barrier. The
table gives each rank's median ms/step and its ratio to the reference.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..algorithms import Algorithm, algorithms
from .params import build_param_set
from .rows import options_of

__all__ = ["REFERENCE", "print_fsdp", "run_fsdp"]

REFERENCE = "torch.Adam(fused=True)"
Result = dict[str, Any]
Maker = Callable[[list[torch.Tensor]], Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sharded_params(values: list[torch.Tensor], grads: list[torch.Tensor], mesh: Any) -> list[torch.Tensor]:
    """``values`` as the params of a module whose every tensor sits in its own fully_shard-ed
    module; their grads set to ``grads`` sharded alike."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import distribute_tensor

    root = torch.nn.Module()
    root.layers = torch.nn.ModuleList()
    for v in values:
        layer = torch.nn.Module()
        layer.weight = torch.nn.Parameter(v.clone())
        root.layers.append(layer)
    for layer in root.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(root, mesh=mesh)
    params: list[torch.Tensor] = [p for layer in root.layers for p in layer.parameters()]
    for p, g in zip(params, grads, strict=True):
        p.grad = distribute_tensor(g.clone(), mesh, p.placements)  # type: ignore[attr-defined]
    return params


def _oar_maker(a: Algorithm, lr: float) -> Maker:
    def make(params: list[torch.Tensor]) -> Any:
        return a.cls(params, learning_rate=lr, engine="auto", **a.bench, **options_of(a))

    return make


def _makers(lr: float) -> list[tuple[str, Maker]]:
    """The rows: torch's fused and foreach Adam, then every optimizer of the table that steps
    per batch (LBFGS does not)."""
    makers: list[tuple[str, Maker]] = [
        (REFERENCE, lambda ps: torch.optim.Adam(ps, lr=lr, fused=True)),
        ("torch.Adam(foreach=True)", lambda ps: torch.optim.Adam(ps, lr=lr, foreach=True)),
    ]
    for a in algorithms():
        if a.rule is None or a.full_batch:
            continue
        makers.append((f"oar.{a.name}", _oar_maker(a, lr)))
    return makers


def _worker(
    rank: int,
    world: int,
    port: int,
    scale: float,
    repeats: int,
    warmup: int,
    seed: int,
    lr: float,
    out_dir: str,
    only: Sequence[str],
    skip: Sequence[str],
) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    result: Result = {"rows": {}, "errors": {}}
    try:
        mesh = init_device_mesh("cpu", (world,))
        pset = build_param_set(scale, torch.float32, seed)
        result["params"], result["tensors"] = pset.numel, len(pset.names)
        steps: dict[str, Callable[[], Any]] = {}
        for name, make in _makers(lr):
            low = name.lower()
            if name != REFERENCE and ((only and not any(s in low for s in only)) or any(s in low for s in skip)):
                continue
            try:
                opt = make(_sharded_params(pset.values, pset.grads, mesh))
                opt.step()  # state, plans, kernels built
                steps[name] = opt.step
            except Exception:
                result["errors"][name] = traceback.format_exc(limit=2).strip().splitlines()[-1]
            dist.barrier()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for rnd in range(warmup + repeats):
            for name, step in steps.items():
                dist.barrier()
                start = time.perf_counter()
                step()
                elapsed = time.perf_counter() - start
                if rnd >= warmup:
                    times[name].append(elapsed * 1e3)
        result["rows"] = {name: statistics.median(t) for name, t in times.items()}
    finally:
        dist.destroy_process_group()
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


def run_fsdp(
    world: int = 2,
    scale: float = 1.0,
    repeats: int = 12,
    warmup: int = 2,
    seed: int = 0,
    lr: float = 1e-3,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> list[Result]:
    """Run the FSDP2 bench on ``world`` gloo ranks; returns each rank's result: ``rows``
    (name -> median ms/step), ``errors`` (name -> message, for optimizers that cannot run under
    FSDP), ``params`` and ``tensors``.

    Args:
        world (int): ranks, >= 2. Default 2.
        scale (float): the parameter set's scale (:func:`oar.bench.params.param_shapes`), > 0.
            Default 1.0 (27.4M parameters).
        repeats (int): timed rounds, >= 1. Default 12.
        warmup (int): untimed rounds after each optimizer's first step, >= 0. Default 2.
        seed (int): seed of the values and gradients. Default 0.
        lr (float): learning rate of every optimizer. Default 1e-3.
        only, skip (sequence of str): measure only the rows whose name (any case) holds a
            substring of ``only`` (all when empty) and none of ``skip``; ``REFERENCE`` always is.
            Default: every row.

    Raises:
        ValueError: ``world`` < 2, ``scale`` <= 0, ``repeats`` < 1 or ``warmup`` < 0.
    """
    if world < 2:
        raise ValueError(f"--fsdp must be >= 2 ranks, got {world}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="oar-bench-fsdp-") as tmp:
        args = (world, _free_port(), scale, repeats, warmup, seed, lr, tmp, list(only), list(skip))
        mp.spawn(_worker, args=args, nprocs=world, join=True)  # type: ignore[attr-defined,no-untyped-call]
        return [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(world)]


def print_fsdp(results: list[Result]) -> None:
    """Print the table: one row per optimizer, per rank its median ms/step and ratio to
    ``REFERENCE``; then the optimizers that do not run under FSDP."""
    world = len(results)
    head = f"{'optimizer':<28}" + "".join(f"{f'rank{r} ms':>11}{'vs fused Adam':>15}" for r in range(world))
    print(
        f"FSDP2 (fully_shard), {world} gloo ranks x 1 thread, {results[0].get('params', 0):,} parameters "
        f"in {results[0].get('tensors', 0)} tensors; median ms/step per rank"
    )
    print(head)
    for name in results[0]["rows"]:
        line = f"{name:<28}"
        for res in results:
            ms, ref = res["rows"].get(name), res["rows"].get(REFERENCE)
            line += f"{ms:>11.2f}{(ms / ref if ms is not None and ref else float('nan')):>14.2f}x"
        print(line)
    for name, msg in results[0]["errors"].items():
        print(f"{name:<28} does not run under FSDP: {msg}")
