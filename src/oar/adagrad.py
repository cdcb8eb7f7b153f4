"""Adagrad (Duchi, Hazan & Singer, 2011, "Adaptive Subgradient Methods for Online Learning and
Stochastic Optimization", JMLR 12) with ``paddle.optimizer.Adagrad``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Adagrad_en.html)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .regularizer import WeightDecayRegularizer
from .validate import not_set, number

__all__ = ["Adagrad", "adagrad_update"]

Tensor = torch.Tensor


def adagrad_update(param: Tensor, grad: Tensor, state: dict[str, Tensor], *, lr: Any, epsilon: Any) -> None:
    """One Adagrad step of ``param`` in place (Paddle's rule)::

        mom = mom + g g ;  p = p - (lr g) / (sqrt(mom) + ε)

    ``epsilon`` arrives rounded to float32 (a C++ ``float`` attribute in Paddle). ``state``:
    ``moment`` (param shape). A sparse COO ``grad`` (``Embedding(sparse=True)``; duplicate rows
    summed) changes only its rows, as Paddle's SelectedRows kernel.
    """
    mom = state["moment"]
    if grad.is_sparse:
        grad = grad.coalesce()
        if grad.sparse_dim() == 1:  # row-sparse, as Paddle's SelectedRows
            rows, values = grad.indices()[0], grad.values()
            mom_rows = mom.index_select(0, rows) + values * values
            mom.index_copy_(0, rows, mom_rows)
            param.index_copy_(0, rows, param.index_select(0, rows) - values * lr / (mom_rows.sqrt() + epsilon))
            return
        grad = grad.to_dense()
    mom.add_(grad * grad)
    param.sub_(grad * lr / (mom.sqrt() + epsilon))


class Adagrad(Optimizer):
    """Adagrad with Paddle's semantics (``paddle.optimizer.Adagrad``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): required.
        epsilon (float): added to sqrt of the accumulator, finite and >= 0; default 1e-6, rounded
            to float32 in the update (Paddle's kernel takes a float attribute).
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.
        initial_accumulator_value (float): the value ``moment`` starts at, finite and >= 0.
            Default 0.0.

    Group keys: ``epsilon``, ``initial_accumulator_value`` (besides the base class's).

    State per param: ``moment`` (param shape, filled with the group's
    ``initial_accumulator_value`` at the param's first step).

    Sparse gradients (``torch.nn.Embedding(sparse=True)``) update only their rows, as Paddle;
    a regularizer makes them dense (as Paddle: then every row is updated).

    Differences from Paddle: a sparse gradient through ``ClipGradByValue`` is clipped (Paddle
    3.3.1 fails on it); a non-number ``epsilon`` or ``initial_accumulator_value`` raises when the
    optimizer is built (Paddle: ``epsilon`` at the first step). There is no
    ``multi_precision`` (as Paddle). Differences from ``torch.optim.Adagrad``: no default lr;
    ε 1e-6 (torch 1e-10) rounded to float32; no ``lr_decay``; Paddle's names.

    Raises:
        TypeError: ``learning_rate`` missing; a non-number ``epsilon`` or
            ``initial_accumulator_value`` (a string: ValueError, as Paddle's ``float()``).
        ValueError: a negative or non-finite ``epsilon`` or ``initial_accumulator_value``
            (Paddle checks no range: a negative one makes the denominator cross 0, or the sqrt
            of the accumulator NaN), also a param group's.
        AssertionTypeError: ``learning_rate`` or ``epsilon`` None (Paddle's ``AssertionError``,
            also a ``TypeError``).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Adagrad(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['moment']
        >>> opt = oar.Adagrad(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {"lr_decay": "(no equivalent: use an oar.lr scheduler)"}
    _float32_hypers = frozenset({"epsilon"})  # Paddle's float attribute

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        epsilon: float = 1e-06,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        not_set("Adagrad", AssertionError, learning_rate=learning_rate, epsilon=epsilon)
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"epsilon": epsilon, "initial_accumulator_value": initial_accumulator_value},
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        if "epsilon" in group:
            number("epsilon", group["epsilon"], low=0.0, finite=True)
        if "initial_accumulator_value" in group:
            number(
                "initial_accumulator_value",
                group["initial_accumulator_value"],
                low=0.0,
                finite=True,
                str_error=ValueError,
            )

    def _accumulators(self, target: Tensor, group: Mapping[str, Any]) -> dict[str, Tensor]:
        return {"moment": self._filled(target, float(group["initial_accumulator_value"]))}

    def _check_grad(self, param: Tensor, grad: Tensor, regularizer: object) -> None:
        """Sparse gradients are supported (Paddle's SelectedRows kernel)."""

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: None) -> dict[str, Any]:
        return {"epsilon": float(group["epsilon"])}

    _rule = staticmethod(adagrad_update)


_fused.register(
    adagrad_update, _fused.Kernel("adagrad.c", ("moment",), (), lambda hyper: (hyper["lr"], hyper["epsilon"]))
)


def _torch_adagrad(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.Adagrad({label})",
        "torch",
        lambda params, lr, _: torch.optim.Adagrad(params, lr=lr, eps=1e-6, initial_accumulator_value=0.0, **flags),
        note="eps=1e-6 (Paddle's default), lr_decay=0",
    )


register(
    Algorithm(
        name="Adagrad",
        cls=Adagrad,
        rule=adagrad_update,
        traffic=Traffic(1, 1, 1, 2, "Adagrad: reads p,g,mom; writes p,mom (3P+2S)"),
        multi_precision=False,
        required_lr=True,
        demo={"peak_lr": 5e-2, "weight_decay": 1e-4},
        peers=(_torch_adagrad(foreach=False), _torch_adagrad(foreach=True))
        + ((_torch_adagrad(fused=True),) if "fused" in inspect.signature(torch.optim.Adagrad).parameters else ()),
    )
)
