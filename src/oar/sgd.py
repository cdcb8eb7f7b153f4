"""Stochastic gradient descent with ``paddle.optimizer.SGD``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/SGD_en.html)."""

from __future__ import annotations

from typing import Any

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .engine.rule import State
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .regularizer import WeightDecayRegularizer

__all__ = ["SGD", "sgd_update"]


def sgd_update(param: torch.Tensor, grad: torch.Tensor, state: State, *, lr: Any) -> None:
    """One SGD step of ``param`` in place (Paddle's rule): ``p = p - lr g``. No state.

    A sparse COO gradient (``Embedding(sparse=True)``) updates only the rows it holds, one entry
    after the other, duplicates included (``p - lr g1 - lr g2``), as Paddle's SelectedRows kernel.
    """
    if grad.is_sparse:
        param.index_put_(tuple(grad._indices()), grad._values() * lr * -1, accumulate=True)
        return
    param.sub_(grad * lr)


class SGD(Optimizer):
    """SGD with Paddle's semantics (``paddle.optimizer.SGD``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.

    State per param: none (``master_weight`` with multi_precision).

    Sparse gradients are taken: without a regularizer only their rows change; a regularizer
    makes the gradient dense (as Paddle's ``add_n`` does).

    Raises:
        ValueError: ``learning_rate`` is None (Paddle's message).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.SGD(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        []
        >>> opt = oar.SGD(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {
        "momentum": "(Paddle's SGD has no momentum: use oar.Momentum)",
        "nesterov": "(Paddle's SGD has no momentum: use oar.Momentum(use_nesterov=True))",
        "dampening": "(no equivalent)",
    }

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate is not set")
        super().__init__(
            learning_rate, parameters, weight_decay, grad_clip, name, options={}, multi_precision=multi_precision
        )

    def _check_grad(self, param: torch.Tensor, grad: torch.Tensor, regularizer: object) -> None:
        """Sparse gradients are supported (Paddle's SelectedRows kernel)."""

    _rule = staticmethod(sgd_update)


_fused.register(sgd_update, _fused.Kernel("sgd.c", (), (), lambda hyper: (hyper["lr"],)))


def _torch_sgd(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(f"torch.SGD({label})", "torch", lambda params, lr, _: torch.optim.SGD(params, lr=lr, **flags))


register(
    Algorithm(
        name="SGD",
        cls=SGD,
        rule=sgd_update,
        traffic=Traffic(1, 1, 1, 0, "SGD: reads p,g; writes p (3P)"),
        multi_precision=True,
        demo={"peak_lr": 0.5, "weight_decay": 1e-4},
        peers=(_torch_sgd(foreach=False), _torch_sgd(foreach=True), _torch_sgd(fused=True)),
    )
)
