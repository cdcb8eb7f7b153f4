"""Adadelta, NAdam and RAdam beyond the option matrix (tests/cases/{adadelta,nadam,radam}.py):
validation against real Paddle 3.3.1, sparse gradients, ClipGradByNorm (float32 only in Paddle),
params without a grad, the [1]-shaped pows against Paddle's param-shaped ones, the fused kernels
(RAdam's rectified branch included), and torch.optim's implementations of the same math."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from cases import NO_CLIP, NORM
from paddle_harness import check, paddle, run_side_by_side

import oar
from oar.engine import fused as F

NAMES = ["Adadelta", "NAdam", "RAdam"]
#: options of a short run per algorithm (RAdam: β2 = 0.9 rectifies from about the 6th step)
RUN_KWARGS: dict[str, dict[str, Any]] = {
    "Adadelta": {"learning_rate": 1.0, "weight_decay": 0.05},
    "NAdam": {"weight_decay": 0.05, "momentum_decay": 0.1},
    "RAdam": {"weight_decay": 0.05, "beta2": 0.9},
}


def _outcome(make, step: bool = True) -> tuple[type | None, str]:
    """The exception (type, message) that building an optimizer with ``make`` and taking one
    step raises, or (None, '')."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt, params = make()
            if step:
                for p in params:
                    p.grad = None
                loss = sum((p * p).sum() for p in params)
                loss.backward()
                opt.step()
    except Exception as exc:
        return type(exc), str(exc)
    return None, ""


def _paddle_outcome(name: str, kwargs: dict[str, Any]) -> tuple[type | None, str]:
    def make():
        lin = paddle.nn.Linear(2, 2)
        return getattr(paddle.optimizer, name)(parameters=lin.parameters(), **kwargs), lin.parameters()

    return _outcome(make)


def _oar_outcome(name: str, kwargs: dict[str, Any]) -> tuple[type | None, str]:
    def make():
        lin = torch.nn.Linear(2, 2)
        return getattr(oar, name)(parameters=lin.parameters(), **kwargs), list(lin.parameters())

    return _outcome(make)


#: (algorithm, kwargs): oar and Paddle raise the same exception type (and, for ValueError, the
#: same message), or neither raises. (Values Paddle takes and oar refuses, a negative or
#: non-finite lr or epsilon, Adadelta's rho outside [0, 1), ...: tests/test_bad_input.py.)
SAME_AS_PADDLE = [
    *[
        ("Adadelta", kw)
        for kw in (
            {"learning_rate": None},
            {"epsilon": None},
            {"rho": None},
            {"rho": "a"},
            {"epsilon": "a"},
            {"learning_rate": 1},
            {"epsilon": 0},
            {"rho": 0},
        )
    ],
    *[
        (name, kw)
        for name in ("NAdam", "RAdam")
        for kw in (
            {"learning_rate": None},
            {"learning_rate": -1},
            {"learning_rate": -1.0},
            {"learning_rate": 1},
            {"learning_rate": float("nan")},
            {"epsilon": -1.0},
            {"epsilon": None},
            {"epsilon": "a"},
            {"beta1": 1.0},
            {"beta1": -0.1},
            {"beta2": 1.0},
            {"beta2": -0.5},
            {"beta1": None},
            {"beta1": "a"},
            {"beta1": float("nan")},
            {"beta1": 0},
            {"epsilon": 0},
            {"beta1": 2.0, "epsilon": -1.0},
            {"learning_rate": -1.0, "beta1": 2.0},
        )
    ],
    *[
        ("NAdam", kw)
        for kw in (
            {"momentum_decay": -1.0},
            {"momentum_decay": None},
            {"momentum_decay": 0},
            {"momentum_decay": "a"},
            {"momentum_decay": float("nan")},
        )
    ],
]


@pytest.mark.parametrize("name,kwargs", SAME_AS_PADDLE, ids=[f"{n}-{kw}" for n, kw in SAME_AS_PADDLE])
def test_validation_like_paddle(name, kwargs):
    expected, expected_msg = _paddle_outcome(name, kwargs)
    got, got_msg = _oar_outcome(name, kwargs)
    assert got is expected, (got, got_msg, expected, expected_msg)
    if expected is ValueError:
        assert got_msg == expected_msg


@pytest.mark.parametrize("name", ["NAdam", "RAdam"])
def test_tensor_and_bool_betas_are_refused_at_construction(name):
    """Paddle accepts a tensor beta, then fails at its first step (SystemError); oar refuses it
    with a TypeError at once. A bool is refused too (Paddle: ValueError for True, 0.0 for False)."""
    assert _paddle_outcome(name, {"beta1": paddle.to_tensor([0.9])})[0] is SystemError
    assert _oar_outcome(name, {"beta1": torch.tensor([0.9])})[0] is TypeError
    assert _oar_outcome(name, {"beta2": False})[0] is TypeError


@pytest.mark.parametrize("name", NAMES)
def test_group_options_are_validated(name):
    """A param group's options are checked like the constructor's (Paddle checks none)."""
    key, bad = {"Adadelta": ("rho", None), "NAdam": ("momentum_decay", -1.0), "RAdam": ("beta2", 1.0)}[name]
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError):
        getattr(oar, name)(parameters=[{"params": [a]}, {"params": [b], key: bad}])


@pytest.mark.parametrize("name", NAMES)
def test_torch_keywords_and_multi_precision_are_refused(name):
    p = [torch.nn.Parameter(torch.ones(2))]
    for kw in ({"lr": 0.1}, {"eps": 1e-3}, {"foreach": True}, {"multi_precision": True}):
        with pytest.raises(TypeError):
            getattr(oar, name)(p, **kw)
    if name != "Adadelta":
        with pytest.raises(TypeError, match="coupled"):
            getattr(oar, name)(p, decoupled_weight_decay=True)


_PADDLE_SPARSE = """
import sys, paddle
emb = paddle.nn.Embedding(10, 4, sparse=True)
opt = getattr(paddle.optimizer, sys.argv[1])(learning_rate=0.1, parameters=emb.parameters())
emb(paddle.to_tensor([1, 2, 2])).sum().backward()
try:
    opt.step()
except OSError as exc:
    print("OSError", exc)
    sys.exit(3)
"""


def test_paddle_takes_no_sparse_gradient():
    """Paddle 3.3.1's CPU kernels of the three take no sparse (SelectedRows) gradient: the step
    reads a garbage dimension and raises an OSError, or crashes the process (it reads memory it
    does not own), so it runs in a child process."""
    import subprocess
    import sys

    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", _PADDLE_SPARSE, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name in NAMES
    }  # in parallel
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode != 0, (name, out, err[-2000:])


@pytest.mark.parametrize("name", NAMES)
def test_sparse_gradients_raise(name):
    """oar raises a RuntimeError naming the optimizer before anything changes."""
    temb = torch.nn.Embedding(10, 4, sparse=True)
    before = temb.weight.detach().clone()
    opt = getattr(oar, name)(learning_rate=0.1, parameters=temb.parameters())
    temb(torch.tensor([1, 2, 2])).sum().backward()
    assert temb.weight.grad.is_sparse
    with pytest.raises(RuntimeError, match=f"{name} does not support sparse gradients"):
        opt.step()
    assert torch.equal(temb.weight.detach(), before)


@pytest.mark.parametrize("name", NAMES)
def test_clip_by_norm_float32(name):
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        {**RUN_KWARGS[name], "grad_clip": NORM},
        NO_CLIP,
        dtype="float32",
    )
    check(run, "float32")


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("name", NAMES)
def test_params_without_grad_are_skipped(name, engine):
    """A param with no grad at a step gets no update and its pows do not advance."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        RUN_KWARGS[name],
        skip_grad=lambda step, i: (step + i) % 3 == 0,
        engine=engine,
    )
    check(run, "float64")


@pytest.mark.parametrize("name", NAMES)
def test_state_matches_paddles_accumulators(name):
    """Every oar state entry is a Paddle accumulator of the same name; the [1]-shaped pows equal
    every element of Paddle's param-shaped ones after 12 steps."""
    run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), RUN_KWARGS[name], steps=12)
    psd = run.paddle_opt.state_dict()
    params = [p for g in run.oar_opt.param_groups for p in g["params"]]
    for p, pp in zip(params, run.paddle_opt._parameter_list, strict=False):
        for key, value in run.oar_opt.state[p].items():
            entry = f"{pp.name}_{key}_0"
            assert entry in psd, f"{entry} not among Paddle's accumulators {sorted(psd)}"
            ref = psd[entry].numpy()
            got = value.detach().numpy()
            if value.shape == (1,) and p.shape != (1,):
                assert np.all(ref == ref.flat[0]), f"{key}: Paddle's elements differ"
            np.testing.assert_allclose(np.broadcast_to(got, ref.shape), ref, rtol=1e-12, atol=1e-300, err_msg=key)


def _run(cls, kwargs, engine, dtype, shapes, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_() for s in shapes]
    opt = cls(params, engine=engine, **kwargs)
    for k in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype)
        opt.set_lr(0.01 * (1 + k % 3))
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_fused_kernel_runs_and_matches_eager_over_many_steps(name, dtype):
    """10 steps (RAdam crosses to the rectified update at about step 6 with β2 = 0.9) over tensors
    that split into pieces (the split across threads: tests/test_engine.py): the fused engine
    runs every param with its kernel and gives the eager rule's params and state to rounding
    (float64: to a few ulps)."""
    shapes = [(5000,), (1,), (4097,), (3, 5)]
    kwargs = {"NAdam": {"momentum_decay": 0.1}, "RAdam": {"beta2": 0.9}, "Adadelta": {"rho": 0.9}}[name]
    before = F.stats()
    got, got_opt = _run(getattr(oar, name), kwargs, "fused", dtype, shapes, 10)
    after = F.stats()
    assert after.get("fused_params", 0) - before.get("fused_params", 0) == 10 * len(shapes)
    assert after.get("fallback_params", 0) == before.get("fallback_params", 0)
    ref, ref_opt = _run(getattr(oar, name), kwargs, "eager", dtype, shapes, 10)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-13, "atol": 1e-15}
    for p, q in zip(got, ref, strict=False):
        torch.testing.assert_close(p.detach(), q.detach(), **tol)
        for key in ref_opt.state[q]:
            torch.testing.assert_close(got_opt.state[p][key], ref_opt.state[q][key], **tol, msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_zero_dim_params(name):
    """A 0-d param keeps its shape (its update broadcasts with the [1]-shaped state)."""
    for engine in ("eager", "fused"):
        p = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        opt = getattr(oar, name)([p], engine=engine)
        for _ in range(8):
            p.grad = torch.tensor(0.5, dtype=torch.float64)
            opt.step()
        assert p.shape == () and float(p.detach()) < 1.0


# ------------------------------------------------------------------ against torch.optim
# Hyper-parameters exactly representable in float32, so that Paddle's rounding of its float
# attributes changes nothing and the two differ by the order of operations only.
TORCH_PEERS = [
    (
        "Adadelta",
        {"learning_rate": 0.5, "rho": 0.875, "epsilon": 2.0**-20, "weight_decay": 0.0625},
        lambda ps, fe: torch.optim.Adadelta(ps, lr=0.5, rho=0.875, eps=2.0**-20, weight_decay=0.0625, foreach=fe),
    ),
    (
        "NAdam",
        {
            "learning_rate": 0.01,
            "beta1": 0.875,
            "beta2": 0.9990234375,
            "epsilon": 2.0**-20,
            "momentum_decay": 2.0**-6,
            "weight_decay": 0.0625,
        },
        lambda ps, fe: torch.optim.NAdam(
            ps,
            lr=0.01,
            betas=(0.875, 0.9990234375),
            eps=2.0**-20,
            momentum_decay=2.0**-6,
            weight_decay=0.0625,
            foreach=fe,
        ),
    ),
    (
        "RAdam",
        {"learning_rate": 0.01, "beta1": 0.875, "beta2": 0.9375, "epsilon": 2.0**-20, "weight_decay": 0.0625},
        lambda ps, fe: torch.optim.RAdam(
            ps, lr=0.01, betas=(0.875, 0.9375), eps=2.0**-20, weight_decay=0.0625, foreach=fe
        ),
    ),
]


@pytest.fixture
def float64_default():
    """torch keeps NAdam's mu_product and the step counts in the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name,kwargs,make_torch", TORCH_PEERS, ids=[t[0] for t in TORCH_PEERS])
def test_same_math_as_torch_optim(name, kwargs, make_torch, foreach, engine, float64_default):
    """30 float64 steps (RAdam rectified from about step 6) equal torch.optim's to 1e-11 of the
    total update: the same algorithm, in another order of operations."""
    g = torch.Generator().manual_seed(3)
    init = [torch.randn(s, generator=g, dtype=torch.float64) for s in ((6, 5), (5,), (1,))]
    grads = [[torch.randn(t.shape, generator=g, dtype=torch.float64) for t in init] for _ in range(30)]
    ours = [torch.nn.Parameter(t.clone()) for t in init]
    theirs = [torch.nn.Parameter(t.clone()) for t in init]
    opt = getattr(oar, name)(ours, engine=engine, **kwargs)
    ref = make_torch(theirs, foreach)
    for step in grads:
        for a, b, gr in zip(ours, theirs, step, strict=False):
            a.grad, b.grad = gr.clone(), gr.clone()
        opt.step()
        ref.step()
    for a, b, t in zip(ours, theirs, init, strict=False):
        scale = float((b.detach() - t).abs().max())
        assert float((a.detach() - b.detach()).abs().max()) <= 1e-11 * scale


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_exactly(name, tmp_path):
    """A state dict saved after 4 steps (the [1]-shaped pows included) and loaded into a fresh
    optimizer resumes the same trajectory, through torch.save/torch.load(weights_only=True)."""
    cls, kwargs = getattr(oar, name), {**RUN_KWARGS[name], "learning_rate": 0.01}
    a, opt_a = _run(cls, kwargs, "fused", torch.float64, [(4, 3), (5,)], 4)
    path = tmp_path / "opt.pt"
    torch.save(opt_a.state_dict(), path)
    b = [p.detach().clone().requires_grad_() for p in a]
    opt_b = cls(b, **kwargs)
    opt_b.load_state_dict(torch.load(path, weights_only=True))
    g = torch.Generator().manual_seed(5)
    for _ in range(8):  # RAdam's rectified branch from about step 6
        for p, q in zip(a, b, strict=False):
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            q.grad = p.grad.clone()
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b, strict=False):
        assert torch.equal(p, q)
        assert all(torch.equal(opt_a.state[p][k], opt_b.state[q][k]) for k in opt_a.state[p])
