"""Sparse gradients (``torch.nn.Embedding(sparse=True)``) for Lamb and RMSProp, side by side with
real Paddle 3.3.1's ``paddle.nn.Embedding(sparse=True)`` (SelectedRows gradients) in float64.

Paddle's SelectedRows kernels of both algorithms update every row, the rows absent from the
gradient with g = 0 (duplicate rows are summed first): the dense rule on the summed gradient.
Sparse Adam is tested in test_parity.py.
"""

import numpy as np
import pytest
import torch
from paddle_harness import paddle

import oar

ROWS, DIM, BATCH, STEPS = 10, 4, 6, 12
#: float64 error allowed, relative to the largest distance a weight moved (as test_sparse_adam).
TOL = 1e-10


def _ids_with_paddle_sortedness(rng, unique_unsorted_ok):
    """A batch of ids. Duplicates make Paddle merge (and sort) the rows; a batch without
    duplicates is sorted unless ``unique_unsorted_ok`` (Paddle's RMSProp kernel searches the rows
    it received by binary search, which fails on unsorted rows: see
    test_sparse_rmsprop_unsorted_rows_follow_the_algorithm)."""
    ids = rng.integers(0, ROWS, size=BATCH)
    if len(set(ids.tolist())) == len(ids) and not unique_unsorted_ok:
        ids = np.sort(ids)
    return ids


def _batches(seed, unique_unsorted_ok=True, steps=STEPS):
    rng = np.random.default_rng(seed)
    batches = [
        (_ids_with_paddle_sortedness(rng, unique_unsorted_ok), rng.standard_normal((BATCH, DIM))) for _ in range(steps)
    ]
    # Always one step with duplicates and one with a row of the table never seen before.
    batches[1] = (np.array([3, 3, 3, 7, 0, 7]), batches[1][1])
    batches[2] = (np.array([0, 2, 4, 5, 8, 9]), batches[2][1])
    return batches


def _translate(kwargs, side):
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, tuple) and value[0] in ("L1", "L2"):
            mod = paddle.regularizer if side == "paddle" else oar
            value = getattr(mod, f"{value[0]}Decay")(value[1])
        out[key] = value
    return out


def _paddle_run(name, kwargs, weights, batches, sparse=True, regularizer=None):
    """Paddle's weights after each batch (a list of arrays)."""
    paddle.set_default_dtype("float64")
    try:
        with paddle.utils.unique_name.guard():
            attr = None
            if regularizer is not None:
                attr = paddle.ParamAttr(regularizer=_translate({"r": regularizer}, "paddle")["r"])
            emb = paddle.nn.Embedding(ROWS, DIM, sparse=sparse, weight_attr=attr)
            emb.weight.set_value(weights)
            opt = getattr(paddle.optimizer, name)(parameters=emb.parameters(), **_translate(kwargs, "paddle"))
            out = []
            for ids, g in batches:
                opt.clear_grad()
                (emb(paddle.to_tensor(ids)) * paddle.to_tensor(g)).sum().backward()
                if sparse:
                    assert emb.weight._grad_ivar().is_selected_rows()
                opt.step()
                out.append(emb.weight.numpy().copy())
        return out
    finally:
        paddle.set_default_dtype("float32")


def _oar_run(
    name, kwargs, weights, batches, regularizer=None, engine=None, dtype=torch.float64, densify=False, extra=None
):
    """oar's weights after each batch; ``densify``: feed the summed dense gradient instead."""
    emb = torch.nn.Embedding(ROWS, DIM, sparse=True, dtype=dtype)
    with torch.no_grad():
        emb.weight.copy_(torch.as_tensor(weights))
    if regularizer is not None:
        oar.set_param_attr(emb.weight, regularizer=_translate({"r": regularizer}, "oar")["r"])
    params = [emb.weight] + ([extra] if extra is not None else [])
    opt = getattr(oar, name)(parameters=params, **_translate(kwargs, "oar"))
    if engine is not None:
        opt.set_engine(engine)
    out = []
    for ids, g in batches:
        opt.clear_grad(set_to_zero=False)
        (emb(torch.as_tensor(ids)) * torch.as_tensor(g, dtype=dtype)).sum().backward()
        assert emb.weight.grad.is_sparse
        if densify:
            emb.weight.grad = emb.weight.grad.to_dense()
        if extra is not None:
            extra.grad = torch.full_like(extra, 0.5)
        opt.step()
        out.append(emb.weight.detach().numpy().copy())
    return out, opt, emb


def _check_steps(got, expected, weights, label):
    moved = max(np.abs(e - weights).max() for e in expected)
    assert moved > 1e-3, f"{label}: Paddle did not move the weights"
    for k, (a, b) in enumerate(zip(got, expected, strict=False)):
        err = np.abs(a - b).max() / moved
        assert err <= TOL, f"{label}: step {k + 1}: error {err:.2e} of the largest move"


def _weights(seed):
    return np.random.default_rng(100 + seed).standard_normal((ROWS, DIM))


LAMB_CASES = [
    {"learning_rate": 0.02},
    {"learning_rate": 0.02, "lamb_weight_decay": 0.1, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-4},
    {"learning_rate": 0.02, "lamb_weight_decay": 0.0},
    {"learning_rate": 0.02, "lamb_weight_decay": 0.0, "always_adapt": True},
    {"learning_rate": 0.02, "always_adapt": True},
]

RMSPROP_CASES = [
    {"learning_rate": 0.01},
    {"learning_rate": 0.01, "centered": True},
    {"learning_rate": 0.01, "momentum": 0.9},
    {"learning_rate": 0.01, "centered": True, "momentum": 0.8, "rho": 0.9, "epsilon": 1e-4},
]


def _case_id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items() if k != "learning_rate") or "defaults"


@pytest.mark.parametrize("kwargs", LAMB_CASES, ids=_case_id)
def test_sparse_lamb_matches_paddle(kwargs):
    """Lamb: every step, duplicates summed, rows absent updated with g = 0 (moments decay, and
    the trust ratio is over the whole table)."""
    weights, batches = _weights(0), _batches(0)
    expected = _paddle_run("Lamb", kwargs, weights, batches)
    got, _, _ = _oar_run("Lamb", kwargs, weights, batches)
    _check_steps(got, expected, weights, f"Lamb {kwargs}")


def test_sparse_lamb_exclude_from_weight_decay_fn():
    kwargs = {"learning_rate": 0.02, "lamb_weight_decay": 0.1, "exclude_from_weight_decay_fn": lambda p: True}
    weights, batches = _weights(1), _batches(1)
    expected = _paddle_run("Lamb", kwargs, weights, batches)
    got, _, _ = _oar_run("Lamb", kwargs, weights, batches)
    _check_steps(got, expected, weights, "Lamb exclude_from_weight_decay_fn")


@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=_case_id)
def test_sparse_rmsprop_matches_paddle(kwargs):
    """RMSProp: every row updated, g = 0 for the rows absent (their mean square decays and
    their momentum keeps moving them)."""
    weights, batches = _weights(2), _batches(2, unique_unsorted_ok=False)
    expected = _paddle_run("RMSProp", kwargs, weights, batches)
    got, _, _ = _oar_run("RMSProp", kwargs, weights, batches)
    _check_steps(got, expected, weights, f"RMSProp {kwargs}")


def test_sparse_rmsprop_unsorted_rows_follow_the_algorithm():
    """A batch without duplicates whose rows are not sorted: Paddle 3.3.1's sparse RMSProp
    kernel (``SparseRmspropGradFunctor``) binary-searches rows that ``MergeAdd`` left in input
    order, so it treats some present rows as absent (g = 0); its dense kernel, and Lamb's sparse
    kernel (which sorts), do not. oar follows the algorithm: Paddle's dense result."""
    weights = _weights(3)
    g = np.random.default_rng(3).standard_normal((BATCH, DIM))
    batches = [(np.array([9, 7, 5, 3, 1, 0]), g), (np.array([5, 3, 1]), g[:3])]
    kwargs = {"learning_rate": 0.01, "momentum": 0.5}
    expected = _paddle_run("RMSProp", kwargs, weights, batches, sparse=False)
    got, _, _ = _oar_run("RMSProp", kwargs, weights, batches)
    _check_steps(got, expected, weights, "RMSProp unsorted rows")


@pytest.mark.parametrize(
    "name,kwargs,regularizer",
    [
        ("Lamb", {"learning_rate": 0.02}, ("L2", 0.1)),
        ("Lamb", {"learning_rate": 0.02, "lamb_weight_decay": 0.0}, ("L1", 0.05)),
        ("RMSProp", {"learning_rate": 0.01, "weight_decay": 0.1}, None),
        ("RMSProp", {"learning_rate": 0.01, "weight_decay": ("L1", 0.05), "centered": True}, None),
        ("RMSProp", {"learning_rate": 0.01, "momentum": 0.9}, ("L2", 0.2)),
    ],
    ids=["lamb-attr-L2", "lamb-attr-L1", "rmsprop-wd-float", "rmsprop-wd-L1", "rmsprop-attr-L2"],
)
def test_sparse_grads_with_a_regularizer_match_paddle(name, kwargs, regularizer):
    """Paddle adds the dense decay term to the SelectedRows grad (``add_n``: a dense grad) and
    runs the dense kernel; it raises nothing (unlike Adam). oar gives the same numbers."""
    weights, batches = _weights(4), _batches(4, unique_unsorted_ok=False)
    expected = _paddle_run(name, kwargs, weights, batches, regularizer=regularizer)
    got, _, _ = _oar_run(name, kwargs, weights, batches, regularizer=regularizer)
    _check_steps(got, expected, weights, f"{name} {kwargs} {regularizer}")


def test_sparse_lamb_empty_grad_changes_nothing_like_paddle():
    """A sparse grad without rows (an empty batch): Paddle's Lamb kernel returns at once, so
    neither the weights nor the moments nor the beta pows change; the next steps agree."""
    weights, batches = _weights(5), _batches(5, steps=6)
    batches[3] = (np.zeros((0,), dtype=np.int64), np.zeros((0, DIM)))
    kwargs = {"learning_rate": 0.02}
    expected = _paddle_run("Lamb", kwargs, weights, batches)
    got, opt, emb = _oar_run("Lamb", kwargs, weights, batches)
    _check_steps(got, expected, weights, "Lamb with an empty batch")
    np.testing.assert_array_equal(got[3], got[2])
    assert opt.state[emb.weight]["beta1_pow_acc"].item() == pytest.approx(0.9 * np.float32(0.9) ** 5, rel=1e-12)


def test_sparse_rmsprop_empty_grad_is_a_zero_grad():
    """Paddle's sparse RMSProp kernel dies of SIGFPE on a grad without rows (row_numel = numel / 0);
    oar gives every row g = 0, as the dense rule on the (all-zero) summed gradient."""
    weights, batches = _weights(6), _batches(6, steps=5)
    batches[3] = (np.zeros((0,), dtype=np.int64), np.zeros((0, DIM)))
    kwargs = {"learning_rate": 0.01, "momentum": 0.9, "centered": True}
    got, _, _ = _oar_run("RMSProp", kwargs, weights, batches)
    dense, _, _ = _oar_run("RMSProp", kwargs, weights, batches, densify=True, engine="eager")
    for a, b in zip(got, dense, strict=False):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[3], got[2])  # the momentum still moves every row


@pytest.mark.parametrize("engine", ["auto", "eager", "fused", "compiled"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "name,kwargs",
    [("Lamb", {"learning_rate": 0.02}), ("RMSProp", {"learning_rate": 0.01, "momentum": 0.9, "centered": True})],
)
def test_sparse_equals_dense_on_the_summed_gradient_on_every_engine(name, kwargs, dtype, engine):
    """Whatever the engine, a sparse grad runs the eager rule (the fused and compiled engines
    take dense grads only), next to a dense param of the same optimizer (not with 'compiled', to
    keep the test free of a compilation), and gives the dense rule's result on the summed
    gradient bit for bit (both through the eager engine)."""
    weights, batches = _weights(7), _batches(7, steps=4)
    extra = None if engine == "compiled" else torch.nn.Parameter(torch.ones(3, dtype=dtype))
    got, _, _ = _oar_run(name, kwargs, weights, batches, engine=engine, dtype=dtype, extra=extra)
    dense, _, _ = _oar_run(name, kwargs, weights, batches, engine="eager", dtype=dtype, densify=True)
    for a, b in zip(got, dense, strict=False):
        np.testing.assert_array_equal(a, b)
    if extra is not None:
        assert not torch.equal(extra.detach(), torch.ones(3, dtype=dtype))


def test_sparse_lamb_with_master_weights_raises_like_paddle():
    """Paddle's SelectedRows Lamb kernel refuses multi_precision (Unimplemented); oar raises
    NotImplementedError with Paddle's message, before changing anything."""
    emb = torch.nn.Embedding(5, 2, sparse=True, dtype=torch.bfloat16)
    opt = oar.Lamb(parameters=emb.parameters(), multi_precision=True)
    emb(torch.tensor([1, 2, 2])).float().sum().backward()
    before = emb.weight.detach().clone()
    with pytest.raises(NotImplementedError, match="SelectedRows gradient is not supported when multi_precision=True"):
        opt.step()
    assert torch.equal(emb.weight.detach(), before) and not opt.state
