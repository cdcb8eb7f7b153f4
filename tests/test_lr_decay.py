"""oar.lr decay schedulers (PiecewiseDecay, NaturalExpDecay, InverseTimeDecay, PolynomialDecay, ExponentialDecay,
MultiStepDecay, LambdaDecay, MultiplicativeDecay) side by side with real Paddle 3.3.1 ``paddle.optimizer.lr``."""

from __future__ import annotations

import copy
import inspect
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lr_harness import (
    O,
    P,
    assert_raises_like_paddle,
    assert_state,
    raised,
    run_pair,
    same,
    sd_equal,
)

HYP = settings(max_examples=25, deadline=None, derandomize=True)

NAMES = [
    "PiecewiseDecay",
    "NaturalExpDecay",
    "InverseTimeDecay",
    "PolynomialDecay",
    "ExponentialDecay",
    "MultiStepDecay",
    "LambdaDecay",
    "MultiplicativeDecay",
]


from lr_cases import DECAY as CASES
from lr_cases import DECAY_WRAPPED as WRAPPED

# MultiplicativeDecay has no float epoch (range() of a float: TypeError in Paddle too)
FLOAT_EPOCH_CASES = sorted(n for n in CASES if "multiplicative" not in n)


# ---------------------------------------------------------------------------------------------- API surface
@pytest.mark.parametrize("name", NAMES)
def test_exported_with_paddle_signature(name):
    assert name in O.__all__
    assert (
        inspect.signature(getattr(O, name).__init__).parameters.keys()
        == inspect.signature(getattr(P, name).__init__).parameters.keys()
    )
    po = inspect.signature(getattr(O, name).__init__).parameters
    pp = inspect.signature(getattr(P, name).__init__).parameters
    for key in pp:
        assert po[key].default == pp[key].default, key
        assert po[key].kind == pp[key].kind, key
    assert issubclass(getattr(O, name), O.LRScheduler)
    assert getattr(O, name).__doc__ and "paddlepaddle.org.cn" in getattr(O, name).__doc__


ATTRS = {
    "piecewise": ["boundaries", "values"],
    "natexp": ["gamma"],
    "invtime": ["gamma"],
    "poly_cycle": ["decay_steps", "end_lr", "power", "cycle"],
    "poly_int_end": ["decay_steps", "end_lr", "power", "cycle"],
    "exp": ["gamma"],
    "multistep_tuple": ["milestones", "gamma"],
    "lambda": ["lr_lambda"],
    "multiplicative": ["lr_lambda"],
}


@pytest.mark.parametrize("name", sorted(ATTRS))
def test_attributes_like_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    for attr in ATTRS[name]:
        vo, vp = getattr(o, attr), getattr(p, attr)
        if callable(vp):
            assert callable(vo)
        else:
            assert vo == vp and type(vo) is type(vp), attr
    assert same(o.base_lr, p.base_lr)


def test_containers_kept_not_copied_like_paddle():
    bounds, vals, miles = [3, 6], [0.3, 0.2, 0.1], [2, 4]
    assert O.PiecewiseDecay(bounds, vals).boundaries is bounds
    assert P.PiecewiseDecay(bounds, vals).boundaries is bounds
    assert O.MultiStepDecay(0.1, miles).milestones is miles
    assert P.MultiStepDecay(0.1, miles).milestones is miles


# ---------------------------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("name", FLOAT_EPOCH_CASES)
def test_float_epochs_match_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    for e in (2.5, 0.5, 13.25, 7.0, 29.99, 31.5, 4.0):
        o.step(e)
        p.step(e)
        assert_state(o, p)
        o.step()
        p.step()
        assert_state(o, p)


def _step_both(o, p, epoch):
    """``step(epoch)`` on ours and on Paddle's: the exceptions raised (or None)."""
    return raised(lambda M: o.step(epoch), O), raised(lambda M: p.step(epoch), P)


def test_multiplicative_float_epoch_raises_like_paddle():
    for name in ("multiplicative", "warmup_multiplicative_var"):
        o, p = CASES[name](O), CASES[name](P)
        e = 12.5 if name.startswith("warmup") else 2.5
        eo, ep = _step_both(o, p, e)
        assert type(eo) is type(ep) is TypeError, (eo, ep)
        assert "epoch" in str(eo)


def test_negative_epochs_match_paddle():
    # negative epochs (last_epoch <= -2, or step(e < 0)): Paddle extrapolates each formula; PolynomialDecay
    # cycle=True has no cycle length for -decay_steps < e < 0 (ZeroDivisionError) and takes a negative base
    # to a power below (a complex lr for a non-integer power)
    names = [n for n in sorted(CASES) if not n.startswith("warmup_")]
    for name in names:
        make = lambda M, name=name: CASES[name](M, last_epoch=-3)
        eo, ep = raised(make, O), raised(make, P)
        assert type(eo) is type(ep), (name, eo, ep)
        o, p = CASES[name](O), CASES[name](P)
        for e in (-1, -7, -40, -1):
            eo, ep = _step_both(o, p, e)
            assert type(eo) is type(ep), (name, e, eo, ep)
            if ep is None:
                assert_state(o, p)


def test_polynomial_cycle_negative_epochs_like_paddle():
    for power in (0.5, 2, 1.0):
        for e in (-5, -10, -16, -25, -31):

            def make(M, e=e, power=power):
                return M.PolynomialDecay(0.1, 10, 0.001, power, cycle=True, last_epoch=e - 1)

            eo, ep = raised(make, O), raised(make, P)
            assert type(eo) is type(ep), (power, e, eo, ep)
            if ep is None:
                o, p = make(O), make(P)
                assert o() == p() and type(o()) is type(p())  # complex for power 0.5 below -decay_steps
                assert o.state_dict() == p.state_dict()
            else:
                assert isinstance(ep, ZeroDivisionError) and "decay_steps" in str(eo)


def test_multiplicative_calls_lambda_like_paddle():
    # the product is recomputed from base_lr at every step: the same calls, in the same order
    calls = {O: [], P: []}

    def make(M):
        def factor(e):
            calls[M].append(e)
            return 0.9 + 0.01 * (e % 5)

        return M.MultiplicativeDecay(0.3, factor, last_epoch=2)

    o, p = make(O), make(P)
    for s in (o, p):
        for _ in range(6):
            s.step()
        s.step(3)
        s.set_state_dict({"last_epoch": 9, "last_lr": 123.0})  # a loaded last_lr does not feed the next value
        s.step()
    assert calls[O] == calls[P] and len(calls[O]) > 30
    assert_state(o, p)


def test_lambda_called_like_paddle():
    calls = {O: [], P: []}

    def make(M):
        def factor(e):
            calls[M].append(e)
            return 1.0 / (1 + e)

        return M.LambdaDecay(0.3, factor, last_epoch=4)

    o, p = make(O), make(P)
    for s in (o, p):
        for _ in range(5):
            s.step()
        s.step(2)
        s.step(2.5)
    assert calls[O] == calls[P]
    assert_state(o, p)


def test_lambda_errors_propagate_like_paddle():
    def boom(e):
        if e == 3:
            raise KeyError("boom")
        return 1.0

    for cls in ("LambdaDecay", "MultiplicativeDecay"):
        o, p = getattr(O, cls)(0.1, boom), getattr(P, cls)(0.1, boom)
        o.step(), p.step()
        o.step(), p.step()
        for s in (o, p):
            with pytest.raises(KeyError, match="boom"):
                s.step()


def test_piecewise_bad_boundary_fails_at_step_like_paddle():
    # a boundary that cannot be compared with the epoch only fails once a step reaches it
    make = lambda M: M.PiecewiseDecay([1, "a", 5], [0.3, 0.2, 0.1, 0.0])
    o, p = make(O), make(P)
    assert_state(o, p)
    eo, ep = raised(lambda M: o.step(), O), raised(lambda M: p.step(), P)
    assert type(eo) is type(ep) is TypeError
    assert "boundaries" in str(eo)


def test_piecewise_values_returned_as_given_like_paddle():
    # values are not validated (as in Paddle): the element is returned as is
    o, p = O.PiecewiseDecay([1], ["x", None]), P.PiecewiseDecay([1], ["x", None])
    assert o() == p() == "x"
    o.step(), p.step()
    assert o() is None and p() is None
    assert o.state_dict() == p.state_dict()


# ---------------------------------------------------------------------------------------------- hypothesis
LAST_EPOCH = st.integers(-1, 50)
LR = st.floats(0, 10, allow_subnormal=False)


@HYP
@given(
    bounds=st.lists(st.integers(-5, 400), min_size=1, max_size=6),
    sort=st.booleans(),
    values=st.lists(st.one_of(st.floats(0, 5, allow_subnormal=False), st.integers(0, 5)), min_size=8, max_size=8),
    extra=st.integers(1, 2),
    last_epoch=LAST_EPOCH,
)
def test_piecewise_hypothesis(bounds, sort, values, extra, last_epoch):
    if sort:
        bounds = sorted(bounds)
    vals = values[: len(bounds) + extra]
    run_pair(lambda M: M.PiecewiseDecay(bounds, vals, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    gamma=st.one_of(st.floats(1e-9, 5, allow_subnormal=False), st.integers(1, 3)),
    last_epoch=LAST_EPOCH,
)
def test_natural_exp_hypothesis(lr, gamma, last_epoch):
    run_pair(lambda M: M.NaturalExpDecay(lr, gamma, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    gamma=st.one_of(st.floats(0, 10, allow_subnormal=False), st.integers(0, 5), st.floats(-1e-3, 0)),
    last_epoch=LAST_EPOCH,
)
def test_inverse_time_hypothesis(lr, gamma, last_epoch):
    run_pair(lambda M: M.InverseTimeDecay(lr, gamma, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    decay_steps=st.integers(1, 120),
    end_lr=st.one_of(st.floats(0, 1, allow_subnormal=False), st.integers(0, 2)),
    power=st.one_of(st.floats(0.05, 5, allow_subnormal=False), st.integers(1, 4)),
    cycle=st.booleans(),
    last_epoch=LAST_EPOCH,
)
def test_polynomial_hypothesis(lr, decay_steps, end_lr, power, cycle, last_epoch):
    run_pair(lambda M: M.PolynomialDecay(lr, decay_steps, end_lr, power, cycle, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    gamma=st.floats(0, 1, exclude_min=True, exclude_max=True, allow_subnormal=False),
    last_epoch=LAST_EPOCH,
)
def test_exponential_hypothesis(lr, gamma, last_epoch):
    run_pair(lambda M: M.ExponentialDecay(lr, gamma, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    milestones=st.lists(st.integers(0, 400), max_size=6, unique=True),
    as_tuple=st.booleans(),
    gamma=st.one_of(st.floats(-2, 0.999999, allow_subnormal=False), st.integers(-3, 0)),
    last_epoch=LAST_EPOCH,
)
def test_multistep_hypothesis(lr, milestones, as_tuple, gamma, last_epoch):
    miles = tuple(sorted(milestones)) if as_tuple else sorted(milestones)
    run_pair(lambda M: M.MultiStepDecay(lr, miles, gamma, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    a=st.floats(0.5, 1.0, allow_subnormal=False),
    b=st.floats(0, 2, allow_subnormal=False),
    form=st.sampled_from(["pow", "inv", "mix"]),
    last_epoch=LAST_EPOCH,
)
def test_lambda_hypothesis(lr, a, b, form, last_epoch):
    fn = {
        "pow": lambda e: a**e,
        "inv": lambda e: 1 / (1 + b * e),
        "mix": lambda e: a ** (e // 7) * (1 + b * math.sin(e)),
    }[form]
    run_pair(lambda M: M.LambdaDecay(lr, fn, last_epoch=last_epoch))


@HYP
@given(
    lr=LR,
    a=st.floats(0.8, 1.0, allow_subnormal=False),
    b=st.floats(-0.1, 0.1, allow_subnormal=False),
    k=st.integers(1, 7),
    last_epoch=LAST_EPOCH,
)
def test_multiplicative_hypothesis(lr, a, b, k, last_epoch):
    run_pair(lambda M: M.MultiplicativeDecay(lr, lambda e: a + b * (e % k), last_epoch=last_epoch), steps=120)


@HYP
@given(
    inner=st.sampled_from(WRAPPED),
    warmup=st.integers(1, 40),
    start=st.floats(0, 0.5, allow_subnormal=False),
    last_epoch=st.integers(-1, 30),
)
def test_linear_warmup_around_decay_hypothesis(inner, warmup, start, last_epoch):
    o, p = run_pair(lambda M: M.LinearWarmup(CASES[inner](M), warmup, start, start + 0.25, last_epoch=last_epoch))
    assert_state(o.learning_rate, p.learning_rate)


# ---------------------------------------------------------------------------------------------- verbose


@pytest.mark.parametrize("name", WRAPPED)
def test_verbose_nested_matches_paddle(name, capsys):
    def drive(M):
        s = M.LinearWarmup(CASES[name](M, verbose=True), 3, 0.1, 0.4, verbose=True)
        for _ in range(8):
            s.step()
        return capsys.readouterr().out

    out_o, out_p = drive(O), drive(P)
    assert out_o == out_p
    assert "LinearWarmup set learning rate" in out_o


# ---------------------------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("name", [f"warmup_{n}" for n in WRAPPED])
def test_linear_warmup_nested_state_like_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    for _ in range(17):
        o.step()
        p.step()
    sd = o.state_dict()
    assert sd_equal(sd, p.state_dict())
    assert sd["LinearWarmup_LR"]["last_epoch"] == 7
    assert_state(o.learning_rate, p.learning_rate)
    fresh_o, fresh_p = CASES[name](O), CASES[name](P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh_o.set_state_dict(p.state_dict())
        fresh_p.set_state_dict(copy.deepcopy(sd))
    assert sd_equal(fresh_o.state_dict(), sd) and sd_equal(fresh_p.state_dict(), sd)
    for _ in range(20):
        for s in (o, p, fresh_o, fresh_p):
            s.step()
        for s in (p, fresh_o, fresh_p):
            assert_state(o, s)
            assert_state(o.learning_rate, s.learning_rate)


def test_set_state_dict_missing_and_extra_keys_like_paddle():
    for name in ("piecewise", "poly_cycle", "multistep", "lambda", "multiplicative"):
        for M in (O, P):
            with pytest.raises(RuntimeError, match="last_lr"):
                CASES[name](M).set_state_dict({"last_epoch": 3})
        so, sp = CASES[name](O), CASES[name](P)
        extra = {"last_epoch": 3, "last_lr": 0.125, "lr_lambda": 1}
        with pytest.warns(UserWarning, match="unused values"):
            so.set_state_dict(extra)
        with pytest.warns(UserWarning, match="unused values"):
            sp.set_state_dict(extra)
        assert so.state_dict() == sp.state_dict() == {"last_epoch": 3, "last_lr": 0.125}


# ---------------------------------------------------------------------------------------------- bad inputs
BAD = [
    # (factory, argument named in the message)
    (lambda M: M.PiecewiseDecay([], []), "boundaries"),
    (lambda M: M.PiecewiseDecay([], [0.1]), "boundaries"),
    (lambda M: M.PiecewiseDecay([1, 2], [0.1, 0.2]), "values"),
    (lambda M: M.PiecewiseDecay((1,), (0.1,)), "values"),
    (lambda M: M.PiecewiseDecay(5, [0.1, 0.2]), "boundaries"),
    (lambda M: M.PiecewiseDecay(None, [0.1, 0.2]), "boundaries"),
    (lambda M: M.PiecewiseDecay([1], None), "values"),
    (lambda M: M.PiecewiseDecay([1], 0.5), "values"),
    (lambda M: M.PiecewiseDecay({1, 2}, [0.1, 0.2, 0.3]), "boundaries"),
    (lambda M: M.PiecewiseDecay(["a"], [0.1, 0.2]), "boundaries"),
    (lambda M: M.PiecewiseDecay([1, None], [0.1, 0.2, 0.3], last_epoch=0), "boundaries"),
    (lambda M: M.NaturalExpDecay(0.1, 0), "gamma"),
    (lambda M: M.NaturalExpDecay(0.1, -0.5), "gamma"),
    (lambda M: M.NaturalExpDecay(0.1, float("nan")), "gamma"),
    (lambda M: M.NaturalExpDecay(0.1, "x"), "gamma"),
    (lambda M: M.NaturalExpDecay(0.1, None), "gamma"),
    (lambda M: M.NaturalExpDecay(-0.1, 0.5), "learning rate"),
    (lambda M: M.NaturalExpDecay("a", 0.5), "learning rate"),
    (lambda M: M.NaturalExpDecay(-0.1, 0), "gamma"),  # gamma is checked before learning_rate
    (lambda M: M.InverseTimeDecay(0.1, "a"), "gamma"),
    (lambda M: M.InverseTimeDecay(0.1, None), "gamma"),
    (lambda M: M.InverseTimeDecay(0.1, [0.5]), "gamma"),
    (lambda M: M.InverseTimeDecay(0.1, -1, last_epoch=0), "gamma"),
    (lambda M: M.InverseTimeDecay(0.1, -0.5, last_epoch=1), "gamma"),
    (lambda M: M.InverseTimeDecay(-0.1, 0.5), "learning rate"),
    (lambda M: M.InverseTimeDecay(None, 0.5), "learning rate"),
    (lambda M: M.PolynomialDecay(0.1, 0), "decay_steps"),
    (lambda M: M.PolynomialDecay(0.1, -3), "decay_steps"),
    (lambda M: M.PolynomialDecay(0.1, 2.0), "decay_steps"),
    (lambda M: M.PolynomialDecay(0.1, "a"), "decay_steps"),
    (lambda M: M.PolynomialDecay(0.1, None), "decay_steps"),
    (lambda M: M.PolynomialDecay(0.1, 0, power="a"), "decay_steps"),  # decay_steps is checked first
    (lambda M: M.PolynomialDecay(0.1, 10, power=0), "power"),
    (lambda M: M.PolynomialDecay(0.1, 10, power=-1.5), "power"),
    (lambda M: M.PolynomialDecay(0.1, 10, power="a"), "power"),
    (lambda M: M.PolynomialDecay(0.1, 10, power=None), "power"),
    (lambda M: M.PolynomialDecay(0.1, 10, end_lr="a"), "end_lr"),
    (lambda M: M.PolynomialDecay(0.1, 10, end_lr=None), "end_lr"),
    (lambda M: M.PolynomialDecay(0.1, 10, cycle=True, last_epoch=-5), "decay_steps"),
    (lambda M: M.PolynomialDecay(-0.1, 10), "learning rate"),
    (lambda M: M.PolynomialDecay([0.1], 10), "learning rate"),
    (lambda M: M.ExponentialDecay(0.1, 1.0), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, 0), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, 1.5), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, -0.5), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, float("nan")), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, "x"), "gamma"),
    (lambda M: M.ExponentialDecay(0.1, None), "gamma"),
    (lambda M: M.ExponentialDecay(-1, 0.5), "learning rate"),
    (lambda M: M.MultiStepDecay(0.1, 5), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, "abc"), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, range(3)), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, None), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, [3, 2]), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, (1, 1)), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, [1, "a"]), "milestones"),
    (lambda M: M.MultiStepDecay(0.1, ["a", "b"]), "milestones"),  # compare with each other, not with the epoch
    (lambda M: M.MultiStepDecay(0.1, [2, 1], gamma=2), "milestones"),  # milestones are checked before gamma
    (lambda M: M.MultiStepDecay(0.1, [1, 2], gamma=1.0), "gamma"),
    (lambda M: M.MultiStepDecay(0.1, [1, 2], gamma=3), "gamma"),
    (lambda M: M.MultiStepDecay(0.1, [1, 2], gamma="x"), "gamma"),
    (lambda M: M.MultiStepDecay(0.1, [1, 2], gamma=None), "gamma"),
    (lambda M: M.MultiStepDecay(-0.1, [1, 2]), "learning rate"),
    (lambda M: M.LambdaDecay(0.1, 0.5), "lr_lambda"),
    (lambda M: M.LambdaDecay(0.1, None), "lr_lambda"),
    (lambda M: M.LambdaDecay(0.1, lambda e: "a"), "lr_lambda"),
    (lambda M: M.LambdaDecay(0.1, lambda e: None), "lr_lambda"),
    (lambda M: M.LambdaDecay(-0.1, lambda e: 1.0), "learning rate"),
    (lambda M: M.MultiplicativeDecay(0.1, "x"), "lr_lambda"),
    (lambda M: M.MultiplicativeDecay(0.1, [1.0]), "lr_lambda"),
    (lambda M: M.MultiplicativeDecay(0.1, lambda e: None, last_epoch=2), "lr_lambda"),
    (lambda M: M.MultiplicativeDecay(0.1, lambda e: "a", last_epoch=0), "lr_lambda"),
    (lambda M: M.MultiplicativeDecay(-0.1, lambda e: 1.0), "learning rate"),
    (lambda M: M.LinearWarmup(M.PolynomialDecay(0.1, 0), 2, 0, 1), "decay_steps"),
]


@pytest.mark.parametrize("idx", range(len(BAD)))
def test_bad_inputs_raise_like_paddle(idx):
    assert_raises_like_paddle(*BAD[idx])


def test_bad_value_messages_name_the_value():
    cases = [
        (lambda M: M.NaturalExpDecay(0.1, -0.25), "-0.25"),
        (lambda M: M.ExponentialDecay(0.1, 1.25), "1.25"),
        (lambda M: M.PolynomialDecay(0.1, 2.5), "2.5"),
        (lambda M: M.PolynomialDecay(0.1, 10, power=-0.75), "-0.75"),
        (lambda M: M.InverseTimeDecay(0.1, "zz"), "zz"),
        (lambda M: M.PolynomialDecay(0.1, 10, end_lr="qq"), "qq"),
        (lambda M: M.MultiStepDecay(0.1, [1, "uu"]), "uu"),
        (lambda M: M.LambdaDecay(0.1, lambda e: "vv"), "vv"),
        (lambda M: M.PiecewiseDecay(7, [1, 2]), "7"),
    ]
    for make, text in cases:
        eo, ep = raised(make, O), raised(make, P)
        assert type(eo) is type(ep)
        assert text in str(eo), str(eo)


@pytest.mark.parametrize(
    "make",
    [
        lambda M: M.PiecewiseDecay([1], [True, False]),
        lambda M: M.NaturalExpDecay(True, True),
        lambda M: M.InverseTimeDecay(0.1, True),
        lambda M: M.PolynomialDecay(0.1, True, power=True, cycle=1),
        lambda M: M.ExponentialDecay(0.5, 0.5),
        lambda M: M.MultiStepDecay(0.1, [False, True], gamma=False),
        lambda M: M.MultiStepDecay(0.1, [0.5, 3]),
    ],
)
def test_accepted_edge_arguments_like_paddle(make):
    # bools are ints, and Paddle accepts them (and truthy non-bools for cycle)
    run_pair(make, steps=20)
