"""Every algorithm of the table against real Paddle 3.3.1, side by side: same initial parameters,
same gradient sequence.

* float64: 20 steps within 1e-10 relative to the update, every case of the option matrix.
* float32: the float32 criterion (``paddle_harness.float32_criterion``: oar32 within 4x Paddle32's
  own rounding error + 3e-7 over the first two steps) on every case and every engine, and on
  random configurations; and 20-step runs within 1e-5 of the parameter's magnitude.
"""

import numpy as np
import pytest
import torch
from algorithm_cases import CASES, ENTRIES, NO_CLIP, NORM, random_config
from paddle_harness import check, float32_criterion, paddle, run_side_by_side

import oar

DTYPES = ["float64", "float32"]
NAMES = [a.name for a in oar.algorithms.algorithms() if a.rule is not None]  # LBFGS: own tests
ENGINES = ["eager", "fused", "compiled"]
#: Random configurations per algorithm and engine (each: 2 steps of Paddle and oar, float32 and
#: float64); 100 per algorithm passed when the criterion was written, the defect it was written
#: for (float32 Adam with beta2=0.999) fails 4 of 100.
RANDOM_CONFIGS = 40


def test_every_algorithm_has_parity_cases():
    """Adding an optimizer to the table without its option matrix fails here."""
    missing = [a.name for a in oar.algorithms.algorithms() if a.name not in CASES]
    assert not missing, f"add the option matrix of {missing} to tests/algorithm_cases.py"


def _ids(cases):
    out = []
    for kwargs, specs, groups in cases:
        text = ",".join(
            f"{k}={v[1] if isinstance(v, tuple) and v and v[0] in ('clip', 'sched') else v}" for k, v in kwargs.items()
        )
        out.append((text or "defaults") + (",attrs" if specs else "") + (",groups" if groups else ""))
    return out


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_parity(name, dtype, engine):
    """Every case of the optimizer's option matrix, one test per (optimizer, dtype, engine): the
    eager reference rule and the fused C kernels (the compiled engine is tested against eager
    in test_engine.py)."""
    for (kwargs, specs, groups), case_id in zip(CASES[name], _ids(CASES[name]), strict=False):
        run = run_side_by_side(
            getattr(paddle.optimizer, name),
            getattr(oar, name),
            kwargs,
            specs,
            dtype=dtype,
            groups=groups,
            steps=20,
            engine=engine,
        )
        try:
            check(run, dtype)
        except AssertionError as exc:
            raise AssertionError(f"{name} {dtype} [{case_id}]: {exc}") from None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_float32_within_paddles_own_rounding(name, engine):
    """The float32 criterion on every case of the option matrix, for every engine."""
    for (kwargs, specs, groups), case_id in zip(CASES[name], _ids(CASES[name]), strict=False):
        result = float32_criterion(
            getattr(paddle.optimizer, name), getattr(oar, name), kwargs, specs, groups=groups, engine=engine
        )
        assert result.ok, f"{name} float32 [{case_id}] {engine}: {result}"


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("name", NAMES)
def test_float32_criterion_on_random_configurations(name, engine):
    """The float32 criterion on configurations drawn at random (options, schedulers, decays,
    clips, ParamAttrs, groups with their own options), errors measured against the operands
    (see float32_criterion's ``operand_scale``)."""
    for seed in range(RANDOM_CONFIGS):
        kwargs, specs, groups = random_config(name, seed)
        result = float32_criterion(
            getattr(paddle.optimizer, name),
            getattr(oar, name),
            kwargs,
            specs,
            groups=groups,
            engine=engine,
            operand_scale=True,
        )
        assert result.ok, f"{name} float32 random config {seed} {engine}: {kwargs} {groups}: {result}"


def test_group_weight_decay_none_means_the_optimizers():
    """A group's ``'weight_decay': None`` falls back to the optimizer's weight_decay, as in
    Paddle (which writes the group's value into param.regularizer, where None means unset)."""
    for name, kwargs in [
        ("Adam", {"weight_decay": ("L2", 0.3)}),
        ("RMSProp", {"learning_rate": 0.01, "weight_decay": ("L1", 0.2)}),
    ]:
        run = run_side_by_side(
            getattr(paddle.optimizer, name),
            getattr(oar, name),
            kwargs,
            groups=[{"idx": [0, 1]}, {"idx": [2, 3], "weight_decay": None}],
            steps=5,
        )
        check(run, "float64")


def _defaults(name: str) -> dict:
    """The keywords of the algorithm's first case: its defaults (plus a required learning_rate)."""
    return dict(CASES[name][0][0])


@pytest.mark.parametrize("name", NAMES)
def test_clip_by_norm_float32(name):
    """ClipGradByNorm: Paddle's CPU kernel is float32-only, so parity is checked in float32."""
    run = run_side_by_side(
        getattr(paddle.optimizer, name),
        getattr(oar, name),
        {**_defaults(name), "grad_clip": NORM},
        NO_CLIP,
        dtype="float32",
    )
    check(run, "float32")


@pytest.mark.parametrize("name", NAMES)
def test_params_without_grad_are_skipped(name):
    """A param with no grad at a step gets no update, no decay, and its state does not advance."""
    kwargs = _defaults(name)
    if ENTRIES[name].weight_decay:
        kwargs["weight_decay"] = 0.1
    run = run_side_by_side(
        getattr(paddle.optimizer, name), getattr(oar, name), kwargs, skip_grad=lambda step, i: (step + i) % 3 == 0
    )
    check(run, "float64")


def test_float32_drift_over_20_steps_is_rounding_level():
    """Report (and bound) the float32 drift after 20 steps of each optimizer's defaults."""
    for name in NAMES:
        run = run_side_by_side(getattr(paddle.optimizer, name), getattr(oar, name), _defaults(name), dtype="float32")
        print(
            f"{name} float32 drift after 20 steps: {run.errors_mag[-1]:.2e} of |p|, "
            f"{run.errors[-1]:.2e} of the total update"
        )
        assert run.errors_mag[-1] <= 1e-5, name


def _paddle_sparse_adam(lazy_mode, amsgrad, weights, grads, lr, steps):
    """Paddle's sparse Adam, with its beta pows pre-set to 1 so that its off-by-one bias
    correction (it uses beta^(t+1)) becomes the documented beta^t."""
    paddle.set_default_dtype("float64")
    with paddle.utils.unique_name.guard():  # fresh accumulator names (suffix _0), steps included
        emb = paddle.nn.Embedding(weights.shape[0], weights.shape[1], sparse=True)
        emb.weight.set_value(weights)
        opt = paddle.optimizer.Adam(learning_rate=lr, parameters=emb.parameters(), lazy_mode=lazy_mode, amsgrad=amsgrad)
        name = emb.weight.name
        preset = {
            f"{name}_beta1_pow_acc_0": paddle.to_tensor([1.0], dtype="float64"),
            f"{name}_beta2_pow_acc_0": paddle.to_tensor([1.0], dtype="float64"),
        }
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
