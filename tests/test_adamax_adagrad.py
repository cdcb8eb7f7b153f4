"""Adamax and Adagrad beyond the option matrix (tests/cases/adamax.py, adagrad.py): validation
against Paddle, sparse gradients against Paddle's ``Embedding(sparse=True)``, Adamax's beta pow
(advanced with the double β1), the fused kernels (AdamW's too), and torch.optim where the maths
is the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from algorithm_cases import NO_CLIP, NORM
from paddle_harness import check, paddle, run_side_by_side
from test_adamw import _paddle_error, _tp

import oar
from oar.engine import fused as F


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("Adamax", {"beta1": 1.0}),
        ("Adamax", {"beta2": -0.1}),
        ("Adamax", {"epsilon": -1.0}),
        ("Adamax", {"beta1": "a"}),
        ("Adamax", {"learning_rate": 1}),
        ("Adamax", {"multi_precision": True}),
        ("Adagrad", {}),
        ("Adagrad", {"learning_rate": 0.1, "epsilon": "a"}),
        ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": "a"}),
        ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": None}),
        ("Adagrad", {"learning_rate": 1}),
        ("Adagrad", {"learning_rate": 0.1, "multi_precision": True}),
    ],
)
def test_bad_arguments_raise_like_paddle(name, kwargs):
    """Same exception type as Paddle (which raises some of them only at the first step)."""
    expected = _paddle_error(lambda p: getattr(paddle.optimizer, name)(parameters=[p], **kwargs))
    assert expected is not None
    with pytest.raises(expected):
        getattr(oar, name)(parameters=[_tp(3)], **kwargs)


def test_adagrad_initial_value_like_paddle_and_negative_values_refused():
    """Paddle does not range-check epsilon or the initial value: a large initial value runs as in
    Paddle; a negative one, which Paddle runs (sqrt(mom) + ε crosses 0, or sqrt of a negative
    accumulator), oar refuses (tests/test_bad_input.py covers every argument)."""
    kwargs = {"learning_rate": 0.1, "epsilon": 1e-3, "initial_accumulator_value": 2.0}
    assert _paddle_error(lambda p: paddle.optimizer.Adagrad(parameters=[p], **kwargs)) is None
    run = run_side_by_side(paddle.optimizer.Adagrad, oar.Adagrad, kwargs, steps=5)
    check(run, "float64")
    for key, bad in (("epsilon", -1e-3), ("initial_accumulator_value", -1.0)):
        bad_kwargs = {**kwargs, key: bad}
        assert _paddle_error(lambda p, kw=bad_kwargs: paddle.optimizer.Adagrad(parameters=[p], **kw)) is None
        with pytest.raises(ValueError, match=f"{key}.*{bad}"):
            oar.Adagrad(parameters=[_tp(3)], **bad_kwargs)


# ------------------------------------------------------------------ sparse gradients
ROWS, DIM = 10, 4


def _batches(seed: int, steps: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = [(np.sort(rng.integers(0, ROWS, size=6)), rng.standard_normal((6, DIM))) for _ in range(steps)]
    out[1] = (np.array([3, 3, 3, 7, 0, 7]), out[1][1])  # duplicates are summed
    return out


def _paddle_sparse(name, kwargs, weights, batches, regularizer=None):
    paddle.set_default_dtype("float64")
    try:
        with paddle.utils.unique_name.guard():
            attr = None if regularizer is None else paddle.ParamAttr(regularizer=regularizer)
            emb = paddle.nn.Embedding(ROWS, DIM, sparse=True, weight_attr=attr)
            emb.weight.set_value(weights)
            opt = getattr(paddle.optimizer, name)(parameters=emb.parameters(), **kwargs)
            for ids, g in batches:
                opt.clear_grad()
                (emb(paddle.to_tensor(ids)) * paddle.to_tensor(g)).sum().backward()
                assert emb.weight._grad_ivar().is_selected_rows()
                opt.step()
            return emb.weight.numpy()
    finally:
        paddle.set_default_dtype("float32")


def _oar_sparse(name, kwargs, weights, batches, regularizer=None, engine="auto"):
    emb = torch.nn.Embedding(ROWS, DIM, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(weights))
    if regularizer is not None:
        oar.set_param_attr(emb.weight, regularizer=regularizer)
    opt = getattr(oar, name)(parameters=emb.parameters(), engine=engine, **kwargs)
    for ids, g in batches:
        opt.clear_grad(set_to_zero=False)
        (emb(torch.tensor(ids)) * torch.tensor(g)).sum().backward()
        assert emb.weight.grad.is_sparse
        opt.step()
    return emb.weight.detach().numpy()


def _assert_close_to(got, expected, weights):
    assert np.abs(got - expected).max() / np.abs(expected - weights).max() <= 1e-10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.1},
        {"learning_rate": 0.05, "initial_accumulator_value": 0.5, "epsilon": 1e-3},
        {"learning_rate": 0.05, "grad_clip": "global"},
    ],
)
@pytest.mark.parametrize("engine", ["eager", "fused"])
def test_sparse_adagrad_matches_paddle(kwargs, engine):
    """Only the rows present change (duplicates summed), as Paddle's SelectedRows kernel."""
    weights = np.random.default_rng(0).standard_normal((ROWS, DIM))
    batches = _batches(1)

    def clip(side):
        return (
            {}
            if "grad_clip" not in kwargs
            else {"grad_clip": (paddle.nn if side == "paddle" else oar).ClipGradByGlobalNorm(1.0)}
        )

    plain = {k: v for k, v in kwargs.items() if k != "grad_clip"}
    expected = _paddle_sparse("Adagrad", {**plain, **clip("paddle")}, weights, batches)
    got = _oar_sparse("Adagrad", {**plain, **clip("oar")}, weights, batches, engine=engine)
    _assert_close_to(got, expected, weights)
    untouched = sorted(set(range(ROWS)) - {int(i) for ids, _ in batches for i in ids})
    np.testing.assert_array_equal(got[untouched], weights[untouched])


def test_sparse_adagrad_clip_by_value_clips_the_rows():
    """Paddle 3.3.1 fails on a SelectedRows gradient through ClipGradByValue; oar clips it: the
    same as clipping the summed dense gradient (a row never seen stays put)."""
    weights = np.random.default_rng(2).standard_normal((ROWS, DIM))
    batches = _batches(3, steps=4)
    got = _oar_sparse("Adagrad", {"learning_rate": 0.1, "grad_clip": oar.ClipGradByValue(0.3)}, weights, batches)
    p = torch.tensor(weights)
    mom = torch.zeros_like(p)
    for ids, g in batches:
        dense = torch.zeros_like(p).index_add_(0, torch.tensor(ids), torch.tensor(g)).clamp(-0.3, 0.3)
        rows = torch.tensor(sorted(set(ids.tolist())))
        mom[rows] += dense[rows] * dense[rows]
        p[rows] -= 0.1 * dense[rows] / (mom[rows].sqrt() + float(np.float32(1e-6)))
    np.testing.assert_allclose(got, p.numpy(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("name,kwargs", [("Adagrad", {"learning_rate": 0.1}), ("Adamax", {"learning_rate": 0.05})])
@pytest.mark.parametrize("kind", ["L1", "L2"])
def test_sparse_with_a_regularizer_is_dense_like_paddle(name, kwargs, kind):
    """A regularizer makes Paddle's SelectedRows gradient dense (add_n): every row changes."""
    weights = np.random.default_rng(4).standard_normal((ROWS, DIM))
    batches = _batches(5, steps=6)
    expected = _paddle_sparse(name, kwargs, weights, batches, getattr(paddle.regularizer, f"{kind}Decay")(0.1))
    got = _oar_sparse(name, kwargs, weights, batches, getattr(oar, f"{kind}Decay")(0.1))
    _assert_close_to(got, expected, weights)
    assert (np.abs(got - weights).max(axis=1) > 0).all()


def test_sparse_adamax_without_a_regularizer_raises():
    """Paddle 3.3.1's CPU Adamax kernel aborts the process on a SelectedRows gradient."""
    emb = torch.nn.Embedding(6, 3, sparse=True)
    opt = oar.Adamax(parameters=emb.parameters())
    emb(torch.tensor([1, 2, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


# ------------------------------------------------------------------ Adamax specifics
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adamax_beta_pow_advances_with_the_double_beta1(dtype):
    """The update uses float32(β1) but the beta pow is scaled by β1 as given (Paddle's scale
    op): bit-equal to Paddle's beta1_pow_acc after each step."""
    run = run_side_by_side(
        paddle.optimizer.Adamax, oar.Adamax, {"beta1": 0.7, "learning_rate": 0.01}, dtype=dtype, steps=6
    )
    check(run, dtype)
    pdict = run.paddle_opt.state_dict()
    for k, p in enumerate(run.oar_opt.param_groups[0]["params"]):
        ours = run.oar_opt.state[p]["beta1_pow_acc"].numpy()
        theirs = [v.numpy() for key, v in pdict.items() if key.endswith("beta1_pow_acc_0")][k]
        np.testing.assert_array_equal(ours, theirs)
    if dtype == "float64":
        double, single = 0.7, float(np.float32(0.7))
        for _ in range(6):
            double, single = double * 0.7, single * float(np.float32(0.7))
        assert float(ours[0]) == double != single


@pytest.mark.parametrize("name,kwargs", [("Adamax", {}), ("Adagrad", {"learning_rate": 0.1})])
def test_clip_by_norm_float32(name, kwargs):
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name), getattr(oar, name), {**kwargs, "grad_clip": NORM}, NO_CLIP, dtype="float32"
    )
    check(run, "float32")


@pytest.mark.parametrize("name,kwargs", [("Adamax", {"weight_decay": 0.1}), ("Adagrad", {"learning_rate": 0.1})])
def test_params_without_grad_are_skipped(name, kwargs):
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        kwargs,
        skip_grad=lambda step, i: (step + i) % 3 == 0,
        steps=10,
    )
    check(run, "float64")


# ------------------------------------------------------------------ torch.optim
def _same_as_torch(ours, theirs, params, steps=10):
    ref = [p.detach().clone().requires_grad_() for p in params]
    theirs = theirs(ref)
    for _ in range(steps):
        for p, r in zip(params, ref, strict=False):
            p.grad = torch.randn_like(p)
            r.grad = p.grad.clone()
        ours.step()
        theirs.step()
    for p, r in zip(params, ref, strict=False):
        torch.testing.assert_close(p, r, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("flags", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_adagrad_matches_torch(flags):
    """torch.optim.Adagrad (lr_decay 0) is the same algorithm given the float32-rounded ε."""
    torch.manual_seed(7)
    params = [_tp(6, 5), _tp(4)]
    ours = oar.Adagrad(params, learning_rate=0.1, epsilon=1e-6, initial_accumulator_value=0.3)
    _same_as_torch(
        ours,
        lambda ref: torch.optim.Adagrad(
            ref, lr=0.1, eps=float(np.float32(1e-6)), initial_accumulator_value=0.3, **flags
        ),
        params,
    )


@pytest.mark.parametrize("flags", [{"foreach": False}, {"foreach": True}])
def test_adamax_matches_torch_with_zero_epsilon(flags):
    """torch.optim.Adamax adds ε to |g| where Paddle adds it to β2 u: the same algorithm only at
    ε = 0 (β1, β2 chosen float32-exact, as Paddle rounds them)."""
    torch.manual_seed(8)
    params = [_tp(6, 5), _tp(4)]
    ours = oar.Adamax(params, learning_rate=0.02, beta1=0.75, beta2=0.875, epsilon=0.0)
    _same_as_torch(ours, lambda ref: torch.optim.Adamax(ref, lr=0.02, betas=(0.75, 0.875), eps=0.0, **flags), params)


# ------------------------------------------------------------------ the fused kernels
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("Adamax", {"beta1": 0.8, "epsilon": 1e-3}),
        ("Adagrad", {"initial_accumulator_value": 0.2}),
        ("AdamW", {"weight_decay": 0.2, "lr_ratio": lambda p: 2.0 if p.ndim == 2 else 1.0}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_engine_runs_the_kernel_and_matches_eager(name, kwargs, dtype):
    def run(engine):
        g = torch.Generator().manual_seed(9)
        params = [
            torch.randn(70_000, generator=g, dtype=dtype, requires_grad=True),
            torch.randn(5, 3, generator=g, dtype=dtype, requires_grad=True),
        ]
        opt = getattr(oar, name)(params, learning_rate=0.01, engine=engine, **kwargs)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g, dtype=dtype)
            opt.step()
        return params, opt

    before = F.stats().get("fused_params", 0)
    fused, fused_opt = run("fused")
    assert F.stats().get("fused_params", 0) - before == 6
    eager, eager_opt = run("eager")
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == torch.float32 else {"rtol": 1e-13, "atol": 1e-14}
    for a, b in zip(fused, eager, strict=False):
        torch.testing.assert_close(a, b, **tol)
        for key in eager_opt.state[b]:
            torch.testing.assert_close(fused_opt.state[a][key], eager_opt.state[b][key], **tol)


def test_adagrad_group_initial_accumulator_value():
    """Each group's moment starts at its own initial_accumulator_value (a group key, as Paddle)."""
    a, b = _tp(3), _tp(2)
    opt = oar.Adagrad(
        parameters=[{"params": [a], "initial_accumulator_value": 0.5}, {"params": [b]}],
        learning_rate=0.1,
        initial_accumulator_value=0.25,
    )
    for p in (a, b):
        p.grad = torch.zeros_like(p)
    opt.step()
    assert opt.state[a]["moment"].tolist() == [0.5] * 3
    assert opt.state[b]["moment"].tolist() == [0.25] * 2
