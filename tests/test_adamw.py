"""AdamW beyond the option matrix (tests/cases/adamw.py): validation against Paddle,
``apply_decay_param_fun`` (names), ``lr_ratio`` (not available in Paddle's CPU build: checked
against torch), ParamAttr regularizers in group mode, sparse gradients, master weights, the
fused kernel, state dicts, and torch.optim.AdamW where the maths is the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from algorithm_cases import ATTRS, NO_CLIP, NORM
from paddle_harness import Spec, check, paddle, run_side_by_side

import oar
from oar.engine import fused as F

PADDLE_ADAMW = paddle.optimizer.AdamW


def _tp(*shape: int, dtype: torch.dtype = torch.float64) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.randn(*shape, dtype=dtype))


def _paddle_error(build) -> type[BaseException] | None:
    """The exception type Paddle raises when building (and stepping) the optimizer, or None."""
    paddle.set_default_dtype("float64")
    try:
        p = paddle.create_parameter([3], "float64")
        opt = build(p)
        (p * p).sum().backward()
        opt.step()
    except Exception as exc:
        return type(exc)
    finally:
        paddle.set_default_dtype("float32")
    return None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"beta1": 1.0},
        {"beta2": -0.1},
        {"epsilon": -1.0},
        {"beta1": "a"},
        {"weight_decay": None},
        {"weight_decay": "a"},
        {"weight_decay": ("L2", 0.1)},
        {"learning_rate": 1},
        {"lr_ratio": 0.5},
        {"apply_decay_param_fun": 3},
        {"lazy_mode": 1},
        {"amsgrad": 1},
    ],
)
def test_bad_arguments_raise_like_paddle(kwargs):
    """Same exception type as Paddle (which raises some of them only at the first step)."""

    def translate(side):
        return {
            k: (paddle.regularizer.L2Decay(v[1]) if side == "paddle" else oar.L2Decay(v[1]))
            if isinstance(v, tuple)
            else v
            for k, v in kwargs.items()
        }

    expected = _paddle_error(lambda p: PADDLE_ADAMW(parameters=[p], **translate("paddle")))
    assert expected is not None
    with pytest.raises(expected):
        oar.AdamW(parameters=[_tp(3)], **translate("oar"))


@pytest.mark.parametrize("value", [None, ("L2", 0.1), ("L1", 0.1), "a"])
def test_group_weight_decay_must_be_a_coefficient(value):
    """Paddle fails at the first step (TypeError: the kernel's float coeff); oar when the group is
    added."""

    def group_value(side):
        if isinstance(value, tuple):
            mod = paddle.regularizer if side == "paddle" else oar
            return getattr(mod, f"{value[0]}Decay")(value[1])
        return value

    expected = _paddle_error(
        lambda p: PADDLE_ADAMW(parameters=[{"params": [p], "weight_decay": group_value("paddle")}])
    )
    assert expected is TypeError
    with pytest.raises(TypeError, match="weight_decay"):
        oar.AdamW(parameters=[{"params": [_tp(3)], "weight_decay": group_value("oar")}])


def test_accepted_coefficients():
    """int, float and tensor coefficients are floats; an int group coefficient too (as Paddle)."""
    a, b = _tp(2), _tp(2)
    opt = oar.AdamW(parameters=[{"params": [a], "weight_decay": 1}, {"params": [b]}], weight_decay=torch.tensor(0.25))
    assert [g["weight_decay"] for g in opt.param_groups] == [1.0, 0.25]
    assert all(type(g["weight_decay"]) is float for g in opt.param_groups)
    with pytest.raises(TypeError):
        oar.AdamW(parameters=[a], weight_decay=True)  # oar refuses bools (Paddle reads 1.0)


def test_lr_ratio_is_cpu_unimplemented_in_paddle_but_runs_in_oar():
    assert _paddle_error(lambda p: PADDLE_ADAMW(parameters=[p], lr_ratio=lambda q: 0.5)) is NotImplementedError
    p = _tp(3)
    opt = oar.AdamW(parameters=[p], lr_ratio=lambda q: 0.5)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()


def test_use_lowprecision_moment_warns_that_it_is_ignored():
    with pytest.warns(UserWarning, match="use_lowprecision_moment"):
        opt = oar.AdamW(parameters=[_tp(3, dtype=torch.bfloat16)], use_lowprecision_moment=True, multi_precision=True)
    p = opt.param_groups[0]["params"][0]
    p.grad = torch.ones(3, dtype=torch.bfloat16)
    opt.step()
    assert opt.state[p]["moment1"].dtype == torch.float32


def test_sparse_gradients_raise():
    """Paddle 3.3.1's CPU AdamW kernel crashes on SelectedRows gradients (garbage dimension
    errors, or an abort): oar refuses them with a RuntimeError."""
    emb = torch.nn.Embedding(6, 3, sparse=True)
    opt = oar.AdamW(parameters=emb.parameters())
    emb(torch.tensor([1, 2, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


# ------------------------------------------------------------------ apply_decay_param_fun
def _paddle_and_oar(names_decayed: set[int], steps: int, oar_groups: bool, **kwargs):
    """Paddle and oar AdamW over the same four params, the decay function deciding by name; the
    oar side gets Paddle's names (as (name, tensor) pairs, or groups with 'param_names')."""
    rng = np.random.default_rng(3)
    shapes = [(6, 5), (5,), (2, 3, 4), (1,)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    paddle.set_default_dtype("float64")
    try:
        p_params = [
            paddle.create_parameter(list(s), "float64", default_initializer=paddle.nn.initializer.Assign(a))
            for s, a in zip(shapes, init, strict=False)
        ]
        decayed = {p_params[i].name for i in names_decayed}
        calls: list[str] = []

        def fn(name: str) -> bool:
            calls.append(name)
            return name in decayed

        popt = PADDLE_ADAMW(parameters=p_params, apply_decay_param_fun=fn, **kwargs)
        t_params = [torch.nn.Parameter(torch.tensor(a)) for a in init]
        names = [p.name for p in p_params]
        if oar_groups:
            arg = [
                {"params": t_params[:2], "param_names": names[:2]},
                {"params": t_params[2:], "param_names": names[2:]},
            ]
        else:
            arg = list(zip(names, t_params, strict=False))
        oopt = oar.AdamW(parameters=arg, apply_decay_param_fun=fn, **kwargs)
        for step in range(steps):
            popt.clear_grad()
            sum((p * paddle.to_tensor(g)).sum() for p, g in zip(p_params, grads[step], strict=False)).backward()
            popt.step()
            for t, g in zip(t_params, grads[step], strict=False):
                t.grad = torch.tensor(g)
            oopt.step()
        return p_params, t_params, init, calls
    finally:
        paddle.set_default_dtype("float32")


@pytest.mark.parametrize("oar_groups", [False, True])
def test_apply_decay_param_fun_gets_names_like_paddle(oar_groups):
    p_params, t_params, init, calls = _paddle_and_oar({0, 2}, 5, oar_groups, weight_decay=0.3, learning_rate=0.05)
    for p, t, a in zip(p_params, t_params, init, strict=False):
        np.testing.assert_allclose(t.detach().numpy(), p.numpy(), rtol=0, atol=1e-12 * np.abs(p.numpy() - a).max())
    assert len(calls) == 2 * 4 * 5  # Paddle's and oar's: once per param and step each


def test_apply_decay_param_fun_without_names_raises():
    with pytest.raises(ValueError, match="apply_decay_param_fun"):
        oar.AdamW(parameters=[_tp(3)], apply_decay_param_fun=lambda name: True)
    opt = oar.AdamW(parameters=[("w", _tp(3))], apply_decay_param_fun=lambda name: True)
    with pytest.raises(ValueError, match="apply_decay_param_fun"):
        opt.add_param_group({"params": [_tp(2)]})


def test_apply_decay_param_fun_with_named_parameters_torch_style():
    """Names of ``model.named_parameters()``: biases excluded from the decay are plain Adam."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    ref = torch.nn.Linear(4, 3).double()
    ref.load_state_dict(model.state_dict())
    opt = oar.AdamW(
        model.named_parameters(),
        learning_rate=0.01,
        weight_decay=0.5,
        apply_decay_param_fun=lambda name: not name.endswith("bias"),
    )
    ref_opt = torch.optim.AdamW(
        [{"params": [ref.weight], "weight_decay": float(np.float32(0.5))}, {"params": [ref.bias], "weight_decay": 0.0}],
        lr=0.01,
    )
    for _ in range(5):
        x = torch.randn(8, 4, dtype=torch.float64)
        for m, o in ((model, opt), (ref, ref_opt)):
            o.zero_grad()
            m(x).square().sum().backward()
            o.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=False):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ lr_ratio
def _adamw_reference(init, grads, lr, coeff, ratio, beta1=0.9, beta2=0.999, eps=1e-8):
    """AdamW with lr_ratio as Paddle's GPU kernel, derived in float64 with torch ops: lr' = lr
    ratio scales the decay and the step; coeff is rounded to float32."""
    p = init.clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    lr_r = lr * ratio
    c = float(np.float32(coeff))
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr_r * c)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr_r / (1 - beta1**t) * m / ((v / (1 - beta2**t)).sqrt() + eps)
    return p


@pytest.mark.parametrize("engine", ["eager", "fused", "compiled"])
def test_lr_ratio_scales_decay_and_step(engine):
    torch.manual_seed(1)
    params = [_tp(40, 3), _tp(7)]
    init = [p.detach().clone() for p in params]
    grads = [[torch.randn_like(p) for p in params] for _ in range(6)]
    ratios = {id(params[0]): 0.25, id(params[1]): 3.0}  # float32-exact, as Paddle rounds them
    opt = oar.AdamW(params, learning_rate=0.02, weight_decay=0.1, lr_ratio=lambda p: ratios[id(p)], engine=engine)
    for step in grads:
        for p, g in zip(params, step, strict=False):
            p.grad = g
        opt.step()
    for k, p in enumerate(params):
        expected = _adamw_reference(init[k], [s[k] for s in grads], 0.02, 0.1, ratios[id(p)])
        torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ Paddle, beyond the matrix
def test_param_attr_regularizer_applies_in_group_mode_too():
    """Paddle's AdamW leaves ParamAttr regularizers in place in group mode (the other optimizers
    overwrite them with the group's weight_decay); group lr multipliers replace ParamAttr ones."""
    run = run_side_by_side(
        PADDLE_ADAMW,
        oar.AdamW,
        {"weight_decay": 0.05, "learning_rate": 0.02},
        ATTRS,
        groups=[{"idx": [0, 1], "weight_decay": 0.2}, {"idx": [2, 3], "learning_rate": 0.5}],
        steps=10,
    )
    check(run, "float64")


def test_clip_by_norm_float32():
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(PADDLE_ADAMW, oar.AdamW, {"grad_clip": NORM, "weight_decay": 0.1}, NO_CLIP, dtype="float32")
    check(run, "float32")


def test_params_without_grad_are_skipped():
    """No grad at a step: no decay, no update, the beta pows do not advance (as Paddle)."""
    run = run_side_by_side(
        PADDLE_ADAMW, oar.AdamW, {"weight_decay": 0.3}, skip_grad=lambda step, i: (step + i) % 3 == 0, steps=10
    )
    check(run, "float64")


def test_the_decay_coefficient_is_rounded_to_float32_like_paddle():
    """A coefficient that float32 cannot hold (0.1) moves float64 results by ~1e-9 relative to
    the update over 20 steps: parity within 1e-10 holds only with Paddle's float32 rounding."""
    run = run_side_by_side(PADDLE_ADAMW, oar.AdamW, {"weight_decay": 0.1, "learning_rate": 0.5}, steps=20)
    check(run, "float64")


# ------------------------------------------------------------------ torch.optim.AdamW
@pytest.mark.parametrize("torch_kwargs", [{"foreach": False}, {"foreach": True}, {"fused": True}])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_matches_torch_adamw(torch_kwargs, amsgrad):
    """torch.optim.AdamW is the same algorithm (p *= 1 - lr wd, then Adam) up to rounding, given
    the float32-rounded coefficient."""
    torch.manual_seed(2)
    params = [_tp(5, 4), _tp(3)]
    ref = [p.detach().clone().requires_grad_() for p in params]
    opt = oar.AdamW(params, learning_rate=0.01, weight_decay=0.1, amsgrad=amsgrad, beta2=0.99)
    ref_opt = torch.optim.AdamW(
        ref, lr=0.01, weight_decay=float(np.float32(0.1)), amsgrad=amsgrad, betas=(0.9, 0.99), **torch_kwargs
    )
    for _ in range(10):
        for p, r in zip(params, ref, strict=False):
            p.grad = torch.randn_like(p)
            r.grad = p.grad.clone()
        opt.step()
        ref_opt.step()
    for p, r in zip(params, ref, strict=False):
        torch.testing.assert_close(p, r, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ engines and precision
@pytest.mark.parametrize("engine", ["eager", "fused"])
def test_bfloat16_master_follows_the_float32_trajectory(engine):
    """With multi_precision, a bfloat16 param's float32 master takes the float32 param's path
    exactly (same initial values and grads, bfloat16-representable), and the param is its
    rounded copy."""
    torch.manual_seed(4)
    init = [torch.randn(300, 7).to(torch.bfloat16), torch.randn(9).to(torch.bfloat16)]
    low = [torch.nn.Parameter(t.clone()) for t in init]
    high = [torch.nn.Parameter(t.float()) for t in init]
    kwargs = {
        "learning_rate": 0.01,
        "weight_decay": 0.1,
        "multi_precision": True,
        "engine": engine,
        "lr_ratio": lambda p: 0.5 if p.ndim == 1 else 1.0,
    }
    opt_low, opt_high = oar.AdamW(low, **kwargs), oar.AdamW(high, **kwargs)
    before = F.stats().get("fused_params", 0)
    for _ in range(4):
        grads = [torch.randn(p.shape).to(torch.bfloat16) for p in low]
        for p, q, g in zip(low, high, grads, strict=False):
            p.grad, q.grad = g, g.float()
        opt_low.step()
        opt_high.step()
    if engine == "fused":
        assert F.stats().get("fused_params", 0) - before == 2 * 4 * 2
    for p, q in zip(low, high, strict=False):
        master = opt_low.state[p]["master_weight"]
        assert torch.equal(master, q.detach())
        assert torch.equal(p.detach(), master.to(torch.bfloat16))


def test_state_dict_round_trip_keeps_group_coefficients(tmp_path):
    a, b = _tp(3), _tp(2)
    opt = oar.AdamW(parameters=[{"params": [a], "weight_decay": 0.3}, {"params": [b]}], weight_decay=0.05)
    for p in (a, b):
        p.grad = torch.ones_like(p)
    opt.step()
    sd = opt.state_dict()
    assert [g["weight_decay"] for g in sd["param_groups"]] == [0.3, 0.05]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.3, 0.05]
    torch.save(sd, tmp_path / "sd.pt")
    loaded = torch.load(tmp_path / "sd.pt", weights_only=True)
    other = oar.AdamW(parameters=[{"params": [a], "weight_decay": 0.9}, {"params": [b]}], weight_decay=0.7)
    other.set_state_dict(loaded)
    assert [g["weight_decay"] for g in other.param_groups] == [0.3, 0.05]
    assert torch.equal(other.state[a]["moment1"], opt.state[a]["moment1"])
    bad = {
        **sd,
        "param_groups": [
            {**sd["param_groups"][0], "weight_decay": {"type": "L2Decay", "coeff": 0.1}},
            sd["param_groups"][1],
        ],
    }
    with pytest.raises(ValueError, match="weight_decay"):
        other.set_state_dict(bad)
    assert [g["weight_decay"] for g in other.param_groups] == [0.3, 0.05]


def test_a_scalar_param_and_spec_shapes():
    """A one-element param and a 3-d one with an lr multiplier, float32 (Paddle's 20-step bound)."""
    run = run_side_by_side(
        PADDLE_ADAMW, oar.AdamW, {"weight_decay": 0.1}, [Spec((1,)), Spec((2, 3, 4), lr_mult=0.3)], dtype="float32"
    )
    check(run, "float32")


@pytest.mark.parametrize("name", ["AdamW", "Adamax", "Adagrad"])
def test_signature_is_paddles(name):
    """Parameter names, order and defaults of Paddle 3.3.1's constructor."""
    import inspect

    def params(cls):
        return [(p.name, p.default) for p in inspect.signature(cls).parameters.values() if p.name != "self"]

    assert params(getattr(oar, name)) == params(getattr(paddle.optimizer, name))
