"""Adamax (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization", arXiv:1412.6980,
section 7.1) with ``paddle.optimizer.Adamax``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Adamax_en.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .adam import check_adam_options
from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .precision import as_float
from .regularizer import WeightDecayRegularizer
from .validate import not_set

__all__ = ["Adamax", "adamax_update"]

Tensor = torch.Tensor


def adamax_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Tensor],
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    pow_beta1: Any,
) -> None:
    """One Adamax step of ``param`` in place (Paddle's rule; ε added to β2 u, not to |g|)::

        m = β1 m + (1-β1) g ;  u = max(|g|, β2 u + ε) ;  p = p - (lr / (1-B1)) (m / u)
        B1 = B1 pow_beta1

    ``beta1``, ``beta2``, ``epsilon`` arrive rounded to float32 (Paddle's kernel takes float
    attributes); ``pow_beta1`` is β1 as given (a double for float64 params), with which Paddle's
    ``scale`` op advances the beta pow after the update. ``state``: ``moment``, ``inf_norm``
    (param shape), ``beta1_pow_acc`` ([1], β1^t of this step).
    """
    m, u, b1p = state["moment"], state["inf_norm"], state["beta1_pow_acc"]
    m.mul_(beta1).add_(grad * (1 - beta1))
    torch.maximum(grad.abs(), u.mul_(beta2).add_(epsilon), out=u)
    param.sub_(lr / (1 - b1p) * (m / u))
    b1p.mul_(pow_beta1)


class Adamax(Optimizer):
    """Adamax with Paddle's semantics (``paddle.optimizer.Adamax``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        beta1, beta2 (float | 1-element tensor): decay rates in [0, 1); defaults 0.9, 0.999
            (rounded to float32 in the update, as Paddle's kernel). A tensor is read at every step.
        epsilon (float | 1-element tensor): >= 0, default 1e-8 (rounded to float32), added to
            β2 u inside the max.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.

    State per param: ``moment``, ``inf_norm`` (param shape), ``beta1_pow_acc`` ([1], starts at
    β1 as given, and is multiplied by β1 as given after each update: the double β1 for float64
    params, as Paddle's ``scale`` op, not the float32 β1 of the update).

    Sparse gradients raise a RuntimeError (Paddle 3.3.1's CPU kernel aborts the process on
    them), unless a regularizer applies: it makes them dense, as in Paddle.

    Differences from Paddle: none in the update; there is no ``multi_precision`` (as Paddle: its
    float16/bfloat16 params keep float32 state without master weights; oar keeps float32 state
    too). Differences from ``torch.optim.Adamax``: ε is added to β2 u, not to |g| (the updates
    agree only with ε = 0); the default lr is 0.001 (torch 0.002); Paddle's names (``epsilon``,
    ``beta1``/``beta2``, ``learning_rate``); coupled ``weight_decay`` may be L1Decay.

    Raises:
        ValueError: a beta outside [0, 1) or a negative epsilon (Paddle's messages), an infinite
            epsilon, a tensor holding such a value (Paddle does not check tensors).
        TypeError: a non-number hyper-parameter.
        AssertionTypeError: ``learning_rate``, a beta or ``epsilon`` None (Paddle's
            ``AssertionError``, also a ``TypeError``).
        RuntimeError: at ``step()``, a sparse gradient without a regularizer.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Adamax(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta1_pow_acc', 'inf_norm', 'moment']
        >>> opt = oar.Adamax(model.parameters(), learning_rate=0.01)
    """

    _float32_hypers = frozenset({"beta1", "beta2", "epsilon"})  # Paddle's float attributes

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float | Tensor = 0.9,
        beta2: float | Tensor = 0.999,
        epsilon: float | Tensor = 1e-08,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        not_set("Adamax", AssertionError, learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"beta1": beta1, "beta2": beta2, "epsilon": epsilon},
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        check_adam_options(group)  # beta1, beta2 in [0, 1), epsilon >= 0

    def _accumulators(self, target: Tensor, group: Mapping[str, Any]) -> dict[str, Tensor]:
        return {
            "moment": self._zeros(target),
            "inf_norm": self._zeros(target),
            "beta1_pow_acc": self._scalar_state(target, as_float(group["beta1"])),
        }

    def _check_grad(self, param: Tensor, grad: Tensor, regularizer: object) -> None:
        if grad.is_sparse and regularizer is None:
            raise RuntimeError(
                "Adamax does not support sparse gradients (Paddle 3.3.1's CPU kernel aborts "
                "on them); a regularizer makes them dense"
            )

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: None) -> dict[str, Any]:
        beta1 = as_float(group["beta1"])
        return {
            "beta1": beta1,
            "beta2": as_float(group["beta2"]),
            "epsilon": as_float(group["epsilon"]),
            "pow_beta1": beta1,
        }

    _rule = staticmethod(adamax_update)


def _fused_hypers(hyper: dict[str, Any]) -> tuple[float, ...]:
    return (hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["epsilon"], hyper["pow_beta1"])


_fused.register(adamax_update, _fused.Kernel("adamax.c", ("moment", "inf_norm"), ("beta1_pow_acc",), _fused_hypers))


def _torch_adamax(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.Adamax({label})",
        "torch",
        lambda params, lr, _: torch.optim.Adamax(params, lr=lr, **flags),
        note="torch adds eps to |g|, Paddle to beta2 u",
    )


register(
    Algorithm(
        name="Adamax",
        cls=Adamax,
        rule=adamax_update,
        traffic=Traffic(1, 1, 1, 4, "Adamax: reads p,g,m,u; writes p,m,u (3P+4S)"),
        multi_precision=False,
        demo={"peak_lr": 1e-2, "weight_decay": 1e-4},
        peers=(_torch_adamax(foreach=False), _torch_adamax(foreach=True)),
    )
)
