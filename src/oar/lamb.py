"""LAMB (You et al., 2019, "Large Batch Optimization for Deep Learning: Training BERT in 76
minutes", arXiv:1904.00962) with ``paddle.optimizer.Lamb``'s numerics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Lamb_en.html)."""

from __future__ import annotations

import torch

from .algorithms import Algorithm, Peer, Traffic, load_peer_class, register
from .engine import fused as _fused
from .engine import sharded as _sharded
from .optimizer import Optimizer
from .precision import as_float
from .validate import function, not_set, number

__all__ = ["Lamb", "lamb_update"]


def lamb_update(param, grad, state, *, lr, beta1, beta2, epsilon, weight_decay, always_adapt=False):
    """One LAMB step of ``param`` in place (Paddle's rule)::

        m = β1 m + (1-β1) g ;  v = β2 v + (1-β2) g²
        r = (m/(1-B1)) / (sqrt(v/(1-B2)) + ε) + w p
        ratio = ||p|| / ||r|| if both > 0 else 1     (only when w > 0 or always_adapt; else 1)
        p = p - (lr ratio) r ;  B1 *= β1 ; B2 *= β2

    ``state``: ``moment1``, ``moment2`` (param shape), ``beta1_pow_acc``, ``beta2_pow_acc`` ([1]).

    A sparse COO ``grad`` (``Embedding(sparse=True)``: duplicate rows summed) updates every row,
    the rows it lacks with g = 0, and the norms are those of the whole tensors, as Paddle's
    ``SparseLambMomentMENUpdateFunctor`` (the dense rule on the summed gradient). A sparse grad
    with no rows changes nothing, not even the beta pows (Paddle's kernel returns at once).
    """
    if grad.is_sparse:
        grad = grad.coalesce()
        if grad._nnz() == 0:
            return
        grad = grad.to_dense()
    m, v = state["moment1"], state["moment2"]
    b1p, b2p = state["beta1_pow_acc"], state["beta2_pow_acc"]
    m.mul_(beta1).add_(grad * (1 - beta1))
    v.mul_(beta2).add_(grad * (1 - beta2) * grad)  # ((1-β2) g) g: Paddle's order
    r = ((m / (1 - b1p)) / ((v / (1 - b2p)).sqrt() + epsilon) + weight_decay * param).view_as(param)
    p_norm = torch.linalg.vector_norm(param)
    r_norm = torch.linalg.vector_norm(r)
    adapt = (p_norm > 0) & (r_norm > 0)
    if not always_adapt:
        adapt = adapt & (torch.as_tensor(weight_decay) > 0)
    ratio = torch.where(adapt, p_norm / r_norm, torch.ones_like(p_norm))
    param.sub_(r * (lr * ratio))
    b1p.mul_(beta1)
    b2p.mul_(beta2)


def _lamb_r(param, grad, state, beta1, beta2, epsilon, weight_decay):
    """Pass 1's moments (updated in place) and the update direction r of ``lamb_update``."""
    m, v = state["moment1"], state["moment2"]
    b1p, b2p = state["beta1_pow_acc"], state["beta2_pow_acc"]
    m.mul_(beta1).add_(grad * (1 - beta1))
    v.mul_(beta2).add_(grad * (1 - beta2) * grad)
    return ((m / (1 - b1p)) / ((v / (1 - b2p)).sqrt() + epsilon) + weight_decay * param).view_as(param)


def lamb_partial_sums(param, grad, state, *, lr, beta1, beta2, epsilon, weight_decay, always_adapt=False):
    """Pass 1 of ``lamb_update`` on a shard of the param (:mod:`oar.engine.sharded`): updates
    the moments and returns the shard's float64 sums of p² and r², and r for pass 2."""
    r = _lamb_r(param, grad, state, beta1, beta2, epsilon, weight_decay)
    p64, r64 = param.double(), r.double()
    return torch.stack([torch.sum(p64 * p64), torch.sum(r64 * r64)]), r


def lamb_finish(param, grad, state, sums, r, *, lr, beta1, beta2, epsilon, weight_decay, always_adapt=False):
    """Pass 2 of ``lamb_update``: ``sums`` are the whole param's sums of p² and r² (added over
    every rank), ``r`` pass 1's update direction."""
    norms = sums.sqrt().to(param.dtype)
    p_norm, r_norm = norms[0], norms[1]
    adapt = (p_norm > 0) & (r_norm > 0)
    if not always_adapt:
        adapt = adapt & (torch.as_tensor(weight_decay) > 0)
    ratio = torch.where(adapt, p_norm / r_norm, torch.ones_like(p_norm))
    param.sub_(r * (lr * ratio))
    state["beta1_pow_acc"].mul_(beta1)
    state["beta2_pow_acc"].mul_(beta2)


class Lamb(Optimizer):
    """LAMB with Paddle's semantics (``paddle.optimizer.Lamb``, Paddle 3.3.1).

    Args:
        learning_rate (float | LRScheduler): default 0.001.
        lamb_weight_decay (float | 1-element tensor): decoupled decay ``w`` inside the
            trust-ratio update, finite and >= 0. Default 0.01.
        beta1, beta2 (float | 1-element tensor): in [0, 1); defaults 0.9, 0.999 (rounded to
            float32, as Paddle).
        epsilon (float | 1-element tensor): finite and >= 0, default 1e-6, added to sqrt of the
            bias-corrected second moment.
        parameters, grad_clip, name: see :class:`oar.Optimizer`. There is no ``weight_decay``;
            a param's ``regularizer`` or a group's ``weight_decay`` is still added to the grad.
        exclude_from_weight_decay_fn (callable(Tensor) -> bool): True means w = 0 for that param.
        multi_precision (bool): float32 master weights for float16/bfloat16 params.
        always_adapt (bool): apply the trust ratio even when w = 0. Default False.

    State per param: ``moment1``, ``moment2``, ``beta1_pow_acc``, ``beta2_pow_acc`` ([1]).

    Sparse gradients (``torch.nn.Embedding(sparse=True)``) update every row, with g = 0 for the
    rows they lack, as Paddle; a regularizer makes them dense (as Paddle).

    Raises:
        TypeError: a non-number hyper-parameter, a non-bool ``always_adapt``, a non-callable
            ``exclude_from_weight_decay_fn``.
        ValueError: a beta outside [0, 1), a negative or infinite epsilon or
            ``lamb_weight_decay`` (a tensor's value too), also a param group's (Paddle checks no
            range: the params then turn NaN or grow).
        AssertionTypeError: ``learning_rate``, a beta or ``epsilon`` None (Paddle's
            ``AssertionError``, also a ``TypeError``).
        NotImplementedError: at ``step()``, a sparse gradient of a float16/bfloat16 param with
            ``multi_precision=True`` (Paddle's message).

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.Lamb(learning_rate=0.01, parameters=model.parameters())
        >>> model(torch.ones(2, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.clear_grad()
        >>> sorted(opt.state[model.weight])
        ['beta1_pow_acc', 'beta2_pow_acc', 'moment1', 'moment2']
        >>> opt = oar.Lamb(model.parameters(), learning_rate=0.01)
    """

    _torch_kwarg_hints = {"weight_decay": "lamb_weight_decay (Lamb has no coupled weight_decay argument)"}
    _callable_keys = ("exclude_from_weight_decay_fn",)
    _float32_hypers = frozenset({"beta1", "beta2", "epsilon", "weight_decay"})  # float attributes

    def __init__(
        self,
        learning_rate=0.001,
        lamb_weight_decay=0.01,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-06,
        parameters=None,
        grad_clip=None,
        exclude_from_weight_decay_fn=None,
        multi_precision=False,
        always_adapt=False,
        name=None,
    ):
        not_set("Lamb", AssertionError, learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        if not isinstance(always_adapt, bool):
            raise TypeError(f"always_adapt must be a bool, got {always_adapt!r}")
        self._always_adapt = always_adapt
        super().__init__(
            learning_rate,
            parameters,
            None,
            grad_clip,
            name,
            options={
                "beta1": beta1,
                "beta2": beta2,
                "epsilon": epsilon,
                "lamb_weight_decay": lamb_weight_decay,
                "exclude_from_weight_decay_fn": exclude_from_weight_decay_fn,
            },
            multi_precision=multi_precision,
        )

    def _validate_group(self, group):
        # Paddle checks no range; oar: betas in [0, 1) (1 divides by 1 - 1 in the bias
        # correction), a finite decay and epsilon >= 0 (a negative decay grows the weights)
        for key in ("beta1", "beta2"):
            if key in group:
                number(key, group[key], low=0.0, high=1.0, tensor=True)
        for key in ("lamb_weight_decay", "epsilon"):
            if key in group:
                number(key, group[key], low=0.0, finite=True, tensor=True)
        fn = group.get("exclude_from_weight_decay_fn")
        if fn is not None:  # a callable of one argument (the param)
            function("exclude_from_weight_decay_fn", fn)

    def _accumulators(self, target, group):
        return {
            "moment1": self._zeros(target),
            "moment2": self._zeros(target),
            "beta1_pow_acc": self._scalar_state(target, as_float(group["beta1"])),
            "beta2_pow_acc": self._scalar_state(target, as_float(group["beta2"])),
        }

    def _hyper_key(self, group, param):
        """Whether ``exclude_from_weight_decay_fn`` excludes ``param`` (called once a step)."""
        fn = group["exclude_from_weight_decay_fn"]
        return fn is not None and bool(fn(param))

    def _hyper(self, group, dtype, param_key):
        return {
            "beta1": as_float(group["beta1"]),
            "beta2": as_float(group["beta2"]),
            "epsilon": as_float(group["epsilon"]),
            "weight_decay": 0.0 if param_key else as_float(group["lamb_weight_decay"]),
            "always_adapt": self._always_adapt,
        }

    def _check_grad(self, param, grad, regularizer):
        """Sparse gradients are accepted (with a regularizer too: Paddle then adds the dense
        decay term to them and runs the dense kernel), except through a float32 master weight,
        which Paddle's SelectedRows kernel refuses."""
        if grad.is_sparse and self._multi_precision and param.dtype in (torch.float16, torch.bfloat16):
            raise NotImplementedError("SelectedRows gradient is not supported when multi_precision=True.")

    _rule = staticmethod(lamb_update)


def _fused_hypers(hyper):
    return (
        hyper["lr"],
        hyper["beta1"],
        hyper["beta2"],
        hyper["epsilon"],
        hyper["weight_decay"],
        float(hyper["always_adapt"]),
    )


_fused.register(
    lamb_update, _fused.Kernel("lamb.c", ("moment1", "moment2"), ("beta1_pow_acc", "beta2_pow_acc"), _fused_hypers)
)

# The trust ratio needs the norms of the whole p and r: sharded params take two passes around
# one all-reduce of the partial sums of squares (oar.engine.sharded).
_sharded.register_reduction(lamb_update, _sharded.Reduction(2, lamb_partial_sums, lamb_finish))


register(
    Algorithm(
        name="Lamb",
        cls=Lamb,
        rule=lamb_update,
        traffic=Traffic(2, 1, 1, 6, "Lamb, two passes: reads p,g,m,v, writes m,v; reads p,m,v, writes p (4P+6S)"),
        multi_precision=True,
        demo={"peak_lr": 2e-2, "lamb_weight_decay": 1e-2},
        bench={"lamb_weight_decay": 0.01},
        peers=(
            Peer(
                "pytorch_optimizer.Lamb",
                "pytorch_optimizer",
                lambda params, lr, _: load_peer_class("pytorch_optimizer:Lamb")(params, lr=lr, weight_decay=0.01),
                note="defaults (max_grad_norm=1.0), weight_decay=0.01",
            ),
            Peer(
                "timm.Lamb",
                "timm",
                lambda params, lr, _: load_peer_class("timm.optim.lamb:Lamb")(params, lr=lr, weight_decay=0.01),
                note="defaults, weight_decay=0.01",
            ),
        ),
    )
)
