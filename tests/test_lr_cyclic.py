"""oar.lr OneCycleLR, CyclicLR and LinearLR side by side with real Paddle 3.3.1 ``paddle.optimizer.lr``."""

from __future__ import annotations

import inspect
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lr_harness import (
    N_STEPS,
    O,
    P,
    assert_raises_like_paddle,
    assert_state,
    outcome,
    run_pair,
    same,
    sd_equal,
    step_both,
)

HYP = settings(max_examples=25, deadline=None, derandomize=True)


from lr_cases import CYCLIC as CASES
from lr_cases import _decay, _halve

ONECYCLE = sorted(n for n in CASES if n.startswith("onecycle"))
CYCLIC = sorted(n for n in CASES if n.startswith("cyclic"))
LINEAR = sorted(n for n in CASES if n.startswith("linear"))
WARMUP = sorted(n for n in CASES if n.startswith("warmup"))


def run_pair_or_raise(make, steps=N_STEPS):
    """Like ``run_pair``, but an exception (construction or step) must be raised by both, then it stops."""
    o, p = [None], [None]
    eo = outcome(lambda: o.__setitem__(0, make(O)))
    ep = outcome(lambda: p.__setitem__(0, make(P)))
    assert type(eo) is type(ep), (eo, ep)
    if ep is not None:
        return 0
    o, p = o[0], p[0]
    assert_state(o, p)
    for k in range(steps):
        if step_both(o, p) is not None:
            return k
    assert sd_equal(o.state_dict(), p.state_dict())
    return steps


# ---------------------------------------------------------------------------------------------- API
@pytest.mark.parametrize("cls", ["OneCycleLR", "CyclicLR", "LinearLR"])
def test_signature_matches_paddle(cls):
    so, sp = inspect.signature(getattr(O, cls)), inspect.signature(getattr(P, cls))
    assert [(q.name, q.kind, q.default) for q in so.parameters.values()] == [
        (q.name, q.kind, q.default) for q in sp.parameters.values()
    ]
    assert "cycle_momentum" not in so.parameters  # CyclicLR does not cycle momentum
    assert cls in O.__all__


ATTRS = {
    "OneCycleLR": ["total_steps", "_step_config", "_steps_size", "_lr_config"],
    "CyclicLR": ["cycle_size", "step_up_pct", "max_lr", "amplitude", "mode", "gamma", "scale_mode"],
    "LinearLR": ["start_factor", "end_factor", "total_steps"],
}


@pytest.mark.parametrize("name", sorted(n for n in CASES if not n.startswith("warmup")))
def test_attributes_match_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    for attr in ATTRS[type(p).__name__]:
        vo, vp = getattr(o, attr), getattr(p, attr)
        assert type(vo) is type(vp) and vo == vp, (attr, vo, vp)
    if isinstance(p, P.OneCycleLR):
        assert o.anneal_func.__name__ == p.anneal_func.__name__
    if isinstance(p, P.CyclicLR):
        for x in (1.0, 2.0, 5.0, 0, 7, 40):
            assert same(o.scale_fn(x), p.scale_fn(x))


# ---------------------------------------------------------------------------------------------- sequences


def test_float_epochs_match_paddle():
    for name in ("onecycle", "onecycle_three_linear", "cyclic_tri2", "cyclic_exp", "cyclic_fn_cycle", "linear"):
        o, p = CASES[name](O), CASES[name](P)
        for e in (2.5, 0.5, 13.25, 7.75):
            step_both(o, p, e)


def test_linear_lr_explicit_epoch_applies_one_recursive_factor_like_paddle():
    # LinearLR has no closed form: step(4) right after construction multiplies last_lr by the factor of
    # epoch 4 only (Paddle: 0.15 here), which is not the linear value at epoch 4 (0.375)
    o, p = O.LinearLR(0.5, 6, 0.25), P.LinearLR(0.5, 6, 0.25)
    o.step(4)
    p.step(4)
    assert_state(o, p)
    closed_form = 0.5 * (0.25 + (1.0 - 0.25) * 4 / 6)
    assert not math.isclose(o(), closed_form)
    assert not hasattr(o, "_get_closed_form_lr")
    # stepping recursively to epoch 4 gives the linear value, in both
    o2, p2 = O.LinearLR(0.5, 6, 0.25), P.LinearLR(0.5, 6, 0.25)
    for _ in range(4):
        step_both(o2, p2)
    assert math.isclose(o2(), closed_form, rel_tol=1e-12) and o2() != o()


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("total", [1, 2, 3, 7, 10, 33])
def test_onecycle_short_runs_and_past_total_steps_raise_like_paddle(three_phase, anneal, total):
    for pct in (0.0, 0.15, 0.3, 0.45):

        def make(M, pct=pct):
            return M.OneCycleLR(0.8, total, phase_pct=pct, anneal_strategy=anneal, three_phase=three_phase)

        steps = run_pair_or_raise(make, steps=total + 5)
        assert steps <= total  # construction or a step at e = total + 1 at the latest raises, in both
        if steps == total:  # epoch total + 1: ValueError; last_epoch advanced, last_lr kept (in both)
            o, p = make(O), make(P)
            for _ in range(total):
                o.step()
                p.step()
            lr = o()
            assert isinstance(outcome(o.step), ValueError) and isinstance(outcome(p.step), ValueError)
            assert o.last_epoch == p.last_epoch == total + 1 and o() == p() == lr


@pytest.mark.parametrize("name", [n for n in ONECYCLE if n != "onecycle_pct1"])  # pct 1: no down phase
def test_onecycle_end_learning_rate_is_absolute(name):
    o, p = CASES[name](O), CASES[name](P)
    for _ in range(o.total_steps - 1):
        step_both(o, p)
    # epoch total_steps - 1 ends the last phase: exactly end_learning_rate (not a fraction of the initial lr)
    end = float(p._lr_config[-1])
    assert same(o(), p()) and math.isclose(o(), end, rel_tol=1e-12, abs_tol=1e-18)
    if p.anneal_func.__name__ == "_cos_annealing":  # cos(pi) + 1 == 0: exact
        assert o() == end


# ---------------------------------------------------------------------------------------------- hypothesis
@HYP
@given(
    max_lr=st.floats(0, 10, allow_subnormal=False),
    total=st.integers(1, 400),
    divide=st.one_of(st.integers(1, 1000), st.floats(0.5, 1e4)),
    end_lr=st.one_of(st.just(0), st.floats(0, 1, allow_subnormal=False)),
    pct=st.floats(0, 1),
    three=st.booleans(),
    anneal=st.sampled_from(["cos", "linear"]),
    last_epoch=st.integers(-1, 50),
)
def test_onecycle_hypothesis(max_lr, total, divide, end_lr, pct, three, anneal, last_epoch):
    if three:
        pct *= 0.499
    last_epoch = min(last_epoch, total - 1)

    def make(M):
        return M.OneCycleLR(max_lr, total, divide, end_lr, pct, anneal, three, last_epoch=last_epoch)

    run_pair_or_raise(make)


@HYP
@given(
    base=st.floats(0, 1, allow_subnormal=False),
    max_lr=st.one_of(st.integers(0, 3), st.floats(0, 10, allow_subnormal=False)),
    up=st.integers(1, 60),
    down=st.one_of(st.none(), st.integers(1, 60)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.5, 1.0),
    fn=st.sampled_from([None, _halve, _decay]),
    scale_mode=st.sampled_from(["cycle", "iterations"]),
    last_epoch=st.integers(-1, 100),
)
def test_cyclic_hypothesis(base, max_lr, up, down, mode, gamma, fn, scale_mode, last_epoch):
    run_pair(lambda M: M.CyclicLR(base, max_lr, up, down, mode, gamma, fn, scale_mode, last_epoch=last_epoch))


@HYP
@given(
    lr=st.floats(0, 10, allow_subnormal=False),
    total=st.one_of(st.integers(1, 200), st.floats(0.5, 200)),
    start=st.floats(1e-6, 1.0),
    end=st.floats(0, 1.0, allow_subnormal=False),
    last_epoch=st.integers(-1, 50),
)
def test_linear_lr_hypothesis(lr, total, start, end, last_epoch):
    run_pair(lambda M: M.LinearLR(lr, total, start, end, last_epoch=last_epoch))


# ---------------------------------------------------------------------------------------------- verbose


def test_verbose_nested_matches_paddle(capsys):
    def drive(M):
        s = M.LinearWarmup(M.CyclicLR(0.1, 0.3, 2, verbose=True), 3, 0.0, 0.1, verbose=True)
        for _ in range(8):
            s.step()
        return capsys.readouterr().out

    out_o, out_p = drive(O), drive(P)
    assert out_o == out_p
    assert "CyclicLR set learning rate" in out_o and "LinearWarmup set learning rate" in out_o


# ---------------------------------------------------------------------------------------------- state dicts


def _values(sd):
    for v in sd.values():
        if isinstance(v, dict):
            yield from _values(v)
        else:
            yield v


@pytest.mark.parametrize("name", WARMUP)
def test_linear_warmup_nests_inner_state_like_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    for _ in range(17):
        step_both(o, p)
    assert_state(o.learning_rate, p.learning_rate)
    sd = o.state_dict()
    assert set(sd) == {"last_epoch", "last_lr", "LinearWarmup_LR"}
    assert sd["LinearWarmup_LR"] == o.learning_rate.state_dict()
    assert sd_equal(sd, p.state_dict())
    fresh = CASES[name](O)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.set_state_dict(p.state_dict())
    assert_state(fresh.learning_rate, p.learning_rate)
    for _ in range(20):
        step_both(fresh, p)
        assert_state(fresh.learning_rate, p.learning_rate)


def _step_to(s, n):
    for _ in range(n):
        s.step()


BAD = [
    # (factory, argument named in the message)
    # OneCycleLR
    (lambda M: M.OneCycleLR("1", 100), "max_learning_rate"),
    (lambda M: M.OneCycleLR(None, 100), "max_learning_rate"),
    (lambda M: M.OneCycleLR(-0.1, 100), "max_learning_rate"),
    (lambda M: M.OneCycleLR(-0.1, "x"), "max_learning_rate"),  # checked first
    (lambda M: M.OneCycleLR(0.1, 100, end_learning_rate="a"), "end_learning_rate"),
    (lambda M: M.OneCycleLR(0.1, 100, end_learning_rate=-1e-4), "end_learning_rate"),
    (lambda M: M.OneCycleLR(0.1, 100.0), "total_step"),  # sic: Paddle's message says 'total_step'
    (lambda M: M.OneCycleLR(0.1, None), "total_step"),
    (lambda M: M.OneCycleLR(0.1, 0), "total_step"),
    (lambda M: M.OneCycleLR(0.1, -5), "total_step"),
    (lambda M: M.OneCycleLR(0.1, 100, phase_pct=0), "phase_pct"),
    (lambda M: M.OneCycleLR(0.1, 100, phase_pct="0.3"), "phase_pct"),
    (lambda M: M.OneCycleLR(0.1, 100, phase_pct=1.5), "phase_pct"),
    (lambda M: M.OneCycleLR(0.1, 100, phase_pct=-0.1), "phase_pct"),
    (lambda M: M.OneCycleLR(0.1, 100, phase_pct=0.5, three_phase=True), "phase_pct"),
    (lambda M: M.OneCycleLR(0.1, 100, divide_factor="25"), "divide_factor"),
    (lambda M: M.OneCycleLR(0.1, 100, divide_factor=0), "divide_factor"),
    (lambda M: M.OneCycleLR(0.1, 100, divide_factor=-2.0), "divide_factor"),
    (lambda M: M.OneCycleLR(0.1, 100, anneal_strategy="cosine"), "anneal_strategy"),
    (lambda M: M.OneCycleLR(0.1, 100, anneal_strategy=None), "anneal_strategy"),
    (lambda M: M.OneCycleLR(0.1, 100, divide_factor=-2.0, anneal_strategy="x"), "anneal_strategy"),
    (lambda M: M.OneCycleLR(0.1, 10, phase_pct=0.1), "phase_pct"),  # zero-length first phase
    (lambda M: M.OneCycleLR(0.1, 100, last_epoch=100), "total steps"),
    (lambda M: _step_to(M.OneCycleLR(0.1, 5), 6), "total steps"),
    (lambda M: _step_to(M.OneCycleLR(0.1, 40, three_phase=True, anneal_strategy="linear"), 41), "total steps"),
    (lambda M: M.OneCycleLR(0.1, 5).step(9), "total steps"),
    # CyclicLR
    (lambda M: M.CyclicLR(0.1, "1", 3), "max_learning_rate"),
    (lambda M: M.CyclicLR(0.1, -1.0, 3), "max_learning_rate"),
    (lambda M: M.CyclicLR("a", 1.0, 3), "base_learning_rate"),
    (lambda M: M.CyclicLR(None, 1.0, 3), "base_learning_rate"),
    (lambda M: M.CyclicLR("a", 1.0, 3, mode="bad"), "base_learning_rate"),  # before the mode check
    (lambda M: M.CyclicLR(-0.1, 1.0, 3), "learning rate"),
    (lambda M: M.CyclicLR(-0.1, 1.0, 3, mode="bad"), "mode"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3.0), "step_size_up"),
    (lambda M: M.CyclicLR(0.1, 1.0, None), "step_size_up"),
    (lambda M: M.CyclicLR(0.1, 1.0, 0), "step_size_up"),
    (lambda M: M.CyclicLR(0.1, 1.0, -2), "step_size_up"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, 1.5), "step_size_down"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, 0), "step_size_down"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, -1), "step_size_down"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, exp_gamma=1), "exp_gamma"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, mode="exp_range", exp_gamma="0.9"), "exp_gamma"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, mode="bad"), "mode"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, scale_mode="epoch"), "scale_mode"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, scale_fn=_halve, scale_mode=None), "scale_mode"),
    (lambda M: M.CyclicLR(0.1, 1.0, 3, scale_fn=5), "scale_fn"),
    # LinearLR
    (lambda M: M.LinearLR(0.1, 10, start_factor=0), "start_factor"),
    (lambda M: M.LinearLR(0.1, 10, start_factor=1.5), "start_factor"),
    (lambda M: M.LinearLR(0.1, 10, start_factor=-0.2), "start_factor"),
    (lambda M: M.LinearLR(0.1, 10, start_factor="a"), "start_factor"),
    (lambda M: M.LinearLR(0.1, 10, start_factor=None), "start_factor"),
    (lambda M: M.LinearLR(0.1, 10, end_factor=1.01), "end_factor"),
    (lambda M: M.LinearLR(0.1, 10, end_factor=-0.5), "end_factor"),
    (lambda M: M.LinearLR(0.1, 10, end_factor="a"), "end_factor"),
    (lambda M: M.LinearLR(0.1, 0), "total_steps"),
    (lambda M: M.LinearLR(0.1, -3), "total_steps"),
    (lambda M: M.LinearLR(0.1, "a"), "total_steps"),
    (lambda M: M.LinearLR(0.1, None), "total_steps"),
    (lambda M: M.LinearLR(0.1, 0, start_factor=2.0), "start_factor"),  # start_factor is checked first
    (lambda M: M.LinearLR(-0.1, 10), "learning rate"),
    (lambda M: M.LinearLR("a", 10), "learning rate"),
]


@pytest.mark.parametrize("idx", range(len(BAD)))
def test_bad_inputs_raise_like_paddle(idx):
    assert_raises_like_paddle(*BAD[idx])
