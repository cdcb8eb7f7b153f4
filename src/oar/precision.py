"""Precision rules shared by the optimizers: the accumulator dtype of a param, and hyper-parameters
rounded as Paddle's kernels see them (Paddle's C++ kernels take most hyper-parameters as float32
when the param is not float64)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LOW_PRECISION", "as_float", "round_to", "rounded_lr", "state_dtype"]

#: Param dtypes whose accumulators (and master weights) are float32, as Paddle's.
LOW_PRECISION = (torch.float16, torch.bfloat16)


def round_to(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to ``dtype`` as Paddle's kernels see it (float64 keeps double)."""
    if dtype == torch.float64:
        return float(value)
    return float(np.float32(value))


def rounded_lr(lr: float, dtype: torch.dtype, device: torch.device) -> float | torch.Tensor:
    """The rule's ``lr``: ``round_to(lr, dtype)``, or, inside a user's ``torch.compile``, the
    same value as a 0-d float64 tensor (float32 on MPS), so that dynamo reads the lr as a graph
    input instead of baking it in as a constant (a new lr would recompile). Rules accept 0-d
    tensor hyper-parameters: the compiled engine passes them so too."""
    if not torch.compiler.is_compiling():
        return round_to(lr, dtype)
    # ones * lr: dynamo's scalar tensorification keeps the lr symbolic through a product (not
    # through torch.full / torch.tensor, which specialize it: measured with torch 2.13).
    value = torch.ones((), dtype=torch.float64, device=device) * lr
    if dtype != torch.float64:
        value = value.to(torch.float32)
    return value.to(torch.float32 if device.type == "mps" else torch.float64)


def state_dtype(param: torch.Tensor) -> torch.dtype:
    """Accumulator dtype for ``param``: its own, or float32 for float16/bfloat16 (as Paddle)."""
    return torch.float32 if param.dtype in LOW_PRECISION else param.dtype


def as_float(value: float | torch.Tensor) -> float:
    """A hyper-parameter given as a number or a 1-element tensor, as a Python float."""
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)
