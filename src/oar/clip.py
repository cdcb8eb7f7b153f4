"""Gradient clipping, as ``paddle.nn.ClipGradByValue`` / ``ClipGradByNorm`` / ``ClipGradByGlobalNorm``
(PaddlePaddle 3.3.1, dygraph; https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/nn/ClipGradByGlobalNorm_en.html).

A clip object is called on a list of ``(param, grad)`` pairs and returns a list of ``(param, grad)``
pairs of the same length and order. The optimizer applies it inside ``step()``, per parameter list
or per parameter group, *before* regularization.

Common rules:

* a pair whose grad is ``None`` is passed through untouched;
* a param with ``param.need_clip is False`` (Paddle tests ``getattr(p, 'need_clip', True) is False``)
  passes through untouched and is left out of every norm;
* all arithmetic is done with tensor ops on the grads' device: there is no host synchronisation on
  the dense path (``torch.sparse_coo`` grads need ``coalesce()``, which does synchronise);
* sparse COO grads (``nn.Embedding(sparse=True)``) are coalesced first, i.e. duplicate rows are summed
  before any clamp or norm, like Paddle's ``merge_selected_rows`` for SelectedRows grads.

Source: https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/nn/ClipGradByGlobalNorm_en.html
(and ``ClipGradByNorm_en.html``, ``ClipGradByValue_en.html``); ``paddle/nn/clip.py`` and the
``clip``, ``clip_by_norm``, ``squared_l2_norm`` phi kernels of Paddle 3.3.1.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence

import torch

from .engine import sharded as _sharded
from .validate import AssertionTypeError, AssertionValueError, number

__all__ = [
    "ClipGradBase",
    "ClipGradByGlobalNorm",
    "ClipGradByNorm",
    "ClipGradByValue",
    "clip_from_state",
    "clip_to_state",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _real(owner: str, name: str, value, str_exc=TypeError) -> float:
    """``float(value)`` for a real number; raise a clear exception otherwise.

    Strings raise ``str_exc`` (Paddle calls ``float(x)`` so a non-numeric string gives ValueError
    there); bools, tensors, None and other objects raise TypeError.
    """
    return float(number(name, value, owner=owner, str_error=str_exc))


def _to_float32(x: float) -> float:
    """``x`` rounded to the nearest float32 (±inf beyond the float32 range; NaN stays NaN)."""
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _in_dtype(value: float, dtype: torch.dtype) -> float:
    """``value`` as a bound for grads of ``dtype``: itself, or ±inf beyond the dtype's range (its
    cast, as Paddle's; ``torch.clamp`` refuses a scalar it cannot convert without overflow)."""
    if dtype == torch.float64 or not math.isfinite(value) or abs(value) <= torch.finfo(dtype).max:
        return value
    return float(torch.tensor(value, dtype=torch.float64).to(dtype))


def _skip(param) -> bool:
    """Paddle's test: the param is left alone when ``need_clip`` is (identically) False."""
    return getattr(param, "need_clip", True) is False


def _check_grad(owner: str, grad: torch.Tensor) -> None:
    if not isinstance(grad, torch.Tensor):
        raise TypeError(f"{owner}: a grad must be a torch.Tensor or None, got {type(grad).__name__}")
    if grad.dtype not in _SUPPORTED:
        raise TypeError(f"{owner}: grads must be float16, bfloat16, float32 or float64, got {grad.dtype}")
    if grad.layout not in (torch.strided, torch.sparse_coo):
        raise TypeError(f"{owner}: unsupported grad layout {grad.layout} (dense or sparse_coo only)")


def _pairs(owner: str, params_grads) -> list[tuple[object, torch.Tensor | None]]:
    if isinstance(params_grads, (torch.Tensor, str, bytes)) or not isinstance(params_grads, Iterable):
        raise TypeError(
            f"{owner}: params_grads must be a list of (param, grad) pairs, got {type(params_grads).__name__}"
        )
    out = []
    for i, item in enumerate(params_grads):
        if isinstance(item, torch.Tensor) or not isinstance(item, Sequence) or len(item) != 2:
            raise TypeError(f"{owner}: params_grads[{i}] must be a (param, grad) pair, got {item!r}")
        out.append((item[0], item[1]))
    return out


def _sparse_like(coalesced: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A new coalesced sparse COO tensor with the indices of ``coalesced`` and new ``values``."""
    return torch.sparse_coo_tensor(
        coalesced.indices(), values, coalesced.shape, is_coalesced=True, check_invariants=False
    )


# --------------------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------------------
class ClipGradBase:
    """Base class of the gradient clippers (``paddle.nn.ClipGradBase``).

    ``clip(params_grads)`` takes a list of ``(param, grad)`` pairs and returns a new list of pairs,
    same length and order. ``grad`` may be None (passed through). A param whose ``need_clip``
    attribute is ``False`` passes through unchanged and is excluded from any norm. The call runs
    under ``torch.no_grad()``.

    Raises:
        TypeError: ``params_grads`` is not an iterable of pairs, or a grad to be clipped is not a
            float tensor (float16/bfloat16/float32/float64, dense or sparse COO).
    """

    def __call__(self, params_grads) -> list[tuple[object, torch.Tensor | None]]:
        pairs = _pairs(type(self).__name__, params_grads)
        for p, g in pairs:
            if g is not None and not _skip(p):
                _check_grad(type(self).__name__, g)
        with torch.no_grad():
            return self._clip(pairs)

    def _clip(self, params_grads):  # pragma: no cover - abstract
        """Subclasses: clip the validated list of pairs (already under ``torch.no_grad()``)."""
        raise NotImplementedError

    def _key(self) -> tuple:
        """The constructor arguments, for ``==``/``hash``; identity unless a subclass says otherwise."""
        return (id(self),)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self._key())


# --------------------------------------------------------------------------------------------------
# ClipGradByValue
# --------------------------------------------------------------------------------------------------
class ClipGradByValue(ClipGradBase):
    """Clamp every gradient element into ``[min, max]`` (``paddle.nn.ClipGradByValue``).

    ``g_out = clip(g, min, max)``: elements below ``min`` become ``min``, above ``max`` become
    ``max``; NaN stays NaN. The bounds are cast to the grad's dtype (exact for float64). Each clipped
    grad is a NEW tensor, so ``param.grad`` is unchanged. Sparse COO grads are coalesced (duplicate
    rows summed) and their values clamped (Paddle's dygraph cannot clip SelectedRows by value at all).

    Args:
        max (float): upper bound.
        min (float, optional): lower bound. Default None, meaning ``-max``; ``max`` must then be > 0.

    Raises:
        TypeError: ``max`` or ``min`` is not a real number (bool and tensors included).
        AssertionValueError: ``min`` is None and ``max`` is not > 0 (Paddle's ``assert max > 0.0``:
            an ``AssertionError``, also a ``ValueError``).
        ValueError: ``min > max`` or a bound is NaN (Paddle raises this at call time, from the
            clip kernel; here it is raised at construction).
    """

    def __init__(self, max: float, min: float | None = None) -> None:
        owner = "ClipGradByValue"
        max_ = _real(owner, "max", max)
        if min is None:
            if not max_ > 0.0:
                # Paddle's assert max > 0.0 (AssertionError), also a ValueError
                raise AssertionValueError(f"{owner}: max must be > 0 when min is None, got max={max!r}")
            min_ = -max_
        else:
            min_ = _real(owner, "min", min)
        if not min_ <= max_:
            raise ValueError(f"{owner}: max must be greater than or equal to min, got min={min_!r}, max={max_!r}")
        self.max = max_
        self.min = min_

    def _key(self) -> tuple:
        return (self.max, self.min)

    def __str__(self) -> str:
        return f"Clip Gradient By Value, min = {self.min:f}, max={self.max:f}"

    def __repr__(self) -> str:
        return f"ClipGradByValue(max={self.max!r}, min={self.min!r})"

    def _clip_one(self, g: torch.Tensor) -> torch.Tensor:
        low, high = _in_dtype(self.min, g.dtype), _in_dtype(self.max, g.dtype)
        if g.layout == torch.sparse_coo:
            c = g.coalesce()
            return _sparse_like(c, torch.clamp(c.values(), low, high))
        return torch.clamp(g, low, high)

    def _clip(self, params_grads):
        pairs = list(params_grads)
        sharded = [g for p, g in pairs if g is not None and not _skip(p) and _sharded.is_sharded(g)]
        sums = _sharded_sums(sharded) if sharded else {}
        out = []
        for p, g in pairs:
            if g is None or _skip(p):
                out.append((p, g))
            elif id(g) in sums:  # a DTensor grad: its norm from the ranks' partial sums
                local = g.to_local()
                scale = _by_norm_scaling(local, self._max_norm, sums[id(g)]).to(local.dtype)
                out.append((p, _like_sharded(g, local * scale)))
            else:
                out.append((p, self._clip_one(g)))
        return out


def _sharded_sums(grads: Sequence[torch.Tensor]) -> dict:
    """Each DTensor grad's sum of squares over the whole tensor (by ``id``), in the dtype of its
    clip norm (float32 for float16/bfloat16): local sums, added over the ranks with one
    ``all_reduce`` of one float64 tensor per process group (:mod:`oar.engine.sharded`)."""
    local: list[torch.Tensor] = []
    by_group: dict = {}
    for i, g in enumerate(grads):
        v = g.to_local()
        x = v.float() if v.dtype in _LOW_PRECISION else v
        local.append(torch.sum(x * x).to(torch.float64))
        group = _sharded.reduction_group(g)
        if group is not None:
            by_group.setdefault(group, []).append(i)
    for group, idx in by_group.items():
        stacked = torch.stack([local[i] for i in idx])
        _sharded.all_reduce_sum(stacked, group)
        for row, i in zip(stacked, idx, strict=False):
            local[i] = row
    return {
        id(g): s.to(torch.float32 if g.dtype in _LOW_PRECISION else g.dtype) for g, s in zip(grads, local, strict=False)
    }


def _like_sharded(like: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """A DTensor of ``like``'s mesh, placements and shape holding ``local``."""
    return type(like).from_local(
        local, like.device_mesh, like.placements, shape=like.shape, stride=like.stride(), run_check=False
    )


# --------------------------------------------------------------------------------------------------
# ClipGradByNorm
# --------------------------------------------------------------------------------------------------
def _by_norm_scaling(values: torch.Tensor, max_norm: float, sum_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Paddle's ``clip_by_norm`` kernel scale factor, as a 0-d tensor in the compute dtype.

    ``n = sqrt(sum(x^2))``; ``t = (n <= max_norm)``; ``eps = 1e-6 if n <= 1e-30 else 0``;
    ``scaling = t + (1 - t) * max_norm / (n + eps)``; computed in float32 for fp16/bf16 grads,
    otherwise in the grad dtype. ``sum_sq`` (0-d tensor, optional): ``sum(x^2)`` already
    computed (a sharded grad's, added over its ranks).
    """
    dtype = torch.float32 if values.dtype in _LOW_PRECISION else values.dtype
    if sum_sq is None:
        x = values.to(dtype)
        sum_sq = torch.sum(x * x)
    n = torch.sqrt(sum_sq.to(dtype))
    t = (n <= max_norm).to(dtype)
    eps = (n <= 1e-30).to(dtype) * 1e-6
    return t + (1.0 - t) * max_norm / (n + eps)


class ClipGradByNorm(ClipGradBase):
    r"""Limit the L2 norm of each gradient separately (``paddle.nn.ClipGradByNorm``).

    For every grad ``g`` (not excluded by ``need_clip``)::

        n = sqrt(sum(g**2))
        g_out = g * clip_norm / n      if n > clip_norm
        g_out = g                      otherwise

    exactly as Paddle's kernel: ``scaling = t + (1-t)*clip_norm/(n + eps)``, ``t = (n <= clip_norm)``,
    ``eps = 1e-6`` only when ``n <= 1e-30``. ``clip_norm`` is a C++ ``float`` attribute in Paddle, so
    it is rounded to float32 even for float64 grads. Consequences: an inf element makes the scale 0
    (inf -> NaN, the rest -> 0); a NaN makes every element NaN. float16/bfloat16 grads use a float32
    norm and scale (Paddle's GPU kernel). float64 is supported here with the same formula (Paddle's
    CPU kernel is float32-only). Each clipped grad is a NEW tensor; ``param.grad`` is unchanged.
    Sparse COO grads are coalesced and clipped by the norm of their values (Paddle:
    ``clip_by_norm_sparse``).

    Args:
        clip_norm (float): the maximum norm, finite and > 0.

    Raises:
        TypeError: ``clip_norm`` is not a real number (bool, tensors, None included).
        ValueError: ``clip_norm`` is a string, is not > 0 once rounded to float32 (Paddle raises
            ValueError at call time, ``max_norm should be greater than 0``) or is infinite in float32
            (Paddle would return all-NaN grads).
    """

    def __init__(self, clip_norm: float) -> None:
        owner = "ClipGradByNorm"
        c = _real(owner, "clip_norm", clip_norm, str_exc=ValueError)
        # The kernel attribute is a C++ float: it must be > 0 and finite once rounded to float32.
        c32 = _to_float32(c)
        if not (c32 > 0.0 and math.isfinite(c32)):
            raise ValueError(f"{owner}: clip_norm must be a number > 0 that is finite in float32, got {clip_norm!r}")
        self.clip_norm = c
        self._max_norm = c32

    def _key(self) -> tuple:
        return (self.clip_norm,)

    def __str__(self) -> str:
        return f"Gradient Clip By Norm, clip_norm={self.clip_norm:f}"

    def __repr__(self) -> str:
        return f"ClipGradByNorm(clip_norm={self.clip_norm!r})"

    def _clip_one(self, g: torch.Tensor) -> torch.Tensor:
        if g.layout == torch.sparse_coo:
            c = g.coalesce()
            v = c.values()
            return _sparse_like(c, v * _by_norm_scaling(v, self._max_norm).to(v.dtype))
        return g * _by_norm_scaling(g, self._max_norm).to(g.dtype)

    def _clip(self, params_grads):
        pairs = list(params_grads)
        sharded = [g for p, g in pairs if g is not None and not _skip(p) and _sharded.is_sharded(g)]
        sums = _sharded_sums(sharded) if sharded else {}
        out = []
        for p, g in pairs:
            if g is None or _skip(p):
                out.append((p, g))
            elif id(g) in sums:  # a DTensor grad: its norm from the ranks' partial sums
                local = g.to_local()
                scale = _by_norm_scaling(local, self._max_norm, sums[id(g)]).to(local.dtype)
                out.append((p, _like_sharded(g, local * scale)))
            else:
                out.append((p, self._clip_one(g)))
        return out


def _sharded_sums(grads: Sequence[torch.Tensor]) -> dict:
    """Each DTensor grad's sum of squares over the whole tensor (by ``id``), in the dtype of its
    clip norm (float32 for float16/bfloat16): local sums, added over the ranks with one
    ``all_reduce`` of one float64 tensor per process group (:mod:`oar.engine.sharded`)."""
    local: list[torch.Tensor] = []
    by_group: dict = {}
    for i, g in enumerate(grads):
        v = g.to_local()
        x = v.float() if v.dtype in _LOW_PRECISION else v
        local.append(torch.sum(x * x).to(torch.float64))
        group = _sharded.reduction_group(g)
        if group is not None:
            by_group.setdefault(group, []).append(i)
    for group, idx in by_group.items():
        stacked = torch.stack([local[i] for i in idx])
        _sharded.all_reduce_sum(stacked, group)
        for row, i in zip(stacked, idx, strict=False):
            local[i] = row
    return {
        id(g): s.to(torch.float32 if g.dtype in _LOW_PRECISION else g.dtype) for g, s in zip(grads, local, strict=False)
    }


def _like_sharded(like: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """A DTensor of ``like``'s mesh, placements and shape holding ``local``."""
    return type(like).from_local(
        local, like.device_mesh, like.placements, shape=like.shape, stride=like.stride(), run_check=False
    )


# --------------------------------------------------------------------------------------------------
# ClipGradByGlobalNorm
# --------------------------------------------------------------------------------------------------
class ClipGradByGlobalNorm(ClipGradBase):
    r"""Scale all gradients together so that their global L2 norm is at most ``clip_norm``
    (``paddle.nn.ClipGradByGlobalNorm``).

    Over the grads that are not None and not excluded by ``need_clip``::

        N = sqrt(sum_i sum(g_i**2))
        auto_skip_clip=False:  g_i *= clip_norm / max(N, clip_norm)      (always multiplied)
        auto_skip_clip=True:   g_i *= clip_norm / N   only if N > clip_norm

    There is no epsilon. Summation follows Paddle: one squared norm per grad (float16/bfloat16 grads
    give a float16/bfloat16 partial sum, as Paddle's GPU ``squared_l2_norm``), the partial sums are
    added per dtype class (low precision, float32, float64), and those class totals are cast to the
    sum dtype and added: float64 if any grad is float64, else float32. ``clip_norm`` and the scale
    live in the sum dtype; the scale is cast to each grad's dtype before multiplying.
    Non-finite N: inf gives scale 0 (finite grads -> 0, inf entries -> NaN); NaN gives all-NaN grads,
    or with ``auto_skip_clip=True`` no clipping at all (``NaN > clip_norm`` is False).

    The grads are scaled IN PLACE (``param.grad`` changes) and the same tensor objects are returned,
    except, as in Paddle, 0-d grads and sparse COO grads, which get a new tensor. Sparse grads enter
    the norm through their coalesced values. ``auto_skip_clip=True`` is computed without a host sync
    (a device-side select of ``clip_norm / N`` or 1; multiplying by 1 leaves the grad bit-identical).

    Args:
        clip_norm (float): the maximum global norm, finite and >= 0.
        group_name (str, optional): kept for API compatibility (only used by Paddle's static graph).
            Default ``'default_group'``.
        auto_skip_clip (bool, optional): skip the multiply when ``N <= clip_norm``. Default False.

    Raises:
        TypeError: ``clip_norm`` is not a real number, or ``group_name`` is not a str.
        ValueError: ``clip_norm`` is a string, negative, NaN or infinite (Paddle accepts these and
            flips the grads' sign (negative) or returns NaN grads (inf)).
        AssertionTypeError: ``auto_skip_clip`` is not a bool (Paddle's ``AssertionError``, also a
            ``TypeError``).
    """

    def __init__(
        self,
        clip_norm: float,
        group_name: str = "default_group",
        auto_skip_clip: bool = False,
    ) -> None:
        owner = "ClipGradByGlobalNorm"
        c = _real(owner, "clip_norm", clip_norm, str_exc=ValueError)
        if not (c >= 0.0 and math.isfinite(c)):
            raise ValueError(f"{owner}: clip_norm must be a finite number >= 0, got {clip_norm!r}")
        if not isinstance(group_name, str):
            raise TypeError(f"{owner}: group_name must be a str, got {group_name!r}")
        if not isinstance(auto_skip_clip, bool):
            # Paddle's AssertionError, also a TypeError
            raise AssertionTypeError(f"{owner}: auto_skip_clip must be a bool, got {auto_skip_clip!r}")
        self.clip_norm = c
        self.group_name = group_name
        self.auto_skip_clip = auto_skip_clip

    def _key(self) -> tuple:
        return (self.clip_norm, self.group_name, self.auto_skip_clip)

    def __str__(self) -> str:
        return f"Gradient Clip By GlobalNorm, global_norm={self.clip_norm:f}"

    def __repr__(self) -> str:
        return (
            f"ClipGradByGlobalNorm(clip_norm={self.clip_norm!r}, group_name={self.group_name!r}, "
            f"auto_skip_clip={self.auto_skip_clip!r})"
        )

    def global_norm(self, params_grads) -> torch.Tensor | None:
        """The global norm ``N`` (0-d tensor in the sum dtype) over the clippable grads of
        ``params_grads``, or None when there are none. Does not modify anything."""
        pairs = _pairs(type(self).__name__, params_grads)
        for p, g in pairs:
            if g is not None and not _skip(p):
                _check_grad(type(self).__name__, g)
        with torch.no_grad():
            return self._global_norm(pairs)

    def _global_norm(self, params_grads) -> torch.Tensor | None:
        low, f32, f64 = [], [], []
        device = None
        pairs = [(p, g) for p, g in params_grads if g is not None and not _skip(p)]
        sharded = [g for _, g in pairs if _sharded.is_sharded(g)]
        if sharded:  # DTensor grads: one all-reduce of their local sums (oar.engine.sharded)
            sums = _sharded_sums(sharded)
            for g in sharded:
                s = sums[id(g)]
                (low if g.dtype in _LOW_PRECISION else f32 if g.dtype == torch.float32 else f64).append(
                    s.to(g.dtype) if g.dtype in _LOW_PRECISION else s
                )
                device = s.device if device is None else device
        for _p, g in pairs:
            if _sharded.is_sharded(g):
                continue
            v = g.coalesce().values() if g.layout == torch.sparse_coo else g
            if device is None:
                device = v.device
            if v.dtype in _LOW_PRECISION:
                x = v.float()
                low.append(torch.sum(x * x).to(v.dtype).to(device))
            elif v.dtype == torch.float32:
                f32.append(torch.sum(v * v).to(device))
            else:
                f64.append(torch.sum(v * v).to(device))
        if not (low or f32 or f64):
            return None
        sum_dtype = torch.float64 if f64 else torch.float32
        parts = []
        if low:
            parts.append(torch.stack(low).sum().to(sum_dtype))
        if f32:
            parts.append(torch.stack(f32).sum().to(sum_dtype))
        if f64:
            parts.append(torch.stack(f64).sum())
        return torch.sqrt(torch.stack(parts).sum())

    def _clip(self, params_grads):
        return self._scale(params_grads, self._global_norm(params_grads))

    def apply_global_norm(self, params_grads, norm: torch.Tensor | None):
        """Clip ``params_grads`` as ``self(params_grads)`` does, by ``norm``, their global norm
        already computed by :meth:`global_norm` (the optimizer's non-finite guard computes it
        first and the clip reuses it: one read of the grads, the same result bit for bit)."""
        with torch.no_grad():
            return self._scale(_pairs(type(self).__name__, params_grads), norm)

    def _scale(self, params_grads, norm: torch.Tensor | None):
        if norm is None:  # every grad is None or excluded
            return list(params_grads)
        # a clip_norm beyond the norm's dtype range clips nothing finite: the dtype's largest value
        # (Paddle's cast gives inf there, and inf / max(N, inf) NaN grads; torch.full refuses it)
        c = torch.full((), min(self.clip_norm, torch.finfo(norm.dtype).max), dtype=norm.dtype, device=norm.device)
        if self.auto_skip_clip:
            scale = torch.where(norm > c, c / norm, torch.ones_like(norm))
        else:
            scale = c / torch.maximum(norm, c)
        out = []
        for p, g in params_grads:
            if g is None or _skip(p):
                out.append((p, g))
                continue
            s = scale.to(device=g.device, dtype=g.dtype)
            if _sharded.is_sharded(g):  # scaled in place through its local shard
                g.to_local().mul_(s)
                out.append((p, g))
            elif g.layout == torch.strided and g.dim() > 0:
                g.mul_(s)
                out.append((p, g))
            else:
                out.append((p, g * s))
        return out


# --------------------------------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------------------------------
_KINDS = {
    "ClipGradByValue": ClipGradByValue,
    "ClipGradByNorm": ClipGradByNorm,
    "ClipGradByGlobalNorm": ClipGradByGlobalNorm,
}


def clip_to_state(clip: ClipGradBase | None):
    """Plain-data form of a clip object, for the optimizer's ``state_dict`` (None stays None).

    Returns e.g. ``{'type': 'ClipGradByGlobalNorm', 'clip_norm': 1.0, 'group_name': 'default_group',
    'auto_skip_clip': False}``, ``{'type': 'ClipGradByNorm', 'clip_norm': 1.0}`` or
    ``{'type': 'ClipGradByValue', 'max': 1.0, 'min': -1.0}``.

    Raises:
        ValueError: ``clip`` is not None and not exactly one of the three clip classes.
    """
    if clip is None:
        return None
    kind = type(clip).__name__
    if _KINDS.get(kind) is not type(clip):
        raise ValueError(f"cannot serialise grad_clip {clip!r}: not one of {sorted(_KINDS)}")
    if kind == "ClipGradByValue":
        return {"type": kind, "max": clip.max, "min": clip.min}
    if kind == "ClipGradByNorm":
        return {"type": kind, "clip_norm": clip.clip_norm}
    return {
        "type": kind,
        "clip_norm": clip.clip_norm,
        "group_name": clip.group_name,
        "auto_skip_clip": clip.auto_skip_clip,
    }


def clip_from_state(state) -> ClipGradBase | None:
    """Inverse of :func:`clip_to_state` (None stays None).

    Raises:
        ValueError: ``state`` is not a dict with a known ``'type'`` and that type's keys.
        TypeError / ValueError / AssertionError: the stored arguments are invalid (from the constructor).
    """
    if state is None:
        return None
    if not isinstance(state, dict) or state.get("type") not in _KINDS:
        raise ValueError(f"not a grad_clip state: {state!r}")
    kind = state["type"]
    try:
        if kind == "ClipGradByValue":
            return ClipGradByValue(max=state["max"], min=state["min"])
        if kind == "ClipGradByNorm":
            return ClipGradByNorm(state["clip_norm"])
        return ClipGradByGlobalNorm(
            state["clip_norm"],
            group_name=state.get("group_name", "default_group"),
            auto_skip_clip=state.get("auto_skip_clip", False),
        )
    except KeyError as e:
        raise ValueError(f"grad_clip state {state!r} lacks the key {e.args[0]!r}") from None
