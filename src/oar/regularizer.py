"""Coupled weight-decay regularizers, as ``paddle.regularizer`` (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/regularizer/L2Decay_en.html).

A regularizer maps ``(param, grad)`` to a *new* gradient ``grad + R(param)``; ``param.grad`` is
never modified. The optimizer applies it after gradient clipping and before the update rule.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .validate import number, show

__all__ = [
    "L1Decay",
    "L2Decay",
    "WeightDecayRegularizer",
    "as_regularizer",
    "regularizer_from_state",
    "regularizer_to_state",
]


class WeightDecayRegularizer:
    """Base class: ``reg(param, grad) -> grad + coeff * penalty_grad(param)``.

    Args:
        coeff (float): the regularization coefficient, finite and >= 0. Default 0.0.

    Raises:
        TypeError: ``coeff`` is not a real number (bool and tensors included).
        ValueError: ``coeff`` is negative, NaN or infinite (Paddle accepts them: a negative
            coefficient makes the weights grow, a non-finite one makes them NaN).
    """

    def __init__(self, coeff: float = 0.0):
        self.coeff = float(number("coeff", coeff, low=0.0, finite=True, owner=type(self).__name__))

    def penalty_grad(self, param: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """``grad + coeff * penalty_grad(param)``: a new tensor. A sparse grad gives a dense
        result (duplicate rows summed), as Paddle's ``add_n`` of a SelectedRows grad and a
        dense term does."""
        if grad.is_sparse:
            grad = grad.to_dense()
        return grad + self.coeff * self.penalty_grad(param.to(grad.dtype))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(coeff={self.coeff})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.coeff == other.coeff

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.coeff))


class L2Decay(WeightDecayRegularizer):
    """L2 weight decay: ``grad + coeff * param`` (``paddle.regularizer.L2Decay``)."""

    def penalty_grad(self, param: torch.Tensor) -> torch.Tensor:
        return param


class L1Decay(WeightDecayRegularizer):
    """L1 weight decay: ``grad + coeff * sign(param)``, with sign(0) = 0 (``paddle.regularizer.L1Decay``)."""

    def penalty_grad(self, param: torch.Tensor) -> torch.Tensor:
        return torch.sign(param)


_KINDS = {"L1Decay": L1Decay, "L2Decay": L2Decay}


def as_regularizer(value: object, name: str = "weight_decay") -> WeightDecayRegularizer | None:
    """An optimizer's or a param group's coupled ``weight_decay`` as a regularizer, judged the
    same way in both places: None, ``L1Decay`` and ``L2Decay`` as they are; a number (int or
    float, not bool) means ``L2Decay(value)`` (Paddle's rule for the optimizer's argument).

    Args:
        value: the ``weight_decay`` given.
        name (str): how the message names it (``"param group 'weight_decay'"``).

    Raises:
        TypeError: another type (a bool, a string, a tensor, a list).
        ValueError: a negative, NaN or infinite number.
    """
    if value is None or isinstance(value, WeightDecayRegularizer):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float, L1Decay, L2Decay or None, got {show(value)} ({type(value).__name__})")
    return L2Decay(float(number(name, value, low=0.0, finite=True)))


def regularizer_to_state(reg: WeightDecayRegularizer | numbers.Real | None) -> dict[str, Any] | numbers.Real | None:
    """Plain-data form of a regularizer, for ``state_dict`` (None and numbers, e.g. AdamW's
    decoupled coefficient, stay as they are)."""
    if reg is None or (isinstance(reg, numbers.Real) and not isinstance(reg, bool)):
        return reg
    return {"type": type(reg).__name__, "coeff": reg.coeff}


def regularizer_from_state(state: object) -> WeightDecayRegularizer | numbers.Real | None:
    """Inverse of :func:`regularizer_to_state`. Raises ValueError on an unknown form."""
    if state is None or (isinstance(state, numbers.Real) and not isinstance(state, bool)):
        return state
    if not isinstance(state, dict) or state.get("type") not in _KINDS:
        raise ValueError(f"not a regularizer state: {state!r}")
    return _KINDS[state["type"]](state["coeff"])
