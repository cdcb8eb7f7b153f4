"""oar.lr side by side with real Paddle 3.3.1 ``paddle.optimizer.lr``."""

from __future__ import annotations

import copy
import gc
import io
import math
import pickle
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lr_harness import (
    O,
    P,
    assert_raises_like_paddle,
    assert_state,
    run_pair,
    sd_equal,
)

HYP = settings(max_examples=25, deadline=None, derandomize=True)


from lr_cases import BASE as CASES

# ---------------------------------------------------------------------------------------------- sequences


def test_float_epochs_match_paddle():
    for make in (CASES["step"], CASES["cosine_eta"], CASES["warmup_float"]):
        o, p = make(O), make(P)
        for e in (2.5, 0.5, 13.25):
            o.step(e)
            p.step(e)
            assert_state(o, p)


def test_cosine_recursive_vs_closed_form_like_paddle():
    # construction with last_epoch=3 runs the recursive form once, from last_lr = base_lr (Paddle quirk);
    # step(4) then uses the closed form: the two values at epoch 4 differ, in both libraries
    o, p = O.CosineAnnealingDecay(1.0, 5, last_epoch=3), P.CosineAnnealingDecay(1.0, 5, last_epoch=3)
    assert o.last_epoch == p.last_epoch == 4 and o() == p()
    recursive = o()
    o.step(4)
    p.step(4)
    assert o() == p() == 0.5 * (1 + math.cos(math.pi * 4 / 5))
    assert o() != recursive


@HYP
@given(
    lr=st.floats(0, 10, allow_subnormal=False),
    step_size=st.integers(1, 30),
    gamma=st.floats(-2, 0.999999, allow_subnormal=False),
    last_epoch=st.integers(-1, 50),
)
def test_step_decay_hypothesis(lr, step_size, gamma, last_epoch):
    run_pair(lambda M: M.StepDecay(lr, step_size, gamma, last_epoch=last_epoch))


@HYP
@given(
    lr=st.floats(0, 10, allow_subnormal=False),
    T_max=st.integers(1, 60),
    eta_min=st.one_of(st.integers(0, 2), st.floats(0, 1, allow_subnormal=False)),
    last_epoch=st.integers(-1, 50),
)
def test_cosine_hypothesis(lr, T_max, eta_min, last_epoch):
    run_pair(lambda M: M.CosineAnnealingDecay(lr, T_max, eta_min, last_epoch=last_epoch))


@HYP
@given(
    d_model=st.one_of(st.integers(1, 4096), st.floats(0.5, 4096)),
    warmup=st.integers(1, 200),
    lr=st.floats(0, 10, allow_subnormal=False),
    last_epoch=st.integers(-1, 50),
)
def test_noam_hypothesis(d_model, warmup, lr, last_epoch):
    run_pair(lambda M: M.NoamDecay(d_model, warmup, lr, last_epoch=last_epoch))


@HYP
@given(
    start=st.floats(0, 1, allow_subnormal=False),
    delta=st.floats(1e-6, 5, allow_subnormal=False),
    warmup=st.integers(1, 60),
    inner=st.sampled_from(["float", "step", "cosine", "noam"]),
    last_epoch=st.integers(-1, 30),
)
def test_linear_warmup_hypothesis(start, delta, warmup, inner, last_epoch):
    end = start + delta
    if not end > start:
        return

    def make(M):
        lr = {
            "float": 0.05,
            "step": M.StepDecay(0.2, 4, 0.5),
            "cosine": M.CosineAnnealingDecay(0.2, 12, 0.01),
            "noam": M.NoamDecay(32, 5),
        }[inner]
        return M.LinearWarmup(lr, warmup, start, end, last_epoch=last_epoch)

    o, p = run_pair(make)
    if inner != "float":
        assert_state(o.learning_rate, p.learning_rate)


# ---------------------------------------------------------------------------------------------- verbose


def test_verbose_nested_schedulers_match_paddle(capsys):
    def drive(M):
        s = M.LinearWarmup(M.CosineAnnealingDecay(0.4, 6, verbose=True), 3, 0.1, 0.4, verbose=True)
        for _ in range(8):
            s.step()
        return capsys.readouterr().out

    out_o, out_p = drive(O), drive(P)
    assert out_o == out_p
    assert "CosineAnnealingDecay set learning rate" in out_o and "LinearWarmup set learning rate" in out_o


def test_verbose_format():
    buf = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(buf):
        O.StepDecay(0.5, 2, verbose=True).step()
    assert buf.getvalue() == (
        "Epoch 0: StepDecay set learning rate to 0.5.\nEpoch 1: StepDecay set learning rate to 0.5.\n"
    )


# ---------------------------------------------------------------------------------------------- state dicts


def test_state_dict_converts_tensors_and_numpy_to_plain_data():
    import numpy as np

    s = O.StepDecay(0.5, 2)
    s.last_lr = torch.tensor([0.25], dtype=torch.float64)
    s.last_epoch = np.int64(4)
    sd = s.state_dict()
    assert sd == {"last_epoch": 4, "last_lr": 0.25}
    assert type(sd["last_epoch"]) is int and type(sd["last_lr"]) is float
    s.last_lr = torch.zeros(2)
    with pytest.raises(AssertionError):
        s.state_dict()


def test_set_state_dict_missing_key_and_extra_key_like_paddle():
    for M in (O, P):
        s = M.StepDecay(0.5, 2)
        with pytest.raises(RuntimeError) as exc:
            s.set_state_dict({"last_epoch": 3})
        msg = str(exc.value)
        assert "last_lr" in msg
        if M is O:
            msg_o = msg
        else:
            assert msg == msg_o
    so, sp = O.StepDecay(0.5, 2), P.StepDecay(0.5, 2)
    extra = {"last_epoch": 3, "last_lr": 0.125, "foo": 1}
    with pytest.warns(UserWarning, match="unused values") as wo:
        so.set_state_dict(extra)
    with pytest.warns(UserWarning, match="unused values") as wp:
        sp.set_state_dict(extra)
    assert str(wo[0].message) == str(wp[0].message)
    assert so.state_dict() == sp.state_dict() == {"last_epoch": 3, "last_lr": 0.125}
    so.set_dict({"last_epoch": 1, "last_lr": 0.5})
    sp.set_dict({"last_epoch": 1, "last_lr": 0.5})
    assert so.state_dict() == sp.state_dict()


def test_linear_warmup_state_dict_nesting_like_paddle():
    o, p = CASES["warmup_warmup"](O), CASES["warmup_warmup"](P)
    for _ in range(12):
        o.step()
        p.step()
    sd = o.state_dict()
    assert sd_equal(sd, p.state_dict())
    assert set(sd) == {"last_epoch", "last_lr", "LinearWarmup_LR"}
    assert set(sd["LinearWarmup_LR"]) == {"last_epoch", "last_lr", "LinearWarmup_LR"}
    assert set(sd["LinearWarmup_LR"]["LinearWarmup_LR"]) == {"last_epoch", "last_lr"}
    # a float-wrapping LinearWarmup has no nested entry
    assert set(O.LinearWarmup(0.1, 2, 0.0, 0.1).state_dict()) == {"last_epoch", "last_lr"}
    # missing nested state: KeyError, as in Paddle
    for M in (O, P):
        s = CASES["warmup_step"](M)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(KeyError):
                s.set_state_dict({"last_epoch": 1, "last_lr": 0.1})


def test_linear_warmup_set_dict_loads_inner_state():
    # Deliberate deviation: Paddle's set_dict is bound to the base method and skips the inner state.
    o = CASES["warmup_step"](O)
    for _ in range(20):
        o.step()
    fresh = CASES["warmup_step"](O)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.set_dict(o.state_dict())
    assert fresh.state_dict() == o.state_dict()


# ---------------------------------------------------------------------------------------------- bad inputs
BAD = [
    # (factory, argument named in the message)
    (lambda M: M.StepDecay(0.1, 0), "step_size"),
    (lambda M: M.StepDecay(0.1, -3), "step_size"),
    (lambda M: M.StepDecay(0.1, 2.0), "step_size"),
    (lambda M: M.StepDecay(0.1, "2"), "step_size"),
    (lambda M: M.StepDecay(0.1, 2, 1.0), "gamma"),
    (lambda M: M.StepDecay(0.1, 2, "x"), "gamma"),
    (lambda M: M.StepDecay(-0.1, 2), "learning rate"),
    (lambda M: M.StepDecay("a", 2), "learning rate"),
    (lambda M: M.StepDecay(None, 2), "learning rate"),
    (lambda M: M.StepDecay(0.1, 0, 2.0), "gamma"),  # gamma is checked before step_size > 0
    (lambda M: M.NoamDecay(0, 10), "d_model"),
    (lambda M: M.NoamDecay(-1.5, 10), "d_model"),
    (lambda M: M.NoamDecay("a", 10), "d_model"),
    (lambda M: M.NoamDecay(10, 0), "warmup_steps"),
    (lambda M: M.NoamDecay(10, -4), "warmup_steps"),
    (lambda M: M.NoamDecay(10, 5, -1.0), "learning rate"),
    (lambda M: M.NoamDecay(10, 0, -1.0), "learning rate"),  # lr is checked before the first step
    (lambda M: M.CosineAnnealingDecay(0.1, 0), "T_max"),
    (lambda M: M.CosineAnnealingDecay(0.1, 2.0), "T_max"),
    (lambda M: M.CosineAnnealingDecay(0.1, 2, "x"), "eta_min"),
    (lambda M: M.CosineAnnealingDecay(0.1, 2, None), "eta_min"),
    (lambda M: M.CosineAnnealingDecay(-1, 2), "learning rate"),
    (lambda M: M.LinearWarmup("x", 2, 0, 1), "learning_rate"),
    (lambda M: M.LinearWarmup(None, 2, 0, 1), "learning_rate"),
    (lambda M: M.LinearWarmup(0.1, 0, 0, 1), "warmup_steps"),
    (lambda M: M.LinearWarmup(0.1, 2.0, 0, 1), "warmup_steps"),
    (lambda M: M.LinearWarmup(0.1, "a", 0, 1), "warmup_steps"),
    (lambda M: M.LinearWarmup(0.1, 2, 1, 1), "end_lr"),
    (lambda M: M.LinearWarmup(0.1, 2, 0.5, 0.1), "end_lr"),
    (lambda M: M.LinearWarmup(0.1, 2, "a", 1), "end_lr"),
    (lambda M: M.LinearWarmup(0.1, 2, -1, 1), "learning rate"),
    (lambda M: M.LRScheduler(), "get_lr"),
    (lambda M: M.LRScheduler(learning_rate=-2), "learning rate"),
]


@pytest.mark.parametrize("idx", range(len(BAD)))
def test_bad_inputs_raise_like_paddle(idx):
    assert_raises_like_paddle(*BAD[idx])


def test_accepted_number_types_like_paddle():
    import numpy as np

    for lr in (True, 3, np.float64(0.25), float("nan"), 0.0):
        run_pair(lambda M, lr=lr: M.StepDecay(lr, 2), steps=5)
    for make in (lambda M: M.StepDecay(np.float32(0.1), 2), lambda M: M.StepDecay(torch.tensor(0.1), 2)):
        with pytest.raises(TypeError):
            make(O)
    with pytest.raises(TypeError):
        P.StepDecay(np.float32(0.1), 2)
    # bool step_size is an int: Paddle accepts it
    run_pair(lambda M: M.StepDecay(0.5, True, 0.5), steps=5)


# ---------------------------------------------------------------------------------------------- custom subclass
def _custom(M):
    class Halving(M.LRScheduler):
        def __init__(self, learning_rate, last_epoch=-1, verbose=False):
            super().__init__(learning_rate, last_epoch, verbose)

        def get_lr(self):
            return self.base_lr * 0.5**self.last_epoch

    return Halving


def test_user_subclass_like_paddle():
    run_pair(lambda M: _custom(M)(1.0, last_epoch=2), steps=20)
    run_pair(lambda M: M.LinearWarmup(_custom(M)(0.5), 4, 0.1, 0.5), steps=20)


# ---------------------------------------------------------------------------------------------- listeners
class Listener:
    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.seen = []

    def _on_lr_change(self):
        self.seen.append((self.scheduler.last_epoch, self.scheduler()))


def test_listener_called_on_step_and_set_state_dict():
    s = O.CosineAnnealingDecay(0.5, 10)
    lis = Listener(s)
    s._add_listener(lis)
    s._add_listener(lis)  # no duplicates
    assert len(s._listeners) == 1
    s.step()
    after_step = s()
    s.step(5)
    assert lis.seen == [(1, after_step), (5, s())]
    s.set_state_dict({"last_epoch": 2, "last_lr": 0.125})
    assert lis.seen[-1] == (2, 0.125)
    s.set_dict({"last_epoch": 3, "last_lr": 0.0625})
    assert lis.seen[-1] == (3, 0.0625)
    assert len(lis.seen) == 4
    assert "_listeners" not in s.state_dict()
    s._remove_listener(lis)
    s.step()
    assert len(lis.seen) == 4


def test_listener_sees_new_lr_and_inner_scheduler_notified():
    inner = O.StepDecay(0.1, 2)
    outer = O.LinearWarmup(inner, 3, 0.0, 0.1)
    twin = O.LinearWarmup(O.StepDecay(0.1, 2), 3, 0.0, 0.1)
    lo, li = Listener(outer), Listener(inner)
    outer._add_listener(lo)
    inner._add_listener(li)
    expected = []
    for _ in range(6):
        outer.step()
        twin.step()
        expected.append((twin.last_epoch, twin()))
    assert lo.seen == expected
    assert len(li.seen) == 4  # the inner scheduler is stepped (explicitly) once warm-up is over
    assert li.seen[-1] == (3, inner())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outer.set_state_dict(outer.state_dict())
    assert len(lo.seen) == 7 and len(li.seen) == 5


def test_dead_listener_dropped():
    s = O.StepDecay(0.5, 2)
    keep, gone = Listener(s), Listener(s)
    s._add_listener(keep)
    s._add_listener(gone)
    assert len(s._listeners) == 2
    del gone
    gc.collect()
    s.step()
    assert len(s._listeners) == 1 and s._listeners[0]() is keep
    assert keep.seen == [(1, 0.5)]
    del keep
    gc.collect()
    s.set_state_dict(s.state_dict())
    assert s._listeners == []


def test_deepcopy_and_pickle_carry_no_listeners():
    for name in sorted(CASES):
        s = CASES[name](O)
        lis = Listener(s)
        s._add_listener(lis)
        if isinstance(getattr(s, "learning_rate", None), O.LRScheduler):
            s.learning_rate._add_listener(lis)
        for _ in range(7):
            s.step()
        n = len(lis.seen)
        for c in (copy.deepcopy(s), pickle.loads(pickle.dumps(s)), copy.copy(s)):
            assert c._listeners == []
            assert c.state_dict() == s.state_dict()
            if (
                isinstance(getattr(c, "learning_rate", None), O.LRScheduler)
                and c is not s
                and c.learning_rate is not s.learning_rate
            ):
                assert c.learning_rate._listeners == []
        d = copy.deepcopy(s)
        for _ in range(20):
            d.step()
        assert len(lis.seen) == n  # the copy does not notify the original's listener
        for _ in range(20):
            s.step()
        assert d.state_dict() == s.state_dict()
        assert len(s._listeners) == 1
