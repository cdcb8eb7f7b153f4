"""AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization", arXiv:1711.05101)
with ``paddle.optimizer.AdamW``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/AdamW_en.html)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .adam import Adam, adam_hyper, adam_update, check_adam_options
from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .engine.rule import Hyper, State
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .precision import as_float
from .regularizer import WeightDecayRegularizer
from .validate import AssertionTypeError, function, not_set, number

__all__ = ["AdamW", "adamw_update"]

Tensor = torch.Tensor


def adamw_update(
    param: Tensor,
    grad: Tensor,
    state: State,
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    coeff: Any,
    lr_ratio: Any = 1.0,
    with_decay: bool = True,
    amsgrad: bool = False,
    lazy_mode: bool = False,
) -> None:
    """One AdamW step of ``param`` in place (Paddle's rule): the decoupled decay first, then
    Adam (:func:`oar.adam.adam_update`) on the decayed param, both with ``lr lr_ratio``::

        lr' = lr lr_ratio ;  with_decay: p = p - ((lr') coeff) p ;  Adam step with lr'

    ``coeff`` and ``lr_ratio`` arrive rounded to float32 (C++ ``float`` attributes in Paddle).
    ``with_decay`` False (``apply_decay_param_fun`` said no) runs plain Adam, as Paddle's kernel.
    ``state`` is Adam's: ``moment1``, ``moment2``, ``moment2_max`` (amsgrad), ``beta1_pow_acc``,
    ``beta2_pow_acc`` ([1]). ``lazy_mode`` is passed on to Adam (it concerns sparse gradients,
    which :class:`AdamW` refuses).
    """
    lr = lr * lr_ratio
    if with_decay:
        param.sub_(param * (lr * coeff))
    adam_update(
        param, grad, state, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon, amsgrad=amsgrad, lazy_mode=lazy_mode
    )


class AdamW(Optimizer):
    """AdamW with Paddle's semantics (``paddle.optimizer.AdamW``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        beta1, beta2 (float | 1-element tensor): moment decay rates in [0, 1); defaults 0.9, 0.999.
            A tensor is read at every step.
        epsilon (float | 1-element tensor): >= 0, default 1e-8; scaled by sqrt(1-β2^t) as in Adam.
        parameters: see :class:`oar.Optimizer`. Give ``model.named_parameters()`` (or groups with
            ``'param_names'``) when ``apply_decay_param_fun`` is used.
        weight_decay (int | float | 1-element tensor): the *decoupled* decay coefficient
            ``coeff`` (not a regularizer), stored as a float and rounded to float32 in the
            update, as Paddle's kernel. Default 0.01. A group's ``'weight_decay'`` is the
            coefficient of that group.
        use_lowprecision_moment (bool): accepted; oar always keeps float32 moments for
            float16/bfloat16 params (Paddle keeps float16 ones on GPU): a warning says so when
            True. Default False.
        lr_ratio (callable(Tensor) -> float | None): a per-param factor of the learning rate,
            scaling both the decay and the Adam step (Paddle's GPU kernel); called once per param
            and step; the factor is rounded to float32. Paddle's CPU build refuses it
            (NotImplementedError); oar takes it on every device. Default None (1.0).
        apply_decay_param_fun (callable(str) -> bool | None): called with a param's *name* once
            per step; False skips the decay of that param (plain Adam). Names are those of
            ``named_parameters()`` (``'0.weight'``), not Paddle's (``'linear_0.w_0'``).
            Default None: every param is decayed.
        grad_clip, name: see :class:`oar.Optimizer`.
        lazy_mode (bool): a group key, as Paddle's; without effect, since AdamW takes no sparse
            gradients (below). Default False.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.
        amsgrad (bool): keep ``moment2_max`` and use it in the denominator. Default False.

    There is no coupled ``weight_decay``: a param's own ``regularizer`` (``oar.set_param_attr``)
    is still added to its gradient, in list and group mode, on top of the decoupled decay (as
    Paddle, whose AdamW leaves ParamAttr regularizers in place).

    State per param (as :class:`oar.Adam`): ``moment1``, ``moment2``, ``moment2_max`` (amsgrad),
    ``beta1_pow_acc``, ``beta2_pow_acc`` ([1], start at β1, β2), ``master_weight``
    (multi_precision).

    Differences from Paddle: ``lr_ratio`` works on CPU (with the GPU kernel's meaning); errors of
    a group's ``weight_decay`` (None, a regularizer, a string), of ``apply_decay_param_fun`` and
    of the flags are raised when the optimizer is built instead of at the first step; a bool
    ``weight_decay`` is refused (Paddle reads True as 1.0); a tensor ``weight_decay`` may have
    shape [1] (Paddle: 0-d only); tensor betas start the beta pows at the tensor's value (Paddle:
    at 0.9 and 0.999 whatever the tensor holds); sparse gradients raise a RuntimeError (Paddle
    3.3.1's CPU kernel crashes on them). Differences from ``torch.optim.AdamW``: Paddle's names
    and defaults (``epsilon``, ``learning_rate``; ``weight_decay`` 0.01 as torch's), the
    coefficient rounded to float32, ε scaled by sqrt(1-β2^t) (the same update up to rounding),
    ``apply_decay_param_fun`` instead of a group with ``weight_decay`` 0.

    Raises:
        ValueError: a beta outside [0, 1), an epsilon or ``weight_decay`` that is negative or
            infinite (Paddle takes a negative or non-finite ``weight_decay``: the weights then
            grow or turn NaN), or ``apply_decay_param_fun`` given while a param group has no
            names.
        TypeError: ``weight_decay`` not an int, float or tensor; a non-callable
            ``apply_decay_param_fun``; a non-bool flag.
        AssertionTypeError: a non-callable ``lr_ratio`` (Paddle's ``AssertionError``, also a
            ``TypeError``); ``learning_rate``, a beta or ``epsilon`` None.
        RuntimeError: at ``step()``, a sparse gradient.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.AdamW(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta1_pow_acc', 'beta2_pow_acc', 'moment1', 'moment2']
        >>> opt = oar.AdamW(model.parameters(), learning_rate=0.01)
    """

    _float32_hypers = frozenset({"coeff", "lr_ratio"})  # Paddle's float attributes

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float | Tensor = 0.9,
        beta2: float | Tensor = 0.999,
        epsilon: float | Tensor = 1e-08,
        parameters: Params | None = None,
        weight_decay: float | Tensor = 0.01,
        use_lowprecision_moment: bool = False,
        lr_ratio: Callable[[Tensor], float] | None = None,
        apply_decay_param_fun: Callable[[str], bool] | None = None,
        grad_clip: ClipGradBase | None = None,
        lazy_mode: bool = False,
        multi_precision: bool = False,
        amsgrad: bool = False,
        name: str | None = None,
    ) -> None:
        not_set("AdamW", AssertionError, learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        coeff = _coefficient(weight_decay)
        for flag, value in (
            ("lazy_mode", lazy_mode),
            ("amsgrad", amsgrad),
            ("use_lowprecision_moment", use_lowprecision_moment),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {value!r}")
        if lr_ratio is not None:  # param -> float (Paddle asserts callable: AssertionError)
            function("lr_ratio", lr_ratio, error=AssertionTypeError)
        if apply_decay_param_fun is not None:  # name -> bool
            function("apply_decay_param_fun", apply_decay_param_fun)
        if use_lowprecision_moment:
            warnings.warn(
                "oar.AdamW: use_lowprecision_moment=True is ignored: oar keeps float32 moments "
                "for float16/bfloat16 params",
                UserWarning,
                stacklevel=3,
            )
        self._amsgrad = amsgrad
        self._use_lowprecision_moment = use_lowprecision_moment
        self._lr_ratio: Callable[[Tensor], float] | None = lr_ratio
        self._apply_decay_param_fun: Callable[[str], bool] | None = apply_decay_param_fun
        self._names: dict[int, tuple[list[Tensor], list[str], dict[int, str]]] = {}
        super().__init__(
            learning_rate,
            parameters,
            None,
            grad_clip,
            name,
            options={"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "lazy_mode": lazy_mode, "weight_decay": coeff},
            multi_precision=multi_precision,
        )

    # ------------------------------------------------------------------ hooks
    def _validate_group(self, group: Mapping[str, Any]) -> None:
        check_adam_options(group)
        if "lazy_mode" in group and not isinstance(group["lazy_mode"], bool):
            raise TypeError(f"lazy_mode must be a bool, got {group['lazy_mode']!r}")
        if self._apply_decay_param_fun is not None and "params" in group and not group.get("param_names"):
            raise ValueError(
                "apply_decay_param_fun is called with parameter names, and a param group has none: pass "
                "model.named_parameters() (or groups with 'param_names'), or leave apply_decay_param_fun None"
            )

    def _parse_group_weight_decay(self, value: object) -> float:
        """A group's ``weight_decay`` is its decoupled coefficient (a float), not a regularizer."""
        return _coefficient(value, "param group 'weight_decay'")

    def _regularizer_for(
        self, param: Tensor, group: Mapping[str, Any], list_mode: bool
    ) -> WeightDecayRegularizer | None:
        """Only a param's own regularizer (ParamAttr), in list and group mode: AdamW has no
        coupled weight decay of its own (Paddle's ``regularization`` is None)."""
        return getattr(param, "regularizer", None)

    _accumulators = Adam._accumulators

    def _check_grad(self, param: Tensor, grad: Tensor, regularizer: WeightDecayRegularizer | None) -> None:
        if grad.is_sparse:
            raise RuntimeError(
                "AdamW does not support sparse gradients (Paddle 3.3.1's CPU AdamW kernel fails on them); "
                "use oar.Adam (lazy_mode) for sparse embeddings"
            )

    def _hyper_key(self, group: Mapping[str, Any], param: Tensor) -> tuple[bool, float] | None:
        """(decayed, lr_ratio) of ``param``: the user's functions, each called once per step."""
        fn, ratio = self._apply_decay_param_fun, self._lr_ratio
        if fn is None and ratio is None:
            return None
        decay = fn is None or bool(fn(self._name_of(group, param)))
        return decay, 1.0 if ratio is None else float(ratio(param))

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> Hyper:
        # param_key: _hyper_key's value, (decayed, lr_ratio) or None
        decay, ratio = (True, 1.0) if param_key is None else param_key
        return {
            **adam_hyper(group, self._amsgrad),  # beta1, beta2, epsilon, amsgrad, lazy_mode
            "coeff": float(group["weight_decay"]),
            "lr_ratio": ratio,
            "with_decay": decay,
        }

    _rule = staticmethod(adamw_update)

    def _name_of(self, group: Mapping[str, Any], param: Tensor) -> str:
        params, names = group["params"], group["param_names"]
        cached = self._names.get(id(group))
        if cached is None or cached[0] is not params or cached[1] is not names:
            cached = self._names[id(group)] = (params, names, {id(p): n for p, n in zip(params, names, strict=False)})
        return cached[2][id(param)]


def _coefficient(value: object, name: str = "weight_decay") -> float:
    """The decoupled decay coefficient: an int, float or 1-element tensor, finite and >= 0
    (torch.optim.AdamW's range; Paddle takes any), as a float."""
    return as_float(number(name, value, low=0.0, finite=True, tensor=True))


def _fused_hypers(hyper: Hyper) -> tuple[Any, ...] | None:
    if hyper["amsgrad"]:
        return None
    return (
        hyper["lr"],
        hyper["beta1"],
        hyper["beta2"],
        hyper["epsilon"],
        hyper["coeff"],
        hyper["lr_ratio"],
        float(hyper["with_decay"]),
    )


_fused.register(
    adamw_update, _fused.Kernel("adamw.c", ("moment1", "moment2"), ("beta1_pow_acc", "beta2_pow_acc"), _fused_hypers)
)


def _torch_adamw(**options: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in options.items())
    return Peer(
        f"torch.AdamW({label})",
        "torch",
        lambda params, lr, _: torch.optim.AdamW(params, lr=lr, weight_decay=0.01, **options),
        note="weight_decay=0.01 (oar's and Paddle's default)",
    )


register(
    Algorithm(
        name="AdamW",
        cls=AdamW,
        rule=adamw_update,
        traffic=Traffic(1, 1, 1, 4, "AdamW: reads p,g,m,v; writes p,m,v (3P+4S)"),
        multi_precision=True,
        demo={"peak_lr": 5e-3},  # the default decoupled weight_decay, 0.01
        bench={"weight_decay": 0.01},
        peers=(_torch_adamw(foreach=False), _torch_adamw(foreach=True), _torch_adamw(fused=True)),
    )
)
