"""Layouts (Paddle's ``Linear`` weight is ``[in, out]``) and the arrays of ``.pdparams`` files:
reading them, converting them to and from torch tensors."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import torch

from .. import _unpickle

__all__ = [
    "NAME_TABLE",
    "Layout",
    "Path",
    "as_array",
    "describe_path",
    "from_paddle_array",
    "join_big_arrays",
    "model_layouts",
    "model_values",
    "read_params",
    "to_paddle_array",
]

#: The key of the structured-name -> param-name table ``paddle.save`` adds to a state dict.
NAME_TABLE = "StructuredToParameterName@@"
#: The key under which protocol-2/3 saves record arrays split into slices (over 1 GiB).
_BIG_ARRAYS = "UnpackBigParamInfor@@"  # (sic, Paddle's spelling)


Path = str | os.PathLike[str]


@dataclasses.dataclass(frozen=True)
class Layout:
    """One entry of the model's state dict as both frameworks store it."""

    key: str
    name: str | None  # Paddle's internal name
    shape: tuple[int, ...]  # torch's
    transposed: bool  # a torch.nn.Linear weight: [out, in] here, [in, out] in Paddle

    @property
    def paddle_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-2], self.shape[-1], self.shape[-2]) if self.transposed else self.shape


def _linear_weight_keys(model: torch.nn.Module) -> set[str]:
    return {
        f"{path}.weight" if path else "weight"
        for path, module in model.named_modules(remove_duplicate=False)
        if isinstance(module, torch.nn.Linear)
    }


def model_layouts(model: torch.nn.Module, names: Mapping[str, str]) -> dict[str, Layout]:
    linear = _linear_weight_keys(model)
    out = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"model.state_dict()[{key!r}] is a {type(value).__name__}, not a tensor: "
                "Paddle's files hold tensors only"
            )
        out[key] = Layout(key, names.get(key), tuple(value.shape), key in linear and value.ndim == 2)
    return out


def to_paddle_array(value: torch.Tensor, transposed: bool) -> np.ndarray:
    """``value`` as Paddle saves it: transposed last two dims for a Linear weight, bfloat16 as
    its uint16 bits, on the CPU."""
    t = value.detach().cpu()
    if transposed:
        t = t.transpose(-2, -1)
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16).copy()
    return t.numpy().copy()


def from_paddle_array(
    array: np.ndarray, transposed: bool, dtype: torch.dtype, device: torch.device | None = None
) -> torch.Tensor:
    """A Paddle array as a torch tensor of ``dtype`` in torch's layout (uint16 bits read as
    bfloat16 when a floating dtype is wanted, as Paddle stores bfloat16)."""
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        array = array.copy()
    if array.dtype == np.uint16 and dtype.is_floating_point:
        t = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(array)
    if transposed:
        t = t.transpose(-2, -1)
    return t.to(device=device, dtype=dtype).contiguous()


def as_array(value: Any, where: str) -> tuple[np.ndarray, str | None]:
    """A tensor of a Paddle file: an ndarray, or a ``(name, ndarray)`` tuple (``_pickle_save``)."""
    if isinstance(value, np.ndarray):
        return value, None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], np.ndarray):
        return value[1], value[0]
    raise ValueError(f"{where} is a {type(value).__name__}, not a tensor (an ndarray or a (name, ndarray) tuple)")


def join_big_arrays(raw: dict[str, Any], where: str) -> None:
    """Reassemble arrays that a protocol-2/3 ``paddle.save`` split into slices (in place)."""
    info = raw.pop(_BIG_ARRAYS, None)
    if info is None:
        return
    try:
        for key, entry in info.items():
            parts = [raw.pop(part) for part in entry["slices"]]
            raw[key] = np.concatenate([as_array(p, f"{where}[{key!r}]")[0] for p in parts]).reshape(
                entry["OriginShape"]
            )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}[{_BIG_ARRAYS!r}] does not describe the file's slices: {exc}") from None


def describe_path(path: Path | IO[bytes]) -> str:
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(getattr(path, "name", "<file>"))


def read_params(path: Path | IO[bytes]) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """``(arrays, names, where)`` of a pdparams file: structured name -> array and -> internal name."""
    where = describe_path(path)
    raw = _unpickle.load(path)
    if not isinstance(raw, dict):
        raise ValueError(
            f"{where}: expected the dict paddle.save writes for layer.state_dict(), got a {type(raw).__name__}"
        )
    raw = dict(raw)
    join_big_arrays(raw, where)
    table = raw.pop(NAME_TABLE, None)
    if table is not None and not (
        isinstance(table, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
    ):
        raise ValueError(f"{where}[{NAME_TABLE!r}] is not a table of names")
    arrays: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for key, value in raw.items():
        array, name = as_array(value, f"{where}[{key!r}]")
        arrays[key] = array
        name = table.get(key, name) if table is not None else name
        if name is not None:
            names[key] = name
    return arrays, names, where


def model_values(
    model: torch.nn.Module, arrays: Mapping[str, np.ndarray], layouts: Mapping[str, Layout], where: str
) -> dict[str, torch.Tensor]:
    """The model's new state, checked: keys equal, shapes equal in Paddle's layout."""
    target = model.state_dict()
    missing = [key for key in target if key not in arrays]
    extra = [key for key in arrays if key not in target]
    if missing or extra:
        raise ValueError(f"{where} does not match the model: missing keys {missing}, unexpected keys {extra}")
    values = {}
    for key, tensor in target.items():
        layout, array = layouts[key], arrays[key]
        if tuple(array.shape) != layout.paddle_shape:
            note = " (the weight of a torch.nn.Linear, [out, in], is [in, out] in Paddle)" if layout.transposed else ""
            raise ValueError(
                f"{where}[{key!r}] has shape {list(array.shape)}, the model's {key!r} needs "
                f"{list(layout.paddle_shape)} in Paddle's layout{note}"
            )
        values[key] = from_paddle_array(array, layout.transposed, tensor.dtype, tensor.device)
    return values
