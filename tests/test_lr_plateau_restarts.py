"""oar.lr ReduceOnPlateau and CosineAnnealingWarmRestarts side by side with real Paddle 3.3.1
``paddle.optimizer.lr``: every metric sequence, epoch and state is driven through both and compared."""

from __future__ import annotations

import copy
import inspect
import io
import math
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lr_harness import (
    N_STEPS,
    O,
    P,
    assert_raises_like_paddle,
    assert_state,
    paddle_view,
    run_pair,
    same,
    sd_equal,
)

paddle = pytest.importorskip("paddle")

HYP = settings(max_examples=25, deadline=None, derandomize=True)


def test_signatures_and_docs_match_paddle():
    for name in ("ReduceOnPlateau", "CosineAnnealingWarmRestarts"):
        po = inspect.signature(getattr(O, name).__init__).parameters
        pp = inspect.signature(getattr(P, name).__init__).parameters
        assert list(po) == list(pp)
        for key in pp:
            assert po[key].default == pp[key].default, key
            assert po[key].kind == pp[key].kind, key
        assert issubclass(getattr(O, name), O.LRScheduler) and name in O.__all__
        doc = getattr(O, name).__doc__
        assert doc and f"paddle/optimizer/lr/{name}_en.html" in doc
    assert list(inspect.signature(O.ReduceOnPlateau.step).parameters) == list(
        inspect.signature(P.ReduceOnPlateau.step).parameters
    )
    assert inspect.signature(O.ReduceOnPlateau.step).parameters["epoch"].default is None
    assert "1608.03983" in O.CosineAnnealingWarmRestarts.__doc__


# ============================================================================================== ReduceOnPlateau
def sequence(kind: str, seed: int, n: int = N_STEPS) -> np.ndarray:
    """A NaN-free metric sequence of ``n`` values from a seeded numpy RNG."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    if kind == "noisy_decreasing":
        return 1.0 / (1.0 + 0.05 * t) + 0.02 * rng.standard_normal(n)
    if kind == "plateaus":  # piecewise constant with exact ties, small noise on some pieces
        levels = np.repeat(np.round(rng.uniform(0.2, 1.0, n // 15 + 1), 2), 15)[:n]
        return np.where(rng.random(n) < 0.3, levels + 1e-5 * rng.standard_normal(n), levels)
    if kind == "increasing":
        return np.log1p(t) + 0.1 * rng.standard_normal(n)
    if kind == "mixed":  # decreasing, plateau, increasing, negative values, zero crossings
        return np.concatenate(
            [
                np.linspace(2.0, 0.0, n // 4),
                np.zeros(n // 4) + 1e-3 * rng.standard_normal(n // 4),
                np.linspace(-1.0, 1.0, n // 4),
                -np.abs(rng.standard_normal(n - 3 * (n // 4))),
            ]
        )
    raise ValueError(kind)


# How a metric value is handed to ``step``; M is oar.lr (torch tensors) or paddle.optimizer.lr (Paddle's).
def _tensor(M, v, dtype: str, shape: tuple[int, ...]):
    a = np.full(shape, v, dtype=dtype)
    return paddle.to_tensor(a) if M is P else torch.from_numpy(a)


METRIC_TYPES = {
    "float": lambda M, v: float(v),
    "int": lambda M, v: round(float(v) * 1000),
    "bool": lambda M, v: bool(v > 0.5),
    "np.float32": lambda M, v: np.float32(v),
    "np.float64": lambda M, v: np.float64(v),
    "ndarray_f64_[1]": lambda M, v: np.array([v], dtype=np.float64),
    "ndarray_f32_0d": lambda M, v: np.array(v, dtype=np.float32),
    "ndarray_f32_[1]": lambda M, v: np.array([v], dtype=np.float32),
    "tensor_f32_0d": lambda M, v: _tensor(M, v, "float32", ()),
    "tensor_f64_0d": lambda M, v: _tensor(M, v, "float64", ()),
    "tensor_f32_[1]": lambda M, v: _tensor(M, v, "float32", (1,)),
    "tensor_f64_[1,1]": lambda M, v: _tensor(M, v, "float64", (1, 1)),
}


def _value(x):
    """A stored metric as a Python number (tensors, arrays and numpy scalars unwrapped); None stays None."""
    if x is None or isinstance(x, (int, float)) and not isinstance(x, np.generic):
        return x
    if isinstance(x, (torch.Tensor, paddle.Tensor, np.ndarray, np.generic)):
        return x.item()
    raise AssertionError(type(x))


def assert_rop(o, p):
    assert same(o.last_lr, p.last_lr), (o.last_epoch, o.last_lr, p.last_lr)
    assert same(o(), p())
    assert o.last_epoch == p.last_epoch
    assert o.num_bad_epochs == p.num_bad_epochs
    assert o.cooldown_counter == p.cooldown_counter
    bo, bp = _value(o.best), _value(p.best)
    assert (bo is None) == (bp is None)
    if bo is not None:
        assert same(bo, bp) or (isinstance(bo, float) and same(float(bo), float(bp))), (bo, bp)
    assert same(o.base_lr, p.base_lr)


class Events:
    """What a run exercised (so that a configuration cannot silently stop testing its feature)."""

    def __init__(self):
        self.reduced = self.blocked = self.cooled = 0


def drive_rop(o, p, values, to_metric, epochs=None, events=None):
    for i, v in enumerate(values):
        before_lr, before_bad, before_cool, before_best = p.last_lr, p.num_bad_epochs, p.cooldown_counter, p.best
        epoch = None if epochs is None else epochs[i]
        if epoch is None:
            o.step(to_metric(O, v))
            p.step(to_metric(P, v))
        else:
            o.step(to_metric(O, v), epoch)
            p.step(to_metric(P, v), epoch=epoch)
        assert_rop(o, p)
        if events is not None:
            if before_cool > 0:
                events.cooled += 1
            elif p.last_lr != before_lr:
                events.reduced += 1
            elif before_bad == p.patience and p.num_bad_epochs == 0 and p.best is before_best:
                events.blocked += 1  # a reduction was due but min_lr / epsilon stopped it


CONFIGS = {
    "cooldown_min_lr": {"learning_rate": 1.0, "factor": 0.5, "patience": 3, "cooldown": 4, "min_lr": 0.01},
    "patience0": {"learning_rate": 0.5, "factor": 0.1, "patience": 0},
    "epsilon_blocks": {"learning_rate": 1.0, "factor": 0.5, "patience": 2, "epsilon": 0.05},
    "int_min_lr": {"learning_rate": 8, "factor": 0.1, "patience": 1, "cooldown": 1, "min_lr": 1},
    "defaults": {"learning_rate": 0.1},
}


@pytest.mark.parametrize("kind", ["noisy_decreasing", "plateaus", "increasing", "mixed"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_rop_float_sequences_match_paddle(config, mode, threshold_mode, kind):
    kw = dict(CONFIGS[config], mode=mode, threshold_mode=threshold_mode, threshold=0.01 if kind != "plateaus" else 1e-4)
    o, p = O.ReduceOnPlateau(**kw), P.ReduceOnPlateau(**kw)
    assert_rop(o, p)
    assert o.best is None and o.last_epoch == 0 and o.last_lr == float(kw["learning_rate"])
    events = Events()
    values = sequence(kind, seed=len(config) * 7 + len(kind))
    if mode == "max":
        values = -values  # the same shapes, improving upwards
    drive_rop(o, p, values, METRIC_TYPES["float"], events=events)
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())
    if kind in ("plateaus", "increasing") and config != "defaults":
        assert events.reduced > 0
    if config == "cooldown_min_lr" and kind == "increasing":
        assert events.cooled > 0 and o.last_lr == kw["min_lr"]
    if config in ("epsilon_blocks", "int_min_lr") and kind == "increasing":
        assert events.blocked > 0
    if config == "int_min_lr" and kind == "increasing":
        assert type(o.last_lr) is int  # max(last_lr * factor, min_lr) picked the int min_lr, as in Paddle


@pytest.mark.parametrize("mtype", sorted(METRIC_TYPES))
@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")])
def test_rop_every_metric_type_matches_paddle(mtype, mode, threshold_mode):
    """float32 metrics compare in float32 (tensors, arrays and np.float32 keep their type): a threshold of
    1e-7 puts many comparisons on the last float32 bit."""
    for threshold in (1e-4, 1e-7):
        kw = {
            "mode": mode,
            "threshold_mode": threshold_mode,
            "factor": 0.5,
            "patience": 2,
            "cooldown": 1,
            "threshold": threshold,
        }
        o, p = O.ReduceOnPlateau(1.0, **kw), P.ReduceOnPlateau(1.0, **kw)
        values = sequence("plateaus", seed=5)
        values = np.where(np.arange(N_STEPS) % 7 == 0, values * (1 - 1e-7), values)  # near-ties
        if mode == "max":
            values = -values
        drive_rop(o, p, values, METRIC_TYPES[mtype])
        assert o.last_lr < 1.0


def test_rop_mixed_metric_types_in_one_run_match_paddle():
    kinds = [
        "float",
        "tensor_f32_0d",
        "np.float64",
        "ndarray_f64_[1]",
        "tensor_f64_0d",
        "np.float32",
        "tensor_f32_[1]",
        "ndarray_f32_0d",
        "int",
        "tensor_f64_[1,1]",
    ]
    for mode, threshold_mode in [("min", "rel"), ("max", "abs")]:
        o = O.ReduceOnPlateau(1.0, mode, 0.5, 1, 1e-6, threshold_mode, cooldown=1)
        p = P.ReduceOnPlateau(1.0, mode, 0.5, 1, 1e-6, threshold_mode, cooldown=1)
        values = sequence("plateaus", seed=11)
        for i, v in enumerate(values):
            kind = kinds[i % len(kinds)]
            v = v * 1000 if kind != "int" else v
            drive_rop(o, p, [v if mode == "min" else -v], METRIC_TYPES[kind])


PAIR_TYPES = [
    "float",
    "np.float32",
    "np.float64",
    "ndarray_f64_[1]",
    "ndarray_f32_0d",
    "ndarray_f32_[1]",
    "tensor_f32_0d",
    "tensor_f64_0d",
    "tensor_f32_[1]",
    "tensor_f64_[1,1]",
]


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")])
def test_rop_every_pair_of_metric_types_compares_like_paddle(mode, threshold_mode):
    """``best`` of one type, the next metric of another, within a float32 or float64 rounding of the
    threshold: the comparison (tensor with tensor, tensor with ndarray or numpy scalar, 0-d with 1-d)
    decides as Paddle's does."""
    rng = np.random.default_rng(12)
    for best_type in PAIR_TYPES:
        for cur_type in PAIR_TYPES:
            for _ in range(3):
                best = float(np.float32(rng.uniform(-300, 300)))
                thr = float(rng.choice([1e-4, 1e-7, 0.0, 1.0]))
                sign = -1 if mode == "min" else 1
                bound = best + sign * best * thr if threshold_mode == "rel" else best + sign * thr
                b32 = np.float32(bound)
                for cur in (
                    bound,
                    float(b32),
                    float(np.nextafter(b32, np.float32(1e9))),
                    float(np.nextafter(b32, np.float32(-1e9))),
                    float(np.nextafter(bound, 1e9)),
                    float(np.nextafter(bound, -1e9)),
                ):
                    kw = {"mode": mode, "threshold_mode": threshold_mode, "threshold": thr, "patience": 5}
                    o, p = O.ReduceOnPlateau(1.0, **kw), P.ReduceOnPlateau(1.0, **kw)
                    drive_rop(o, p, [best], METRIC_TYPES[best_type])
                    drive_rop(o, p, [cur], METRIC_TYPES[cur_type])


def test_rop_explicit_epochs_match_paddle():
    o, p = O.ReduceOnPlateau(1.0, patience=2, cooldown=2), P.ReduceOnPlateau(1.0, patience=2, cooldown=2)
    rng = np.random.default_rng(4)
    epochs = list(rng.integers(-5, 1000, N_STEPS))
    epochs[::9] = [None] * len(epochs[::9])
    epochs = [None if e is None else int(e) for e in epochs]
    drive_rop(o, p, sequence("plateaus", 2), METRIC_TYPES["float"], epochs=epochs)
    o.step(0.5, 2.5)
    p.step(0.5, 2.5)
    assert_rop(o, p)
    assert o.last_epoch == 2.5


def test_rop_attributes_like_paddle():
    kw = {
        "mode": "MAX",
        "factor": 0.25,
        "patience": 4,
        "threshold": 0.5,
        "threshold_mode": "Abs",
        "cooldown": 3,
        "min_lr": 0.001,
        "epsilon": 1e-3,
        "verbose": True,
    }
    o, p = O.ReduceOnPlateau(2, **kw), P.ReduceOnPlateau(2, **kw)
    for attr in (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "epsilon",
        "cooldown_counter",
        "best",
        "num_bad_epochs",
        "base_lr",
        "last_lr",
        "last_epoch",
        "verbose",
    ):
        assert getattr(o, attr) == getattr(p, attr), attr
        assert type(getattr(o, attr)) is type(getattr(p, attr)), attr
    assert o.mode == "max" and o.threshold_mode == "abs"
    assert o._step_count == 0
    o.step(1.0)
    assert o._step_count == 1
    assert o.get_lr() == o() == 2.0


def test_rop_accepted_learning_rates_like_paddle():
    for lr in (-1.0, float("nan"), True, 0, 3):
        o, p = O.ReduceOnPlateau(lr, patience=0), P.ReduceOnPlateau(lr, patience=0)
        drive_rop(o, p, [1.0, 2.0, 3.0, 0.5, 0.5], METRIC_TYPES["float"])


def test_rop_nan_metrics_like_paddle():
    values = [float("nan"), 1.0, 0.5, float("nan"), 0.4, 0.4, 0.4, float("inf"), float("-inf"), 0.1]
    for mode in ("min", "max"):
        o, p = O.ReduceOnPlateau(1.0, mode, patience=1), P.ReduceOnPlateau(1.0, mode, patience=1)
        drive_rop(o, p, values, METRIC_TYPES["float"])
        o, p = O.ReduceOnPlateau(1.0, mode, patience=1), P.ReduceOnPlateau(1.0, mode, patience=1)
        drive_rop(o, p, values[1:] + values[:1], METRIC_TYPES["tensor_f32_0d"])


def test_rop_tensor_best_is_detached():
    s = O.ReduceOnPlateau(1.0)
    w = torch.tensor(2.0, requires_grad=True)
    loss = w * 3
    s.step(loss)
    assert isinstance(s.best, torch.Tensor) and not s.best.requires_grad and s.best.item() == 6.0
    assert s.state_dict()["best"] == 6.0


# ---------------------------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize(
    "mtype",
    ["float", "int", "np.float32", "np.float64", "ndarray_f64_[1]", "ndarray_f32_0d", "tensor_f32_0d", "tensor_f64_0d"],
)
@pytest.mark.parametrize("k", [0, 1, 40, 150])
def test_rop_state_dict_round_trip(mtype, k):
    kw = {"factor": 0.5, "patience": 3, "cooldown": 5, "threshold": 1e-3}
    make = lambda M: M.ReduceOnPlateau(1.0, **kw)
    to_metric = METRIC_TYPES[mtype]
    values = sequence("mixed", 8)
    o, p = make(O), make(P)
    drive_rop(o, p, values[:k], to_metric)
    sd = o.state_dict()
    assert list(sd) == ["cooldown_counter", "best", "num_bad_epochs", "last_epoch", "last_lr"]
    assert list(p.state_dict()) == list(sd)
    assert sd_equal(sd, p.state_dict())
    if k:
        assert type(sd["best"]) is (int if mtype == "int" else float)  # tensors / numpy written out as Python numbers

    fresh_o, fresh_o2, fresh_p, fresh_p2 = make(O), make(O), make(P), make(P)
    fresh_o.set_state_dict(sd)
    fresh_o2.set_state_dict(copy.deepcopy(p.state_dict()))
    fresh_p.set_state_dict(copy.deepcopy(sd))
    fresh_p2.set_state_dict(copy.deepcopy(sd))
    assert sd_equal(fresh_o.state_dict(), fresh_p.state_dict())
    # a loaded tensor best is a float: continue both sides with the same metrics; the loaded pair must agree,
    # and agree with the uninterrupted pair
    for v in values[k : k + 100]:
        for s in (o, fresh_o, fresh_o2):
            s.step(to_metric(O, v))
        for s in (p, fresh_p, fresh_p2):
            s.step(to_metric(P, v))
        assert_rop(o, p)
        assert_rop(fresh_o, fresh_p)
        assert_rop(fresh_o2, fresh_p2)
        assert_rop(fresh_o, fresh_p2)


def test_rop_state_dict_with_size1_tensor_and_array_best():
    o = O.ReduceOnPlateau(1.0)
    o.step(torch.tensor([[0.25]], dtype=torch.float32))
    assert o.state_dict()["best"] == 0.25 and type(o.state_dict()["best"]) is float
    o.step(np.array([0.125]))
    sd = o.state_dict()
    assert sd["best"] == 0.125 and type(sd["best"]) is float
    # Paddle writes a 0-d Tensor best out as a float and keeps an ndarray best as it is
    p = P.ReduceOnPlateau(1.0)
    p.step(paddle.to_tensor(0.25, dtype="float32"))
    assert p.state_dict()["best"] == 0.25 and type(p.state_dict()["best"]) is float
    p.step(np.array([0.125]))
    assert sd_equal(sd, p.state_dict())
    # Paddle's dict (ndarray best) loads into ours and ours into Paddle's
    fresh_o, fresh_p = O.ReduceOnPlateau(1.0), P.ReduceOnPlateau(1.0)
    fresh_o.set_state_dict(p.state_dict())
    fresh_p.set_state_dict(sd)
    for v in sequence("plateaus", 3)[:60]:
        fresh_o.step(v)
        fresh_p.step(v)
        assert_rop(fresh_o, fresh_p)


@pytest.mark.parametrize("mtype", ["float", "int", "np.float32", "ndarray_f64_[1]", "tensor_f32_[1]", "tensor_f64_0d"])
def test_rop_state_dict_torch_save_weights_only(mtype):
    make = lambda M: M.ReduceOnPlateau(1.0, "max", 0.5, 2, cooldown=2)
    values = -sequence("noisy_decreasing", 9)
    o = make(O)
    for v in values[:120]:
        o.step(METRIC_TYPES[mtype](O, v))
    sd = o.state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert loaded == sd
    fresh = make(O)
    fresh.set_state_dict(loaded)
    for v in values[120:]:
        o.step(float(v))
        fresh.step(float(v))
        assert fresh.state_dict() == o.state_dict()


def test_rop_set_state_dict_missing_and_extra_keys_like_paddle():
    so, sp = O.ReduceOnPlateau(1.0), P.ReduceOnPlateau(1.0)
    partial = {"cooldown_counter": 0, "best": 0.5, "last_epoch": 3, "last_lr": 0.1}
    for s in (so, sp):
        with pytest.raises(RuntimeError, match="num_bad_epochs"):
            s.set_state_dict(partial)
    extra = dict(partial, num_bad_epochs=2, foo=1)
    with pytest.warns(UserWarning, match="unused values"):
        so.set_state_dict(extra)
    with pytest.warns(UserWarning, match="unused values"):
        sp.set_state_dict(extra)
    assert so.state_dict() == sp.state_dict()


def test_rop_copies_pickles_and_listeners():
    class Listener:
        def __init__(self):
            self.seen = []

        def _on_lr_change(self):
            self.seen.append(s.last_lr)

    s = O.ReduceOnPlateau(1.0, patience=1, factor=0.5)
    lis = Listener()
    s._add_listener(lis)
    lrs = []
    for v in [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]:
        before = s.last_lr
        s.step(v)
        if s.last_lr != before:
            lrs.append(s.last_lr)
    assert lis.seen == lrs and len(lrs) == 2  # notified after each change of last_lr, only then
    s.step(torch.tensor(0.1))
    for c in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert c._listeners == [] and c.state_dict() == s.state_dict()
    s.set_state_dict(s.state_dict())
    assert len(lis.seen) == 3


# ---------------------------------------------------------------------------------------------- verbose
def test_rop_verbose_output_matches_paddle(capsys):
    def drive(M):
        s = M.ReduceOnPlateau(1.0, factor=0.5, patience=2, cooldown=1, min_lr=0.01, verbose=True)
        for v in sequence("increasing", 1)[:100]:
            s.step(float(v))
        s.step(10.0, 500)
        s.step(10.0)
        s.step(10.0)
        return capsys.readouterr().out

    out_o, out_p = drive(O), drive(P)
    assert out_o == out_p
    lines = out_o.splitlines()
    assert len(lines) > 3  # printed at each reduction only, never at construction
    assert all(re.fullmatch(r"Epoch \d+: ReduceOnPlateau set learning rate to [0-9.e-]+\.", line) for line in lines)


# ---------------------------------------------------------------------------------------------- bad inputs
BAD_METRICS = [
    (lambda M: np.zeros(3), AssertionError),
    (lambda M: np.zeros((0,)), AssertionError),
    (lambda M: paddle.zeros([2, 1]) if M is P else torch.zeros(2, 1), AssertionError),
    (lambda M: "0.5", TypeError),
    (lambda M: None, TypeError),
    (lambda M: [0.5], TypeError),
    (lambda M: np.int64(3), TypeError),
    (lambda M: np.float16(0.5), TypeError),
    (lambda M: complex(1, 0), TypeError),
]


@pytest.mark.parametrize("idx", range(len(BAD_METRICS)))
def test_rop_bad_metrics_raise_like_paddle(idx):
    make, exc = BAD_METRICS[idx]
    o, p = O.ReduceOnPlateau(1.0), P.ReduceOnPlateau(1.0)
    for s, M in ((o, O), (p, P)):
        s.step(0.5)
        with pytest.raises(exc) as info:
            s.step(make(M))
        if M is O:
            msg = str(info.value)
            assert "metrics" in msg
            assert repr(make(O)) in msg or str(make(O).shape) in msg.replace("torch.Size(", "")
    # as in Paddle, last_epoch has already moved when the metric is refused
    assert o.last_epoch == p.last_epoch == 2
    assert_rop(o, p)


BAD_ROP = [
    # (factory, text the message must contain)
    (lambda M: M.ReduceOnPlateau(0.1, factor=1.0), "factor"),
    (lambda M: M.ReduceOnPlateau(0.1, factor=2), "factor"),
    (lambda M: M.ReduceOnPlateau(0.1, factor="a"), "factor"),
    (lambda M: M.ReduceOnPlateau(0.1, factor=None), "factor"),
    (lambda M: M.ReduceOnPlateau(0.1, mode="foo"), "mode"),
    (lambda M: M.ReduceOnPlateau(0.1, mode="Minimum"), "mode"),
    (lambda M: M.ReduceOnPlateau(0.1, mode=1), "mode"),
    (lambda M: M.ReduceOnPlateau(0.1, mode=None), "mode"),
    (lambda M: M.ReduceOnPlateau(0.1, threshold_mode="relative"), "threshold mode"),
    (lambda M: M.ReduceOnPlateau(0.1, threshold_mode=None), "threshold_mode"),
    (lambda M: M.ReduceOnPlateau(0.1, threshold_mode=0), "threshold_mode"),
    (lambda M: M.ReduceOnPlateau("a"), "learning_rate"),
    (lambda M: M.ReduceOnPlateau(None), "learning_rate"),
    (lambda M: M.ReduceOnPlateau(np.float32(0.1)), "learning_rate"),
    (lambda M: M.ReduceOnPlateau(torch.tensor(0.1) if M is O else paddle.to_tensor(0.1)), "learning_rate"),
    # Paddle's order of checks: mode, factor, threshold_mode, learning_rate
    (lambda M: M.ReduceOnPlateau("a", mode="x", factor=3), "mode"),
    (lambda M: M.ReduceOnPlateau("a", factor=3, threshold_mode="x"), "factor"),
    (lambda M: M.ReduceOnPlateau("a", threshold_mode="x"), "threshold mode"),
]


@pytest.mark.parametrize("idx", range(len(BAD_ROP)))
def test_rop_bad_arguments_raise_like_paddle(idx):
    assert_raises_like_paddle(*BAD_ROP[idx])


# ---------------------------------------------------------------------------------------------- property
@HYP
@given(
    mode=st.sampled_from(["min", "max", "MIN", "Max"]),
    threshold_mode=st.sampled_from(["rel", "abs", "REL"]),
    factor=st.floats(-0.5, 0.99, allow_subnormal=False),
    patience=st.integers(0, 12),
    threshold=st.one_of(st.just(0), st.floats(0, 0.5, allow_subnormal=False)),
    cooldown=st.integers(0, 6),
    min_lr=st.one_of(st.just(0), st.floats(0, 0.1, allow_subnormal=False)),
    epsilon=st.sampled_from([1e-8, 0.0, 1e-3, 0.05]),
    kind=st.sampled_from(["noisy_decreasing", "plateaus", "increasing", "mixed"]),
    seed=st.integers(0, 2**16),
    decimals=st.sampled_from([None, 1, 3]),
    mtype=st.sampled_from(["float", "np.float32", "tensor_f32_0d", "tensor_f64_0d"]),
)
def test_rop_hypothesis(
    mode, threshold_mode, factor, patience, threshold, cooldown, min_lr, epsilon, kind, seed, decimals, mtype
):
    values = sequence(kind, seed)
    if decimals is not None:
        values = np.round(values, decimals)  # exact ties
    kw = {
        "mode": mode,
        "factor": factor,
        "patience": patience,
        "threshold": threshold,
        "threshold_mode": threshold_mode,
        "cooldown": cooldown,
        "min_lr": min_lr,
        "epsilon": epsilon,
    }
    o, p = O.ReduceOnPlateau(0.5, **kw), P.ReduceOnPlateau(0.5, **kw)
    drive_rop(o, p, values, METRIC_TYPES[mtype])
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())


@HYP
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=80),
    patience=st.integers(0, 4),
    cooldown=st.integers(0, 3),
    mode=st.sampled_from(["min", "max"]),
    threshold_mode=st.sampled_from(["rel", "abs"]),
)
def test_rop_hypothesis_drawn_metrics(values, patience, cooldown, mode, threshold_mode):
    kw = {"mode": mode, "threshold_mode": threshold_mode, "patience": patience, "cooldown": cooldown, "factor": 0.5}
    o, p = O.ReduceOnPlateau(1.0, **kw), P.ReduceOnPlateau(1.0, **kw)
    drive_rop(o, p, values * 4, METRIC_TYPES["float"])


# ============================================================================================== warm restarts
def assert_wr(o, p):
    assert_state(o, p)
    assert same(o.T_cur, p.T_cur), (o.T_cur, p.T_cur)
    assert o.T_i == p.T_i and type(o.T_i) is type(p.T_i)


from lr_cases import RESTARTS as WR


def run_wr(o, p, steps=N_STEPS):
    assert_wr(o, p)
    for _ in range(steps):
        o.step()
        p.step()
        assert_wr(o, p)


@pytest.mark.parametrize("name", sorted(WR))
@pytest.mark.parametrize("last_epoch", [-3, -1, 0, 5, 23])
def test_wr_step_sequence_matches_paddle(name, last_epoch):
    o, p = WR[name](O, last_epoch=last_epoch), WR[name](P, last_epoch=last_epoch)
    run_wr(o, p)
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())


EPOCHS = [
    3,
    3,
    0,
    17,
    9,
    10,
    11,
    40,
    2,
    100,
    7,
    21,
    20,
    19,
    1,
    5,
    2.5,
    0.5,
    13.25,
    63,
    64,
    65.5,
    1000,
    4095.0,
    0.0,
    7.999,
    6.0,
    26.0,
    80,
]


@pytest.mark.parametrize("name", sorted(WR))
def test_wr_explicit_epochs_forward_and_backward_match_paddle(name):
    o, p = WR[name](O), WR[name](P)
    for e in EPOCHS:
        o.step(e)
        p.step(e)
        assert_wr(o, p)
        assert o.last_epoch == math.floor(e) and type(o.last_epoch) is int
        for _ in range(4):  # step() continues from the placed schedule
            o.step()
            p.step()
            assert_wr(o, p)
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())


def test_wr_every_epoch_placement_matches_paddle():
    """step(epoch) for every integer and quarter epoch up to 300, for T_mult 1, 2, 3 (the log-based restart
    index rounds in Paddle's way, e.g. at exact restarts)."""
    for T_mult in (1, 2, 3):
        for T_0 in (1, 3, 10):
            o = O.CosineAnnealingWarmRestarts(0.5, T_0, T_mult, 0.001)
            p = P.CosineAnnealingWarmRestarts(0.5, T_0, T_mult, 0.001)
            for e in [*range(N_STEPS), *(k / 4 for k in range(4 * 60))]:
                o.step(e)
                p.step(e)
                assert_wr(o, p)


def test_wr_negative_epoch_raises_like_paddle():
    for M in (O, P):
        s = M.CosineAnnealingWarmRestarts(0.1, 3)
        with pytest.raises(ValueError) as info:
            s.step(-1)
        if M is O:
            msg = str(info.value)
        else:
            assert str(info.value) == msg
        assert s.last_epoch == 0  # nothing changed
    o, p = WR["T3_mult2_eta"](O), WR["T3_mult2_eta"](P)
    o.step(-0.0)
    p.step(-0.0)
    assert_wr(o, p)


def test_wr_step_count_and_listeners():
    class Listener:
        def __init__(self):
            self.seen = []

        def _on_lr_change(self):
            self.seen.append((s.last_epoch, s()))

    s = O.CosineAnnealingWarmRestarts(0.5, 3, 2)
    assert s._step_count == 1
    lis = Listener()
    s._add_listener(lis)
    s.step()
    s.step(7.5)
    s.step()
    assert s._step_count == 4
    assert [e for e, _ in lis.seen] == [1, 7, 8] and lis.seen[-1][1] == s()


# ---------------------------------------------------------------------------------------------- verbose


@pytest.mark.parametrize("name", sorted(WR))
@pytest.mark.parametrize("k", [0, 1, 13, 40])
def test_wr_state_dict_round_trip(name, k):
    """Paddle saves only last_epoch and last_lr, so a Paddle scheduler loaded mid-run continues from the
    T_cur / T_i it was built with. oar also saves T_cur and T_i: a loaded scheduler continues exactly; one
    loaded from Paddle's dict places T_cur / T_i at last_epoch by the closed form and continues with the
    same lrs; Paddle loads oar's dict (warning about the unused entries)."""
    make = WR[name]
    o, p = make(O), make(P)
    for _ in range(k):
        o.step()
        p.step()
    sd = o.state_dict()
    assert set(p.state_dict()) == {"last_epoch", "last_lr"}
    assert set(sd) == {"last_epoch", "last_lr", "T_cur", "T_i"}
    assert sd_equal(paddle_view(sd), p.state_dict())
    assert sd["T_cur"] == o.T_cur and sd["T_i"] == o.T_i
    fresh_o, fresh_o2, fresh_p = make(O), make(O), make(P)
    fresh_o.set_state_dict(sd)
    fresh_o2.set_state_dict(p.state_dict())
    with pytest.warns(UserWarning, match="unused values"):
        fresh_p.set_state_dict(copy.deepcopy(sd))
    assert_wr(fresh_o, o)
    for _ in range(30):
        for s in (o, p, fresh_o, fresh_o2, fresh_p):
            s.step()
        assert_wr(o, p)
        assert_wr(fresh_o, o)
        assert_state(fresh_o2, o)
        assert fresh_o2.T_i == o.T_i and math.isclose(fresh_o2.T_cur, o.T_cur, rel_tol=0, abs_tol=1e-9)
        assert fresh_p.last_epoch == o.last_epoch


@pytest.mark.parametrize("last_epoch", [-1, 4])
def test_wr_inside_linear_warmup_matches_paddle(last_epoch):
    def make(M):
        return M.LinearWarmup(M.CosineAnnealingWarmRestarts(0.2, 4, 2, 0.01), 6, 0.0, 0.2, last_epoch=last_epoch)

    o, p = run_pair(make)
    assert_wr(o.learning_rate, p.learning_rate)
    for _ in range(12):
        o.step()
        p.step()
    sd = o.state_dict()
    assert sd_equal(paddle_view(sd), p.state_dict())
    assert set(sd) == {"last_epoch", "last_lr", "LinearWarmup_LR"}
    assert set(sd["LinearWarmup_LR"]) == {"last_epoch", "last_lr", "T_cur", "T_i"}
    fresh_o, fresh_p = make(O), make(P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the nested entry counts as unused, as in Paddle
        fresh_o.set_state_dict(sd)
        fresh_p.set_state_dict(copy.deepcopy(sd))
    for _ in range(40):
        for s in (o, p, fresh_o, fresh_p):
            s.step()
        assert_state(o, p)
        assert_state(fresh_o, fresh_p)
        assert_state(fresh_o, o)  # the wrapper steps its inner scheduler with explicit epochs


# ---------------------------------------------------------------------------------------------- bad inputs
BAD_WR = [
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 0), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, -3), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2.0), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 0.5), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, "2"), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, None), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 0), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, -1), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 1.5), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 2.0), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, "2"), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, None), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 1, "x"), "eta_min"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 1, None), "eta_min"),
    (lambda M: M.CosineAnnealingWarmRestarts(0.1, 2, 1, [0.01]), "eta_min"),
    (lambda M: M.CosineAnnealingWarmRestarts(-0.1, 2), "learning rate"),
    (lambda M: M.CosineAnnealingWarmRestarts("a", 2), "learning rate"),
    (lambda M: M.CosineAnnealingWarmRestarts(None, 2), "learning rate"),
    # order: T_0, then T_mult, then learning_rate, then eta_min (Paddle meets it at the first step)
    (lambda M: M.CosineAnnealingWarmRestarts(-1, 0, 0, "x"), "T_0"),
    (lambda M: M.CosineAnnealingWarmRestarts(-1, 2, 0, "x"), "T_mult"),
    (lambda M: M.CosineAnnealingWarmRestarts(-1, 2, 1, "x"), "learning rate"),
    (lambda M: M.CosineAnnealingWarmRestarts("a", 2, 1, None), "learning rate"),
]


@pytest.mark.parametrize("idx", range(len(BAD_WR)))
def test_wr_bad_arguments_raise_like_paddle(idx):
    assert_raises_like_paddle(*BAD_WR[idx])


def test_wr_accepted_argument_types_like_paddle():
    for make in (
        lambda M: M.CosineAnnealingWarmRestarts(0.1, True, True),  # bools are ints, as in Paddle
        lambda M: M.CosineAnnealingWarmRestarts(0.1, 3, 2, np.float64(0.01)),
        lambda M: M.CosineAnnealingWarmRestarts(0.1, 3, 2, np.float32(0.01)),  # np.float32 arithmetic
        lambda M: M.CosineAnnealingWarmRestarts(0.1, 3, 2, True),
        lambda M: M.CosineAnnealingWarmRestarts(0, 3, 2, -0.5),
        lambda M: M.CosineAnnealingWarmRestarts(float("nan"), 3),
    ):
        o, p = make(O), make(P)
        for _ in range(20):
            o.step()
            p.step()
            assert_wr(o, p)
            assert type(o()) is type(p())


# ---------------------------------------------------------------------------------------------- property
@HYP
@given(
    lr=st.floats(0, 10, allow_subnormal=False),
    T_0=st.integers(1, 30),
    T_mult=st.integers(1, 4),
    eta_min=st.one_of(st.integers(0, 2), st.floats(0, 1, allow_subnormal=False)),
    last_epoch=st.integers(-1, 40),
    epochs=st.lists(st.one_of(st.integers(0, 5000), st.floats(0, 5000, allow_subnormal=False)), max_size=12),
)
def test_wr_hypothesis(lr, T_0, T_mult, eta_min, last_epoch, epochs):
    o = O.CosineAnnealingWarmRestarts(lr, T_0, T_mult, eta_min, last_epoch)
    p = P.CosineAnnealingWarmRestarts(lr, T_0, T_mult, eta_min, last_epoch)
    run_wr(o, p, steps=150)
    for e in epochs:
        o.step(e)
        p.step(e)
        assert_wr(o, p)
        o.step()
        p.step()
        assert_wr(o, p)
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())
