"""Validation of numeric arguments, one way for every class (optimizers, clips, regularizers).

A number is a Python ``int`` or ``float`` (or any ``numbers.Real``), never a ``bool``; where
Paddle also takes a 1-element tensor (Adam's and Lamb's betas), ``tensor=True`` admits one and
skips the range check (Paddle reads the tensor at each step). Out-of-range values raise
``ValueError`` with Paddle's message, ``Invalid value of <name>, expect <range>, got <value>.``
"""
from __future__ import annotations

import math
import numbers

import torch

__all__ = ["number"]


def number(name: str, value: object, *, low: float | None = None, high: float | None = None,
           high_open: bool = True, finite: bool = False, tensor: bool = False, owner: str = "",
           str_error: type[Exception] = TypeError) -> float | torch.Tensor:
    """Check a numeric argument and return it as a float (a tensor is returned as it is).

    Args:
        name (str): the argument's name, for the message.
        value: the value given.
        low (float | None): inclusive lower bound. high (float | None): upper bound, exclusive
            unless ``high_open=False``. finite (bool): reject inf and NaN.
        tensor (bool): admit a 1-element tensor (unchecked range).
        owner (str): prefix of the message (the class), e.g. ``'ClipGradByNorm'``.
        str_error (type): the exception for a string (Paddle's ``float(x)`` raises ValueError).

    Raises:
        TypeError: not a number (a bool, None, a tensor unless ``tensor``), or a tensor of more
            than one element (ValueError).
        ValueError: out of range, or not finite with ``finite``.
    """
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, torch.Tensor):
        if not tensor:
            raise TypeError(f"{prefix}{name} must be a float, got a tensor {value!r}")
        if value.numel() != 1:
            raise ValueError(f"{prefix}{name} given as a tensor must have exactly one element, "
                             f"got shape {tuple(value.shape)}")
        return value
    if isinstance(value, str):
        raise str_error(f"{prefix}{name} must be a real number, got the string {value!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{prefix}{name} must be a float, got {value!r} ({type(value).__name__})")
    x = float(value)
    in_range = (low is None or x >= low) and (
        high is None or (x < high if high_open else x <= high))
    if not in_range or (finite and not math.isfinite(x)):
        if low is not None and high is not None:
            expect = f"{name} in [{low:g},{high:g}{')' if high_open else ']'}"
        elif low is not None:
            expect = f"{name} >= {low:g}"
        else:
            expect = f"{name} {'<' if high_open else '<='} {high:g}"
        if finite:
            expect += " and finite"
        raise ValueError(f"{prefix}Invalid value of {name}, expect {expect}, got {value!r}.")
    return x
