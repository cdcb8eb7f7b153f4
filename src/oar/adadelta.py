"""Adadelta (Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701) with
``paddle.optimizer.Adadelta``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Adadelta_en.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .regularizer import WeightDecayRegularizer
from .validate import number

__all__ = ["Adadelta", "adadelta_update"]


def adadelta_update(
    param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], *, lr: Any, rho: Any, epsilon: Any
) -> None:
    """One Adadelta step of ``param`` in place (Paddle's kernel, op by op)::

        Eg = ρ Eg + (1-ρ) (g g)
        u  = -((sqrt(Ex + ε) / sqrt(Eg + ε)) g)
        p  = p + lr u
        Ex = ρ Ex + (1-ρ) (u u)          (u without lr)

    ``state``: ``_avg_squared_grad`` (Eg) and ``_avg_squared_update`` (Ex), param-shaped.
    Hyper-parameters are Python floats or 0-d tensors (the compiled engine's).
    """
    eg, ex = state["_avg_squared_grad"], state["_avg_squared_update"]
    eg.mul_(rho).add_((grad * grad) * (1 - rho))
    update = -((ex + epsilon).sqrt() / (eg + epsilon).sqrt() * grad)
    param.add_(update * lr)
    ex.mul_(rho).add_((update * update) * (1 - rho))


def _not_none(name: str, value: object) -> None:
    if value is None:
        raise ValueError(f"{name} is not set.")


class Adadelta(Optimizer):
    """Adadelta with Paddle's semantics (``paddle.optimizer.Adadelta``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001 (torch's default is 1.0).
        epsilon (float): added inside both square roots, finite and >= 0. Default 1e-6. Rounded
            to float32 (a C++ ``float`` attribute in Paddle's kernel), also for float64 params.
        rho (float): decay rate of both running averages, in [0, 1). Default 0.95 (torch: 0.9).
            Rounded to float32 like ``epsilon``.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`. A param group may
            set ``epsilon`` and ``rho``.

    State per param: ``_avg_squared_grad`` and ``_avg_squared_update`` (param shape; Paddle's
    accumulator names, leading underscore included).

    Raises:
        ValueError: ``learning_rate``, ``epsilon`` or ``rho`` is None (Paddle's messages,
            "<name> is not set.").
        TypeError: ``epsilon`` or ``rho`` is not a number (Paddle raises TypeError at the first
            step; oar at construction). A bool is refused (Paddle takes True as 1.0).
        ValueError: ``rho`` outside [0, 1), ``epsilon`` negative or infinite, also a param
            group's (Paddle checks no range: the averages then grow without bound, or the square
            roots are of negative numbers).
        RuntimeError: a sparse gradient (Paddle 3.3.1's step fails on one: an OSError about a
            garbage dimension, or a crash).

    Differences from Paddle: none in the update (float64 results agree to rounding; float32
    results within Paddle's own rounding, whose Eigen kernel takes an approximate sqrt). Unlike
    Paddle, ``rho`` must lie in [0, 1) and ``epsilon`` be finite and >= 0. Paddle has no ``multi_precision``
    here (its Python class forces it off), nor does oar. Paddle's CPU and GPU kernels are the
    same code. A param group's options are type-checked (Paddle checks none).

    Differences from ``torch.optim.Adadelta``: the same formula (ε inside both square roots);
    Paddle's defaults (lr 0.001, ρ 0.95), hyper-parameters rounded to float32, coupled L1/L2
    regularization and clipping as in Paddle, no ``maximize``, ``capturable``, ``foreach``.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Adadelta(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['_avg_squared_grad', '_avg_squared_update']
        >>> opt = oar.Adadelta(model.parameters(), learning_rate=0.01)
    """

    _float32_hypers: ClassVar[frozenset[str]] = frozenset({"rho", "epsilon"})  # float attributes
    _torch_kwarg_hints: ClassVar[dict[str, str]] = {
        "foreach": "(no equivalent; oar chooses the engine: engine=...)",
        "fused": "(no equivalent; oar chooses the engine: engine=...)",
    }

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        epsilon: float = 1.0e-6,
        rho: float = 0.95,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        _not_none("learning_rate", learning_rate)
        _not_none("epsilon", epsilon)
        _not_none("rho", rho)
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"epsilon": epsilon, "rho": rho},
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        for key in ("epsilon", "rho"):
            if key in group:
                _not_none(key, group[key])
        if "epsilon" in group:
            number("epsilon", group["epsilon"], low=0.0, finite=True)
        if "rho" in group:
            number("rho", group["rho"], low=0.0, high=1.0)

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return {"_avg_squared_grad": self._zeros(target), "_avg_squared_update": self._zeros(target)}

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> dict[str, Any]:
        return {"rho": float(group["rho"]), "epsilon": float(group["epsilon"])}

    _rule = staticmethod(adadelta_update)


def _fused_hypers(hyper: dict[str, Any]) -> tuple[float, ...]:
    return (hyper["lr"], hyper["rho"], hyper["epsilon"])


_fused.register(
    adadelta_update, _fused.Kernel("adadelta.c", ("_avg_squared_grad", "_avg_squared_update"), (), _fused_hypers)
)


def _torch_adadelta(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.Adadelta({label})",
        "torch",
        lambda params, lr, _: torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-6, **flags),
        note="rho=0.95, eps=1e-6 (Paddle's defaults); torch has no fused Adadelta",
    )


register(
    Algorithm(
        name="Adadelta",
        cls=Adadelta,
        rule=adadelta_update,
        traffic=Traffic(1, 1, 1, 4, "Adadelta: reads p,g,Eg,Ex; writes p,Eg,Ex (3P+4S)"),
        multi_precision=False,
        demo={"peak_lr": 1.0, "rho": 0.9},
        peers=(_torch_adadelta(foreach=False), _torch_adadelta(foreach=True)),
    )
)
