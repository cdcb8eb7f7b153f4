"""Validation of numeric arguments, one way for every class (optimizers, clips, regularizers).

A number is a Python ``int`` or ``float`` (or any ``numbers.Real``), never a ``bool``; where
Paddle also takes a 1-element tensor (Adam's and Lamb's betas), ``tensor=True`` admits one and
checks the value it holds now (Paddle reads the tensor again at each step). Out-of-range values
raise ``ValueError`` with Paddle's message, ``Invalid value of <name>, expect <range>, got
<value>.``; a wrong type raises ``TypeError``.

Where Paddle raises another exception type for a bad argument (``AssertionError``,
``AttributeError``, ``RuntimeError``), oar raises a class that is both Paddle's type and
``TypeError`` or ``ValueError`` (:class:`AssertionTypeError`, ...): code written for either
catches it.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "MAX_COUNT",
    "AssertionTypeError",
    "AssertionValueError",
    "AttributeTypeError",
    "RuntimeTypeError",
    "RuntimeValueError",
    "check_lr",
    "count",
    "function",
    "not_set",
    "number",
    "show",
]


def number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    high_open: bool = True,
    finite: bool = False,
    tensor: bool = False,
    owner: str = "",
    str_error: type[Exception] = TypeError,
) -> float | torch.Tensor:
    """Check a numeric argument and return it as a float (a tensor is returned as it is).

    Args:
        name (str): the argument's name, for the message.
        value: the value given.
        low (float | None): inclusive lower bound. high (float | None): upper bound, exclusive
            unless ``high_open=False``. finite (bool): reject inf and NaN.
        tensor (bool): admit a 1-element real tensor; the value it holds now is range-checked
            (the tensor itself is returned).
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
            raise TypeError(f"{prefix}{name} must be a float, got a tensor {show(value)}")
        if value.numel() != 1:
            raise ValueError(
                f"{prefix}{name} given as a tensor must have exactly one element, got shape {tuple(value.shape)}"
            )
        if value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{prefix}{name} given as a tensor must be a real number, got {show(value)}")
        if value.device.type != "meta":  # its value now (Paddle reads it again at each step)
            number(
                name,
                float(value.detach().reshape(()).item()),
                low=low,
                high=high,
                high_open=high_open,
                finite=finite,
                owner=owner,
            )
        return value
    if isinstance(value, str):
        raise str_error(f"{prefix}{name} must be a real number, got the string {show(value)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{prefix}{name} must be a float, got {show(value)} ({type(value).__name__})")
    try:
        x = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(
            f"{prefix}Invalid value of {name}, expect a number within the float range, got {show(value)}."
        ) from None
    in_range = (low is None or x >= low) and (high is None or (x < high if high_open else x <= high))
    if not in_range or (finite and not math.isfinite(x)):
        if low is not None and high is not None:
            expect = f"{name} in [{low:g},{high:g}{')' if high_open else ']'}"
        elif low is not None:
            expect = f"{name} >= {low:g}"
        elif high is not None:
            expect = f"{name} {'<' if high_open else '<='} {high:g}"
        else:
            expect = f"{name} finite"
        if finite and (low is not None or high is not None):
            expect += " and finite"
        raise ValueError(f"{prefix}Invalid value of {name}, expect {expect}, got {show(value)}.")
    return x


#: The largest count oar takes (a tensor dimension: int64).
MAX_COUNT = 2**63 - 1


def count(name: str, value: object, *, low: int = 1, owner: str = "") -> int:
    """Check an integer argument (``batch_num``, ``max_iter``, ...) and return it as an int.

    Args:
        name (str): the argument's name, for the message.
        value: the value given: an ``int`` (any ``numbers.Integral``), not a bool.
        low (int): inclusive lower bound. Default 1.
        owner (str): prefix of the message (the class).

    Raises:
        TypeError: not an int (a bool, a float, None, a string, a tensor).
        ValueError: below ``low``, or above :data:`MAX_COUNT` (an int64 dimension).
    """
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{prefix}{name} must be an int, got {show(value)} ({type(value).__name__})")
    number_ = int(value)
    if not low <= number_ <= MAX_COUNT:
        raise ValueError(f"{prefix}Invalid value of {name}, expect {low} <= {name} <= 2**63-1, got {show(value)}.")
    return number_


def show(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, shortened to about ``limit`` characters (an int of
    thousands of digits, whose repr Python may even refuse, a long list)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 5] + "...>"


class AssertionTypeError(AssertionError, TypeError):
    """A wrong type where Paddle raises ``AssertionError`` (``assert x is not None``): both."""


class AssertionValueError(AssertionError, ValueError):
    """A bad value where Paddle raises ``AssertionError``: both."""


class AttributeTypeError(AttributeError, TypeError):
    """A wrong type where Paddle raises ``AttributeError`` (``parameters=None``): both."""


class RuntimeTypeError(RuntimeError, TypeError):
    """A wrong type where Paddle raises ``RuntimeError`` (LBFGS's ``line_search_fn``): both."""


class RuntimeValueError(RuntimeError, ValueError):
    """A bad value where Paddle raises ``RuntimeError``: both."""


def not_set(owner: str, error: type[Exception], **values: object) -> None:
    """Refuse arguments given as None, as Paddle's constructors do, with Paddle's exception type.

    Paddle checks None before anything else, and raises ``ValueError("<name> is not set.")``
    (RMSProp, Adadelta) or a bare ``assert <name> is not None`` (Adam, AdamW, Adamax, Adagrad,
    Lamb: ``AssertionError``); ``error`` is that type. The message names the argument and the
    value: ``"<name> is not set."`` (Paddle's words) for ValueError, ``"<owner>: <name> is not set
    (got None)"`` otherwise.

    Args:
        owner (str): the class, for the message of an ``AssertionError``.
        error (type): the exception Paddle raises for this class.
        **values: the arguments, by name, in Paddle's order of checking.

    Raises:
        ``error``: the first argument that is None (an ``AssertionError`` is raised as
            :class:`AssertionTypeError`, also a ``TypeError``).
    """
    for name, value in values.items():
        if value is None:
            if error is ValueError:
                raise ValueError(f"{name} is not set.")
            if error is AssertionError:  # also a TypeError: None is not a number
                raise AssertionTypeError(f"{owner}: {name} is not set (got None)")
            raise error(f"{owner}: {name} is not set (got None)")


def check_lr(name: str, value: object) -> float:
    """Check a learning rate or a learning-rate multiplier (a param group's ``learning_rate``,
    ``set_param_attr``'s): a number, finite and >= 0 (torch.optim's rule; Paddle takes NaN, inf
    and negative values, and the first step then makes every parameter NaN or climbs the loss).

    Raises:
        TypeError: not a number. ValueError: negative, NaN or infinite.
    """
    return float(number(name, value, low=0.0, finite=True))


def function(name: str, value: object, *, args: int = 1, owner: str = "", error: type[TypeError] = TypeError) -> None:
    """Check a callable argument (``lr_ratio``, ``apply_decay_param_fun``,
    ``exclude_from_weight_decay_fn``): callable, and callable with ``args`` positional arguments
    where its signature can be read, so that a wrong one fails here rather than at a step.

    Raises:
        TypeError (or ``error``, a subclass): not callable, or its signature does not take
            ``args`` positional arguments.
    """
    import inspect

    prefix = f"{owner}: " if owner else ""
    if not callable(value):
        raise error(f"{prefix}{name} must be a callable, got {show(value)} ({type(value).__name__})")
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # no signature to read (some builtins): taken as it is
        return
    try:
        signature.bind(*([None] * args))
    except TypeError:
        raise error(
            f"{prefix}{name} must be a callable taking {args} argument(s), got {show(value)} with signature {signature}"
        ) from None
