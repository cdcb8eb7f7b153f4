"""ASGD, Rprop and LBFGS beyond the option matrix of tests/test_parity.py: validation errors and
state layouts against real Paddle 3.3.1, the warnings where Paddle silently ignores an argument,
the engines ASGD runs on, Rprop against torch.optim.Rprop, and LBFGS on real problems (a
least-squares fit and a logistic regression) against both Paddle's and torch's LBFGS."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from paddle_harness import check, paddle, run_side_by_side

import oar
from oar.engine import fused as F


def _raises_like_paddle(paddle_call, oar_call, exc_type):
    """Both calls raise ``exc_type``, oar's message Paddle's followed by the values (", got ...")."""
    with pytest.raises(exc_type) as expected:
        paddle_call()
    with pytest.raises(exc_type) as got:
        oar_call()
    assert str(got.value) == str(expected.value) or str(got.value).startswith(f"{expected.value}, got ")


def _paddle_param(values: np.ndarray):
    return paddle.create_parameter(
        list(values.shape), str(values.dtype), default_initializer=paddle.nn.initializer.Assign(values)
    )


def _paddle_state(opt, suffixes):
    """Paddle's accumulators by their oar name (the suffix of Paddle's ``<param>_<acc>_<k>``)."""
    out = {}
    for key, value in opt.state_dict().items():
        for name in suffixes:
            if key.rsplit("_", 1)[0].endswith("_" + name):
                out[name] = value.numpy()
    return out


# ============================================================================== ASGD
@pytest.mark.parametrize(
    "name,kwargs,exc",
    [
        ("ASGD", {"batch_num": 0}, ValueError),
        ("ASGD", {"batch_num": -2}, ValueError),
        ("ASGD", {"batch_num": None}, ValueError),
        ("ASGD", {"learning_rate": None}, ValueError),
        ("Rprop", {"learning_rate": 1e-6}, ValueError),
        ("Rprop", {"learning_rate": 60.0}, ValueError),
        ("Rprop", {"learning_rate_range": (0.0, 1.0)}, ValueError),
        ("Rprop", {"etas": (1.5, 2.0)}, ValueError),
        ("Rprop", {"etas": (0.5, 1.0)}, ValueError),
        ("Rprop", {"learning_rate": None}, ValueError),
        ("Rprop", {"learning_rate": 1}, TypeError),
    ],
)
def test_validation_like_paddle(name, kwargs, exc):
    paddle.set_default_dtype("float64")
    _raises_like_paddle(
        lambda: getattr(paddle.optimizer, name)(parameters=[_paddle_param(np.ones(2))], **kwargs),
        lambda: getattr(oar, name)(parameters=[torch.ones(2, requires_grad=True)], **kwargs),
        exc,
    )
    paddle.set_default_dtype("float32")


def test_asgd_rejects_a_non_int_batch_num_at_construction():
    """Paddle accepts batch_num=2.5 and fails at the first step (TypeError); oar at once."""
    with pytest.raises(TypeError, match="batch_num must be an int"):
        oar.ASGD(parameters=[torch.ones(2, requires_grad=True)], batch_num=2.5)


def test_asgd_state_is_paddles():
    """d, y [batch_num, *shape] and the int64 step count m hold Paddle's values after 7 steps."""
    run = run_side_by_side(paddle.optimizer.ASGD, oar.ASGD, {"batch_num": 3, "learning_rate": 0.1}, steps=7)
    check(run, "float64")
    for p in run.oar_opt.param_groups[0]["params"]:
        state = run.oar_opt.state[p]
        assert set(state) == {"d", "y", "m"}
        assert state["y"].shape == (3, *p.shape) and state["m"].dtype == torch.int64
        assert state["m"].tolist() == [7]
    expected = _paddle_state(run.paddle_opt, ("d", "y", "m"))
    last = run.oar_opt.param_groups[0]["params"][-1]  # Paddle's state dict keeps each name once here
    got = run.oar_opt.state[last]
    assert expected["m"].dtype == np.int64 and expected["m"].tolist() == [7]
    np.testing.assert_allclose(got["y"].numpy(), expected["y"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(got["d"].numpy(), expected["d"], rtol=0, atol=1e-15)


def test_asgd_with_batch_num_1_is_sgd():
    torch.manual_seed(0)
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    asgd, sgd = oar.ASGD([a], learning_rate=0.1, batch_num=1), oar.SGD([b], learning_rate=0.1)
    for _ in range(5):
        g = torch.randn(5, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        asgd.step()
        sgd.step()
    assert torch.equal(a, b)


def test_asgd_averages_the_last_batch_num_grads():
    """p moves by lr times the mean of the last min(m, n) grads (SAG), not torch's ASGD."""
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = oar.ASGD([p], learning_rate=1.0, batch_num=2)
    grads = [torch.tensor([1.0, 2, 3], dtype=torch.float64) * k for k in (1, 2, 5)]
    expected = torch.zeros(3, dtype=torch.float64)
    for k, g in enumerate(grads):
        p.grad = g
        opt.step()
        window = grads[max(0, k - 1) : k + 1]
        expected -= sum(window) / len(window)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-15)


def test_asgd_group_batch_num_is_ignored_with_a_warning():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="ASGD ignores the param-group key 'batch_num'"):
        opt = oar.ASGD(parameters=[{"params": [a]}, {"params": [b], "batch_num": 5}], batch_num=2)
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert opt.state[b]["y"].shape == (2, 2)


@pytest.mark.parametrize("engine", ["compiled", "fused"])
def test_asgd_engines_match_eager(engine):
    """The compiled engine and the fused kernel (y by its base address, the int64 m as a
    counter) against eager. float64 and bfloat16 (float32 master) params."""

    def run(engine):
        g = torch.Generator().manual_seed(3)
        dtypes = (torch.float64, torch.bfloat16)  # one compile each
        params = [torch.randn(4, 3, generator=g, dtype=torch.float64).to(dt).requires_grad_() for dt in dtypes]
        opt = oar.ASGD(params, learning_rate=0.05, batch_num=3, multi_precision=True, engine=engine)
        for k in range(4):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            opt.set_lr(0.05 * (k + 1))
            opt.step()
        return params, opt

    ref, ref_opt = run("eager")
    before = F.stats()
    got, got_opt = run(engine)
    fused = F.stats().get("fused_params", 0) - before.get("fused_params", 0)
    assert fused == (8 if engine == "fused" else 0)  # 2 params x 4 steps
    for a, b in zip(ref, got, strict=False):
        torch.testing.assert_close(b, a, rtol=1e-5 if a.dtype != torch.bfloat16 else 1e-2, atol=1e-6)
        for key in ref_opt.state[a]:
            torch.testing.assert_close(got_opt.state[b][key], ref_opt.state[a][key], rtol=1e-5, atol=1e-6)
    assert "master_weight" in got_opt.state[got[1]]


# ============================================================================== Rprop
def test_rprop_refuses_a_scheduler_like_paddle():
    with pytest.raises(TypeError):
        paddle.optimizer.Rprop(
            learning_rate=paddle.optimizer.lr.StepDecay(0.01, 3),
            parameters=[_paddle_param(np.ones(2, dtype="float32"))],
        )
    with pytest.raises(TypeError, match="'<=' not supported"):
        oar.Rprop(learning_rate=oar.lr.StepDecay(0.01, 3), parameters=[torch.ones(2, requires_grad=True)])


def _rprop_run(opt_maker, steps=20, dtype=torch.float64, seed=0, between=None):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_() for s in ((6, 5), (7,))]
    opt = opt_maker(params)
    for k in range(steps):
        for p in params:
            # a sign that often repeats, so that step sizes grow and shrink
            p.grad = (torch.randn(p.shape, generator=g, dtype=torch.float64) + 0.3).to(dtype)
        if between is not None:
            between(opt, k)
        opt.step()
    return params, opt


def test_rprop_ignores_lr_changes_and_warns_once():
    """As Paddle: set_lr, set_lr_scheduler and group multipliers leave the update alone; oar
    warns once for each, naming it."""
    ref, _ = _rprop_run(lambda ps: oar.Rprop(ps, learning_rate=0.01))

    def change(opt, k):
        opt.set_lr(0.5 * (k + 1))
        if k == 10:
            opt.set_lr_scheduler(oar.lr.StepDecay(0.3, 2))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, _opt = _rprop_run(
            lambda ps: oar.Rprop(ps, learning_rate=0.01), between=lambda o, k: change(o, k) if k <= 10 else None
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert sum("set_lr()" in m for m in messages) == 1
    assert sum("set_lr_scheduler()" in m for m in messages) == 1
    for a, b in zip(ref, got, strict=False):
        assert torch.equal(a, b)
    with pytest.warns(UserWarning, match="'learning_rate'"):
        oar.Rprop([{"params": [torch.ones(1, requires_grad=True)], "learning_rate": 2.0}], learning_rate=0.01)
    with pytest.warns(UserWarning, match="'etas'"):
        oar.Rprop([{"params": [torch.ones(1, requires_grad=True)], "etas": (0.1, 2.0)}], learning_rate=0.01)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("foreach", [False, True])
def test_rprop_is_torchs_rprop(dtype, foreach):
    """The same update as torch.optim.Rprop (torch also zeroes the grad where the sign flips),
    bit for bit, with lr ↔ initial step, learning_rate_range ↔ step_sizes."""
    kwargs = {"learning_rate": 0.01, "etas": (0.4, 1.3), "learning_rate_range": (1e-4, 0.05)}
    ours, _ = _rprop_run(lambda ps: oar.Rprop(ps, **kwargs, engine="eager"), dtype=dtype)
    fused, _ = _rprop_run(lambda ps: oar.Rprop(ps, **kwargs, engine="fused"), dtype=dtype)
    theirs, _ = _rprop_run(
        lambda ps: torch.optim.Rprop(ps, lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.05), foreach=foreach),
        dtype=dtype,
    )
    for a, b, c in zip(ours, theirs, fused, strict=False):
        assert torch.equal(a, b) and torch.equal(c, b)


def test_rprop_fused_kernel_runs_and_keeps_paddles_state_names():
    before = F.stats().get("fused_params", 0)
    params, opt = _rprop_run(lambda ps: oar.Rprop(ps, learning_rate=0.01, engine="fused"), steps=3)
    assert F.stats().get("fused_params", 0) - before == 3 * len(params)
    assert set(opt.state[params[0]]) == {"prevs", "learning_rates"}
    run = run_side_by_side(paddle.optimizer.Rprop, oar.Rprop, {"learning_rate": 0.01}, steps=3)
    assert set(_paddle_state(run.paddle_opt, ("prevs", "learning_rates"))) == {"prevs", "learning_rates"}


def test_rprop_bfloat16_with_master_weights_runs_fused():
    before = F.stats().get("fused_params", 0)
    p = torch.randn(50, dtype=torch.float64).to(torch.bfloat16).requires_grad_()
    ref = p.detach().to(torch.float32).requires_grad_()
    opt = oar.Rprop([p], learning_rate=0.01, multi_precision=True, engine="fused")
    ref_opt = oar.Rprop([ref], learning_rate=0.01, engine="eager")
    for k in range(3):
        g = torch.randn(50, generator=torch.Generator().manual_seed(k)).to(torch.bfloat16)
        p.grad, ref.grad = g, g.to(torch.float32)
        opt.step()
        ref_opt.step()
    assert F.stats().get("fused_params", 0) - before == 3
    assert torch.equal(opt.state[p]["master_weight"], ref.detach())
    assert torch.equal(p.detach(), ref.detach().to(torch.bfloat16))


def test_rprop_sparse_gradients_as_paddle():
    """Paddle's Rprop takes a sparse (SelectedRows) grad as its dense form: absent rows see
    g = 0. ASGD and LBFGS crash the Paddle process on one; oar raises RuntimeError."""
    ids = paddle.to_tensor([1, 2, 2, 4])
    emb = paddle.nn.Embedding(5, 3, sparse=True)
    weight = emb.weight.numpy()
    popt = paddle.optimizer.Rprop(parameters=emb.parameters(), learning_rate=0.01)
    temb = torch.nn.Embedding(5, 3, sparse=True)
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(weight))
    topt = oar.Rprop(temb.parameters(), learning_rate=0.01)
    for step in range(4):
        upstream = np.random.default_rng(step).standard_normal((4, 3)).astype("float32")
        popt.clear_grad()
        (emb(ids) * paddle.to_tensor(upstream)).sum().backward()
        popt.step()
        topt.clear_grad(set_to_zero=False)
        (temb(torch.tensor(ids.numpy())) * torch.tensor(upstream)).sum().backward()
        assert temb.weight.grad.is_sparse
        topt.step()
        np.testing.assert_array_equal(temb.weight.detach().numpy(), emb.weight.numpy())
    for opt_cls in (oar.ASGD, oar.LBFGS):
        sparse = torch.nn.Embedding(5, 2, sparse=True)
        opt = opt_cls(sparse.parameters())

        def closure(opt=opt, sparse=sparse):
            opt.clear_grad(set_to_zero=False)
            loss = sparse(torch.tensor([1, 2])).sum()
            loss.backward()
            return loss

        with pytest.raises(RuntimeError, match="sparse"):
            opt.step(closure)


# ============================================================================== LBFGS
RNG = np.random.default_rng(0)
A_LS, B_LS = RNG.standard_normal((40, 6)), RNG.standard_normal(40)
X_LR = RNG.standard_normal((200, 5))
Y_LR = np.where(X_LR @ RNG.standard_normal(5) + 0.5 * RNG.standard_normal(200) > 0, 1.0, -1.0)


def _problem(kind: str, lib: str):
    """(params, loss function) of a least-squares fit (``'ls'``) or an L2-regularized logistic
    regression (``'logreg'``), written with the same primitive ops in both libraries so that
    both compute the same losses."""
    n = A_LS.shape[1] if kind == "ls" else X_LR.shape[1]
    if lib == "paddle":
        mod, w, b = paddle, _paddle_param(np.zeros(n)), _paddle_param(np.zeros(1))
        axis = {"axis": 1}
    else:
        mod = torch
        w, b = (
            torch.zeros(n, dtype=torch.float64, requires_grad=True),
            torch.zeros(1, dtype=torch.float64, requires_grad=True),
        )
        axis = {"dim": 1}
    T = paddle.to_tensor if lib == "paddle" else torch.tensor
    if kind == "ls":

        def f():
            return (((T(A_LS) * w).sum(**axis) + b - T(B_LS)) ** 2).mean()
    else:

        def f():
            margin = T(Y_LR) * ((T(X_LR) * w).sum(**axis) + b)
            return mod.log1p(mod.exp(-margin)).mean() + 1e-3 * (w * w).sum()

    return [w, b], f


def _lbfgs(lib: str, kind: str, steps: int = 3, **kw):
    """Final params, losses and (func_evals, n_iter) of ``steps`` LBFGS steps."""
    paddle.set_default_dtype("float64")
    params, f = _problem(kind, lib)
    if lib == "paddle":
        opt = paddle.optimizer.LBFGS(parameters=params, **kw)
    elif lib == "oar":
        opt = oar.LBFGS(parameters=params, **kw)
    else:
        kw = dict(kw)
        opt = torch.optim.LBFGS(params, lr=kw.pop("learning_rate", 1.0), **kw)

    def closure():
        opt.clear_grad() if lib != "torch" else opt.zero_grad()
        loss = f()
        loss.backward()
        return loss

    losses = [float(opt.step(closure)) for _ in range(steps)]
    state = opt.state[params[0]] if lib == "torch" else opt.state
    values = np.concatenate([(p.numpy() if lib == "paddle" else p.detach().numpy()).ravel() for p in params])
    paddle.set_default_dtype("float32")
    return values, losses, (state["func_evals"], state["n_iter"])


LBFGS_CONFIGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"learning_rate": 0.5, "history_size": 3, "max_iter": 7},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 30},
]


@pytest.mark.parametrize("kind", ["ls", "logreg"])
@pytest.mark.parametrize("config", range(len(LBFGS_CONFIGS)))
def test_lbfgs_matches_paddle_and_torch_on_real_problems(kind, config):
    kw = LBFGS_CONFIGS[config]
    ours, our_losses, our_counts = _lbfgs("oar", kind, **kw)
    for lib in ("paddle", "torch"):
        theirs, their_losses, their_counts = _lbfgs(lib, kind, **kw)
        assert our_counts == their_counts, lib
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())
        np.testing.assert_allclose(our_losses, their_losses, rtol=1e-12)
    assert our_losses[-1] < our_losses[0]


@pytest.mark.parametrize("kind", ["ls", "logreg"])
def test_lbfgs_line_search_budget_is_paddles_not_torchs(kind):
    """Paddle's strong-Wolfe search may take 25 evaluations; torch's takes at most
    ``max_eval - evaluations so far`` (0 here: max_iter=1 gives max_eval=1), so torch stops at
    another point; oar follows Paddle."""
    kw = {"line_search_fn": "strong_wolfe", "max_iter": 1, "learning_rate": 100.0}
    ours, _, our_counts = _lbfgs("oar", kind, steps=2, **kw)
    paddles, _, paddle_counts = _lbfgs("paddle", kind, steps=2, **kw)
    torchs, _, torch_counts = _lbfgs("torch", kind, steps=2, **kw)
    assert our_counts == paddle_counts != torch_counts
    np.testing.assert_allclose(ours, paddles, rtol=0, atol=1e-12 * np.abs(paddles).max())
    assert np.abs(ours - torchs).max() > 1e-3


def test_lbfgs_optimizes_only_the_last_group_like_paddle():
    paddle.set_default_dtype("float64")
    init = [np.full(3, 3.0), np.full(2, -1.0)]
    p_params = [_paddle_param(v) for v in init]
    t_params = [torch.tensor(v, requires_grad=True) for v in init]
    p_opt = paddle.optimizer.LBFGS(parameters=[{"params": [p_params[0]]}, {"params": [p_params[1]]}])
    t_opt = oar.LBFGS(parameters=[{"params": [t_params[0]]}, {"params": [t_params[1]]}])
    for opt, ps in ((p_opt, p_params), (t_opt, t_params)):

        def closure(opt=opt, ps=ps):
            opt.clear_grad()
            loss = sum(((p - 1.0) ** 2).sum() for p in ps)
            loss.backward()
            return loss

        opt.step(closure)
    paddle.set_default_dtype("float32")
    np.testing.assert_array_equal(t_params[0].detach().numpy(), init[0])
    np.testing.assert_array_equal(p_params[0].numpy(), init[0])
    np.testing.assert_allclose(t_params[1].detach().numpy(), p_params[1].numpy(), rtol=0, atol=1e-15)


def test_lbfgs_ignores_weight_decay_and_grad_clip_with_a_warning():
    ref, _ref_losses, _ = _lbfgs("oar", "ls")
    with pytest.warns(UserWarning, match="LBFGS ignores weight_decay and grad_clip"):
        got, _losses, _ = _lbfgs("oar", "ls", weight_decay=0.5, grad_clip=oar.ClipGradByGlobalNorm(1e-3))
    np.testing.assert_array_equal(got, ref)
    paddle_got, _, _ = _lbfgs("paddle", "ls", weight_decay=0.5, grad_clip=paddle.nn.ClipGradByGlobalNorm(1e-3))
    np.testing.assert_allclose(paddle_got, ref, rtol=0, atol=1e-12)


def test_lbfgs_errors_like_paddle():
    p = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        oar.LBFGS(parameters=[p], line_search_fn="backtracking")
    paddle.set_default_dtype("float64")
    pp = _paddle_param(np.ones(2))
    _raises_like_paddle(
        lambda: paddle.optimizer.LBFGS(parameters=[pp]).minimize(None),
        lambda: oar.LBFGS(parameters=[p]).minimize(None),
        NotImplementedError,
    )
    paddle.set_default_dtype("float32")
    with pytest.raises(TypeError):
        oar.LBFGS(parameters=[p]).step()  # the closure is required
    assert (
        oar.LBFGS(parameters=[p], learning_rate=0.3).get_lr()
        == paddle.optimizer.LBFGS(parameters=[pp], learning_rate=0.3).get_lr()
        == 1.0
    )


def test_lbfgs_state_dict_is_paddles_and_resumes():
    """The keys of Paddle's ``{'state': {...}}``; loading it into a fresh optimizer continues
    exactly as the uninterrupted run (Paddle's set_state_dict restores none of it)."""
    paddle.set_default_dtype("float64")
    pp, pf = _problem("logreg", "paddle")
    popt = paddle.optimizer.LBFGS(parameters=pp, history_size=4)

    def pclosure():
        popt.clear_grad()
        loss = pf()
        loss.backward()
        return loss

    popt.step(pclosure)
    paddle.set_default_dtype("float32")

    def make():
        params, f = _problem("logreg", "oar")
        opt = oar.LBFGS(parameters=params, history_size=4, max_iter=4)

        def closure():
            opt.clear_grad()
            loss = f()
            loss.backward()
            return loss

        return params, opt, closure

    params, opt, closure = make()
    opt.step(closure)
    saved = opt.state_dict()
    assert set(saved) == {"state"} and set(saved["state"]) == set(popt.state_dict()["state"])
    resumed_params, resumed, resumed_closure = make()
    with torch.no_grad():
        for a, b in zip(resumed_params, params, strict=False):
            a.copy_(b)
    resumed.load_state_dict(torch.utils._pytree.tree_map(lambda x: x, saved))
    opt.step(closure)
    resumed.step(resumed_closure)
    for a, b in zip(resumed_params, params, strict=False):
        assert torch.equal(a, b)
    assert resumed.state["func_evals"] == opt.state["func_evals"]
    with pytest.raises(ValueError, match="LBFGS state dict"):
        resumed.load_state_dict({"state": {"moment1": 0}})


# ---------------------------------------------------------------------------- ASGD's C kernel
ASGD_KERNEL = F.kernel_for(oar.asgd.asgd_update)


def _asgd_kernel_step(params, grads, states, lr, batch_num, threads=2):
    """One call of oar/kernels/asgd.c through the fused ABI (common.h): y is passed by its base
    pointer, the int64 counter m in the one-element state slot."""
    assert F.library(ASGD_KERNEL) is not None
    fn = F._fns[ASGD_KERNEL.source, params[0].dtype]
    names = ("d", "y") + (("master_weight",) if "master_weight" in states[0] else ())
    keep = [
        F._address([p.data_ptr() for p in params], "Q"),
        F._address([g.data_ptr() for g in grads], "Q"),
        F._address([st[k].data_ptr() for st in states for k in names], "Q"),
        F._address([st["m"].data_ptr() for st in states], "Q"),
        F._address([p.numel() for p in params], "q"),
        F._address([x for _ in params for x in (lr, float(batch_num))], "d"),
    ]
    assert fn(len(params), *(addr for _, addr in keep), threads) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_asgd_c_kernel_matches_the_rule(dtype):
    """The kernel for the fused engine's extension (see asgd.c): equal to the eager rule across
    thread and piece boundaries, rows of y wrapping around, bfloat16 through a float32 master."""
    batch_num, shapes = 3, [(257, 263), (1,), (4097,), (3, 1)]
    g = torch.Generator().manual_seed(5)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]
    ref = [p.clone() for p in params]
    opt = oar.ASGD([torch.zeros(1)], batch_num=batch_num, multi_precision=True)
    states = [opt._init_state(p, opt.param_groups[0]) for p in params]
    ref_states = [{k: v.clone() for k, v in st.items()} for st in states]
    for step in range(5):
        lr = oar.precision.round_to(0.01 * (step + 1), torch.float64 if dtype == torch.float64 else torch.float32)
        grads = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]
        _asgd_kernel_step(params, grads, states, lr, batch_num)
        oar.engine.run(
            oar.asgd.asgd_update,
            ref,
            grads,
            ref_states,
            [{"lr": lr, "batch_num": batch_num}] * len(ref),
            engine="eager",
        )
    for p, r, st, rst in zip(params, ref, states, ref_states, strict=False):
        assert torch.equal(p, r), (p.dtype, (p.double() - r.double()).abs().max(), st["m"], rst["m"])
        for key in st:
            assert torch.equal(st[key], rst[key]), key
        assert st["m"].tolist() == [5]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name,kwargs,engine",
    [
        ("ASGD", {"batch_num": 3, "learning_rate": 0.1}, "eager"),
        ("Rprop", {"learning_rate": 0.01, "etas": (0.3, 1.7)}, "eager"),
        ("Rprop", {"learning_rate": 0.01}, "fused"),
    ],
)
def test_bit_exact_with_paddle(name, kwargs, engine, dtype):
    """Paddle's ASGD and Rprop kernels round every op once, in the param's dtype: oar's eager
    rule and Rprop's fused kernel give the same bits over 20 steps."""
    run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), kwargs, dtype=dtype, engine=engine)
    assert max(run.errors) == 0.0


@pytest.mark.parametrize(
    "cls,kwargs", [(oar.ASGD, {"batch_num": 3, "learning_rate": 0.1}), (oar.Rprop, {"learning_rate": 0.01})]
)
def test_state_dict_round_trip_resumes_exactly(cls, kwargs, tmp_path):
    """Saved with torch.save, read back with weights_only=True, loaded into a fresh optimizer:
    the next steps equal the uninterrupted run's (ASGD's int64 ``m`` and ``[n, *shape]`` ``y``)."""

    def grads(k):
        g = torch.Generator().manual_seed(k)
        return [torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)]

    params = [
        torch.zeros(4, 3, dtype=torch.float64, requires_grad=True),
        torch.zeros(5, dtype=torch.float64, requires_grad=True),
    ]
    opt = cls(params, **kwargs)
    for k in range(4):
        for p, g in zip(params, grads(k), strict=False):
            p.grad = g
        opt.step()
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = cls(resumed_params, **kwargs)
    resumed.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    for k in range(4, 7):
        for ps, o in ((params, opt), (resumed_params, resumed)):
            for p, g in zip(ps, grads(k), strict=False):
                p.grad = g
            o.step()
    for a, b in zip(params, resumed_params, strict=False):
        assert torch.equal(a, b)
    if cls is oar.ASGD:
        assert resumed.state[resumed_params[0]]["m"].dtype == torch.int64
