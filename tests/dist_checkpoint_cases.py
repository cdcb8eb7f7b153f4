"""Distributed-checkpoint cases of tests/test_distributed.py (``torch.distributed.checkpoint``
with ``get/set_optimizer_state_dict`` and ``get/set_model_state_dict``): what the workers run,
and the world-of-one halves that the pytest process runs (saving before the launch, loading
after it).

A checkpoint holds ``{'model': ..., 'optim': ..., 'sched': scheduler.state_dict()}``: the
optimizer's dict as DCP writes it (sharded state as DTensors, param names as keys) and the LR
scheduler's state beside it, a plain dict that DCP stores as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from dist_cases import DTYPES, STEPS, Spec, fsdp_model, make_model, make_optimizer, params_of, train
from torch import nn


def checkpoint_dir(tmp: Path, direction: str, spec: Spec) -> Path:
    return tmp / f"{direction}-{spec.id}"


def _state(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    return {
        "model": get_model_state_dict(model),
        "optim": get_optimizer_state_dict(model, opt),
        "sched": sched.state_dict() if sched is not None else {},
    }


def save(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, path: Path) -> dict[str, Any]:
    """``dcp.save`` of the model, the optimizer and the scheduler; returns what was saved."""
    import torch.distributed.checkpoint as dcp

    state = _state(model, opt, sched)
    dcp.save(state, checkpoint_id=str(path))
    return state


def load(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, path: Path) -> None:
    """``dcp.load`` into ``model``'s, ``opt``'s and ``sched``'s own state dicts (resharded to
    this world), then set them."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    state = _state(model, opt, sched)
    dcp.load(state, checkpoint_id=str(path))
    set_model_state_dict(model, state["model"])
    if sched is not None:
        sched.set_state_dict(state["sched"])
    set_optimizer_state_dict(model, opt, state["optim"])


def full_size_state(osd: dict[str, Any]) -> list[str]:
    """The entries of an optimizer state dict that hold a whole param-sized tensor on this rank:
    every state tensor of more than one element should be a DTensor whose local shard is
    smaller than the whole."""
    found = []
    for name, entries in osd["state"].items():
        for key, value in entries.items():
            if not isinstance(value, torch.Tensor) or value.numel() <= 1:
                continue
            local = value.to_local() if hasattr(value, "to_local") else value
            if not hasattr(value, "to_local") or local.numel() >= value.numel():
                found.append(f"{name}.{key}: {type(value).__name__} {tuple(local.shape)} of {tuple(value.shape)}")
    return found


# ---------------------------------------------------------------------------- in the workers
def run_shards(spec: Spec, rank: int, world: int, tmp: Path) -> list[str]:
    """FSDP2, ``STEPS`` steps, then ``dcp.save``: the full-size state entries of this rank."""
    dtype = DTYPES[spec.dtype]
    model = fsdp_model(dtype)
    opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(STEPS), rank, world)
    return full_size_state(save(model, opt, sched, checkpoint_dir(tmp, "shards", spec))["optim"])


def run_save_2(spec: Spec, rank: int, world: int, tmp: Path) -> dict[str, torch.Tensor]:
    """FSDP2, ``STEPS`` steps, save, ``STEPS`` more: the uninterrupted run's params (the
    parent resumes the checkpoint on one process)."""
    dtype = DTYPES[spec.dtype]
    model = fsdp_model(dtype)
    opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(STEPS), rank, world)
    save(model, opt, sched, checkpoint_dir(tmp, "2to1", spec))
    train(model, opt, sched, dtype, range(STEPS, 2 * STEPS), rank, world)
    return params_of(model)


def run_resume_2(spec: Spec, rank: int, world: int, tmp: Path) -> dict[str, torch.Tensor]:
    """Resume on 2 FSDP2 ranks the checkpoint the parent saved on one process, ``STEPS`` steps."""
    dtype = DTYPES[spec.dtype]
    model = fsdp_model(dtype)
    opt, sched = make_optimizer(spec, model.parameters())
    load(model, opt, sched, checkpoint_dir(tmp, "1to2", spec))
    train(model, opt, sched, dtype, range(STEPS, 2 * STEPS), rank, world)
    return params_of(model)


CHECKPOINT_RUNNERS: dict[str, Callable[[Spec, int, int, Path], Any]] = {
    "dcp_shards": run_shards,
    "dcp_2to1": run_save_2,
    "dcp_1to2": run_resume_2,
}


# ---------------------------------------------------------------------------- in the parent
def save_1(spec: Spec, tmp: Path) -> None:
    """One process, no process group: ``STEPS`` steps, then the checkpoint the workers resume."""
    dtype = DTYPES[spec.dtype]
    model = make_model(dtype)
    opt, sched = make_optimizer(spec, model.parameters())
    train(model, opt, sched, dtype, range(STEPS))
    save(model, opt, sched, checkpoint_dir(tmp, "1to2", spec))


def resume_1(spec: Spec, tmp: Path) -> dict[str, torch.Tensor]:
    """One process: resume the workers' 2-rank checkpoint, ``STEPS`` steps; the params."""
    dtype = DTYPES[spec.dtype]
    model = make_model(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))  # every value must come from the checkpoint
    opt, sched = make_optimizer(spec, model.parameters())
    load(model, opt, sched, checkpoint_dir(tmp, "2to1", spec))
    train(model, opt, sched, dtype, range(STEPS, 2 * STEPS))
    return params_of(model)
