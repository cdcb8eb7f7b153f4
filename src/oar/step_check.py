"""A whole optimizer step checked before anything changes, and the opt-in non-finite guard.

**Atomic steps.** ``Optimizer.step()`` (and ``minimize``) first *prepares* every param group
(:class:`Prepared`: the regularizer and hyper-parameters of each param) and checks everything
that can fail, for all groups, with nothing changed yet; only then does it clip, regularize,
create missing state and run the engines. A failing check raises with the parameter named (its
name from ``named_parameters()``, else its position) and what is wrong, and leaves every param,
accumulator, beta pow, step count, grad and the LR scheduler as they were. Checked, per
``(param, grad)`` of the step (:func:`check_pair`):

* the grad's layout (dense or sparse COO), shape, dtype (the param's, or the one its
  ``grad_dtype`` allows) and device against the param's (a param resized or cast behind the
  optimizer's back, ``p.data = ...``, after its grad was computed);
* the grad against the group's clip (``ClipGradBy*``: float dtypes, dense or sparse COO);
* the algorithm's own refusals (``Optimizer._check_grad``: sparse grads, a regularizer with a
  sparse grad, ...) and the user functions behind ``_hyper_key`` (AdamW's ``lr_ratio`` and
  ``apply_decay_param_fun``, Lamb's ``exclude_from_weight_decay_fn``), their exceptions re-raised
  with the parameter named;
* the param's existing state against the state the algorithm creates for it
  (``Optimizer._expected_state``): the same accumulator names, each tensor of the expected shape
  (a resized param with the same numel included), dtype and the param's device.

The state is checked in full (against ``Optimizer._expected_state``, cached per group position,
shape, dtype and device) the first time, then again only when the param's shape, dtype or
device or one of its state tensors (by identity) changed; a step's checks are then a few
attribute reads per param: ~3-11 us a param on a loaded 2-core EPYC (0.55-0.6 ms a step for the 51
tensors of ``oar bench``'s 27.4M-param set: 0.6-0.8% of a fused Adam step, below the run-to-run
spread; ``benchmarks/step_check_overhead.py``).

LBFGS (one flat state, no engine) is checked by :func:`lbfgs_step_skipped` after its first closure
evaluation: its grads as above, and its flat vectors (``d``, ``prev_flat_grad``, the history)
against the params' total size, the flat gradient's dtype and the params' device.

**Non-finite guard** (``skip_nonfinite=True``, any optimizer; the default keeps Paddle's
behaviour, NaN propagates): after the checks, if any grad of the step (before clipping and
regularization) holds a NaN or an inf, the whole step is skipped: no param, accumulator, beta
pow or step count changes, no state is created, grads are not clipped, and the LR scheduler is
the user's to step. The optimizer counts the skip (``skipped_steps``, saved in its state dict)
and warns (``RuntimeWarning``), naming the first offending parameter. LBFGS checks the grads of
every closure evaluation of a step: at the first, before anything changes; at a later one (an
iteration's, or a trial point of its line search), the step is undone whole (params and state
restored from a copy taken at its start: with the guard on, a step copies the params and the
history once). The check
(:func:`find_nonfinite`) reads each grad once, before anything is written (an update kernel
cannot check as it goes: it would have written the elements before a NaN when it meets one):

* a group clipped by ``ClipGradByGlobalNorm`` reuses the global norm its clip needs anyway (the
  clip then scales by that same norm, bit for bit: no extra pass);
* other dense contiguous float32/float64/bfloat16 CPU grads go through the fused engine's
  ``nonfinite`` C kernel (``kernels/nonfinite.c``): one OpenMP region over all of them, reading 4
  bytes per float32 element and writing nothing, exact (``g * 0`` summed: no overflow);
* the rest (other devices and dtypes, tensor subclasses, and CPU grads while the kernel builds)
  through ``torch._foreach_norm`` (a multi-tensor kernel on GPU), float32 norms for
  float16/bfloat16; a finite norm proves its grads finite, a non-finite one (a NaN or inf, or a
  sum of squares that overflowed) is confirmed element by element before the step is skipped.

Cost, without a global-norm clip: one read of the grads, 4 of the 28 bytes a fused float32 Adam
step moves per param (+14% at equal bandwidth). Measured (``benchmarks/step_check_overhead.py``,
27.4M float32 params, a loaded 2-core EPYC): one thread, +23 ms on a 73 ms step (+32%): the check
reads 4.7 GB/s where the step moves 10.4 GB/s (one read stream per core is latency-bound; the
step streams four arrays); two threads, +34 ms on 87 ms. ``torch._foreach_norm`` reads 20-25%
slower than the kernel. With a global-norm clip: no measurable cost.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from .clip import ClipGradBase, ClipGradByGlobalNorm
from .clip import _check_grad as _check_clip_grad
from .clip import _skip as _clip_skips
from .engine import fused as _fused
from .engine import sharded as _sharded
from .engine.common import PLAIN
from .params import real_view
from .regularizer import WeightDecayRegularizer

if TYPE_CHECKING:
    from .optimizer import Optimizer

__all__ = ["Prepared", "check_pair", "find_nonfinite", "guard_nonfinite", "lbfgs_step_skipped", "named", "param_label"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)

#: The expected state of a param: (name, shape, dtype) of each accumulator, in creation order.
Spec = tuple[tuple[str, torch.Size, torch.dtype], ...]


@dataclasses.dataclass
class Prepared:
    """One param group's step, checked, with nothing changed yet.

    Attributes:
        index (int): the group's position in ``param_groups``.
        group (dict): the group.
        pairs (list[tuple[Tensor, Tensor]]): its ``(param, grad)`` pairs (grads as collected,
            a complex one as its real view: not yet clipped or regularized).
        targets (list[Tensor]): the tensors the rule updates: each param, or its real view.
        regs (list[WeightDecayRegularizer | None]): each param's coupled regularizer.
        hypers (list[dict]): each param's rule keywords (params with equal keys share a dict).
        clip (ClipGradBase | None): the group's clip, or the optimizer's.
        norm (Tensor | None): the clip's global norm, when the non-finite guard computed it (the
            clip then reuses it).
    """

    index: int
    group: dict[str, Any]
    pairs: list[tuple[torch.Tensor, torch.Tensor]]
    targets: list[torch.Tensor]
    regs: list[WeightDecayRegularizer | None]
    hypers: list[dict[str, Any]]
    clip: ClipGradBase | None
    norm: torch.Tensor | None = None

    def clipped(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The pairs after the clip (the grads themselves are scaled in place by a global-norm
        clip, as Paddle's), using the norm computed by the guard if there is one."""
        clip = self.clip
        if clip is None:
            return self.pairs
        if self.norm is not None and isinstance(clip, ClipGradByGlobalNorm):
            out = clip.apply_global_norm(self.pairs, self.norm)
        else:
            out = clip(self.pairs)
        return [(p, g) for p, g in out if isinstance(p, torch.Tensor) and g is not None]


# ------------------------------------------------------------------------------ naming


def param_label(opt: Optimizer, index: int, group: dict[str, Any], param: torch.Tensor) -> str:
    """How messages name ``param``: ``parameter 'fc.weight'`` when the group has names (built from
    ``named_parameters()``), else ``parameter 2 of param group 0`` (its position)."""
    position = next((k for k, q in enumerate(group["params"]) if q is param), None)
    names = group.get("param_names")
    if names and position is not None and position < len(names):
        return f"{type(opt).__name__}: parameter {names[position]!r}"
    return f"{type(opt).__name__}: parameter {position} of param group {index}"


def named(exc: BaseException, label: str) -> BaseException:
    """``exc`` with ``label`` (the parameter) in front of its message, same type and traceback;
    ``exc`` itself when its type cannot be rebuilt from a message."""
    try:
        new = type(exc)(f"{label}: {exc}")
    except Exception:
        return exc
    return new.with_traceback(exc.__traceback__)


# ------------------------------------------------------------------------------ the checks


def _expected_spec(
    opt: Optimizer, index: int, group: dict[str, Any], param: torch.Tensor, device: torch.device, fresh: bool = False
) -> Spec | None:
    """The state the algorithm creates for ``param`` in ``group``, or None when it cannot be
    computed on the meta device (a tensor subclass): its state is then not checked. Cached on
    the optimizer per group position, shape, dtype and device; ``fresh=True`` computes it again
    (a state that disagrees with the cached spec is checked against a fresh one before an
    error is raised, so that group options changed since are taken into account)."""
    cache: dict[tuple[Any, ...], Spec | None] = opt.__dict__.setdefault("_state_specs", {})
    key = (index, param.shape, param.dtype, device)
    if not fresh and key in cache:
        return cache[key]
    try:
        expected = opt._expected_state(param, group)
        spec: Spec | None = tuple((name, t.shape, t.dtype) for name, t in expected.items())
    except Exception:
        spec = None
    if len(cache) > 4096:  # params resized again and again: forget the old shapes
        cache.clear()
    cache[key] = spec
    return spec


def _state_fits(state: dict[str, Any], spec: Spec, device: torch.device) -> bool:
    if len(state) != len(spec):
        return False
    for name, want_shape, want_dtype in spec:
        value = state.get(name)
        if not (
            isinstance(value, torch.Tensor)
            and value.shape == want_shape
            and value.dtype == want_dtype
            and value.device == device
        ):
            return False
    return True


def _grad_dtype_ok(param: torch.Tensor, target: torch.Tensor, grad: torch.Tensor) -> bool:
    """torch's rule for ``param.grad``: the param's dtype (``target``'s, the real view's, for a
    complex param), unless ``param.grad_dtype`` (torch >= 2.9) was set to another dtype or to
    None (any)."""
    if grad.dtype == target.dtype:
        return True
    if not grad.dtype.is_floating_point:
        return False
    allowed = getattr(param, "grad_dtype", param.dtype)
    if allowed is None:
        return True
    return allowed != param.dtype and (allowed.to_real() if allowed.is_complex else allowed) == grad.dtype


def _grad_error(
    opt: Optimizer, index: int, group: dict[str, Any], param: torch.Tensor, target: torch.Tensor, grad: torch.Tensor
) -> None:
    """Raise if ``grad`` does not fit ``target`` (layout, shape, dtype, device), naming the param."""
    shape = target.shape
    label = param_label(opt, index, group, param)
    if grad.layout is not torch.strided and not grad.is_sparse:
        raise RuntimeError(
            f"{label}: its gradient has layout {grad.layout}; dense (torch.strided) or sparse COO gradients only"
        )
    if grad.shape != shape:
        raise RuntimeError(
            f"{label}: its gradient has shape {list(grad.shape)}, the parameter {list(shape)} "
            f"(was the parameter replaced, p.data = ..., after its gradient was computed?)"
        )
    if not _grad_dtype_ok(param, target, grad):
        raise RuntimeError(f"{label}: its gradient has dtype {grad.dtype}, the parameter {target.dtype}")
    if grad.device != target.device:
        raise RuntimeError(f"{label}: its gradient is on {grad.device}, the parameter on {target.device}")


#: A param whose state passed the full check: (weak reference to the param, the target's shape,
#: dtype and device, the state's keys, weak references to its values). The state still passes
#: while the param's shape, dtype and device and the state's tensors (by identity) are the same.
_Verified = tuple[Any, torch.Size, torch.dtype, torch.device, tuple[Any, ...], tuple[Any, ...]]


def _still_verified(
    opt: Optimizer, param: torch.Tensor, target: torch.Tensor, state: dict[str, Any], device: torch.device
) -> bool:
    rec: _Verified | None = opt.__dict__.setdefault("_verified_states", {}).get(id(param))
    if (
        rec is None
        or rec[0]() is not param
        or rec[1] != target.shape
        or rec[2] is not target.dtype
        or rec[3] != device
        or len(rec[5]) != len(state)
    ):
        return False
    for ref, value in zip(rec[5], state.values(), strict=True):
        if ref() is not value:
            return False
    return rec[4] == tuple(state)


def _verified(
    opt: Optimizer, param: torch.Tensor, target: torch.Tensor, state: dict[str, Any], device: torch.device
) -> None:
    cache: dict[int, _Verified] = opt.__dict__.setdefault("_verified_states", {})
    if len(cache) > 65536:  # records of params that died
        cache.clear()
    try:
        cache[id(param)] = (
            weakref.ref(param),
            target.shape,
            target.dtype,
            device,
            tuple(state),
            tuple(weakref.ref(v) for v in state.values()),
        )
    except TypeError:  # something without weak references: checked in full at every step
        pass


def check_pair(
    opt: Optimizer,
    index: int,
    group: dict[str, Any],
    param: torch.Tensor,
    target: torch.Tensor,
    grad: torch.Tensor,
    clip: ClipGradBase | None,
) -> None:
    """Check one ``(param, grad)`` of a step against each other, the clip and the param's
    existing state (see the module docstring); changes nothing. ``target`` is the tensor the
    rule updates (``param``, or its real view when complex; ``grad`` is then the grad's).

    The state is checked in full (against ``Optimizer._expected_state``) once, then again only
    when the param's shape, dtype or device or one of the state's tensors (by identity) changed:
    a few attribute reads per param and step.

    Raises:
        RuntimeError: a grad or state that does not fit the param (named, with what is wrong).
        TypeError: a grad the clip cannot take.
    """
    if (
        grad.shape != target.shape
        or grad.dtype is not target.dtype
        or grad.layout is not torch.strided
        or not (grad.is_cpu and target.is_cpu)
    ) and (
        grad.shape != target.shape
        or grad.device != target.device
        or (grad.layout is not torch.strided and not grad.is_sparse)
        or not _grad_dtype_ok(param, target, grad)
    ):
        _grad_error(opt, index, group, param, target, grad)
    if clip is not None and not _clip_skips(param):
        try:
            _check_clip_grad(type(clip).__name__, grad)
        except TypeError as exc:
            raise named(exc, param_label(opt, index, group, param)) from None
    state = opt.state.get(param)
    if not state:
        return
    device = target.device
    if torch.compiler.is_compiling():  # inside a user's torch.compile: no cache to trace
        spec = _expected_spec(opt, index, group, param, device)
        if spec is None or _state_fits(state, spec, device):
            return
    elif _still_verified(opt, param, target, state, device):
        return
    spec = _expected_spec(opt, index, group, param, device, fresh=True)
    if spec is None:
        return
    if _state_fits(state, spec, device):
        if not torch.compiler.is_compiling():
            _verified(opt, param, target, state, device)
        return
    _state_error(opt, index, group, param, target, state, spec, device)


def _state_error(
    opt: Optimizer,
    index: int,
    group: dict[str, Any],
    param: torch.Tensor,
    target: torch.Tensor,
    state: dict[str, Any],
    spec: Spec,
    device: torch.device,
) -> None:
    label = param_label(opt, index, group, param)
    hint = (
        "was the parameter replaced (p.data = ...) after its state was created? Rebuild the "
        "optimizer, or drop the param's state (del opt.state[p]) to start it afresh"
    )
    names = [name for name, _, _ in spec]
    missing = [n for n in names if n not in state]
    extra = sorted(str(n) for n in state if n not in names)
    if missing or extra:
        raise RuntimeError(
            f"{label}: its optimizer state has the accumulators {sorted(map(str, state))}, "
            f"expected {sorted(names)} (missing {missing}, unexpected {extra})"
        )
    for name, want_shape, want_dtype in spec:
        value = state[name]
        if not isinstance(value, torch.Tensor):
            raise RuntimeError(f"{label}: its state {name!r} is a {type(value).__name__}, expected a tensor")
        if value.shape != want_shape:
            raise RuntimeError(
                f"{label}: its state {name!r} has shape {list(value.shape)}, expected {list(want_shape)} "
                f"for a parameter of shape {list(target.shape)} ({hint})"
            )
        if value.dtype != want_dtype:
            raise RuntimeError(
                f"{label}: its state {name!r} has dtype {value.dtype}, expected {want_dtype} for a "
                f"{target.dtype} parameter ({hint})"
            )
        if value.device != device:
            raise RuntimeError(f"{label}: its state {name!r} is on {value.device}, the parameter on {device}")


# ------------------------------------------------------------------------------ non-finite guard


def _values(grad: torch.Tensor) -> torch.Tensor:
    """The elements of ``grad`` (a sparse COO grad's stored values: a non-finite entry stays
    non-finite when duplicates are summed)."""
    if _sharded.is_sharded(grad):  # a DTensor: this rank's shard (the ranks agree below)
        return grad.to_local()
    return grad._values() if grad.is_sparse else grad


def _agree(bad: bool, meshes: Sequence[Any]) -> bool:
    """Whether any rank of ``meshes`` (the device meshes of the step's DTensor grads) found a
    non-finite grad: this rank's ``bad``, maxed over every dimension of each mesh (one
    ``all_reduce`` for a 1-D mesh), so that every rank takes the same decision."""
    flag = torch.tensor([1.0 if bad else 0.0])
    for mesh in meshes:
        for dim in range(mesh.ndim):
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=mesh.get_group(dim))
    return bool(flag[0] > 0)


def _is_finite(grad: torch.Tensor) -> bool:
    return bool(torch.isfinite(_values(grad)).all())


def _kernel_ok(values: torch.Tensor) -> bool:
    """Whether the fused engine's ``nonfinite`` kernel can read ``values``."""
    return (
        type(values) in PLAIN
        and values.is_cpu
        and values.dtype in _fused.NONFINITE_DTYPES
        and values.layout is torch.strided
        and values.is_contiguous()
    )


def find_nonfinite(prepared: Sequence[Prepared]) -> tuple[Prepared, torch.Tensor] | None:
    """The first ``(group, param)`` of the step whose grad holds a NaN or an inf, or None.

    One read of every grad: the global norm of each group clipped by ``ClipGradByGlobalNorm``
    (kept in ``Prepared.norm``, for its clip), and for the other grads the fused engine's
    ``nonfinite`` C kernel (dense contiguous float32/float64/bfloat16 grads on CPU, one parallel
    region per dtype) or, for the rest (and while the kernel builds), ``torch._foreach_norm``
    (float32 norms for float16/bfloat16 grads), bucketed by dtype and device; one host sync per
    bucket. Only when a check fails are the grads looked at one by one to name the first (a
    finite norm proves its grads finite; a non-finite one may be a sum of squares that
    overflowed, and the step is then not skipped).

    DTensor grads (FSDP2) are checked on this rank's shards and every rank takes the same
    decision: the flag of those outside a global-norm clip is maxed over the ranks (one
    ``all_reduce`` per mesh dimension); those under a global-norm clip need no collective of
    their own, their norm being summed over the ranks already (a non-finite global norm over
    sharded grads skips the step on every rank, an overflowed sum of squares included).
    """
    norms: list[torch.Tensor] = []
    loose: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for item in prepared:
        clip, rest = item.clip, item.pairs
        if isinstance(clip, ClipGradByGlobalNorm):
            item.norm = clip.global_norm(item.pairs)
            if item.norm is not None:
                norms.append(item.norm.reshape(1))
            rest = [(p, g) for p, g in item.pairs if _clip_skips(p)]
        for _, g in rest:
            loose.setdefault((g.dtype, g.device), []).append(g)
    suspect = False
    # DTensor grads outside a global-norm clip: this rank's flag is maxed over the ranks (one
    # all-reduce per mesh dimension). Those under a global-norm clip need none: their norm is
    # summed over the ranks already (the flag is folded into the clip's all-reduce).
    meshes = list(
        {id(v.device_mesh): v.device_mesh for vs in loose.values() for v in vs if _sharded.is_sharded(v)}.values()
    )
    sharded = any(_sharded.is_sharded(g) for item in prepared for _, g in item.pairs)
    for (dtype, _), grads in loose.items():
        tensors = [_values(g) for g in grads]
        fast = [t for t in tensors if _kernel_ok(t)]
        if fast:
            found = _fused.nonfinite(fast, wait=False)
            if found is not None:
                suspect = suspect or found
                tensors = [t for t in tensors if not _kernel_ok(t)]
        if tensors:
            out = torch.float32 if dtype in _LOW_PRECISION else None
            norms.append(torch.stack(torch._foreach_norm(tensors, 2, dtype=out)))
    bad = suspect or not all(bool(torch.isfinite(n).all()) for n in norms)
    if meshes:
        bad = _agree(bad, meshes)
    if not bad:
        return None
    for item in prepared:
        for p, g in item.pairs:
            if not _is_finite(g):
                return item, p
    if sharded:  # found on another rank: name this rank's first sharded param
        for item in prepared:
            for p, g in item.pairs:
                if _sharded.is_sharded(g):
                    return item, p
    return None  # a sum of squares overflowed: every element is finite


def guard_nonfinite(opt: Optimizer, prepared: Sequence[Prepared], stacklevel: int = 4) -> bool:
    """The non-finite guard of a step: True (skip it, counted in ``opt._skipped_steps``, with a
    ``RuntimeWarning`` naming the first offending parameter) when a grad holds a NaN or an inf."""
    found = find_nonfinite(prepared)
    if found is None:
        return False
    item, param = found
    opt._skipped_steps += 1
    warnings.warn(
        f"{param_label(opt, item.index, item.group, param)} has a NaN or inf gradient: "
        f"the step is skipped (skip_nonfinite=True; opt.skipped_steps counts them)",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
    return True


# ------------------------------------------------------------------------------ LBFGS

_LBFGS_ITERATION_STATE = ("d", "alpha", "old_yk", "old_sk", "ro", "H_diag", "prev_flat_grad", "prev_loss")


def lbfgs_step_skipped(opt: Optimizer, params: Sequence[torch.Tensor], state: dict[str, Any]) -> bool:
    """LBFGS's checks, run after its first closure evaluation and before anything changes: each
    grad of ``params`` (the last group's) against its param and ``_check_grad`` (no sparse
    grads); the state an iteration leaves all there once ``n_iter >= 1``; its flat vectors
    (``d``, ``prev_flat_grad``, ``old_yk``, ``old_sk``) of the params' total size, the flat
    gradient's dtype and the params' device. Then, with ``skip_nonfinite=True``, the non-finite
    guard on those grads. Returns True when the guard skips the step (counted and warned about).

    Raises:
        RuntimeError: a grad or a state that does not fit the params (the param, or the state
            entry, named).
    """
    index = len(opt.param_groups) - 1
    group = opt.param_groups[index]
    pairs, targets = [], []
    size = 0
    dtype: torch.dtype | None = None  # the flat gradient's (torch.cat promotes)
    for p in params:
        x = real_view(p)
        size += x.numel()
        if p.grad is None:
            dtype = x.dtype if dtype is None else torch.promote_types(dtype, x.dtype)
            continue
        g = real_view(p.grad)
        check_pair(opt, index, group, p, x, g, None)
        try:
            opt._check_grad(x, g, None)
        except Exception as exc:
            raise named(exc, param_label(opt, index, group, p)) from None
        dtype = g.dtype if dtype is None else torch.promote_types(dtype, g.dtype)
        pairs.append((p, g))
        targets.append(x)
    if state.get("n_iter", 0) >= 1:  # the state an iteration leaves, which the next one reads
        missing = [key for key in _LBFGS_ITERATION_STATE if key not in state]
        if missing:
            raise RuntimeError(
                f"{type(opt).__name__}: its state has n_iter={state['n_iter']} but lacks {missing} "
                f"(the state an iteration leaves)"
            )
    device = params[0].device if params else None
    vectors = [(key, state.get(key)) for key in ("d", "prev_flat_grad")]
    vectors += [(f"{key}[{i}]", v) for key in ("old_yk", "old_sk") for i, v in enumerate(state.get(key) or ())]
    for key, value in vectors:
        if not isinstance(value, torch.Tensor):
            continue
        if value.device != device:
            raise RuntimeError(
                f"{type(opt).__name__}: its state {key!r} is on {value.device}, the parameters on {device}"
            )
        if value.numel() != size:
            raise RuntimeError(
                f"{type(opt).__name__}: its state {key!r} has {value.numel()} elements, the parameters have "
                f"{size} in all (was a parameter resized, p.data = ..., after the optimizer stepped? Rebuild the "
                f"optimizer or load a matching state dict)"
            )
        if value.dtype != dtype:
            raise RuntimeError(
                f"{type(opt).__name__}: its state {key!r} has dtype {value.dtype}, the flat gradient "
                f"{dtype} (was a parameter cast, p.data = ..., after the optimizer stepped?)"
            )
    if not opt._skip_nonfinite or not pairs:
        return False
    return guard_nonfinite(opt, [Prepared(index, group, pairs, targets, [], [], None)], stacklevel=4)
