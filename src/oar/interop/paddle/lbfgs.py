"""LBFGS's flat state to and from Paddle's ``{'state': {...}}`` (flat vectors permuted segment
by segment where a Linear weight is transposed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ...lbfgs import LBFGS
from .accumulators import optimizer_params
from .layout import NAME_TABLE, Layout, as_array, to_paddle_array

__all__ = ["lbfgs_from_paddle", "lbfgs_to_paddle"]

_LBFGS_FLAT = ("d", "prev_flat_grad")
_LBFGS_FLAT_LISTS = ("old_yk", "old_sk")
_LBFGS_KEYS = frozenset(
    ("func_evals", "n_iter", "d", "alpha", "old_yk", "old_sk", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al")
)


def _lbfgs_segments(model: torch.nn.Module, optimizer: LBFGS, layouts: Mapping[str, Layout]) -> list[Layout]:
    """The layouts of LBFGS's optimized params (the last group's), in order."""
    owned = {id(o.param): o.layout for o in optimizer_params(model, optimizer, layouts)}
    return [owned[id(p)] for p in optimizer.param_groups[-1]["params"]]


def _permute_flat(vector: torch.Tensor, segments: list[Layout], to_paddle: bool, where: str) -> torch.Tensor:
    """A flat LBFGS vector from one framework's layout to the other's (Linear segments transposed)."""
    total = sum(int(np.prod(s.shape)) for s in segments)
    if tuple(vector.shape) != (total,):
        raise ValueError(
            f"{where} has shape {list(vector.shape)}, expected [{total}] (the optimized parameters' elements)"
        )
    parts, offset = [], 0
    for s in segments:
        n = int(np.prod(s.shape))
        part = vector[offset : offset + n]
        if s.transposed:
            part = part.reshape(s.shape if to_paddle else s.paddle_shape).transpose(0, 1).reshape(-1)
        parts.append(part)
        offset += n
    return torch.cat(parts) if parts else vector.clone()


def lbfgs_from_paddle(
    model: torch.nn.Module, optimizer: LBFGS, raw: Any, layouts: Mapping[str, Layout], where: str
) -> dict[str, Any]:
    state = raw.get("state") if isinstance(raw, dict) else None
    extra = sorted(set(raw) - {"state", NAME_TABLE}) if isinstance(raw, dict) else []
    if not isinstance(state, dict) or extra:
        raise ValueError(
            f"{where}: expected Paddle's LBFGS state {{'state': {{...}}}}, got "
            f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}"
        )
    unknown = sorted(set(state) - _LBFGS_KEYS)
    if unknown:
        raise ValueError(
            f"{where}['state'] has keys {unknown} that LBFGS does not keep "
            f"(it keeps {sorted(_LBFGS_KEYS)}): not an LBFGS checkpoint?"
        )
    segments = _lbfgs_segments(model, optimizer, layouts)

    def tensor(value: Any, at: str, flat: bool) -> Any:
        if value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        array, _ = as_array(value, at)
        t = torch.from_numpy(np.array(array, copy=True))
        return _permute_flat(t, segments, False, at) if flat else t

    out: dict[str, Any] = {}
    for key, value in state.items():
        at = f"{where}['state'][{key!r}]"
        if key in ("old_yk", "old_sk", "ro", "al"):
            if not isinstance(value, list):
                raise ValueError(f"{at} is a {type(value).__name__}, not a list")
            out[key] = [tensor(v, f"{at}[{i}]", key in _LBFGS_FLAT_LISTS) for i, v in enumerate(value)]
        else:
            out[key] = tensor(value, at, key in _LBFGS_FLAT)
    return {"state": out}


def lbfgs_to_paddle(model: torch.nn.Module, optimizer: LBFGS, layouts: Mapping[str, Layout]) -> dict[str, Any]:
    segments = _lbfgs_segments(model, optimizer, layouts)
    count = 0

    def convert(value: Any, key: str, flat: bool) -> Any:
        nonlocal count
        if not isinstance(value, torch.Tensor):
            return value
        t = _permute_flat(value.detach(), segments, True, f"optimizer.state[{key!r}]") if flat else value
        count += 1
        return (f"eager_tmp_{count - 1}", to_paddle_array(t, False))

    out: dict[str, Any] = {}
    for key, value in optimizer.state_dict()["state"].items():
        if isinstance(value, list):
            out[key] = [convert(v, key, key in _LBFGS_FLAT_LISTS) for v in value]
        else:
            out[key] = convert(value, key, key in _LBFGS_FLAT)
    return {"state": out}
