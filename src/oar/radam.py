"""RAdam (Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
arXiv:1908.03265) with ``paddle.optimizer.RAdam``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/RAdam_en.html)."""

from __future__ import annotations

from typing import Any

import torch

from .algorithms import Algorithm, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .nadam import PowsAdam, torch_peer
from .params import Params
from .regularizer import WeightDecayRegularizer

__all__ = ["RAdam", "radam_update"]


def radam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, torch.Tensor],
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
) -> None:
    """One RAdam step of ``param`` in place (Paddle's kernel, op by op)::

        B1 = β1 B1 ;  B2 = β2 B2 ;  R = (R (β2 - B2) + B2) / (1 - B2)     (R = t β2^t / (1-β2^t))
        m = β1 m + (1-β1) g ;  v = β2 v + ((1-β2) g) g ;  m̂ = m / (1-B1)
        ρ∞ = 2/(1-β2) - 1 ;  ρt = ρ∞ - 2 R
        ρt > 5:  p = p - ((lr m̂) r) l,   r = sqrt((ρt-4)(ρt-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρt)),
                                         l = sqrt(1-B2) / (sqrt(v) + ε)
        else:    p = p - lr m̂

    ``state``: ``beta1_pow`` (B1), ``beta2_pow`` (B2), ``rho`` (R), all of shape [1] and starting
    at 1; ``moment1``, ``moment2`` (param shape). The test ρt > 5 is a tensor (no host sync):
    both updates are computed and ``torch.where`` picks one (the fused kernel decides once per
    tensor). Scalar constants (ρ∞ included) are computed in the state's dtype, as Paddle's kernel
    computes them in its type.
    """
    b1p, b2p, rho = state["beta1_pow"], state["beta2_pow"], state["rho"]
    m, v = state["moment1"], state["moment2"]
    b1p.mul_(beta1)
    b2p.mul_(beta2)
    rho.mul_(beta2 - b2p).add_(b2p).div_(1 - b2p)
    m.mul_(beta1).add_(grad * (1 - beta1))
    v.mul_(beta2).add_(grad * (1 - beta2) * grad)  # ((1-β2) g) g: Paddle's order
    m_hat = m / (1 - b1p)
    # ρ∞ in the state's dtype: 2 / (1 - β2) - 1 (a Python ``2 / x`` would be reciprocal(x) * 2)
    rho_inf = torch.full_like(rho, 2.0) / (1 - torch.ones_like(rho) * beta2) - 1
    rho_t = rho_inf - 2 * rho
    r_t = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)).sqrt()
    l_t = (1 - b2p).sqrt() / (v.sqrt() + epsilon)
    plain = lr * m_hat
    # reshape: a 0-d param's update is [1]-shaped (broadcast with the [1] state)
    param.sub_(torch.where(rho_t > 5, plain * r_t * l_t, plain).reshape(param.shape))


class RAdam(PowsAdam):
    """RAdam with Paddle's semantics (``paddle.optimizer.RAdam``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): >= 0, default 0.001.
        beta1, beta2 (float): in [0, 1); defaults 0.9, 0.999.
        epsilon (float): >= 0, default 1e-8, added to sqrt(v) (not bias-corrected).
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`. A param group
            may set ``beta1``, ``beta2`` and ``epsilon``.
        beta1, beta2 and epsilon are rounded to float32 (C++ ``float`` attributes of Paddle's
        kernel), also for float64 params.

    State per param: ``beta1_pow``, ``beta2_pow``, ``rho`` (shape [1], start at 1), ``moment1``,
    ``moment2`` (param shape).

    Raises:
        ValueError: a negative or NaN number ``learning_rate``; an option out of range
            (Paddle's messages), also a param group's; an infinite ``learning_rate``, epsilon
            (or momentum_decay), which Paddle takes.
        TypeError: a non-number option, bools and tensors included.
        RuntimeError: a sparse gradient (Paddle 3.3.1's step fails on one: an OSError about a
            garbage dimension, or a crash).

    Differences from Paddle:

    * ``beta1_pow``, ``beta2_pow`` and ``rho`` have shape [1]; Paddle stores them param-shaped
      and uses only element [0] of ``rho`` (all elements are equal). A Paddle state dict's
      param-shaped entries are therefore not loadable as they are (take element [0]).
    * Tensor betas are refused at construction (Paddle accepts them, then fails at its first
      step with a SystemError). Param groups' options are validated (Paddle does not).
    * No ``multi_precision``: Paddle's Python class forces it off.
    * Otherwise none: float64 and float32 results agree with Paddle's to rounding. Paddle's CPU
      and GPU kernels compute the same expression in the same order (the GPU kernel decides
      ρt > 5 per element, on equal elements).

    Differences from ``torch.optim.RAdam``: the same formula and defaults (rectification when
    ρt > 5), with hyper-parameters rounded to float32, the pows and ρt's running term kept in the
    param's dtype (torch recomputes them from the step count in Python floats), coupled L1/L2
    regularization only (no ``decoupled_weight_decay``), clipping inside the optimizer; no
    ``maximize``, ``capturable``, ``foreach``.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.RAdam(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta1_pow', 'beta2_pow', 'moment1', 'moment2', 'rho']
        >>> opt = oar.RAdam(model.parameters(), learning_rate=0.01)
    """

    _pows = ("beta1_pow", "beta2_pow", "rho")
    _options = ("beta1", "beta2", "epsilon")
    _float32_hypers = frozenset(_options)

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1.0e-8,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        self._start(
            learning_rate,
            {"beta1": beta1, "beta2": beta2, "epsilon": epsilon},
            parameters,
            weight_decay,
            grad_clip,
            name,
        )

    _rule = staticmethod(radam_update)


_fused.register(radam_update, RAdam.fused_kernel("radam.c"))

register(
    Algorithm(
        name="RAdam",
        cls=RAdam,
        rule=radam_update,
        traffic=Traffic(1, 1, 1, 4, "RAdam: reads p,g,m,v; writes p,m,v (3P+4S; the pows are [1])"),
        multi_precision=False,
        demo={"peak_lr": 2e-2, "weight_decay": 1e-4},
        peers=(torch_peer("RAdam", foreach=False), torch_peer("RAdam", foreach=True)),
    )
)
