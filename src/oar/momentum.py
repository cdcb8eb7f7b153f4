"""SGD with (Nesterov) momentum (Polyak, 1964; Sutskever et al., 2013, "On the importance of
initialization and momentum in deep learning") with ``paddle.optimizer.Momentum``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Momentum_en.html)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .engine.rule import State
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .regularizer import L2Decay, WeightDecayRegularizer
from .validate import number

__all__ = ["Momentum", "momentum_update"]

_MULTI_TENSOR_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def momentum_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: State,
    *,
    lr: Any,
    momentum: Any,
    use_nesterov: bool = False,
    rescale_grad: Any = None,
    l2_coeff: Any = None,
) -> None:
    """One Momentum step of ``param`` in place (Paddle's rule, its GPU kernel's form)::

        g' = g rescale_grad + c p          (rescale_grad None: 1; l2_coeff None: no c p term)
        v  = mu v + g'
        p  = p - lr v                      Nesterov: p = p - (g' + mu v) lr

    ``l2_coeff`` is the L2 coefficient Paddle fuses into its kernel (see :class:`Momentum`).
    ``state``: ``velocity`` (param shape). A sparse gradient is made dense: Paddle's sparse
    kernel updates every row (rows absent from the gradient with g = 0).
    """
    if grad.is_sparse:
        grad = grad.to_dense()
    v = state["velocity"]
    if rescale_grad is not None:
        grad = grad * rescale_grad
    if l2_coeff is not None:
        grad = grad + param * l2_coeff
    v.mul_(momentum).add_(grad)
    if use_nesterov:
        param.sub_((grad + v * momentum) * lr)
    else:
        param.sub_(v * lr)


class Momentum(Optimizer):
    """Momentum with Paddle's semantics (``paddle.optimizer.Momentum``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        momentum (float): the velocity's decay ``mu``, finite (rounded to float32, as Paddle; no
            range is enforced, as Paddle). Default 0.9.
        parameters, grad_clip, name: see :class:`oar.Optimizer`.
        use_nesterov (bool): Nesterov's update. Default False.
        weight_decay (float | int | L1Decay | L2Decay | None): a float, int or ``L2Decay`` is
            fused into the kernel, ``g' = g + c p`` with ``c`` rounded to float32; ``L1Decay``
            is added to the gradient first, as every optimizer does.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.
        rescale_grad (float): multiplies the gradient, as Paddle's **GPU** kernel does
            (``g' = g rescale_grad + c p``); Paddle's CPU kernel ignores it for dense gradients,
            so a value other than 1.0 warns once. Default 1.0.
        use_multi_tensor (bool): accepted for Paddle compatibility (the engine is chosen by
            oar); as Paddle, it refuses float64 params and sparse gradients. Default False.

    Which decay is fused, per param (Paddle's rules): in list mode a param's own ``L2Decay``
    (``oar.set_param_attr``), else the optimizer's ``weight_decay``; in group mode the group's
    ``weight_decay`` (the optimizer's when the group has none). A fused decay replaces the
    generic regularization of that param, except in group mode where the optimizer's
    ``weight_decay`` is an ``L1Decay``: Paddle then applies both. A group's ``weight_decay: None``
    means no fused decay (only the optimizer's ``L1Decay``, if it has one).

    State per param: ``velocity`` (and ``master_weight`` with multi_precision).

    Raises:
        ValueError: ``learning_rate`` or ``momentum`` is None (Paddle's messages); with
            ``use_multi_tensor``, at the step, a float64 param or a sparse gradient.
        TypeError: a non-number momentum or rescale_grad, a non-bool flag (also a group's).
        ValueError: a NaN or infinite ``momentum``; a negative or non-finite ``rescale_grad``
            (Paddle takes them; the params turn NaN, or climb the loss); also a group's.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Momentum(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['velocity']
        >>> opt = oar.Momentum(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {
        "nesterov": "use_nesterov",
        "dampening": "(no equivalent: Paddle's Momentum has no dampening)",
    }
    # Paddle's float attributes: mu, rescale_grad and the fused L2 coefficient
    _float32_hypers = frozenset({"momentum", "rescale_grad", "l2_coeff"})

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        momentum: float = 0.9,
        parameters: Params | None = None,
        use_nesterov: bool = False,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        multi_precision: bool = False,
        rescale_grad: float = 1.0,
        use_multi_tensor: bool = False,
        name: str | None = None,
    ) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate is not set")
        if momentum is None:
            raise ValueError("momentum is not set")
        if not isinstance(use_multi_tensor, bool):
            raise TypeError(f"use_multi_tensor must be a bool, got {use_multi_tensor!r}")
        self._use_multi_tensor = use_multi_tensor
        self._warned_rescale = self._constructed = False
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"momentum": momentum, "use_nesterov": use_nesterov, "rescale_grad": rescale_grad},
            multi_precision=multi_precision,
        )
        self._constructed = True
        self._warn_rescale(stacklevel=4)  # this, __init__, the torch-convention wrapper, the caller

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        if "momentum" in group:  # any finite value (Paddle checks no range; NaN/inf: NaN params)
            if group["momentum"] is None:
                raise ValueError("momentum is not set")  # Paddle's, for a group's too
            number("momentum", group["momentum"], finite=True)
        if "use_nesterov" in group and not isinstance(group["use_nesterov"], bool):
            raise TypeError(f"use_nesterov must be a bool, got {group['use_nesterov']!r}")
        if "rescale_grad" in group:  # a gradient scale: finite, >= 0 (negative: ascent)
            number("rescale_grad", group["rescale_grad"], low=0.0, finite=True)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if self._constructed:
            self._warn_rescale(stacklevel=3)

    def _warn_rescale(self, stacklevel: int) -> None:
        """Warn (once per optimizer) that a rescale_grad other than 1.0 is applied, which
        Paddle's CPU kernel does not do."""
        if self._warned_rescale:
            return
        for group in self.param_groups:
            if float(group["rescale_grad"]) != 1.0:
                self._warned_rescale = True
                warnings.warn(
                    f"Momentum: rescale_grad={group['rescale_grad']!r} multiplies the gradient as "
                    "Paddle's GPU kernel does; Paddle's CPU kernel ignores rescale_grad for dense "
                    "gradients, so these results differ from Paddle on CPU",
                    UserWarning,
                    stacklevel=stacklevel,
                )
                return

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> State:
        return {"velocity": self._zeros(target)}

    def _check_grad(self, param: torch.Tensor, grad: torch.Tensor, regularizer: object) -> None:
        if self._use_multi_tensor and (param.dtype not in _MULTI_TENSOR_DTYPES or grad.is_sparse):
            raise ValueError(
                "Now multi_tensor_momentum only support fp32, fp16 or bf16 parameters and grad is DENSE_TENSOR."
            )

    # ------------------------------------------------------------ the fused L2 decay
    def _decays(
        self, param: torch.Tensor, group: Mapping[str, Any], list_mode: bool
    ) -> tuple[WeightDecayRegularizer | None, float | None]:
        """``(generic regularizer, fused L2 coefficient)`` of ``param`` in ``group`` (either
        None), as Paddle's Momentum splits them."""
        if list_mode:
            own = getattr(param, "regularizer", None)
            if own is not None:
                return (None, own.coeff) if isinstance(own, L2Decay) else (own, None)
        decay: WeightDecayRegularizer | None = group["weight_decay"]
        fused: float | None = None
        if isinstance(decay, L2Decay):
            fused = decay.coeff  # fused into the kernel, not a generic regularizer
            decay = None
        if decay is None:
            # Paddle keeps the optimizer's weight_decay as the generic one unless it is fused
            base = self.defaults["weight_decay"]
            decay = None if isinstance(base, L2Decay) else base
        return decay, fused

    def _regularizer_for(
        self, param: torch.Tensor, group: Mapping[str, Any], list_mode: bool
    ) -> WeightDecayRegularizer | None:
        """The generic regularization (a fused L2 decay is skipped here)."""
        return self._decays(param, group, list_mode)[0]

    def _hyper_key(self, group: Mapping[str, Any], param: torch.Tensor) -> float | None:
        """The fused L2 coefficient of ``param`` (None: no fused decay)."""
        list_mode = self._list_mode and group is self.param_groups[0]
        return self._decays(param, group, list_mode)[1]

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: float | None) -> dict[str, Any]:
        rescale = float(group["rescale_grad"])
        return {
            "momentum": float(group["momentum"]),
            "use_nesterov": group["use_nesterov"],
            "rescale_grad": None if rescale == 1.0 else rescale,
            "l2_coeff": param_key,
        }

    _rule = staticmethod(momentum_update)


def _fused_hypers(hyper: dict[str, Any]) -> tuple[float, ...]:
    rescale, coeff = hyper["rescale_grad"], hyper["l2_coeff"]
    return (
        hyper["lr"],
        hyper["momentum"],
        1.0 if rescale is None else rescale,
        0.0 if coeff is None else coeff,
        float(hyper["use_nesterov"]),
        float(coeff is not None),
    )


_fused.register(momentum_update, _fused.Kernel("momentum.c", ("velocity",), (), _fused_hypers))


def _torch_momentum(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.SGD(momentum=0.9, {label})",
        "torch",
        lambda params, lr, o: torch.optim.SGD(
            params, lr=lr, momentum=0.9, dampening=0, nesterov=o["use_nesterov"], **flags
        ),
        note="dampening 0, nesterov as --momentum-use-nesterov",
    )


register(
    Algorithm(
        name="Momentum",
        cls=Momentum,
        rule=momentum_update,
        traffic=Traffic(1, 1, 1, 2, "Momentum: reads p,g,v; writes p,v (3P+2S)"),
        multi_precision=True,
        demo={"peak_lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4},
        bench={"momentum": 0.9},
        bench_options={"use_nesterov": False},
        peers=(_torch_momentum(foreach=False), _torch_momentum(foreach=True), _torch_momentum(fused=True)),
    )
)
