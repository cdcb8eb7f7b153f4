"""NAdam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam", ICLR workshop; the momentum
schedule of torch.optim.NAdam) with ``paddle.optimizer.NAdam``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/NAdam_en.html)."""

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

__all__ = ["NAdam", "nadam_update"]


def nadam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, torch.Tensor],
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    momentum_decay: Any,
) -> None:
    """One NAdam step of ``param`` in place (Paddle's kernel, op by op; ψ = momentum_decay)::

        D = 0.96 D ;  B2 = β2 B2                          (updated first: D = 0.96^t, B2 = β2^t)
        μt = β1 (1 - 0.5 D^ψ) ;  μt1 = β1 (1 - (0.5 D^ψ) 0.96^ψ)
        Π = Π μt ;  Π1 = Π μt1
        m = β1 m + (1-β1) g ;  v = β2 v + ((1-β2) g) g
        p = p - (lr (μt1 m / (1-Π1) + (1-μt) g / (1-Π))) / (sqrt(v / (1-B2)) + ε)

    ``state``: ``momentum_decay_pow`` (D), ``beta2_pow`` (B2), ``mu_product`` (Π), all of shape
    [1] and starting at 1; ``moment1``, ``moment2`` (param shape). The scalar constants are
    computed in the state's dtype from [1]-shaped tensors (0.96^ψ included), as Paddle's kernel
    computes them in its type.
    """
    d, b2p, mu = state["momentum_decay_pow"], state["beta2_pow"], state["mu_product"]
    m, v = state["moment1"], state["moment2"]
    d.mul_(0.96)
    b2p.mul_(beta2)
    d_psi = d.pow(momentum_decay)
    mu_t = beta1 * (1 - 0.5 * d_psi)
    mu_t1 = beta1 * (1 - 0.5 * d_psi * torch.full_like(d, 0.96).pow(momentum_decay))
    mu.mul_(mu_t)
    mu1 = mu * mu_t1
    m.mul_(beta1).add_(grad * (1 - beta1))
    v.mul_(beta2).add_(grad * (1 - beta2) * grad)  # ((1-β2) g) g: Paddle's order
    m_hat = mu_t1 * m / (1 - mu1) + (1 - mu_t) * grad / (1 - mu)
    v_hat = v / (1 - b2p)
    # reshape: a 0-d param's update is [1]-shaped (broadcast with the [1] state)
    param.sub_((lr * m_hat / (v_hat.sqrt() + epsilon)).reshape(param.shape))


# ---------------------------------------------------------------- validation shared with RAdam
def check_learning_rate(learning_rate: object) -> None:
    """Paddle's NAdam/RAdam check of a number ``learning_rate`` (its type is the base class's).

    Raises:
        ValueError: a negative or NaN number.
    """
    if isinstance(learning_rate, (float, int)) and not 0.0 <= learning_rate:
        raise ValueError(f"Invalid learning rate: {learning_rate}, expect learning_rate >= 0.")


def check_adam_like_group(group: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
    """Paddle's NAdam/RAdam checks, in Paddle's order, of the options present in ``group``:
    ``epsilon >= 0``, ``0 <= beta1, beta2 < 1`` and each of ``extra`` ``>= 0``.

    Raises:
        TypeError: not a number (None, a string, a bool, a tensor; Paddle fails at its first
            step with a tensor beta, and on a bool or None with another message).
        ValueError: out of range (Paddle's messages), NaN included; infinite (oar only).
    """
    for key in ("epsilon", "beta1", "beta2", *extra):
        if key not in group:
            continue
        value = group[key]
        x = number(key, value)
        if key in ("beta1", "beta2"):
            if not 0.0 <= x < 1.0:
                raise ValueError(f"Invalid {key}: {value}, expect 0. <= {key} < 1.0.")
        elif not 0.0 <= x:
            raise ValueError(f"Invalid {key} value: {value}, expect {key} >= 0.")
        elif x == float("inf"):  # Paddle takes it (the update is then 0, or NaN)
            raise ValueError(f"Invalid {key} value: {value}, expect a finite {key} >= 0.")


#: torch.optim keywords of NAdam and RAdam refused with a hint.
TORCH_HINTS: dict[str, str] = {
    "decoupled_weight_decay": "(no equivalent: weight_decay is Paddle's coupled L2Decay/L1Decay)",
    "foreach": "(no equivalent; oar chooses the engine: engine=...)",
    "fused": "(no equivalent; oar chooses the engine: engine=...)",
}


class PowsAdam(Optimizer):
    """What NAdam and RAdam share: Paddle's checks (``check_learning_rate``,
    ``check_adam_like_group``), their state (the one-element accumulators ``_pows``, shape [1],
    starting at 1, then ``moment1``, ``moment2``), and the rule's hyper-parameters ``_options``
    (all C++ ``float`` attributes of Paddle's kernels). Subclasses give Paddle's signature and
    call :meth:`_start`."""

    _pows: ClassVar[tuple[str, ...]] = ()
    _options: ClassVar[tuple[str, ...]] = ()
    _torch_kwarg_hints: ClassVar[dict[str, str]] = TORCH_HINTS

    def _start(
        self,
        learning_rate: float | LRScheduler,
        options: dict[str, Any],
        parameters: Params | None,
        weight_decay: float | WeightDecayRegularizer | None,
        grad_clip: ClipGradBase | None,
        name: str | None,
    ) -> None:
        check_learning_rate(learning_rate)
        self._validate_group(options)  # before the base class's checks, as Paddle orders them
        Optimizer.__init__(self, learning_rate, parameters, weight_decay, grad_clip, name, options=options)

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        check_adam_like_group(group, tuple(k for k in self._options if k not in ("beta1", "beta2", "epsilon")))

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        state = {key: self._scalar_state(target, 1.0) for key in self._pows}
        state["moment1"] = self._zeros(target)
        state["moment2"] = self._zeros(target)
        return state

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> dict[str, Any]:
        return {key: float(group[key]) for key in self._options}

    @classmethod
    def fused_kernel(cls, source: str) -> _fused.Kernel:
        """The fused form of the rule: ``source`` takes the moments, the pows and (lr, *options)."""
        options = cls._options
        return _fused.Kernel(
            source, ("moment1", "moment2"), cls._pows, lambda hyper: (hyper["lr"], *(hyper[key] for key in options))
        )


def torch_peer(name: str, **flags: Any) -> Peer:
    """``torch.optim.<name>`` with ``flags`` (and the bench's lr), as a bench peer."""
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.{name}({label})",
        "torch",
        lambda params, lr, _: getattr(torch.optim, name)(params, lr=lr, **flags),
        note=f"torch has no fused {name}",
    )


class NAdam(PowsAdam):
    """NAdam with Paddle's semantics (``paddle.optimizer.NAdam``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): >= 0, default 0.002.
        beta1, beta2 (float): in [0, 1); defaults 0.9, 0.999.
        epsilon (float): >= 0, default 1e-8, added to sqrt of the bias-corrected second moment.
        momentum_decay (float): ψ >= 0, default 0.004.
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`. A param group
            may set ``beta1``, ``beta2``, ``epsilon`` and ``momentum_decay``.
        beta1, beta2, epsilon and momentum_decay are rounded to float32 (C++ ``float``
        attributes of Paddle's kernel), also for float64 params.

    State per param: ``momentum_decay_pow``, ``beta2_pow``, ``mu_product`` (shape [1], start at
    1), ``moment1``, ``moment2`` (param shape).

    Raises:
        ValueError: a negative or NaN number ``learning_rate``; an option out of range
            (Paddle's messages), also a param group's; an infinite ``learning_rate``, epsilon
            (or momentum_decay), which Paddle takes.
        TypeError: a non-number option, bools and tensors included.
        RuntimeError: a sparse gradient (Paddle 3.3.1's step fails on one: an OSError about a
            garbage dimension, or a crash).

    Differences from Paddle:

    * ``momentum_decay_pow``, ``beta2_pow`` and ``mu_product`` have shape [1]; Paddle stores
      them param-shaped, every element equal (the same values, 3 param-sized reads and writes
      fewer per step). A Paddle state dict's param-shaped entries are therefore not loadable
      as they are (take element [0]).
    * Tensor betas are refused at construction (Paddle accepts them, then fails at its first
      step with a SystemError). Param groups' options are validated (Paddle does not).
    * No ``multi_precision``: Paddle's Python class forces it off.
    * Otherwise none: float64 results agree with Paddle's to rounding, float32 results within
      Paddle's own rounding (its Eigen kernel takes an approximate sqrt). Paddle's CPU and GPU
      kernels compute the same expression in the same order.

    Differences from ``torch.optim.NAdam``: the same formula and defaults, computed in another
    order (torch: μt from 0.96^(tψ), Paddle (0.96^t)^ψ; ~1e-16 apart in float64);
    hyper-parameters rounded to float32; ``mu_product`` kept in the param's dtype (torch: the
    default dtype, float32 unless changed); coupled L1/L2 regularization only (no
    ``decoupled_weight_decay``); clipping inside the optimizer; no ``maximize``,
    ``capturable``, ``foreach``.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.NAdam(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta2_pow', 'moment1', 'moment2', 'momentum_decay_pow', 'mu_product']
        >>> opt = oar.NAdam(model.parameters(), learning_rate=0.01)
    """

    _pows = ("momentum_decay_pow", "beta2_pow", "mu_product")
    _options = ("beta1", "beta2", "epsilon", "momentum_decay")
    _float32_hypers = frozenset(_options)

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1.0e-8,
        momentum_decay: float = 0.004,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        self._start(
            learning_rate,
            {"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "momentum_decay": momentum_decay},
            parameters,
            weight_decay,
            grad_clip,
            name,
        )

    _rule = staticmethod(nadam_update)


_fused.register(nadam_update, NAdam.fused_kernel("nadam.c"))

register(
    Algorithm(
        name="NAdam",
        cls=NAdam,
        rule=nadam_update,
        traffic=Traffic(1, 1, 1, 4, "NAdam: reads p,g,m,v; writes p,m,v (3P+4S; the pows are [1])"),
        multi_precision=False,
        demo={"peak_lr": 5e-3, "weight_decay": 1e-4},
        peers=(torch_peer("NAdam", foreach=False), torch_peer("NAdam", foreach=True)),
    )
)
