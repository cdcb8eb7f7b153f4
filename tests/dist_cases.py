"""The cases of tests/test_distributed.py: one tiny model trained the same way on one process
(the reference, in the pytest process) and on 2 gloo ranks (DDP, ZeRO-1, FSDP2, distributed
checkpoints), in the workers that :mod:`dist_harness` launches.

Every rank sees its half of each batch; the loss is a mean, so the gradient averaged over the
ranks (DDP's all-reduce, FSDP2's reduce-scatter) is the full batch's up to float rounding, and
every optimizer must give the single-process numbers.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import oar
from oar import algorithms

IN, HIDDEN, OUT, BATCH = 4, 6, 3, 8
STEPS = 3
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One case: ``kind`` (``'ddp'``, ``'zero'``, ``'fsdp'``, ...), the algorithm's name, the
    dtype's name, the options ``variant`` (see :func:`options`) and the engine (None: default)."""

    kind: str
    algo: str
    dtype: str = "float64"
    variant: str = "plain"
    engine: str | None = None

    @property
    def id(self) -> str:
        return "-".join(str(x) for x in (self.kind, self.algo, self.dtype, self.variant, self.engine) if x)

    def __str__(self) -> str:
        return self.id


# ---------------------------------------------------------------------------- the model and data
def make_model(dtype: torch.dtype) -> nn.Sequential:
    """A 2-layer MLP with the same weights in every process."""
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUT))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model.to(dtype)


def batch(dtype: torch.dtype, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s batch, ``rank``'s contiguous share of it (all of it for a world of one)."""
    gen = torch.Generator().manual_seed(100 + step)
    x = torch.randn(BATCH, IN, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(BATCH, OUT, generator=gen, dtype=torch.float64).to(dtype)
    return x.chunk(world)[rank], y.chunk(world)[rank]


def options(a: algorithms.Algorithm, variant: str) -> dict[str, Any]:
    """Constructor keywords: the demo's (``'plain'``); ``'extras'`` adds an L2Decay (where the
    algorithm takes ``weight_decay`` as a regularizer) and ``ClipGradByGlobalNorm``;
    ``'clip_norm'`` adds ``ClipGradByNorm``."""
    kw = {k: v for k, v in a.demo.items() if k not in ("peak_lr", "steps_per_epoch")}
    if variant == "extras":
        if "weight_decay" in kw:
            kw["weight_decay"] = oar.L2Decay(1e-2)
        kw["grad_clip"] = oar.ClipGradByGlobalNorm(0.05)
    elif variant == "clip_norm":
        kw["grad_clip"] = oar.ClipGradByNorm(0.05)
    return kw


def schedule(a: algorithms.Algorithm, variant: str) -> oar.lr.LRScheduler | None:
    """Warmup then cosine for ``'extras'``, where the lr drives the update (``follows_lr``: not
    Rprop or LBFGS, which take a float learning rate)."""
    if variant != "extras" or not a.follows_lr:
        return None
    lr = float(a.demo["peak_lr"])
    return oar.lr.LinearWarmup(
        oar.lr.CosineAnnealingDecay(lr, T_max=2 * STEPS), warmup_steps=2, start_lr=0.1 * lr, end_lr=lr
    )


def make_optimizer(spec: Spec, params: Any) -> tuple[torch.optim.Optimizer, oar.lr.LRScheduler | None]:
    a = algorithms.get(spec.algo)
    sched = schedule(a, spec.variant)
    opt = a.cls(params, learning_rate=sched if sched is not None else a.demo["peak_lr"], **options(a, spec.variant))
    if spec.engine is not None:
        opt.set_engine(spec.engine)
    return opt, sched


def train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: oar.lr.LRScheduler | None,
    dtype: torch.dtype,
    steps: range,
    rank: int = 0,
    world: int = 1,
    closure_step: bool = False,
) -> None:
    """``steps`` steps on ``rank``'s share of each batch; ``closure_step``: ``opt.step(closure)``
    (LBFGS), else backward then ``opt.step()``; ``sched.step()`` after each step.

    The closure returns the loss averaged over the ranks, as the grads are: LBFGS decides from
    the loss when to stop, and every rank must decide the same (else they call the closure, and
    its all-reduces, a different number of times)."""
    for step in steps:
        x, y = batch(dtype, step, rank, world)

        def closure(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            opt.zero_grad()
            loss = (model(x) - y).square().mean()
            loss.backward()
            if world > 1:
                import torch.distributed as dist

                loss = loss.detach().clone()
                dist.all_reduce(loss)
                loss /= world
            return loss

        if closure_step:
            opt.step(closure)
        else:
            closure()
            opt.step()
        if sched is not None:
            sched.step()


def full(t: torch.Tensor) -> torch.Tensor:
    """A param's whole value (gathered from the ranks when it is a DTensor)."""
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: full(p) for name, p in model.named_parameters()}


# ---------------------------------------------------------------------------- the reference
def reference(spec: Spec, steps: int = STEPS) -> dict[str, torch.Tensor]:
    """The single-process run of ``spec`` (the full batch each step)."""
    dtype = DTYPES[spec.dtype]
    model = make_model(dtype)
    a = algorithms.get(spec.algo)
    if spec.kind == "zero_groups":
        opt, sched = zero_groups_optimizer(model, None, spec.variant)
    else:
        opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(steps), closure_step=a.rule is None)
    return params_of(model)


# ---------------------------------------------------------------------------- the workers
def fsdp_model(dtype: torch.dtype) -> nn.Sequential:
    """The model with FSDP2 (``fully_shard``) on each Linear and the root: params are DTensors
    sharded on dim 0 over the ranks (rank 1 holds 1 row of the last layer's 3, rank 0 2)."""
    from torch.distributed.fsdp import fully_shard

    model = make_model(dtype)
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    return model


def run_ddp(spec: Spec, rank: int, world: int) -> dict[str, torch.Tensor]:
    from torch.nn.parallel import DistributedDataParallel

    dtype = DTYPES[spec.dtype]
    model = DistributedDataParallel(make_model(dtype))
    opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(STEPS), rank, world, algorithms.get(spec.algo).rule is None)
    return params_of(model.module)


def run_fsdp(spec: Spec, rank: int, world: int) -> dict[str, torch.Tensor]:
    dtype = DTYPES[spec.dtype]
    model = fsdp_model(dtype)
    opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(STEPS), rank, world, algorithms.get(spec.algo).rule is None)
    return params_of(model)


def zero_groups_optimizer(model: nn.Module, zero_class: type | None, variant: str) -> tuple[Any, oar.lr.LRScheduler]:
    """Adam with a StepDecay schedule, through ZeRO when ``zero_class`` is given: ``'plain'``:
    over two groups, the second with its own ``learning_rate`` multiplier (0.5), the scheduler
    as the base lr (``learning_rate=scheduler``); ``'attach'``: one group, a float lr, the
    scheduler attached to the ZeRO with ``oar.lr.attach`` (to the oar optimizer in the
    reference)."""
    sched = oar.lr.StepDecay(0.01, step_size=1, gamma=0.5)
    params = list(model.parameters())
    if variant == "attach":
        if zero_class is None:
            opt = oar.Adam(params, learning_rate=0.01)
        else:
            opt = zero_class(params, optimizer_class=oar.Adam, learning_rate=0.01)
        return opt, oar.lr.attach(opt, sched)
    groups = [{"params": params[:2]}, {"params": params[2:], "learning_rate": 0.5}]
    if zero_class is None:
        return oar.Adam(groups, learning_rate=sched), sched
    return zero_class(groups, optimizer_class=oar.Adam, learning_rate=sched), sched


def run_zero(spec: Spec, rank: int, world: int) -> dict[str, torch.Tensor]:
    """ZeRO-1 (``ZeroRedundancyOptimizer``: each rank updates its share of the params, then
    broadcasts them) around an oar optimizer, on a DDP model."""
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    dtype = DTYPES[spec.dtype]
    model = DistributedDataParallel(make_model(dtype))
    if spec.kind == "zero_groups":
        opt, sched = zero_groups_optimizer(model, ZeroRedundancyOptimizer, spec.variant)
    else:
        a = algorithms.get(spec.algo)
        opt = ZeroRedundancyOptimizer(
            model.parameters(), optimizer_class=a.cls, learning_rate=a.demo["peak_lr"], **options(a, spec.variant)
        )
        sched = None
    train(model, opt, sched, dtype, range(STEPS), rank, world)
    return params_of(model.module)


def run_zero_checkpoint(spec: Spec, rank: int, world: int, tmp: Path) -> dict[str, Any]:
    """Train ``STEPS`` steps through ZeRO, ``consolidate_state_dict(to=0)``, save rank 0's
    ``state_dict()``; load it into a fresh ZeRO on every rank and into a plain oar optimizer
    (every rank, whole params), continue ``STEPS`` steps each, and return the three runs'
    params (the uninterrupted one first)."""
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    a = algorithms.get(spec.algo)
    dtype = DTYPES[spec.dtype]
    kw = options(a, spec.variant)
    lr = a.demo["peak_lr"]
    model = DistributedDataParallel(make_model(dtype))
    zero = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=a.cls, learning_rate=lr, **kw)
    train(model, zero, None, dtype, range(STEPS), rank, world)
    zero.consolidate_state_dict(to=0)
    path = tmp / f"{spec.id}.pt"
    if rank == 0:
        torch.save({"optim": zero.state_dict(), "model": model.module.state_dict()}, path)
    dist.barrier()
    saved = torch.load(path, weights_only=True)
    train(model, zero, None, dtype, range(STEPS, 2 * STEPS), rank, world)

    resumed = DistributedDataParallel(make_model(dtype))
    resumed.module.load_state_dict(saved["model"])
    zero2 = ZeroRedundancyOptimizer(resumed.parameters(), optimizer_class=a.cls, learning_rate=lr, **kw)
    zero2.load_state_dict(copy.deepcopy(saved["optim"]))  # ZeRO changes the dict it loads
    train(resumed, zero2, None, dtype, range(STEPS, 2 * STEPS), rank, world)

    plain = make_model(dtype)
    plain.load_state_dict(saved["model"])
    opt = a.cls(plain.parameters(), learning_rate=lr, **kw)
    opt.load_state_dict(saved["optim"])
    train(plain, opt, None, dtype, range(STEPS, 2 * STEPS))
    return {"uninterrupted": params_of(model.module), "zero": params_of(resumed.module), "plain": params_of(plain)}


def run_lbfgs_fsdp(spec: Spec, rank: int, world: int) -> dict[str, str]:
    """One LBFGS step on FSDP2 params with oar's LBFGS and torch's: the exception each raises
    (its type name), ``'none'`` if it ran."""
    out = {}
    for name, cls in (("oar", oar.LBFGS), ("torch", torch.optim.LBFGS)):
        model = fsdp_model(DTYPES[spec.dtype])
        opt = cls(model.parameters(), max_iter=2)
        try:
            train(model, opt, None, DTYPES[spec.dtype], range(1), rank, world, closure_step=True)
            out[name] = "none"
        except Exception as exc:
            out[name] = type(exc).__name__
    return out


RUNNERS: dict[str, Callable[[Spec, int, int], Any]] = {
    "lbfgs_fsdp": run_lbfgs_fsdp,
    "ddp": run_ddp,
    "fsdp": run_fsdp,
    "zero": run_zero,
    "zero_groups": run_zero,
}


def run(spec: Any, rank: int, world: int, tmp: Path) -> Any:
    """The workers' entry for one case (see :func:`dist_harness.launch`)."""
    from dist_checkpoint_cases import CHECKPOINT_RUNNERS

    if spec.kind in RUNNERS:
        return RUNNERS[spec.kind](spec, rank, world)
    if spec.kind == "zero_checkpoint":
        return run_zero_checkpoint(spec, rank, world, tmp)
    return CHECKPOINT_RUNNERS[spec.kind](spec, rank, world, tmp)
