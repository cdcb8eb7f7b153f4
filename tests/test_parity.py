"""Adam, Lamb and RMSProp against real Paddle 3.3.1, side by side: same initial parameters, same
gradient sequence, 20 steps, float64 (<= 1e-10 relative to the update) and float32 (<= 1e-5
relative to the parameter, i.e. rounding of Paddle's FMA / approximate-sqrt kernels)."""
import numpy as np
import pytest
import torch

from paddle_harness import SHAPES, Spec, check, paddle, run_side_by_side

import oar

DTYPES = ["float64", "float32"]

GLOBAL = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0})
GLOBAL_SKIP = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0, "auto_skip_clip": True})
VALUE = ("clip", "ClipGradByValue", {"max": 0.5})
VALUE_MIN = ("clip", "ClipGradByValue", {"max": 0.8, "min": -0.3})
NORM = ("clip", "ClipGradByNorm", {"clip_norm": 0.5})

# Per-parameter attributes: lr multipliers, own regularizers, one param left out of clipping.
ATTRS = [Spec((6, 5), lr_mult=0.5), Spec((5,), regularizer=("L1", 0.05)),
         Spec((2, 3, 4), regularizer=("L2", 0.2), need_clip=False), Spec((1,), lr_mult=2.0)]
NO_CLIP = [Spec((6, 5)), Spec((5,), need_clip=False), Spec((2, 3, 4)), Spec((1,))]

SCHEDULERS = [
    ("sched", "StepDecay", {"learning_rate": 0.01, "step_size": 3, "gamma": 0.5}),
    ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 7}),
    ("sched", "NoamDecay", {"d_model": 16, "warmup_steps": 5, "learning_rate": 0.1}),
    ("sched", "LinearWarmup", {"learning_rate": ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 10}),
                               "warmup_steps": 4, "start_lr": 0.0, "end_lr": 0.01}),
]

CASES = {
    "Adam": [
        ({}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.01}, None, None),
        ({"weight_decay": ("L1", 0.05)}, None, None),
        ({"weight_decay": ("L2", 0.02), "amsgrad": True}, None, None),
        ({"beta1": 0.8, "beta2": 0.99, "epsilon": 0.3, "learning_rate": 0.05}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": 0.1}, None, None),
        ({"grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"grad_clip": VALUE}, NO_CLIP, None),
        ({"grad_clip": VALUE_MIN}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": ("L2", 0.01)}, ATTRS, None),
        ({"weight_decay": 0.01, "learning_rate": 0.02},
         None,
         [{"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7},
          {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
          {"idx": [3], "beta2": 0.9}]),
        *[({"learning_rate": s, "amsgrad": True}, None, None) for s in SCHEDULERS],
    ],
    "Lamb": [
        ({}, None, None),
        ({"learning_rate": 0.01, "lamb_weight_decay": 0.1}, None, None),
        ({"lamb_weight_decay": 0.0}, None, None),
        ({"lamb_weight_decay": 0.0, "always_adapt": True}, None, None),
        ({"exclude_from_weight_decay_fn": ("exclude", {1, 3})}, None, None),
        ({"grad_clip": GLOBAL}, ATTRS, None),
        ({"grad_clip": VALUE}, NO_CLIP, None),
        ({"learning_rate": 0.01},
         None,
         [{"idx": [0, 2], "learning_rate": 2.0, "lamb_weight_decay": 0.2},
          {"idx": [1, 3], "beta1": 0.8, "epsilon": 1e-4, "weight_decay": ("L2", 0.05)}]),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS[:2]],
    ],
    "RMSProp": [
        ({"learning_rate": 0.01}, None, None),
        ({"learning_rate": 0.01, "centered": True}, None, None),
        ({"learning_rate": 0.01, "momentum": 0.9}, None, None),
        ({"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.9, "epsilon": 1e-4}, None, None),
        ({"learning_rate": 0.01, "weight_decay": ("L1", 0.01), "grad_clip": GLOBAL}, ATTRS, None),
        ({"learning_rate": 0.01, "grad_clip": GLOBAL_SKIP, "weight_decay": 0.05}, NO_CLIP, None),
        ({"learning_rate": 0.01},
         None,
         [{"idx": [0], "learning_rate": 0.1, "rho": 0.5},
          {"idx": [1, 2, 3], "momentum": 0.9, "centered": True, "weight_decay": 0.1}]),
        *[({"learning_rate": s, "momentum": 0.9}, None, None) for s in SCHEDULERS[1:3]],
    ],
}


def _ids(cases):
    out = []
    for kwargs, specs, groups in cases:
        text = ",".join(f"{k}={v[1] if isinstance(v, tuple) and v and v[0] in ('clip', 'sched') else v}" for k, v in kwargs.items())
        out.append((text or "defaults") + (",attrs" if specs else "") + (",groups" if groups else ""))
    return out


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_parity(name, dtype, engine):
    """Every case of the optimizer's option matrix, one test per (optimizer, dtype, engine): the
    eager reference rule and the fused C kernels (the compiled engine is tested against eager
    in test_engine.py)."""
    for (kwargs, specs, groups), case_id in zip(CASES[name], _ids(CASES[name])):
        run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), kwargs, specs,
                               dtype=dtype, groups=groups, steps=20, engine=engine)
        try:
            check(run, dtype)
        except AssertionError as exc:
            raise AssertionError(f"{name} {dtype} [{case_id}]: {exc}") from None


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("Lamb", {}), ("RMSProp", {"learning_rate": 0.01})])
def test_clip_by_norm_float32(name, kwargs):
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name),
                           {**kwargs, "grad_clip": NORM}, NO_CLIP, dtype="float32")
    check(run, "float32")


@pytest.mark.parametrize("name,kwargs", [("Adam", {"weight_decay": 0.1}), ("Lamb", {}),
                                         ("RMSProp", {"learning_rate": 0.01, "momentum": 0.9})])
def test_params_without_grad_are_skipped(name, kwargs):
    """A param with no grad at a step gets no update, no decay, and its beta pows do not advance."""
    run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), kwargs,
                           skip_grad=lambda step, i: (step + i) % 3 == 0)
    check(run, "float64")


def test_float32_drift_over_20_steps_is_rounding_level():
    """Report (and bound) the float32 drift after 20 steps for each optimizer."""
    for name, kwargs in [("Adam", {}), ("Lamb", {}), ("RMSProp", {"learning_rate": 0.01})]:
        run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), kwargs, dtype="float32")
        print(f"{name} float32 drift after 20 steps: {run.errors_mag[-1]:.2e} of |p|, "
              f"{run.errors[-1]:.2e} of the total update")
        assert run.errors_mag[-1] <= 1e-5


def _paddle_sparse_adam(lazy_mode, amsgrad, weights, grads, lr, steps):
    """Paddle's sparse Adam, with its beta pows pre-set to 1 so that its off-by-one bias
    correction (it uses beta^(t+1)) becomes the documented beta^t."""
    paddle.set_default_dtype("float64")
    with paddle.utils.unique_name.guard():  # fresh accumulator names (suffix _0), steps included
        emb = paddle.nn.Embedding(weights.shape[0], weights.shape[1], sparse=True)
        emb.weight.set_value(weights)
        opt = paddle.optimizer.Adam(learning_rate=lr, parameters=emb.parameters(), lazy_mode=lazy_mode,
                                    amsgrad=amsgrad)
        name = emb.weight.name
        preset = {f"{name}_beta1_pow_acc_0": paddle.to_tensor([1.0], dtype="float64"),
                  f"{name}_beta2_pow_acc_0": paddle.to_tensor([1.0], dtype="float64")}
        for acc in ["moment1", "moment2"] + (["moment2_max"] if amsgrad else []):
            preset[f"{name}_{acc}_0"] = paddle.zeros(weights.shape, dtype="float64")
        opt.set_state_dict(preset)
        for ids, g in grads[:steps]:
            opt.clear_grad()
            out = emb(paddle.to_tensor(ids))
            (out * paddle.to_tensor(g)).sum().backward()
            opt.step()
    paddle.set_default_dtype("float32")
    return emb.weight.numpy()


@pytest.mark.parametrize("lazy_mode", [True, False])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_sparse_adam(lazy_mode, amsgrad):
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((10, 4))
    grads = []
    for _ in range(20):
        ids = rng.integers(0, 10, size=6)  # duplicates included: they are summed
        grads.append((ids, rng.standard_normal((6, 4))))
    expected = _paddle_sparse_adam(lazy_mode, amsgrad, weights, grads, 0.05, 20)
    emb = torch.nn.Embedding(10, 4, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(weights))
    opt = oar.Adam(learning_rate=0.05, parameters=emb.parameters(), lazy_mode=lazy_mode, amsgrad=amsgrad)
    for ids, g in grads:
        opt.clear_grad(set_to_zero=False)
        (emb(torch.tensor(ids)) * torch.tensor(g)).sum().backward()
        assert emb.weight.grad.is_sparse
        opt.step()
    got = emb.weight.detach().numpy()
    assert np.abs(got - expected).max() / np.abs(expected - weights).max() <= 1e-10
    if lazy_mode:
        untouched = sorted(set(range(10)) - {int(i) for ids, _ in grads for i in ids})
        np.testing.assert_array_equal(got[untouched], weights[untouched])


def test_sparse_adam_with_weight_decay_raises_like_paddle():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = oar.Adam(parameters=emb.parameters(), weight_decay=0.01)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="Adam don't support weight_decay with sparse parameters"):
        opt.step()
