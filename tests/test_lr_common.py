"""What every scheduler must do like Paddle 3.3.1, over every case of tests/lr_cases.py: the float
sequence of ``step()`` from several ``last_epoch``, ``step(epoch)`` jumps forward and backward
(the same exception where Paddle raises one), ``verbose`` output, state keys, ``state_dict`` round
trips in the middle of a run (ours→ours, Paddle's→ours, ours→Paddle), ``torch.save`` /
``torch.load(weights_only=True)``, and copies and pickles continuing identically."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch
from lr_cases import ALL, RESTARTS
from lr_harness import O, P, assert_state, paddle_view, run_pair, sd_equal, step_both

# CosineAnnealingWarmRestarts: its own file checks T_cur / T_i at every step, and its resume from
# oar's dict deliberately differs from Paddle's (oar saves T_cur / T_i; Paddle forgets them).
STEPPED = sorted(n for n in ALL if n not in RESTARTS)
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
    60,
    31,
    30,
    29,
    13,
    26,
    39,
    250,
    399,
    400,
    401,
    449,
    450,
    451,
    12,
    -2,
    6,
]


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. LinearWarmup(scheduler)'s "unused values", as in Paddle
        return fn()


@pytest.mark.parametrize("name", STEPPED)
@pytest.mark.parametrize("last_epoch", [-1, 0, 5, 23])
def test_step_sequence_matches_paddle(name, last_epoch):
    run_pair(lambda M: ALL[name](M, last_epoch=last_epoch))


@pytest.mark.parametrize("name", STEPPED)
def test_explicit_epochs_match_paddle(name):
    """Jumps forward and backward, each followed by plain steps that continue from the new state;
    past OneCycleLR's total_steps (or at a negative epoch some schedules cannot take) both raise alike."""
    o, p = ALL[name](O), ALL[name](P)
    for e in EPOCHS:
        step_both(o, p, e)
        for _ in range(3):
            step_both(o, p)
    assert sd_equal(paddle_view(o.state_dict()), p.state_dict())


@pytest.mark.parametrize("name", sorted(ALL))
def test_verbose_output_matches_paddle(name, capsys):
    def drive(M):
        s = ALL[name](M, verbose=True)
        for _ in range(12):
            s.step()
        s.step(30)
        s.step()
        s.step(4)
        return capsys.readouterr().out

    out_o, out_p = _quiet(lambda: drive(O)), _quiet(lambda: drive(P))
    assert out_o == out_p
    assert out_o.startswith("Epoch 0: ") and out_o.count("\n") >= 16


@pytest.mark.parametrize("name", sorted(ALL))
def test_state_keys_match_paddle(name):
    o, p = ALL[name](O), ALL[name](P)
    o.state_keys()
    p.state_keys()
    assert o.keys == p.keys
    assert paddle_view(o.state_dict()).keys() == p.state_dict().keys()


@pytest.mark.parametrize("name", STEPPED)
@pytest.mark.parametrize("k", [0, 1, 7, 25])
def test_state_dict_round_trip(name, k):
    make = ALL[name]
    o, p = make(O), make(P)
    for _ in range(k):
        o.step()
        p.step()
    sd = o.state_dict()
    assert sd_equal(sd, p.state_dict())
    fresh_o, fresh_o2, fresh_p = make(O), make(O), make(P)
    _quiet(lambda: fresh_o.set_state_dict(sd))
    _quiet(lambda: fresh_o2.set_state_dict(p.state_dict()))
    _quiet(lambda: fresh_p.set_state_dict(copy.deepcopy(sd)))
    for s in (fresh_o, fresh_o2, fresh_p):
        assert_state(o, s)
    for _ in range(30):
        for s in (o, p, fresh_o, fresh_o2, fresh_p):
            s.step()
        for s in (fresh_o, fresh_o2, fresh_p, p):
            assert_state(o, s)


def _leaves(sd):
    for v in sd.values():
        yield from _leaves(v) if isinstance(v, dict) else (v,)


@pytest.mark.parametrize("name", sorted(ALL))
def test_state_dict_torch_save_weights_only(name):
    o = ALL[name](O)
    for _ in range(13):
        o.step()
    sd = o.state_dict()
    assert "_listeners" not in sd and not any(callable(v) for v in _leaves(sd))  # never a lambda or scale_fn
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert loaded == sd
    fresh = ALL[name](O)
    _quiet(lambda: fresh.set_state_dict(loaded))
    twin = None if name in RESTARTS else ALL[name](P)  # Paddle resumes warm restarts wrongly
    if twin is not None:
        _quiet(lambda: twin.set_state_dict(copy.deepcopy(loaded)))
    for _ in range(10):
        for s in (o, fresh, twin):
            if s is not None:
                s.step()
        assert_state(o, fresh)
        if twin is not None:
            assert_state(twin, fresh)


@pytest.mark.parametrize("name", sorted(ALL))
def test_copy_and_pickle_continue_identically(name):
    o = ALL[name](O)
    for _ in range(9):
        o.step()
    copies = [copy.deepcopy(o)]
    if not any(word in name for word in ("lambda", "multiplicative")):  # a lambda itself cannot be pickled
        copies.append(pickle.loads(pickle.dumps(o)))
    for _ in range(15):
        o.step()
        for c in copies:
            c.step()
            assert_state(o, c)
