"""RMSProp (Hinton, Lecture 6e of "Neural Networks for Machine Learning"; centered form from
Graves, 2013, arXiv:1308.0850) with ``paddle.optimizer.RMSProp``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/RMSProp_en.html)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .engine.rule import Hyper, State
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .regularizer import WeightDecayRegularizer
from .validate import not_set, number

__all__ = ["RMSProp", "rmsprop_update"]


def rmsprop_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: State,
    *,
    lr: Any,
    rho: Any,
    epsilon: Any,
    momentum: Any,
    centered: bool = False,
) -> None:
    """One RMSProp step of ``param`` in place (Paddle's rule: ε inside the sqrt, lr folded into
    the momentum buffer)::

        ms  = ρ ms + (1-ρ) g²
        centered: mg = ρ mg + (1-ρ) g ;  denom = sqrt(ms - mg² + ε)   else denom = sqrt(ms + ε)
        mom = μ mom + lr g / denom ;  p = p - mom

    ``state``: ``momentum``, ``mean_square``, ``mean_grad`` (all param shape).

    A sparse COO ``grad`` (``Embedding(sparse=True)``: duplicate rows summed) updates every row,
    the rows it lacks with g = 0, as Paddle's ``SparseRmspropGradFunctor``: the same arithmetic
    as the dense rule on the summed gradient. (Paddle 3.3.1's CPU kernel looks rows up by binary
    search in the merged rows, which ``MergeAdd`` leaves in input order when there are no
    duplicates: with unsorted rows, some present rows then get g = 0. Not copied. With no rows at
    all, where Paddle's kernel dies of a division by zero (SIGFPE), every row gets g = 0.)
    """
    if grad.is_sparse:
        grad = grad.coalesce().to_dense()
    mom, ms = state["momentum"], state["mean_square"]
    ms.mul_(rho).add_(grad * (1 - rho) * grad)  # ((1-ρ) g) g: Paddle's order
    if centered:
        mg = state["mean_grad"]
        mg.mul_(rho).add_(grad * (1 - rho))
        denom = (ms - mg * mg + epsilon).sqrt()
    else:
        denom = (ms + epsilon).sqrt()
    mom.mul_(momentum).add_(lr * grad / denom)
    param.sub_(mom)


class RMSProp(Optimizer):
    """RMSProp with Paddle's semantics (``paddle.optimizer.RMSProp``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): required.
        rho (float): decay of the mean square, in [0, 1) (Paddle: >= 0). Default 0.95.
        epsilon (float): finite, >= 0, added *inside* the sqrt. Default 1e-6.
        momentum (float): finite, >= 0. Default 0.0.
        centered (bool): subtract the squared mean gradient (centered RMSProp). Default False.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.

    State per param: ``momentum``, ``mean_square``, ``mean_grad`` (all three always created).

    Sparse gradients (``torch.nn.Embedding(sparse=True)``) update every row, with g = 0 for the
    rows they lack, as Paddle; a regularizer makes them dense (as Paddle).

    Raises:
        ValueError: a negative rho, epsilon or momentum (Paddle's messages); an infinite one, or
            rho >= 1 (Paddle takes them: the params turn NaN); ``learning_rate``, rho, epsilon or
            momentum None (Paddle's message); also a param group's.
        TypeError: a non-number option, a non-bool ``centered`` (also a group's).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.RMSProp(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['mean_grad', 'mean_square', 'momentum']
        >>> opt = oar.RMSProp(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {"alpha": "rho"}
    _float32_hypers = frozenset({"rho", "epsilon", "momentum"})  # Paddle's float attributes

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        rho: float = 0.95,
        epsilon: float = 1e-06,
        momentum: float = 0.0,
        centered: bool = False,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        not_set("RMSProp", ValueError, learning_rate=learning_rate, rho=rho, epsilon=epsilon, momentum=momentum)
        if not isinstance(centered, bool):
            raise TypeError(f"centered must be a bool, got {centered!r}")
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"rho": rho, "epsilon": epsilon, "momentum": momentum, "centered": centered},
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        # None: Paddle's "<name> is not set." (ValueError), for a group's too
        not_set("RMSProp", ValueError, **{k: group[k] for k in ("rho", "epsilon", "momentum") if k in group})
        for key in ("epsilon", "momentum", "rho"):
            if key not in group:
                continue
            # Paddle: >= 0; oar also: finite, and rho < 1 (else the mean square turns negative)
            number(key, group[key], low=0, high=1 if key == "rho" else None, finite=True)
        if "centered" in group and not isinstance(group["centered"], bool):
            raise TypeError(f"centered must be a bool, got {group['centered']!r}")

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> State:
        return {
            "momentum": self._zeros(target),
            "mean_square": self._zeros(target),
            "mean_grad": self._zeros(target),
        }

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: object) -> Hyper:
        return {
            "rho": float(group["rho"]),
            "epsilon": float(group["epsilon"]),
            "momentum": float(group["momentum"]),
            "centered": group["centered"],
        }

    def _check_grad(self, param: torch.Tensor, grad: torch.Tensor, regularizer: WeightDecayRegularizer | None) -> None:
        """Sparse gradients are accepted, with a regularizer too: Paddle then adds the dense
        decay term to them (``add_n``) and runs the dense kernel."""

    _rule = staticmethod(rmsprop_update)


def _fused_hypers(hyper: Hyper) -> tuple[Any, ...]:
    return (hyper["lr"], hyper["rho"], hyper["epsilon"], hyper["momentum"], float(hyper["centered"]))


_fused.register(rmsprop_update, _fused.Kernel("rmsprop.c", ("momentum", "mean_square", "mean_grad"), (), _fused_hypers))


_TRAFFIC = Traffic(1, 1, 1, 4, "RMSProp (Paddle's, uncentered): reads p,g,ms,mom; writes p,ms,mom (3P+4S)")
_TORCH_NO_MOMENTUM = Traffic(1, 1, 1, 2, "torch RMSprop, momentum=0: reads p,g,sq; writes p,sq (3P+2S)")


def _torch_rmsprop(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.RMSprop({label})",
        "torch",
        lambda params, lr, o: torch.optim.RMSprop(params, lr=lr, alpha=0.95, eps=1e-6, momentum=o["momentum"], **flags),
        traffic=lambda o: _TORCH_NO_MOMENTUM if o["momentum"] == 0 else _TRAFFIC,
        note="torch's eps is outside the sqrt; momentum=0 keeps no buffer",
    )


register(
    Algorithm(
        name="RMSProp",
        cls=RMSProp,
        rule=rmsprop_update,
        traffic=_TRAFFIC,
        multi_precision=False,
        required_lr=True,
        demo={"peak_lr": 5e-3, "weight_decay": 1e-4, "rho": 0.95},
        bench_options={"momentum": 0.0},
        peers=(_torch_rmsprop(foreach=False), _torch_rmsprop(foreach=True))
        + ((_torch_rmsprop(fused=True),) if "fused" in inspect.signature(torch.optim.RMSprop).parameters else ()),
    )
)
