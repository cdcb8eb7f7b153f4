"""SGD and Momentum beyond the option matrices of tests/cases (which test_parity.py holds to
Paddle): bit-exact float32 agreement with Paddle's CPU kernels, sparse gradients against Paddle's
SelectedRows kernels, Momentum's rescale_grad (Paddle's GPU formula, derived by hand in float64),
its warning, use_multi_tensor, validation, master weights and state dicts."""

from __future__ import annotations

import collections
import copy
import warnings

import numpy as np
import pytest
import torch
from algorithm_cases import NO_CLIP, NORM
from paddle_harness import check, paddle, run_side_by_side

import oar
from oar.engine import fused as F

ENGINES = ["eager", "fused", "compiled"]


# ------------------------------------------------------------------ dense, against Paddle
@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", {"learning_rate": 0.05}),
        ("Momentum", {"learning_rate": 0.05}),
        ("Momentum", {"learning_rate": 0.05, "use_nesterov": True, "momentum": 0.8}),
        ("Momentum", {"learning_rate": 0.05, "weight_decay": 0.1}),
        ("Momentum", {"learning_rate": 0.05, "weight_decay": oar.L2Decay(0.03), "use_nesterov": True}),
    ],
    ids=["sgd", "momentum", "nesterov", "fused-l2", "fused-l2-nesterov"],
)
def test_float32_is_bit_exact_with_paddle(name, kwargs, engine):
    """Paddle's Momentum CPU kernel rounds every op once, without fused multiply-adds: the eager
    rule and the fused kernel give Paddle's float32 bits at every step. Paddle's SGD kernel calls
    BLAS ``axpy`` (MKL), which on some CPUs (seen on an AVX-512 Xeon, for some elements of a
    30-element tensor; not on an AVX2 EPYC) computes ``p - lr * g`` with one rounding instead of
    two: there each step may differ by one rounding of the result, so the difference after k + 1
    steps is at most k + 1 float32 spacings of the largest magnitude reached (0 where MKL does
    not contract)."""
    kwargs = {k: ("L2", v.coeff) if isinstance(v, oar.L2Decay) else v for k, v in kwargs.items()}
    run = run_side_by_side(
        getattr(paddle.optimizer, name), getattr(oar, name), kwargs, dtype="float32", steps=10, engine=engine
    )
    largest = [0.0] * len(run.paddle_steps[0])
    for k, (got, want) in enumerate(zip(run.oar_steps, run.paddle_steps, strict=True)):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            if name != "SGD":
                np.testing.assert_array_equal(a, b, err_msg=f"step {k}")
                continue
            largest[i] = max(largest[i], float(np.abs(b).max()))
            bound = (k + 1) * np.spacing(np.float32(largest[i]))
            np.testing.assert_allclose(a, b, rtol=0, atol=bound, err_msg=f"step {k}")


@pytest.mark.parametrize("name,kwargs", [("SGD", {}), ("Momentum", {"weight_decay": 0.1})])
def test_clip_by_norm_float32(name, kwargs):
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        {**kwargs, "learning_rate": 0.05, "grad_clip": NORM},
        NO_CLIP,
        dtype="float32",
    )
    check(run, "float32")


@pytest.mark.parametrize(
    "name,kwargs", [("SGD", {"weight_decay": 0.1}), ("Momentum", {"weight_decay": 0.1, "use_nesterov": True})]
)
def test_params_without_grad_are_skipped(name, kwargs):
    """A param with no grad at a step gets no update and no decay; its velocity keeps its value."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        {**kwargs, "learning_rate": 0.05},
        skip_grad=lambda step, i: (step + i) % 3 == 0,
    )
    check(run, "float64")


def test_momentum_matches_torch_sgd_with_momentum():
    """With a momentum that float32 holds exactly, Paddle's Momentum is torch's SGD with
    momentum and dampening 0, Nesterov or not (float64)."""
    for nesterov in (False, True):
        torch.manual_seed(0)
        a = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
        b = a.detach().clone().requires_grad_()
        ours = oar.Momentum([a], learning_rate=0.1, momentum=0.5, use_nesterov=nesterov)
        theirs = torch.optim.SGD([b], lr=0.1, momentum=0.5, dampening=0, nesterov=nesterov)
        for _ in range(6):
            g = torch.randn(7, 3, dtype=torch.float64)
            a.grad, b.grad = g.clone(), g.clone()
            ours.step()
            theirs.step()
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------ rescale_grad
def _hand_momentum(p, grads, *, lr, mu, rescale, coeff, nesterov):
    """Paddle's GPU Momentum kernel in float64 torch ops, hyper-parameters rounded as its float
    attributes are: g' = g rescale + c p; v = mu v + g'; p -= lr v (Nesterov: (g' + mu v) lr)."""
    f32 = lambda x: float(np.float32(x))
    mu, rescale, coeff = f32(mu), f32(rescale), f32(coeff)
    p, v = p.clone(), torch.zeros_like(p)
    for g in grads:
        gp = g * rescale + coeff * p
        v = mu * v + gp
        p = p - (gp + mu * v) * lr if nesterov else p - lr * v
    return p


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_rescale_grad_follows_paddles_gpu_formula(engine, nesterov):
    """rescale_grad multiplies the gradient before the fused L2 term, as Paddle's GPU kernel
    (Paddle's CPU kernel ignores it for dense grads; its sparse CPU kernel applies it, see
    test_sparse_momentum_matches_paddle). Checked on every engine against a float64 derivation."""
    g = torch.Generator().manual_seed(3)
    init = torch.randn(300, 7, generator=g, dtype=torch.float64)
    grads = [torch.randn(300, 7, generator=g, dtype=torch.float64) for _ in range(5)]
    p = init.clone().requires_grad_()
    with pytest.warns(UserWarning, match="rescale_grad"):
        opt = oar.Momentum(
            [p],
            learning_rate=0.05,
            momentum=0.7,
            use_nesterov=nesterov,
            rescale_grad=0.3,
            weight_decay=0.1,
            engine=engine,
        )
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
    want = _hand_momentum(init, grads, lr=0.05, mu=0.7, rescale=0.3, coeff=0.1, nesterov=nesterov)
    torch.testing.assert_close(p.detach(), want, rtol=1e-13, atol=1e-14)


def test_rescale_grad_warns_once_naming_the_argument():
    p = torch.nn.Parameter(torch.ones(3))
    q = torch.nn.Parameter(torch.ones(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        oar.Momentum([p], rescale_grad=1.0)
        oar.Momentum([{"params": [p]}, {"params": [q], "rescale_grad": 1.0}])
    assert not [w for w in caught if "rescale_grad" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = oar.Momentum(
            [{"params": [p], "rescale_grad": 0.5}, {"params": [q], "rescale_grad": 0.25}], rescale_grad=2.0
        )
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "rescale_grad": 4.0})
    mine = [w for w in caught if "rescale_grad" in str(w.message)]
    assert len(mine) == 1 and "CPU kernel ignores rescale_grad" in str(mine[0].message)
    assert mine[0].filename == __file__  # points at the caller
    opt = oar.Momentum([p])
    with pytest.warns(UserWarning, match="rescale_grad=0.5") as record:
        opt.add_param_group({"params": [q], "rescale_grad": 0.5})
    assert record[0].filename == __file__


# ------------------------------------------------------------------ sparse gradients
def _embedding_data(dtype, steps=4):
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((20, 4)).astype(dtype)
    batches = []
    for _ in range(steps):
        ids = rng.integers(0, 20, size=7)  # duplicates included
        batches.append((ids, rng.standard_normal((7, 4)).astype(dtype)))
    return weights, batches


def _paddle_embedding(name, kwargs, weights, batches, dtype):
    paddle.set_default_dtype(dtype)
    try:
        emb = paddle.nn.Embedding(weights.shape[0], weights.shape[1], sparse=True)
        emb.weight.set_value(weights)
        opt = getattr(paddle.optimizer, name)(parameters=emb.parameters(), **kwargs)
        for ids, g in batches:
            opt.clear_grad()
            (emb(paddle.to_tensor(ids)) * paddle.to_tensor(g)).sum().backward()
            opt.step()
        return emb.weight.numpy()
    finally:
        paddle.set_default_dtype("float32")


def _oar_embedding(name, kwargs, weights, batches, engine="auto"):
    emb = torch.nn.Embedding(*weights.shape, sparse=True, dtype=getattr(torch, str(weights.dtype)))
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(weights))
    opt = getattr(oar, name)(emb.parameters(), engine=engine, **kwargs)
    for ids, g in batches:
        opt.clear_grad(set_to_zero=False)
        (emb(torch.from_numpy(ids)) * torch.from_numpy(g)).sum().backward()
        assert emb.weight.grad.is_sparse
        opt.step()
    return emb.weight.detach().numpy()


SPARSE = [
    ("SGD", {}),
    ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"weight_decay": ("L1", 0.05)}),
    ("Momentum", {}),
    ("Momentum", {"use_nesterov": True, "rescale_grad": 0.5}),
    ("Momentum", {"weight_decay": 0.1, "rescale_grad": 0.25}),
    ("Momentum", {"weight_decay": ("L1", 0.05), "use_nesterov": True}),
]


@pytest.mark.filterwarnings("ignore:Momentum. rescale_grad")
@pytest.mark.parametrize("engine", ["eager", "auto"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", SPARSE, ids=[f"{n}-{k}" for n, k in SPARSE])
def test_sparse_grads_match_paddle(name, kwargs, dtype, engine):
    """``Embedding(sparse=True)`` grads against Paddle's SelectedRows kernels. SGD updates the
    rows of the grad, one entry after the other (duplicates too); Momentum updates every row
    (absent rows with g = 0) and, on this path, Paddle's CPU kernel applies rescale_grad. A
    regularizer makes the grad dense. float32 is bit-exact with Paddle where no regularizer
    sums duplicate rows (the order of that sum differs)."""
    weights, batches = _embedding_data(dtype)
    kwargs = {"learning_rate": 0.1, **kwargs}
    p_kwargs = {k: (paddle.regularizer.L1Decay(v[1]) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    o_kwargs = {k: (oar.L1Decay(v[1]) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    want = _paddle_embedding(name, p_kwargs, weights, batches, dtype)
    got = _oar_embedding(name, o_kwargs, weights, batches, engine)
    if dtype == "float32" and "weight_decay" not in kwargs and name == "SGD":
        # Paddle's sparse SGD updates a row with BLAS axpy: on some CPUs one rounding of
        # p - lr * g instead of two (see test_float32_is_bit_exact_with_paddle), so each update
        # of an element may differ by one float32 spacing of the largest magnitude
        updates = max(collections.Counter(int(i) for ids, _ in batches for i in ids).values())
        bound = updates * np.spacing(np.float32(max(np.abs(want).max(), np.abs(weights).max())))
        np.testing.assert_allclose(got, want, rtol=0, atol=bound)
    elif dtype == "float32" and "weight_decay" not in kwargs:
        np.testing.assert_array_equal(got, want)
    else:
        tol = 1e-10 if dtype == "float64" else 1e-6
        assert np.abs(got - want).max() / np.abs(want - weights).max() <= tol
    if name == "SGD" and not kwargs.get("weight_decay"):
        untouched = sorted(set(range(len(weights))) - {int(i) for ids, _ in batches for i in ids})
        assert untouched
        np.testing.assert_array_equal(got[untouched], weights[untouched])


# ------------------------------------------------------------------ use_multi_tensor
def test_use_multi_tensor_refuses_float64_and_sparse_and_changes_nothing_else():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = oar.Momentum([p], use_multi_tensor=True)  # accepted at construction, as Paddle
    p.grad = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="only support fp32, fp16 or bf16 parameters"):
        opt.step()
    emb = torch.nn.Embedding(4, 2, sparse=True)
    opt = oar.Momentum(emb.parameters(), use_multi_tensor=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="grad is DENSE_TENSOR"):
        opt.step()
    torch.manual_seed(0)
    a = torch.randn(5, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    opts = [oar.Momentum([a], use_multi_tensor=True, weight_decay=0.1), oar.Momentum([b], weight_decay=0.1)]
    for _ in range(3):
        g = torch.randn(5)
        a.grad, b.grad = g.clone(), g.clone()
        for o in opts:
            o.step()
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="use_multi_tensor"):
        oar.Momentum([a], use_multi_tensor=1)


# ------------------------------------------------------------------ construction
@pytest.mark.parametrize(
    "build,exc,match",
    [
        (lambda p: oar.SGD(learning_rate=None, parameters=p), ValueError, "learning_rate is not set"),
        (lambda p: oar.Momentum(learning_rate=None, parameters=p), ValueError, "learning_rate is not set"),
        (lambda p: oar.Momentum(momentum=None, parameters=p), ValueError, "momentum is not set"),
        (lambda p: oar.Momentum(momentum="0.9", parameters=p), TypeError, "momentum"),
        (lambda p: oar.Momentum(rescale_grad=None, parameters=p), TypeError, "rescale_grad"),
        (lambda p: oar.Momentum(use_nesterov=1, parameters=p), TypeError, "use_nesterov"),
        (lambda p: oar.Momentum(parameters=[{"params": p, "momentum": "x"}]), TypeError, "momentum"),
        (lambda p: oar.Momentum(p, nesterov=True), TypeError, "use_nesterov"),
        (lambda p: oar.Momentum(p, dampening=0.1), TypeError, "dampening"),
        (lambda p: oar.SGD(p, momentum=0.9), TypeError, "oar.Momentum"),
        (lambda p: oar.SGD(p, lr=0.1), TypeError, "learning_rate"),
    ],
    ids=[
        "sgd-lr-none",
        "lr-none",
        "momentum-none",
        "momentum-str",
        "rescale-none",
        "nesterov-int",
        "group-momentum",
        "torch-nesterov",
        "torch-dampening",
        "sgd-momentum",
        "sgd-torch-lr",
    ],
)
def test_bad_construction_raises(build, exc, match):
    with pytest.raises(exc, match=match):
        build([torch.nn.Parameter(torch.ones(2))])


def test_group_options_and_negative_momentum_like_paddle():
    """Per-group momentum, use_nesterov and rescale_grad; Paddle checks no range of momentum."""
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = oar.Momentum(
        learning_rate=0.1,
        momentum=-0.5,
        parameters=[{"params": [a]}, {"params": [b], "momentum": 0.3, "use_nesterov": True}],
    )
    assert [(g["momentum"], g["use_nesterov"], g["rescale_grad"]) for g in opt.param_groups] == [
        (-0.5, False, 1.0),
        (0.3, True, 1.0),
    ]


# ------------------------------------------------------------------ master weights, state
@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("name,kwargs", [("SGD", {}), ("Momentum", {"use_nesterov": True, "weight_decay": 0.01})])
def test_multi_precision_master_weight_follows_the_float32_trajectory(name, kwargs, engine):
    """bfloat16 params with multi_precision: the float32 master (and velocity) follow exactly the
    trajectory of a float32 optimizer fed the same grads; the param holds the master rounded.
    On the fused engine every step runs the kernel's bfloat16 form. (Momentum's fused L2 decay
    reads the master; a generic regularizer reads the bfloat16 param, as Paddle's.)"""
    torch.manual_seed(0)
    init = torch.randn(64, 9).to(torch.bfloat16)
    low = torch.nn.Parameter(init.clone())
    ref = torch.nn.Parameter(init.float())
    cls = getattr(oar, name)
    opt = cls([low], learning_rate=0.05, multi_precision=True, engine=engine, **kwargs)
    ref_opt = cls([ref], learning_rate=0.05, engine=engine, **kwargs)
    before = F.stats().get("fused_params", 0)
    for _ in range(5):
        g = torch.randn(64, 9).to(torch.bfloat16)
        low.grad, ref.grad = g, g.float()
        opt.step()
        ref_opt.step()
    if engine == "fused":
        assert F.stats().get("fused_params", 0) - before == 10
    state = opt.state[low]
    assert state["master_weight"].dtype == torch.float32
    assert torch.equal(state["master_weight"], ref.detach())
    if name == "Momentum":
        assert torch.equal(state["velocity"], ref_opt.state[ref]["velocity"])
    assert torch.equal(low.detach(), ref.detach().to(torch.bfloat16))


def test_momentum_state_dict_round_trip_resumes_exactly():
    """The state dict holds the velocity and the group keys (the weight decay as plain data);
    loading it into a fresh optimizer resumes bit-identically."""

    def make(params):
        return oar.Momentum(
            learning_rate=oar.lr.StepDecay(0.05, 2),
            weight_decay=oar.L1Decay(0.01),
            parameters=[
                {"params": params[:1], "weight_decay": 0.02, "use_nesterov": True},
                {"params": params[1:], "momentum": 0.5},
            ],
        )

    g = torch.Generator().manual_seed(0)
    init = [torch.randn(4, 3, generator=g), torch.randn(3, generator=g)]
    grads = [[torch.randn(t.shape, generator=g) for t in init] for _ in range(8)]

    def steps(params, opt, gs):
        for step in gs:
            for p, gr in zip(params, step, strict=False):
                p.grad = gr.clone()
            opt.step()
            opt._learning_rate.step()

    params = [t.clone().requires_grad_() for t in init]
    opt = make(params)
    steps(params, opt, grads[:4])
    sd = copy.deepcopy(opt.state_dict())
    assert set(sd["state"][0]) == {"velocity"}
    assert sd["param_groups"][0]["weight_decay"] == {"type": "L2Decay", "coeff": 0.02}
    assert sd["param_groups"][1]["momentum"] == 0.5 and sd["param_groups"][0]["use_nesterov"] is True
    snapshot = [p.detach().clone() for p in params]
    steps(params, opt, grads[4:])
    fresh = [t.clone().requires_grad_() for t in snapshot]
    opt2 = make(fresh)
    opt2.set_state_dict(sd)
    steps(fresh, opt2, grads[4:])
    assert all(torch.equal(a, b) for a, b in zip(fresh, params, strict=False))
