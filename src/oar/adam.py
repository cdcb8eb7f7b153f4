"""Adam (Kingma & Ba, 2015, arXiv:1412.6980) with ``paddle.optimizer.Adam``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Adam_en.html)."""

from __future__ import annotations

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
from .precision import as_float
from .regularizer import WeightDecayRegularizer
from .validate import not_set, number

__all__ = ["Adam", "adam_update"]


def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: State,
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    amsgrad: bool = False,
    lazy_mode: bool = False,
) -> None:
    """One Adam step of ``param`` in place (Paddle's rule; ε scaled by sqrt(1-β2^t)).

    Hyper-parameters may be Python floats or 0-d tensors (the compiled engine passes tensors so
    that a changing lr never recompiles); flags are Python bools.

    ``state`` holds ``moment1``, ``moment2`` (param shape), ``moment2_max`` (amsgrad), and
    ``beta1_pow_acc``, ``beta2_pow_acc`` (shape [1], β^t of this step; advanced after it)::

        m = β1 m + (1-β1) g ;  v = β2 v + (1-β2) g² ;  amsgrad: v = vmax = max(vmax, v)
        α = lr sqrt(1-B2)/(1-B1) ;  ε' = ε sqrt(1-B2) ;  p = p - (m / (sqrt(v) + ε')) α
    """
    if grad.is_sparse:
        return _adam_sparse(
            param, grad, state, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon, amsgrad=amsgrad, lazy_mode=lazy_mode
        )
    m, v = state["moment1"], state["moment2"]
    b1p, b2p = state["beta1_pow_acc"], state["beta2_pow_acc"]
    m.mul_(beta1).add_(grad * (1 - beta1))
    v.mul_(beta2).add_(grad * (1 - beta2) * grad)  # ((1-β2) g) g: Paddle's order
    if amsgrad:
        v = torch.maximum(state["moment2_max"], v, out=state["moment2_max"])
    bc2 = (1 - b2p).sqrt()
    alpha = lr * bc2 / (1 - b1p)
    # view_as: the [1]-shaped pows broadcast a 0-d param's update to [1]
    param.sub_((m / (v.sqrt() + epsilon * bc2) * alpha).view_as(param))
    b1p.mul_(beta1)
    b2p.mul_(beta2)


def _adam_sparse(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: State,
    *,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    amsgrad: bool,
    lazy_mode: bool,
) -> None:
    """Adam for a sparse COO gradient whose sparse dim is the first (``Embedding(sparse=True)``).

    Duplicate rows are summed. ``lazy_mode``: only rows present in the gradient change. Otherwise
    every row is updated; absent rows see g = 0 and, as in Paddle's kernel, an unscaled ε.
    The bias correction uses this step's β^t (Paddle's CPU kernel uses β^(t+1): a bug not copied).
    """
    grad = grad.coalesce()
    rows = grad.indices()[0]
    values = grad.values()
    m, v = state["moment1"], state["moment2"]
    b1p, b2p = state["beta1_pow_acc"], state["beta2_pow_acc"]
    bc2 = (1 - b2p).sqrt()
    alpha = lr * bc2 / (1 - b1p)
    if not lazy_mode:
        present = torch.zeros(param.shape[0], dtype=torch.bool, device=param.device)
        present[rows] = True
        absent = ~present
        m[absent] *= beta1
        v[absent] *= beta2
        v_abs = v[absent]
        if amsgrad:
            vmax = state["moment2_max"]
            vmax[absent] = torch.maximum(vmax[absent], v_abs)
            v_abs = vmax[absent]
        param[absent] -= m[absent].div(v_abs.sqrt().add_(epsilon)).mul_(alpha)
    m_rows = m[rows].mul_(beta1).add_(values, alpha=1 - beta1)
    v_rows = v[rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
    m[rows] = m_rows
    v[rows] = v_rows
    if amsgrad:
        vmax = state["moment2_max"]
        v_rows = torch.maximum(vmax[rows], v_rows)
        vmax[rows] = v_rows
    param[rows] -= m_rows.div(v_rows.sqrt().add_(epsilon * bc2)).mul_(alpha)
    b1p.mul_(beta1)
    b2p.mul_(beta2)


def check_adam_options(group: Mapping[str, Any]) -> None:
    """Adam's (and AdamW's, Adamax's) checks of the options present in ``group``.

    Raises:
        ValueError: ``beta1`` or ``beta2`` outside [0, 1); ``epsilon`` negative or infinite.
        TypeError: a non-number option (a 1-element tensor is a number); ``lazy_mode`` not a bool.
    """
    for key in ("beta1", "beta2"):
        if key in group:
            number(key, group[key], low=0, high=1, tensor=True)
    if "epsilon" in group:
        number("epsilon", group["epsilon"], low=0, finite=True, tensor=True)
    if "lazy_mode" in group and not isinstance(group["lazy_mode"], bool):
        raise TypeError(f"lazy_mode must be a bool, got {group['lazy_mode']!r}")


def adam_hyper(group: Mapping[str, Any], amsgrad: bool) -> Hyper:
    """:func:`adam_update`'s keyword arguments besides ``lr`` for ``group`` (tensor betas read now)."""
    return {
        "beta1": as_float(group["beta1"]),
        "beta2": as_float(group["beta2"]),
        "epsilon": as_float(group["epsilon"]),
        "amsgrad": amsgrad,
        "lazy_mode": group["lazy_mode"],
    }


class Adam(Optimizer):
    """Adam with Paddle's semantics (``paddle.optimizer.Adam``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        beta1, beta2 (float | 1-element tensor): moment decay rates in [0, 1); defaults 0.9, 0.999.
            A tensor is read at every step.
        epsilon (float): >= 0, default 1e-8; Paddle scales it by sqrt(1-β2^t).
        parameters, weight_decay, grad_clip, name: see :class:`oar.Optimizer`.
        lazy_mode (bool): with sparse gradients, update only the rows present. Default False.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.
        use_multi_tensor (bool): accepted for Paddle compatibility; the engine is chosen by oar.
        amsgrad (bool): keep ``moment2_max`` and use it in the denominator. Default False.

    State per param: ``moment1``, ``moment2``, ``moment2_max`` (amsgrad), ``beta1_pow_acc``,
    ``beta2_pow_acc`` ([1], start at β1, β2), ``master_weight`` (multi_precision).

    Raises:
        ValueError: a beta outside [0, 1) or an epsilon that is negative or infinite (a tensor's
            value when it is given, which Paddle does not check), also a param group's.
        TypeError: a non-number hyper-parameter, a non-bool flag (also a group's ``lazy_mode``).
        AssertionTypeError: ``learning_rate``, a beta or ``epsilon`` is None (Paddle's
            ``AssertionError``, also a ``TypeError``).
        RuntimeError: at ``step()``, before anything changes: a sparse gradient with a regularizer
            (as Paddle), or one that is not sparse in its rows only (``sparse_dim() != 1``; Paddle's
            SelectedRows always are).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Adam(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta1_pow_acc', 'beta2_pow_acc', 'moment1', 'moment2']
        >>> opt = oar.Adam(model.parameters(), learning_rate=0.01)
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float | torch.Tensor = 0.9,
        beta2: float | torch.Tensor = 0.999,
        epsilon: float = 1e-08,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        lazy_mode: bool = False,
        multi_precision: bool = False,
        use_multi_tensor: bool = False,
        amsgrad: bool = False,
        name: str | None = None,
    ) -> None:
        not_set("Adam", AssertionError, learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        self._validate_group({"beta1": beta1, "beta2": beta2, "epsilon": epsilon})
        for flag, value in (("lazy_mode", lazy_mode), ("use_multi_tensor", use_multi_tensor), ("amsgrad", amsgrad)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {value!r}")
        self._amsgrad = amsgrad
        self._use_multi_tensor = use_multi_tensor
        super().__init__(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            name,
            options={"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "lazy_mode": lazy_mode},
            multi_precision=multi_precision,
        )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        check_adam_options(group)

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> State:
        state = {"moment1": self._zeros(target), "moment2": self._zeros(target)}
        if self._amsgrad:
            state["moment2_max"] = self._zeros(target)
        state["beta1_pow_acc"] = self._scalar_state(target, as_float(group["beta1"]))
        state["beta2_pow_acc"] = self._scalar_state(target, as_float(group["beta2"]))
        return state

    def _check_grad(self, param: torch.Tensor, grad: torch.Tensor, regularizer: WeightDecayRegularizer | None) -> None:
        if grad.is_sparse and regularizer is not None:
            raise RuntimeError("Adam don't support weight_decay with sparse parameters, please set it to None.")
        if grad.is_sparse and grad.sparse_dim() != 1:  # the rule updates rows (Paddle's SelectedRows)
            raise RuntimeError(
                f"Adam takes sparse gradients of rows (sparse_dim() == 1, as Embedding(sparse=True) "
                f"gives them), got one with sparse_dim() == {grad.sparse_dim()}"
            )

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: object) -> Hyper:
        return adam_hyper(group, self._amsgrad)

    _rule = staticmethod(adam_update)


def _fused_hypers(hyper: Hyper) -> tuple[Any, ...] | None:
    return None if hyper["amsgrad"] else (hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["epsilon"])


_fused.register(
    adam_update, _fused.Kernel("adam.c", ("moment1", "moment2"), ("beta1_pow_acc", "beta2_pow_acc"), _fused_hypers)
)


def _torch_adam(**options: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in options.items())
    return Peer(f"torch.Adam({label})", "torch", lambda params, lr, _: torch.optim.Adam(params, lr=lr, **options))


register(
    Algorithm(
        name="Adam",
        cls=Adam,
        rule=adam_update,
        traffic=Traffic(1, 1, 1, 4, "Adam: reads p,g,m,v; writes p,m,v (3P+4S)"),
        multi_precision=True,
        demo={"peak_lr": 5e-3, "weight_decay": 1e-4},
        peers=(_torch_adam(foreach=False), _torch_adam(foreach=True), _torch_adam(fused=True)),
    )
)
