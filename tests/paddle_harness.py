"""Side-by-side runs of an oar optimizer and real Paddle 3.3.1 on the same parameters and the
same gradient sequence. Used by the parity tests; never compares against typed-in numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

paddle = pytest.importorskip("paddle")

import oar

# Shapes of a small model: a matrix, a vector, a 3-d tensor and a scalar-like one.
SHAPES = [(6, 5), (5,), (2, 3, 4), (1,)]


@dataclass
class Spec:
    """One parameter: its shape and the Paddle ParamAttr-like options."""

    shape: tuple
    lr_mult: float | None = None
    regularizer: Any = None  # ("L1", c) | ("L2", c)
    need_clip: bool = True


def paddle_reg(r):
    if r is None:
        return None
    kind, c = r
    return (paddle.regularizer.L1Decay if kind == "L1" else paddle.regularizer.L2Decay)(c)


def oar_reg(r):
    if r is None:
        return None
    kind, c = r
    return (oar.L1Decay if kind == "L1" else oar.L2Decay)(c)


def translate(obj, side: str):
    """Turn a neutral description into the Paddle or oar object.

    ('L1'|'L2', c) → regularizer; ('clip', kind, *args, **kw as dict) → clip object;
    ('sched', Name, kwargs) → lr scheduler; anything else unchanged.
    """
    if isinstance(obj, tuple) and obj and obj[0] in ("L1", "L2"):
        return paddle_reg(obj) if side == "paddle" else oar_reg(obj)
    if isinstance(obj, tuple) and obj and obj[0] == "clip":
        _, kind, kwargs = obj
        mod = paddle.nn if side == "paddle" else oar
        return getattr(mod, kind)(**kwargs)
    if isinstance(obj, tuple) and obj and obj[0] == "sched":
        _, kind, kwargs = obj
        mod = paddle.optimizer.lr if side == "paddle" else oar.lr
        kwargs = {k: translate(v, side) for k, v in kwargs.items()}
        return getattr(mod, kind)(**kwargs)
    return obj


@dataclass
class Run:
    """Result of a side-by-side run: per-step max relative error and final params."""

    errors: list = field(default_factory=list)  # relative to the total update (strict)
    errors_mag: list = field(default_factory=list)  # relative to the param's magnitude
    paddle_params: list = field(default_factory=list)
    oar_params: list = field(default_factory=list)
    init: list = field(default_factory=list)  # the initial params (arrays)
    paddle_steps: list = field(default_factory=list)  # [step][param] -> array, after each step
    oar_steps: list = field(default_factory=list)
    oar_opt: Any = None
    paddle_opt: Any = None


def rel_err(a: np.ndarray, b: np.ndarray, start: np.ndarray) -> float:
    """Max element error of ``a`` against ``b``, relative to how far ``b`` moved from ``start``
    (the total update, stricter than relative to the parameter's magnitude)."""
    scale = np.abs(b - start).max()
    if scale == 0:
        return float(np.abs(a - b).max())
    return float(np.abs(a - b).max() / scale)


def run_side_by_side(
    paddle_cls: Callable,
    oar_cls: Callable,
    kwargs: dict,
    specs: list[Spec] | None = None,
    *,
    dtype: str = "float64",
    steps: int = 20,
    groups: list[dict] | None = None,
    seed: int = 0,
    grad_scale: float = 1.0,
    skip_grad: Callable[[int, int], bool] | None = None,
    scheduler_step: bool = True,
    engine: str = "auto",
    source_dtype: str | None = None,
    reference: bool = True,
) -> Run:
    """Run ``steps`` updates of both optimizers from identical initial params and gradients.

    ``kwargs`` may hold neutral descriptions (see :func:`translate`). ``groups``: a list of
    dicts ``{'idx': [param indices], **options}`` for group mode. ``skip_grad(step, i)``: no
    gradient for param i at that step. ``engine``: the oar engine. ``source_dtype``: draw the
    initial params and grads in this dtype, then convert them to ``dtype`` (float32 values run in
    float64: the "exact" run of the float32 criterion). Returns per-step max relative errors over
    all params and every step's params. ``reference=False``: Paddle's side is built but never
    stepped (no errors are recorded): for float64 runs Paddle cannot make (ClipGradByNorm).
    """
    specs = specs or [Spec(s) for s in SHAPES]
    rng = np.random.default_rng(seed)
    src = source_dtype or dtype
    init = [rng.standard_normal(s.shape).astype(src).astype(dtype) for s in specs]
    grads = [
        [(rng.standard_normal(s.shape) * grad_scale).astype(src).astype(dtype) for s in specs] for _ in range(steps)
    ]

    paddle.set_default_dtype(dtype)
    p_params = []
    for _k, (s, a) in enumerate(zip(specs, init, strict=False)):
        attr = paddle.ParamAttr(
            learning_rate=1.0 if s.lr_mult is None else s.lr_mult,
            regularizer=paddle_reg(s.regularizer),
            need_clip=s.need_clip,
        )
        p = paddle.create_parameter(
            list(s.shape), dtype, attr=attr, default_initializer=paddle.nn.initializer.Assign(a)
        )
        p_params.append(p)
    t_params = []
    for s, a in zip(specs, init, strict=False):
        t = torch.nn.Parameter(torch.tensor(a))
        kw = {}
        if s.lr_mult is not None:
            kw["learning_rate"] = s.lr_mult
        if s.regularizer is not None:
            kw["regularizer"] = oar_reg(s.regularizer)
        if not s.need_clip:
            kw["need_clip"] = False
        oar.set_param_attr(t, **kw)
        t_params.append(t)

    p_kwargs = {k: translate(v, "paddle") for k, v in kwargs.items()}
    o_kwargs = {k: translate(v, "oar") for k, v in kwargs.items()}
    excluded = kwargs.get("exclude_from_weight_decay_fn")
    if isinstance(excluded, tuple) and excluded[0] == "exclude":
        # Lamb: the fn receives the parameter tensor on both sides.
        names = {p_params[i].name for i in excluded[1]}
        ids = {id(t_params[i]) for i in excluded[1]}
        p_kwargs["exclude_from_weight_decay_fn"] = lambda p: p.name in names
        o_kwargs["exclude_from_weight_decay_fn"] = lambda t: id(t) in ids
    if groups is None:
        p_arg, o_arg = p_params, t_params
    else:
        p_arg, o_arg = [], []
        for g in groups:
            opts = {k: v for k, v in g.items() if k != "idx"}
            p_arg.append(
                {"params": [p_params[i] for i in g["idx"]], **{k: translate(v, "paddle") for k, v in opts.items()}}
            )
            o_arg.append(
                {"params": [t_params[i] for i in g["idx"]], **{k: translate(v, "oar") for k, v in opts.items()}}
            )
    popt = paddle_cls(parameters=p_arg, **p_kwargs)
    oopt = oar_cls(parameters=o_arg, engine=engine, **o_kwargs)

    run = Run(oar_opt=oopt, paddle_opt=popt, init=init)
    for step in range(steps):
        popt.clear_grad(set_to_zero=False)
        loss = None
        for i, (p, g) in enumerate(zip(p_params, grads[step], strict=False)):
            if skip_grad and skip_grad(step, i):
                continue
            term = (p * paddle.to_tensor(g)).sum()
            loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        if reference:
            popt.step()
        for i, (t, g) in enumerate(zip(t_params, grads[step], strict=False)):
            t.grad = None if (skip_grad and skip_grad(step, i)) else torch.tensor(g)
        oopt.step()
        if scheduler_step:
            for lr in (p_kwargs.get("learning_rate"), o_kwargs.get("learning_rate")):
                if hasattr(lr, "step"):
                    lr.step()
        run.oar_steps.append([t.detach().numpy().copy() for t in t_params])
        if not reference:
            continue
        run.errors_mag.append(
            max(
                float(np.abs(t.detach().numpy() - p.numpy()).max() / max(np.abs(p.numpy()).max(), 1e-30))
                for t, p in zip(t_params, p_params, strict=False)
            )
        )
        run.errors.append(
            max(rel_err(t.detach().numpy(), p.numpy(), a) for t, p, a in zip(t_params, p_params, init, strict=False))
        )
        run.paddle_steps.append([p.numpy().copy() for p in p_params])
    run.paddle_params = [p.numpy() for p in p_params]
    run.oar_params = [t.detach().numpy() for t in t_params]
    paddle.set_default_dtype("float32")
    return run


def check(run: Run, dtype: str) -> None:
    """float64: every step within 1e-10 of Paddle relative to the total update; float32: every
    step within 1e-5 relative to the parameter's magnitude (Paddle's fp32 kernels use FMAs and
    approximate sqrt, so only rounding-level agreement is possible)."""
    if dtype == "float64":
        assert max(run.errors) <= 1e-10, run.errors
    else:
        assert max(run.errors_mag) <= 1e-5, run.errors_mag


# ------------------------------------------------------------------------------ float32 criterion
#: Steps the float32 criterion covers: before chaotic growth, where rounding differences are
#: still proportional to one step's rounding.
FLOAT32_STEPS = 2
#: oar32 may be this many times further from Paddle32 than Paddle32 is from the exact result...
FLOAT32_FACTOR = 4.0
#: ... plus this absolute slack (a few float32 ulps of relative error).
FLOAT32_SLACK = 3e-7
#: Floor of the element-wise relative error, as a fraction of the tensor's largest magnitude.
FLOOR = 1e-3


def elementwise_rel_err(got: list, ref: list, before: list | None = None) -> float:
    """Max over tensors and elements of |got - ref| / max(|ref|, FLOOR * max|ref|).

    ``before``: the reference's values one step earlier; the scale then also includes them,
    max(|ref|, |before|, floor). A step's result is ``before - update``: where the two nearly
    cancel, a one-ulp difference in ``before`` (the rounding of the previous step) becomes a large
    relative difference of the result, up to 1/FLOOR times; measured against the operands it is
    the rounding it is."""
    worst = 0.0
    for k, (a, b) in enumerate(zip(got, ref, strict=False)):
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = np.abs(b64)
        if before is not None:
            scale = np.maximum(scale, np.abs(np.asarray(before[k], dtype=np.float64)))
        floor = FLOOR * max(float(np.abs(b64).max(initial=0.0)), 1e-30)
        worst = max(worst, float((np.abs(a64 - b64) / np.maximum(scale, floor)).max(initial=0.0)))
    return worst


@dataclass
class Float32Result:
    """The float32 criterion for one configuration: ``oar_err`` = max rel err(oar32, Paddle32),
    ``paddle_err`` = max rel err(Paddle32, exact), over the first ``FLOAT32_STEPS`` steps, where
    exact is oar in float64 fed the same float32 values (itself within 1e-10 of Paddle float64)."""

    oar_err: float
    paddle_err: float

    @property
    def bound(self) -> float:
        return FLOAT32_FACTOR * self.paddle_err + FLOAT32_SLACK

    @property
    def ok(self) -> bool:
        return self.oar_err <= self.bound

    @property
    def ratio(self) -> float:
        """oar's error in units of Paddle's own rounding error."""
        return self.oar_err / max(self.paddle_err, 1e-300)

    def __str__(self) -> str:
        return (
            f"oar32 vs Paddle32 {self.oar_err:.3g}, Paddle32 vs exact {self.paddle_err:.3g}, "
            f"bound {self.bound:.3g} (ratio {self.ratio:.2f})"
        )


def float32_criterion(
    paddle_cls: Callable,
    oar_cls: Callable,
    kwargs: dict,
    specs: list[Spec] | None = None,
    *,
    groups: list[dict] | None = None,
    engine: str = "auto",
    seed: int = 0,
    operand_scale: bool = False,
    **run_kw: Any,
) -> Float32Result:
    """Measure the float32 criterion that every optimizer is held to:
    ``max rel err(oar32, Paddle32) <= FLOAT32_FACTOR * max rel err(Paddle32, exact) + FLOAT32_SLACK``
    over the first ``FLOAT32_STEPS`` steps (check it with ``.ok``). The exact run is itself held to
    real Paddle in float64 (1e-10) on the same float32-valued inputs.

    ``operand_scale``: measure each step's error against the previous step's values too (see
    :func:`elementwise_rel_err`), for configurations drawn at random, where some element always
    lands near zero at step 2: Paddle's Eigen kernels (RMSProp, Lamb) take an approximate sqrt,
    so at step 1 an element near a rounding tie rounds one ulp apart in Paddle and in oar, and
    a cancellation at step 2 multiplies that ulp by up to 1/FLOOR."""
    common = dict(groups=groups, seed=seed, steps=FLOAT32_STEPS, **run_kw)
    r32 = run_side_by_side(paddle_cls, oar_cls, kwargs, specs, dtype="float32", engine=engine, **common)
    # Paddle's ClipGradByNorm has no float64 CPU kernel: there the exact run is oar's alone.
    paddle64 = "ClipGradByNorm" not in repr((kwargs, groups))
    r64 = run_side_by_side(
        paddle_cls,
        oar_cls,
        kwargs,
        specs,
        dtype="float64",
        source_dtype="float32",
        engine="eager",
        reference=paddle64,
        **common,
    )
    if paddle64:
        check(r64, "float64")

    def before(steps: list, k: int) -> list | None:
        return (steps[k - 1] if k else r64.init) if operand_scale else None

    oar_err = max(
        elementwise_rel_err(o, p, before(r32.paddle_steps, k))
        for k, (o, p) in enumerate(zip(r32.oar_steps, r32.paddle_steps, strict=False))
    )
    paddle_err = max(
        elementwise_rel_err(p, e, before(r64.oar_steps, k))
        for k, (p, e) in enumerate(zip(r32.paddle_steps, r64.oar_steps, strict=False))
    )
    return Float32Result(oar_err, paddle_err)
