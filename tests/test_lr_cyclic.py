"""oar.lr OneCycleLR, CyclicLR and LinearLR side by side with real Paddle 3.3.1 ``paddle.optimizer.lr``."""
from __future__ import annotations

import copy
import inspect
import io
import math
import pickle
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lr_harness import N_STEPS, O, P, assert_state, raised, run_pair, same, sd_equal

HYP = settings(max_examples=25, deadline=None, derandomize=True)


# custom CyclicLR scale functions (module level: picklable)
def _halve(x):
    return 0.5**x


def _decay(x):
    return 1.0 / (1.0 + 0.01 * x)


# factories: M is oar.lr or paddle.optimizer.lr. OneCycleLR cases use total_steps >= 400 so that
# N_STEPS steps from any last_epoch below stay inside the cycle (beyond it both raise).
CASES = {
    "onecycle": lambda M, **kw: M.OneCycleLR(0.1, 400, **kw),
    "onecycle_linear": lambda M, **kw: M.OneCycleLR(
        0.5, 400, divide_factor=10, end_learning_rate=0.001, phase_pct=0.25, anneal_strategy="linear", **kw
    ),
    "onecycle_three": lambda M, **kw: M.OneCycleLR(1.0, 450, phase_pct=0.3, three_phase=True, **kw),
    "onecycle_three_linear": lambda M, **kw: M.OneCycleLR(
        max_learning_rate=2, total_steps=401, divide_factor=4, end_learning_rate=0, phase_pct=0.45,
        anneal_strategy="linear", three_phase=True, **kw
    ),
    "onecycle_pct0": lambda M, **kw: M.OneCycleLR(0.3, 400, divide_factor=3.5, phase_pct=0.0, **kw),
    "onecycle_pct1": lambda M, **kw: M.OneCycleLR(0.3, 500, end_learning_rate=0.05, phase_pct=1.0, **kw),
    "cyclic": lambda M, **kw: M.CyclicLR(0.01, 0.1, 7, **kw),
    "cyclic_down": lambda M, **kw: M.CyclicLR(0.01, 0.1, 5, 13, **kw),
    "cyclic_tri2": lambda M, **kw: M.CyclicLR(0.2, 1.0, 4, step_size_down=3, mode="triangular2", **kw),
    "cyclic_exp": lambda M, **kw: M.CyclicLR(0.05, 0.5, 6, 9, mode="exp_range", exp_gamma=0.99, **kw),
    "cyclic_exp_scale_mode": lambda M, **kw: M.CyclicLR(  # the built-in modes fix scale_mode
        0.05, 0.5, 6, mode="exp_range", exp_gamma=0.995, scale_mode="cycle", **kw
    ),
    "cyclic_tri_iter": lambda M, **kw: M.CyclicLR(0.1, 0.3, 5, scale_mode="iterations", **kw),
    "cyclic_fn_cycle": lambda M, **kw: M.CyclicLR(0.001, 0.01, 10, 20, scale_fn=_halve, scale_mode="cycle", **kw),
    "cyclic_fn_iter": lambda M, **kw: M.CyclicLR(  # mode is ignored with a scale_fn, even an invalid one
        0.02, 0.2, 3, 8, mode="bogus", scale_fn=_decay, scale_mode="iterations", **kw
    ),
    "cyclic_inverted": lambda M, **kw: M.CyclicLR(0.5, 0.1, 4, 6, mode="triangular2", **kw),
    "cyclic_int": lambda M, **kw: M.CyclicLR(base_learning_rate=1, max_learning_rate=3, step_size_up=2, **kw),
    "linear": lambda M, **kw: M.LinearLR(0.5, 20, **kw),
    "linear_up": lambda M, **kw: M.LinearLR(0.1, 50, start_factor=0.2, end_factor=0.9, **kw),
    "linear_down": lambda M, **kw: M.LinearLR(1.0, 30, start_factor=1.0, end_factor=0.05, **kw),
    "linear_zero_end": lambda M, **kw: M.LinearLR(2, 10, 0.5, 0.0, **kw),
    "linear_float_steps": lambda M, **kw: M.LinearLR(0.3, 7.5, 0.1, 0.8, **kw),  # Paddle accepts a float
    "linear_flat": lambda M, **kw: M.LinearLR(0.3, 4, 0.6, 0.6, **kw),
    "warmup_onecycle": lambda M, **kw: M.LinearWarmup(M.OneCycleLR(0.2, 400, three_phase=True), 10, 0.0, 0.01, **kw),
    "warmup_cyclic": lambda M, **kw: M.LinearWarmup(M.CyclicLR(0.1, 0.4, 5, 2, mode="triangular2"), 6, 0.0, 0.1, **kw),
    "warmup_cyclic_fn": lambda M, **kw: M.LinearWarmup(
        M.CyclicLR(0.1, 0.4, 5, scale_fn=_decay, scale_mode="iterations"), 4, 0.05, 0.1, **kw
    ),
    "warmup_linear": lambda M, **kw: M.LinearWarmup(M.LinearLR(0.6, 25, 0.5, 0.1), 5, 0.01, 0.3, **kw),
}
ONECYCLE = sorted(n for n in CASES if n.startswith("onecycle"))
CYCLIC = sorted(n for n in CASES if n.startswith("cyclic"))
LINEAR = sorted(n for n in CASES if n.startswith("linear"))
WARMUP = sorted(n for n in CASES if n.startswith("warmup"))


def _outcome(fn):
    """The exception ``fn()`` raises, or None."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    return None


def step_both(o, p, epoch=None):
    """Step both schedulers; they must raise the same exception type (or none) and keep the same state."""
    eo, ep = _outcome(lambda: o.step(epoch)), _outcome(lambda: p.step(epoch))
    assert type(eo) is type(ep), (epoch, eo, ep)
    assert_state(o, p)
    return ep


def run_pair_or_raise(make, steps=N_STEPS):
    """Like ``run_pair``, but an exception (construction or step) must be raised by both, then it stops."""
    o, p = [None], [None]
    eo = _outcome(lambda: o.__setitem__(0, make(O)))
    ep = _outcome(lambda: p.__setitem__(0, make(P)))
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
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("last_epoch", [-1, 0, 5, 23])
def test_step_sequence_matches_paddle(name, last_epoch):
    run_pair(lambda M: CASES[name](M, last_epoch=last_epoch))


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_epochs_match_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    # forward and backward jumps; OneCycleLR raises beyond total_steps (and ZeroDivisionError at a
    # zero-length phase), as Paddle does: each step must end the same way in both
    epochs = [3, 3, 0, 17, 9, 10, 11, 40, 2, 100, 7, 21, 20, 19, 1, 5, 250, 399, 400, 401, 449, 450, 451, 12, -2, 6]
    for e in epochs:
        step_both(o, p, e)
        # recursive steps after an explicit epoch continue from the new state
        for _ in range(3):
            step_both(o, p)
    assert sd_equal(o.state_dict(), p.state_dict())


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
            assert isinstance(_outcome(o.step), ValueError) and isinstance(_outcome(p.step), ValueError)
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
@pytest.mark.parametrize("name", sorted(CASES))
def test_verbose_output_matches_paddle(name, capsys):
    def drive(M):
        s = CASES[name](M, verbose=True)
        for _ in range(12):
            s.step()
        s.step(30)
        s.step()
        s.step(3)
        return capsys.readouterr().out

    out_o, out_p = drive(O), drive(P)
    assert out_o == out_p
    assert out_o.startswith("Epoch 0: ") and out_o.count("\n") == 16


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
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("k", [0, 1, 7, 25])
def test_state_dict_round_trip(name, k):
    make = CASES[name]
    o, p = make(O), make(P)
    for _ in range(k):
        o.step()
        p.step()
    sd = o.state_dict()
    assert sd_equal(sd, p.state_dict())
    assert "_listeners" not in sd

    # load into fresh schedulers: ours from our dict, ours from paddle's dict, paddle from ours
    fresh_o, fresh_o2, fresh_p = make(O), make(O), make(P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinearWarmup(scheduler) warns, as in Paddle
        fresh_o.set_state_dict(sd)
        fresh_o2.set_state_dict(p.state_dict())
        fresh_p.set_state_dict(copy.deepcopy(sd))
    for _ in range(30):
        for s in (o, p, fresh_o, fresh_o2, fresh_p):
            s.step()
        for s in (fresh_o, fresh_o2, fresh_p, p):
            assert_state(o, s)


def _values(sd):
    for v in sd.values():
        if isinstance(v, dict):
            yield from _values(v)
        else:
            yield v


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_torch_save_weights_only(name):
    o = CASES[name](O)
    for _ in range(13):
        o.step()
    sd = o.state_dict()
    assert not any(callable(v) for v in _values(sd))  # no scale_fn / anneal_func in the state
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert loaded == sd
    fresh = CASES[name](O)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.set_state_dict(loaded)
    for _ in range(10):
        o.step()
        fresh.step()
        assert o() == fresh() and o.last_epoch == fresh.last_epoch


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_keys_match_paddle(name):
    o, p = CASES[name](O), CASES[name](P)
    o.state_keys()
    p.state_keys()
    assert o.keys == p.keys


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


@pytest.mark.parametrize("name", sorted(CASES))
def test_copy_and_pickle_continue_identically(name):
    o = CASES[name](O)
    for _ in range(9):
        o.step()
    copies = [copy.deepcopy(o), pickle.loads(pickle.dumps(o))]
    for _ in range(15):
        o.step()
        for c in copies:
            c.step()
            assert c() == o() and c.last_epoch == o.last_epoch


# ---------------------------------------------------------------------------------------------- bad inputs
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
    make, arg = BAD[idx]
    eo, ep = raised(make, O), raised(make, P)
    assert ep is not None and eo is not None
    assert type(eo) is type(ep), (eo, ep)
    assert arg in str(eo), str(eo)
    if not isinstance(ep, (AssertionError, ZeroDivisionError, NotImplementedError)) and arg in str(ep):
        assert str(eo) == str(ep)  # messages that Paddle words itself are kept verbatim
