"""Rprop (Riedmiller & Braun, 1993, "A direct adaptive method for faster backpropagation
learning: the RPROP algorithm", IEEE ICNN) with ``paddle.optimizer.Rprop``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Rprop_en.html)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .algorithms import Algorithm, Peer, Traffic, register
from .clip import ClipGradBase
from .engine import fused as _fused
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params
from .validate import number, show

__all__ = ["Rprop", "rprop_update"]

#: Group keys Paddle's Rprop accepts in a param-group dict and ignores (its kernel reads the
#: constructor's values only).
_IGNORED_GROUP_KEYS = ("etas", "learning_rate_range")


def rprop_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, torch.Tensor],
    *,
    lr: Any,
    eta_negative: Any,
    eta_positive: Any,
    lr_min: Any,
    lr_max: Any,
) -> None:
    """One Rprop step of ``param`` in place (Paddle's rule; ``lr`` is not used: the per-element
    step sizes are the state)::

        s = g prev ;  η = η+ if s > 0, η- if s < 0, 1 if s == 0 ;  g = 0 where s < 0
        step = clip(step η, lr_min, lr_max) ;  p = p - sign(g) step ;  prev = g

    ``state``: ``prevs`` and ``learning_rates`` (both param shape).
    """
    del lr  # Paddle's kernel has no learning-rate input
    prev, step = state["prevs"], state["learning_rates"]
    s = grad * prev
    one = torch.ones_like(s)
    eta = torch.where(s > 0, one * eta_positive, torch.where(s < 0, one * eta_negative, one))
    g = grad.masked_fill(s < 0, 0)
    step.mul_(eta).clamp_(lr_min, lr_max)
    param.sub_(g.sign() * step)
    prev.copy_(g)


class Rprop(Optimizer):
    """Rprop with Paddle's semantics (``paddle.optimizer.Rprop``, Paddle 3.3.1).

    Args:
        learning_rate (float): the initial per-element step size, default 0.001; must satisfy
            ``0 < learning_rate_range[0] <= learning_rate <= learning_rate_range[1]``.
        learning_rate_range (tuple[float, float]): the bounds of the step sizes, default
            ``(1e-05, 50)``.
        parameters, grad_clip, name: see :class:`oar.Optimizer`. There is no ``weight_decay``
            argument: as in Paddle the base class gets ``weight_decay=0.0`` (``g + 0 p``), and a
            param's own ``regularizer`` (list mode) or a group's ``weight_decay`` still applies.
        etas (tuple[float, float]): ``(η-, η+)``, the step-size factors after a sign change and
            after a same sign, ``0 < η- < 1 < η+``; default ``(0.5, 1.2)``.
        multi_precision (bool): float32 master weights for float16/bfloat16 params. Default False.

    State per param: ``prevs`` (the last grad used, 0 where its sign changed; starts at 0),
    ``learning_rates`` (per-element step sizes, start at ``learning_rate``), ``master_weight``
    (multi_precision).

    The learning rate is read once, at construction (as in Paddle): ``set_lr``,
    ``set_lr_scheduler``, group and ParamAttr multipliers change ``get_lr()`` and
    ``param_groups[i]['lr']`` but not the update. oar warns once (a ``UserWarning`` naming
    ``set_lr`` or ``set_lr_scheduler``, or the group key ``learning_rate``) where Paddle ignores
    them silently; likewise for ``etas`` and ``learning_rate_range`` in a param group, which
    Paddle ignores (the constructor's apply to every group).

    Measured: bit-identical to Paddle and to ``torch.optim.Rprop`` in float32 and float64.
    Differences from Paddle: ``etas`` and the step-size bounds are rounded to each param's dtype
    (Paddle rounds them once, to the first param's dtype); a NaN in ``g * prev`` gives η = 1
    (Paddle's kernel leaves η uninitialised there).
    Differences from ``torch.optim.Rprop``: the same update (``lr`` ↔ initial step size,
    ``learning_rate_range`` ↔ ``step_sizes``), with Paddle's defaults (lr 0.001, minimum step
    1e-5; torch: 0.01, 1e-6); no ``maximize``, ``foreach``, ``capturable``.

    Raises:
        ValueError: ``learning_rate`` None or out of its range, or bad ``etas`` (Paddle's messages);
            a NaN or infinite bound or eta (Paddle takes an infinite one).
        TypeError: an ``LRScheduler`` as ``learning_rate`` (Paddle fails comparing it with the
            range); non-numbers.

    A sparse gradient (``Embedding(sparse=True)``) is used as its dense form, as Paddle does:
    rows it lacks see g = 0 (their step size is kept and their ``prevs`` reset to 0).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Rprop(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['learning_rates', 'prevs']
        >>> opt = oar.Rprop(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {"step_sizes": "learning_rate_range"}
    # etas and the range reach Paddle's kernel as tensors of the (first) param's dtype, not as
    # C++ float attributes
    _float32_hypers = frozenset()

    def __init__(
        self,
        learning_rate: float = 0.001,
        learning_rate_range: Sequence[float] = (1e-05, 50),
        parameters: Params | None = None,
        etas: Sequence[float] = (0.5, 1.2),
        grad_clip: ClipGradBase | None = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate is not set")
        if isinstance(learning_rate, LRScheduler):
            raise TypeError(
                f"'<=' not supported between instances of 'float' and "
                f"'{type(learning_rate).__name__}' (Rprop's learning_rate must be a float)"
            )
        low, high = _pair("learning_rate_range", learning_rate_range)
        lr = number("learning_rate", learning_rate)
        if not 0.0 < low <= lr <= high:
            raise ValueError(
                "'0.0 < learning_rate_range[0] <= learning_rate <= learning_rate_range[1]' must be true, got "
                f"learning_rate={show(learning_rate)}, learning_rate_range={show(learning_rate_range)}"
            )
        eta_negative, eta_positive = _pair("etas", etas)
        if not 0.0 < eta_negative < 1.0 < eta_positive:
            raise ValueError(f"'0.0 < etas[0] < 1.0 < etas[1]' must be true, got etas={show(etas)}")
        self._initial_lr = float(lr)
        self._range = (low, high)
        self._etas = (eta_negative, eta_positive)
        self._warned: set[str] = set()
        super().__init__(learning_rate, parameters, 0.0, grad_clip, name, options={}, multi_precision=multi_precision)

    def _warn_ignored(self, what: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(
                f"Rprop ignores {what}: as in Paddle, the step sizes start at the "
                f"constructor's learning_rate and then adapt on their own",
                UserWarning,
                stacklevel=3,
            )

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        for key in _IGNORED_GROUP_KEYS:
            if key in group:
                self._warn_ignored(f"the param-group key {key!r} (the constructor's value applies)")
        if group.get("learning_rate", 1.0) != 1.0:
            self._warn_ignored("the param-group key 'learning_rate' (an lr multiplier)")

    def set_lr(self, value: float) -> None:
        """Paddle's ``set_lr``: stored (``get_lr()`` returns it) but without effect on the
        update; warns once."""
        super().set_lr(value)
        self._warn_ignored("set_lr()")

    def set_lr_scheduler(self, scheduler: LRScheduler) -> None:
        """Paddle's ``set_lr_scheduler``: stored but without effect on the update; warns once."""
        super().set_lr_scheduler(scheduler)
        self._warn_ignored("set_lr_scheduler() (a scheduler)")

    def _collect(
        self, group: dict[str, Any], only: set[torch.Tensor] | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # a sparse grad is used as its dense form, as Paddle does (checked and clipped so)
        return [(p, g.to_dense() if g.is_sparse else g) for p, g in super()._collect(group, only)]

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return {
            "prevs": self._zeros(target),
            "learning_rates": self._filled(target, self._initial_lr),
        }

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> dict[str, Any]:
        return {
            "eta_negative": self._etas[0],
            "eta_positive": self._etas[1],
            "lr_min": self._range[0],
            "lr_max": self._range[1],
        }

    _rule = staticmethod(rprop_update)


def _pair(name: str, value: Any) -> tuple[float, float]:
    """A pair of numbers (``etas``, ``learning_rate_range``) as floats.

    Raises:
        TypeError: not a sequence of two numbers.
        ValueError: a NaN or infinite number (an infinite bound lets the step sizes overflow).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of floats, got {value!r}")
    return (float(number(f"{name}[0]", value[0], finite=True)), float(number(f"{name}[1]", value[1], finite=True)))


def _fused_hypers(hyper: dict[str, Any]) -> tuple[float, ...]:
    return (hyper["eta_negative"], hyper["eta_positive"], hyper["lr_min"], hyper["lr_max"])


_fused.register(rprop_update, _fused.Kernel("rprop.c", ("prevs", "learning_rates"), (), _fused_hypers))


def _torch_rprop(**flags: Any) -> Peer:
    label = ", ".join(f"{k}={v}" for k, v in flags.items())
    return Peer(
        f"torch.Rprop({label})",
        "torch",
        lambda params, lr, _: torch.optim.Rprop(params, lr=lr, etas=(0.5, 1.2), step_sizes=(1e-05, 50), **flags),
        note="the same update, with Paddle's etas and step-size bounds",
    )


register(
    Algorithm(
        name="Rprop",
        cls=Rprop,
        rule=rprop_update,
        traffic=Traffic(1, 1, 1, 4, "Rprop: reads p,g,prev,step; writes p,prev,step (3P+4S)"),
        multi_precision=True,
        demo={"peak_lr": 1e-2, "steps_per_epoch": 3},
        full_batch=True,
        follows_lr=False,  # Paddle takes learning_rate once, as the initial per-element step size
        peers=(_torch_rprop(foreach=False), _torch_rprop(foreach=True)),
    )
)
