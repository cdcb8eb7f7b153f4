"""The transformer-shaped parameter set every row of ``oar bench`` (and the scripts in
``benchmarks/``) steps: its shapes, its initial values and gradients, and fresh torch copies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["BLOCKS", "HIDDEN", "VOCAB", "ParamSet", "build_param_set", "param_shapes", "scale_for_params"]

HIDDEN = 768
VOCAB = 8000
BLOCKS = 3

Shapes = list[tuple[str, tuple[int, ...]]]


def param_shapes(scale: float = 1.0, blocks: int = BLOCKS) -> Shapes:
    """Names and shapes of the transformer-shaped parameter set.

    At ``scale=1``: a [8000, 768] embedding, then ``blocks`` blocks of 4 [768, 768] attention
    weights with their biases, a [768, 3072] and a [3072, 768] feed-forward weight with their
    biases and 2 LayerNorms (weight and bias), then a final LayerNorm: 51 tensors, 27,409,152
    parameters. ``scale`` (float, default 1.0) multiplies the hidden size and the vocabulary (the
    feed-forward size stays 4x hidden); ``blocks`` (int, default 3) is the number of blocks.
    """
    h = max(1, round(HIDDEN * scale))
    vocab = max(1, round(VOCAB * scale))
    ffn = 4 * h
    shapes: Shapes = [("embedding.weight", (vocab, h))]
    for b in range(blocks):
        pre = f"block{b}."
        for w in ("q", "k", "v", "o"):
            shapes.append((pre + f"attn.{w}.weight", (h, h)))
            shapes.append((pre + f"attn.{w}.bias", (h,)))
        shapes += [
            (pre + "ffn.fc1.weight", (h, ffn)),
            (pre + "ffn.fc1.bias", (ffn,)),
            (pre + "ffn.fc2.weight", (ffn, h)),
            (pre + "ffn.fc2.bias", (h,)),
            (pre + "ln1.weight", (h,)),
            (pre + "ln1.bias", (h,)),
            (pre + "ln2.weight", (h,)),
            (pre + "ln2.bias", (h,)),
        ]
    shapes += [("ln_f.weight", (h,)), ("ln_f.bias", (h,))]
    return shapes


def _numel(shapes: Shapes) -> int:
    return sum(math.prod(s) for _, s in shapes)


def scale_for_params(n: int, blocks: int = BLOCKS) -> float:
    """The ``scale`` of :func:`param_shapes` whose set is closest to ``n`` parameters.

    Raises:
        ValueError: ``n`` is not positive.
    """
    if n <= 0:
        raise ValueError(f"--params must be positive, got {n}")
    lo, hi = 1e-5, 1e3
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if _numel(param_shapes(mid, blocks)) < n:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda s: abs(_numel(param_shapes(s, blocks)) - n))


def _init_value(name: str, shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
    if name.endswith(".bias"):
        return torch.zeros(shape)
    if ".ln" in name or name.startswith("ln_"):
        return torch.ones(shape)
    return torch.randn(shape, generator=gen) * 0.02


@dataclass
class ParamSet:
    """The parameter set's float32 initial values and gradients, and the torch copies handed out.

    Attributes:
        names (list[str]): tensor names, as :func:`param_shapes` gives them.
        values (list[torch.Tensor]): float32 initial values (the source of every copy).
        grads (list[torch.Tensor]): float32 gradients.
        dtype (torch.dtype): the dtype of the copies.
        created (list[list[torch.Tensor]]): every set :meth:`torch_params` handed out.
    """

    names: list[str]
    values: list[torch.Tensor]
    grads: list[torch.Tensor]
    dtype: torch.dtype
    created: list[list[torch.Tensor]] = field(default_factory=list)
    _dtype_grads: list[torch.Tensor] | None = field(default=None, repr=False)

    @property
    def numel(self) -> int:
        """The number of parameters."""
        return sum(v.numel() for v in self.values)

    def torch_grads(self) -> list[torch.Tensor]:
        """The gradients in ``dtype``, made once and shared by every copy."""
        if self._dtype_grads is None:
            self._dtype_grads = [g.to(self.dtype, copy=True) for g in self.grads]
        return self._dtype_grads

    def torch_params(self) -> list[torch.Tensor]:
        """Fresh leaf tensors of ``dtype`` with ``.grad`` set (the gradients are shared);
        recorded in ``created``."""
        out = []
        for v, g in zip(self.values, self.torch_grads(), strict=False):
            p = v.to(self.dtype, copy=True).requires_grad_(True)
            p.grad = g
            out.append(p)
        self.created.append(out)
        return out

    def integrity_notes(self) -> list[str]:
        """What went wrong with the shared tensors: non-finite parameters in the copies handed
        out, gradients modified in place (empty when nothing did)."""
        notes = []
        bad = sorted(
            {
                name
                for params in self.created
                for name, p in zip(self.names, params, strict=False)
                if not bool(torch.isfinite(p).all())
            }
        )
        if bad:
            notes.append(f"non-finite values in the shared parameters after the run: {bad[:5]}")
        if self._dtype_grads is not None:
            changed = [
                name
                for name, g, g0 in zip(self.names, self._dtype_grads, self.grads, strict=False)
                if not torch.equal(g, g0.to(self.dtype))
            ]
            if changed:
                notes.append(f"an optimizer modified the shared gradients in place: {changed[:5]}")
        return notes


def build_param_set(scale: float, dtype: torch.dtype, seed: int, blocks: int = BLOCKS) -> ParamSet:
    """The parameter set of :func:`param_shapes` (``scale``, ``blocks``) with values and
    gradients drawn from ``seed``: weights ~ N(0, 0.02), biases 0, LayerNorm weights 1,
    gradients ~ N(0, 0.01); copies in ``dtype``."""
    gen = torch.Generator().manual_seed(seed)
    shapes = param_shapes(scale, blocks)
    names = [n for n, _ in shapes]
    values = [_init_value(n, s, gen) for n, s in shapes]
    grads = [torch.randn(s, generator=gen) * 0.01 for _, s in shapes]
    return ParamSet(names, values, grads, dtype)
