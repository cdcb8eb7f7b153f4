"""Sharded params (FSDP2's ``DTensor``): any engine run on each rank's local shards.

FSDP2 (``torch.distributed.fsdp.fully_shard``) keeps every param, grad and param-shaped state
tensor as a ``DTensor`` sharded on dim 0: each rank's local shard is a plain contiguous tensor
(possibly empty). An element-wise rule needs nothing but the local shards, so a group's eligible
DTensor params run on the chosen engine (fused, compiled, auto, eager) with their local tensors;
the optimizer's state stays DTensor (``state_dict`` and DCP see no difference).

A rule whose update needs sums over each whole param (LAMB's norms of the param and the update)
declares it with :func:`register_reduction`: a :class:`Reduction` splits the rule in two passes.
Pass 1 updates what it can on the local shards and returns each param's local partial sums;
the partial sums of every sharded param of the group are then added across ranks with ONE
``all_reduce`` of one float64 tensor per process group (FSDP2: one); pass 2 finishes the update
with the global sums. The engine never names an algorithm.

Eligible: a DTensor param whose placements are ``Shard(0)`` or ``Replicate()`` (sharded over at
most one mesh dimension), whose grad is a DTensor of the same mesh and placements, whose
param-shaped states are DTensors of the same mesh and placements, whose other states are plain
one-element tensors (beta pows, step counts), and whose local tensors are plain dense tensors.
Other DTensor params run on the eager engine (DTensor's own ops), with a one-time
``RuntimeWarning`` per reason (:func:`fallback_warned`).

Sums are reduced over the mesh dimension that holds the ``Shard`` placement, with the process
group of that dimension (``device_mesh.get_group(dim)``); a ``Replicate`` param's local tensor is
the whole param and is not reduced.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .auto import run_auto
from .common import PLAIN, DropCache
from .eager import run_eager
from .fused import SplitRun, run_fused, split_run
from .rule import Engine, Hyper, Rule, State

__all__ = [
    "Reduction",
    "all_reduce_sum",
    "fallback_warned",
    "is_sharded",
    "reduction_for",
    "reduction_group",
    "register_reduction",
    "run_sharded",
    "split_sharded",
]

#: DTensor's module: DTensors exist only once it is imported (oar does not import it: ~0.4 s)
_DTENSOR_MODULE = "torch.distributed.tensor"


@dataclasses.dataclass(frozen=True)
class Reduction:
    """A rule's two-pass form, for params whose whole tensor is spread over ranks.

    Attributes:
        count (int): partial sums per param.
        first (callable): pass 1, ``first(param, grad, state, **hyper) -> (sums, carry)``:
            updates what needs no global value and returns a float64 tensor of ``count`` local
            partial sums and anything pass 2 needs (``carry``).
        second (callable): pass 2, ``second(param, grad, state, sums, carry, **hyper) -> None``:
            finishes the update with ``sums`` added over every rank.
    """

    count: int
    first: Callable[..., tuple[torch.Tensor, Any]]
    second: Callable[..., None]


_reductions: dict[Rule, Reduction] = {}
_warned: set[str] = set()


def register_reduction(rule: Rule, reduction: Reduction) -> None:
    """Declare that ``rule`` needs per-param sums over the whole tensor (called by the
    algorithm's module, like :func:`oar.engine.fused.register`)."""
    _reductions[rule] = reduction


def reduction_for(rule: Rule) -> Reduction | None:
    """The :class:`Reduction` registered for ``rule``, or None (an element-wise rule)."""
    return _reductions.get(rule)


def fallback_warned() -> frozenset[str]:
    """The reasons for which a DTensor param has taken the eager engine in this process."""
    return frozenset(_warned)


def _warn_once(reason: str) -> None:
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(
            f"oar: sharded params run on the eager engine (DTensor ops, one collective per op): {reason}",
            RuntimeWarning,
            stacklevel=4,
        )


def is_sharded(t: object) -> bool:
    """Whether ``t`` is a ``DTensor``."""
    module = sys.modules.get(_DTENSOR_MODULE)
    return module is not None and isinstance(t, module.DTensor)


def _local(t: torch.Tensor) -> torch.Tensor:
    return t._local_tensor  # type: ignore[attr-defined,no-any-return]  # what to_local() returns, without autograd


def reduction_group(t: torch.Tensor) -> Any:
    """The process group over which sums of ``t``'s local tensor are added (that of the mesh
    dimension holding its ``Shard``), or None when ``t`` is replicated (its local tensor is whole).

    Raises:
        ValueError: ``t`` is sharded over more than one mesh dimension.
    """
    from torch.distributed.tensor import Shard

    dims = [i for i, pl in enumerate(t.placements) if isinstance(pl, Shard)]  # type: ignore[attr-defined]
    if not dims:
        return None
    if len(dims) > 1:
        raise ValueError(f"sharded over {len(dims)} mesh dimensions")
    return t.device_mesh.get_group(dims[0])  # type: ignore[attr-defined]


def _ineligible(param: torch.Tensor, grad: torch.Tensor, state: State) -> str | None:
    """Why a DTensor param cannot run on its local shards, or None."""
    from torch.distributed.tensor import Replicate, Shard

    placements, mesh = param.placements, param.device_mesh  # type: ignore[attr-defined]
    if not all(isinstance(pl, Replicate) or (isinstance(pl, Shard) and pl.dim == 0) for pl in placements):
        return f"placements other than Shard(0) and Replicate() ({placements})"
    if sum(isinstance(pl, Shard) for pl in placements) > 1:
        return "a param sharded over more than one mesh dimension"
    if not is_sharded(grad) or grad.placements != placements or grad.device_mesh != mesh:  # type: ignore[attr-defined]
        return "a grad that is not a DTensor of its param's mesh and placements"
    if type(_local(param)) not in PLAIN or param._local_tensor.layout is not torch.strided:  # type: ignore[attr-defined]
        return "a local shard that is not a plain dense tensor"
    if type(_local(grad)) not in PLAIN or _local(grad).layout is not torch.strided:
        return "a local grad shard that is not a plain dense tensor"
    for value in state.values():
        if is_sharded(value):
            if value.placements != placements or value.device_mesh != mesh:  # type: ignore[attr-defined]
                return "a state DTensor whose placements differ from its param's"
            if type(_local(value)) not in PLAIN:
                return "a local state shard that is not a plain tensor"
        elif value.numel() != 1 or type(value) not in PLAIN:
            return "a param-sized state that is not a DTensor"
    return None


def split_sharded(params: Sequence[torch.Tensor]) -> tuple[list[int], list[int]]:
    """Indices of the DTensor params and of the others."""
    sharded: list[int] = []
    plain: list[int] = []
    for i, p in enumerate(params):
        (sharded if is_sharded(p) else plain).append(i)
    return sharded, plain


class _LocalStates:
    """Each param's state with its DTensors replaced by their local tensors; kept between steps
    (the fused engine's plans are keyed by these dicts) while the states hold the same tensors."""

    __slots__ = ("__weakref__", "dicts", "ids", "refs")

    def __init__(self, states: Sequence[State]) -> None:
        self.ids = [id(st) for st in states]
        self.dicts = [{k: _local(v) if is_sharded(v) else v for k, v in st.items()} for st in states]
        self.refs: list[Any] = []

    def fits(self, states: Sequence[State]) -> bool:
        """Whether ``states`` are the dicts this was made from, holding the same tensors."""
        return (
            len(states) == len(self.ids)
            and all(id(st) == i for st, i in zip(states, self.ids, strict=True))
            and all(map(_same_locals, states, self.dicts))
        )


def _same_locals(state: State, local: State) -> bool:
    if len(state) != len(local):
        return False
    for k, v in state.items():
        w = local.get(k)
        if (_local(v) if is_sharded(v) else v) is not w:
            return False
    return True


_local_states: DropCache[tuple[Rule, tuple[int, ...], int], _LocalStates] = DropCache()


def all_reduce_sum(sums: torch.Tensor, group: Any) -> None:
    """Add ``sums`` over the ranks of ``group`` in place: one ``all_reduce``."""
    torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM, group=group)


def run_sharded(
    rule: Rule,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    engine: Engine,
) -> None:
    """Run ``rule`` over a group's DTensor params: the eligible ones on ``engine`` with their
    local tensors (two passes and one all-reduce per process group for a rule with a
    :class:`Reduction`), the others on the eager engine with a one-time warning."""
    good: list[int] = []
    rest: list[int] = []
    for i, (p, g, st) in enumerate(zip(params, grads, states, strict=True)):
        reason = _ineligible(p, g, st)
        if reason is None:
            good.append(i)
        else:
            _warn_once(reason)
            rest.append(i)
    if good:
        lp = [_local(params[i]) for i in good]
        lg = [_local(grads[i]) for i in good]
        key = (rule, tuple(id(params[i]) for i in good), id(states[good[0]]))
        cache = _local_states.get(key)
        gstates = [states[i] for i in good]
        if cache is None or not cache.fits(gstates):
            cache = _LocalStates(gstates)
            # dropped when a param or a state DTensor dies: the cache keeps no dead optimizer's state
            cache.refs = _local_states.watch(
                key, cache, [params[i] for i in good] + [v for st in gstates for v in st.values() if is_sharded(v)]
            )
        ls = cache.dicts
        lh = [hypers[i] for i in good]
        reduction = _reductions.get(rule)
        if reduction is None:
            engine(rule, lp, lg, ls, lh)
        else:
            split = None
            if engine in (run_fused, run_auto):  # the kernel's two-pass form, where it has one
                split = split_run(rule, lp, lg, ls, lh, reduction.count, wait=engine is run_fused)
            _run_reduced(reduction, rule, [params[i] for i in good], lp, lg, ls, lh, split)
    if rest:
        run_eager(
            rule,
            [params[i] for i in rest],
            [grads[i] for i in rest],
            [states[i] for i in rest],
            [hypers[i] for i in rest],
        )


def _run_reduced(
    reduction: Reduction,
    rule: Rule,
    dparams: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    states: Sequence[State],
    hypers: Sequence[Hyper],
    split: SplitRun | None,
) -> None:
    """Pass 1 on every local shard (the kernel's for the params ``split`` takes, the
    reduction's Python form for the others), one all-reduce of the partial sums per process
    group, pass 2."""
    taken = split.taken if split is not None else []
    rest = sorted(set(range(len(params))) - set(taken))
    rows = dict(zip(taken, split.sums() if split is not None else (), strict=True))
    carries: dict[int, Any] = {}
    for i in rest:
        rows[i], carries[i] = reduction.first(params[i], grads[i], states[i], **hypers[i])
    order = taken + rest
    sums = torch.stack([rows[i] for i in order]) if order else torch.zeros(0, reduction.count, dtype=torch.float64)
    position = {i: k for k, i in enumerate(order)}
    by_group: dict[Any, list[int]] = {}
    for i, d in enumerate(dparams):
        group = reduction_group(d)
        if group is not None:
            by_group.setdefault(group, []).append(position[i])
    for group, idx in by_group.items():
        if len(idx) == len(order):  # one group holds them all (FSDP2): reduce in place
            all_reduce_sum(sums, group)
        else:
            picked = sums[idx]
            all_reduce_sum(picked, group)
            sums[idx] = picked
    if split is not None and taken:
        split.apply(sums[: len(taken)].contiguous())
    for i in rest:
        reduction.second(params[i], grads[i], states[i], sums[position[i]], carries[i], **hypers[i])
