"""ASGD as Paddle defines it: SAG-style averaging of the last ``batch_num`` gradients (Schmidt,
Le Roux & Bach, 2013, "Minimizing Finite Sums with the Stochastic Average Gradient",
arXiv:1309.2388), with ``paddle.optimizer.ASGD``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/ASGD_en.html).
This is not ``torch.optim.ASGD`` (averaged SGD, Polyak & Juditsky)."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from .algorithms import Algorithm, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .precision import state_dtype
from .regularizer import WeightDecayRegularizer
from .validate import count, show

__all__ = ["ASGD", "asgd_update"]


def asgd_update(
    param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], *, lr: Any, batch_num: int
) -> None:
    """One ASGD step of ``param`` in place (Paddle's rule)::

        i = m mod n ;  m = m + 1 ;  d = d - y[i] + g ;  y[i] = g ;  p = p - (lr / min(m, n)) d

    ``state``: ``d`` (param shape), ``y`` (``[batch_num, *param.shape]``: the last ``batch_num``
    grads), ``m`` (int64 ``[1]``: the number of steps taken). ``batch_num`` (n) is an int.
    """
    d, ys, m = state["d"], state["y"], state["m"]
    row = torch.remainder(m, batch_num)
    m.add_(1)
    count = torch.clamp(m, max=batch_num).to(d.dtype)
    d.sub_(ys.index_select(0, row)[0]).add_(grad)
    ys.index_copy_(0, row, grad.unsqueeze(0).to(ys.dtype))
    # lr / count as one division (a Python float over a tensor is lr * (1 / count) in torch)
    param.sub_((torch.ones_like(count) * lr / count) * d)


def _rows(target: torch.Tensor, count: int, dtype: torch.dtype) -> torch.Tensor:
    """``count`` zero rows shaped like ``target``: ``[count, *target.shape]``. For a sharded
    param (FSDP2's DTensor) a DTensor of the same mesh, each ``Shard(d)`` moved to ``Shard(d + 1)``,
    so that every rank keeps the rows of its own shard."""
    to_local = getattr(target, "to_local", None)
    if to_local is None:
        return torch.zeros((count, *target.shape), dtype=dtype, device=target.device)
    from torch.distributed.tensor import DTensor, Shard

    local = to_local()
    placements = [Shard(p.dim + 1) if isinstance(p, Shard) else p for p in target.placements]  # type: ignore[attr-defined]
    rows = torch.zeros((count, *local.shape), dtype=dtype, device=local.device)
    shape = (count, *target.shape)
    stride = tuple(math.prod(shape[i + 1 :]) for i in range(len(shape)))  # contiguous, as the whole tensor
    mesh = target.device_mesh  # type: ignore[attr-defined]
    return DTensor.from_local(rows, mesh, placements, run_check=False, shape=torch.Size(shape), stride=stride)


class ASGD(Optimizer):
    """ASGD with Paddle's semantics (``paddle.optimizer.ASGD``, Paddle 3.3.1): the update uses
    the average of the last ``batch_num`` gradients seen (one per step), as the stochastic
    average gradient (SAG) does when each step sees one of ``batch_num`` batches in turn.

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        batch_num (int): n, the number of gradients averaged (batches per epoch), > 0. Default 1
            (then ASGD is SGD). The state ``y`` holds n param-sized tensors.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.

    State per param: ``d`` (the sum of the stored grads), ``y`` (``[batch_num, *shape]``, the
    stored grads), ``m`` (int64 ``[1]``, steps taken), ``master_weight`` (multi_precision).

    ``batch_num`` is an optimizer-wide setting, as in Paddle: a param group's ``'batch_num'`` is
    ignored (Paddle silently; oar warns once).

    Measured: bit-identical to Paddle in float32 and float64 (20 steps, every engine).
    Differences from Paddle: a non-int ``batch_num`` raises at construction; bfloat16 params
    (no Paddle CPU kernel) are updated through a float32 master weight with ``multi_precision``,
    as Paddle's GPU kernel does. Fused kernel: ``kernels/asgd.c`` (``y`` passed by its base
    address, the int64 ``m`` as a counter).
    Differences from ``torch.optim.ASGD``: a different algorithm (torch's averages the *iterates*
    with ``lambd``, ``alpha``, ``t0``); there is no torch counterpart.

    Raises:
        ValueError: ``learning_rate`` or ``batch_num`` None, or ``batch_num <= 0`` (Paddle's
            messages).
        TypeError: a ``batch_num`` that is not an int (Paddle accepts it and fails at the first
            step).
        RuntimeError: a sparse gradient (Paddle's process aborts on one).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.ASGD(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['d', 'm', 'y']
        >>> opt = oar.ASGD(model.parameters(), learning_rate=0.01)
    """

    # Paddle's kernel reads lr from a tensor of the param's dtype; it has no float attributes
    _float32_hypers = frozenset()

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        batch_num: int = 1,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate should not be none")
        if batch_num is None:
            raise ValueError("batch_num should not be none")
        if isinstance(batch_num, numbers.Real) and not isinstance(batch_num, bool) and not 0 < batch_num:
            # Paddle's check comes first (ValueError for 0, -0.5 or NaN alike)
            raise ValueError(f"batch_num should be greater than 0, got {show(batch_num)}")
        self._batch_num = count("batch_num", batch_num)  # an int (TypeError), at most 2**63-1
        super().__init__(
            learning_rate, parameters, weight_decay, grad_clip, name, options={}, multi_precision=multi_precision
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        if "batch_num" in group and not getattr(self, "_warned_batch_num", False):
            self._warned_batch_num = True
            warnings.warn(
                "ASGD ignores the param-group key 'batch_num' (as Paddle): the "
                "constructor's batch_num applies to every group",
                UserWarning,
                stacklevel=3,
            )

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        dtype = state_dtype(target)
        return {
            "d": self._zeros(target),
            "y": _rows(target, self._batch_num, dtype),
            "m": torch.zeros(1, dtype=torch.int64, device=target.device),
        }

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> dict[str, Any]:
        return {"batch_num": self._batch_num}

    _rule = staticmethod(asgd_update)


_fused.register(
    asgd_update,
    _fused.Kernel("asgd.c", ("d",), (), lambda h: (h["lr"], float(h["batch_num"])), rows=("y",), counters=("m",)),
)


register(
    Algorithm(
        name="ASGD",
        cls=ASGD,
        rule=asgd_update,
        traffic=Traffic(1, 1, 1, 4, "ASGD: reads p,g,d,y[i]; writes p,d,y[i] (3P+4S)"),
        multi_precision=True,
        demo={"peak_lr": 0.3, "batch_num": 8},
        bench={"batch_num": 4},
    )
)
