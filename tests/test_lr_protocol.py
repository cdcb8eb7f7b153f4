"""Every oar scheduler drives optimizers: oar's (as Paddle's schedulers drive Paddle's optimizers, checked
side by side with real Paddle), and torch's, through torch's scheduler protocol and ``oar.lr.attach``."""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from lr_harness import O, P
from paddle_harness import Spec, run_side_by_side, translate

import oar
from oar.lr.expression import scheduler_classes

paddle = pytest.importorskip("paddle")

# One neutral description per scheduler class (see paddle_harness.translate): the same arguments build
# Paddle's and oar's. ReduceOnPlateau is stepped with metrics and has its own test below.
SCHEDULES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "NoamDecay": ("sched", "NoamDecay", {"d_model": 64, "warmup_steps": 5, "learning_rate": 0.5}),
    "PiecewiseDecay": ("sched", "PiecewiseDecay", {"boundaries": [3, 7], "values": [0.1, 0.05, 0.01]}),
    "NaturalExpDecay": ("sched", "NaturalExpDecay", {"learning_rate": 0.1, "gamma": 0.3}),
    "InverseTimeDecay": ("sched", "InverseTimeDecay", {"learning_rate": 0.1, "gamma": 0.5}),
    "PolynomialDecay": (
        "sched",
        "PolynomialDecay",
        {"learning_rate": 0.1, "decay_steps": 4, "end_lr": 0.001, "power": 2.0, "cycle": True},
    ),
    "LinearWarmup": (
        "sched",
        "LinearWarmup",
        {
            "learning_rate": ("sched", "CosineAnnealingDecay", {"learning_rate": 0.1, "T_max": 6}),
            "warmup_steps": 3,
            "start_lr": 0.0,
            "end_lr": 0.1,
        },
    ),
    "ExponentialDecay": ("sched", "ExponentialDecay", {"learning_rate": 0.1, "gamma": 0.8}),
    "MultiStepDecay": ("sched", "MultiStepDecay", {"learning_rate": 0.1, "milestones": [2, 5, 9], "gamma": 0.5}),
    "StepDecay": ("sched", "StepDecay", {"learning_rate": 0.1, "step_size": 3, "gamma": 0.5}),
    "LambdaDecay": ("sched", "LambdaDecay", {"learning_rate": 0.1, "lr_lambda": lambda e: 0.9**e}),
    "CosineAnnealingDecay": ("sched", "CosineAnnealingDecay", {"learning_rate": 0.1, "T_max": 5, "eta_min": 0.01}),
    "MultiplicativeDecay": ("sched", "MultiplicativeDecay", {"learning_rate": 0.1, "lr_lambda": lambda e: 0.95}),
    "OneCycleLR": ("sched", "OneCycleLR", {"max_learning_rate": 0.1, "total_steps": 20, "three_phase": True}),
    "CyclicLR": (
        "sched",
        "CyclicLR",
        {"base_learning_rate": 0.01, "max_learning_rate": 0.1, "step_size_up": 3, "mode": "triangular2"},
    ),
    "LinearLR": ("sched", "LinearLR", {"learning_rate": 0.1, "total_steps": 6, "start_factor": 0.2}),
    "CosineAnnealingWarmRestarts": (
        "sched",
        "CosineAnnealingWarmRestarts",
        {"learning_rate": 0.1, "T_0": 3, "T_mult": 2, "eta_min": 0.001},
    ),
}

GROUPS = [{"idx": [0, 2]}, {"idx": [1, 3], "learning_rate": 0.5}]


def build(name: str) -> O.LRScheduler:
    return translate(SCHEDULES[name], "oar")


def test_every_scheduler_class_is_covered():
    """New schedulers are added to SCHEDULES (or to the ReduceOnPlateau test) or this fails."""
    assert set(SCHEDULES) | {"ReduceOnPlateau"} == set(scheduler_classes())
    assert set(scheduler_classes()) <= set(dir(P)), "every oar scheduler has Paddle's name"


# ---------------------------------------------------------------------------------------------- oar optimizers
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_drives_oar_optimizer_like_paddle(name):
    """20 SGD steps in two groups (multiplier 0.5 on the second) and a ParamAttr multiplier, the scheduler
    stepped after each: float64 params equal Paddle's (the harness records relative errors)."""
    specs = [Spec((6, 5)), Spec((5,), lr_mult=2.0), Spec((2, 3, 4)), Spec((1,))]
    run = run_side_by_side(
        paddle.optimizer.SGD, oar.SGD, {"learning_rate": SCHEDULES[name]}, specs, groups=GROUPS, steps=20
    )
    assert max(run.errors) <= 1e-12, run.errors
    sched = run.oar_opt._learning_rate
    assert isinstance(sched, getattr(O, name))
    assert sched.optimizer is run.oar_opt
    assert sched.get_last_lr() == [g["lr"] for g in run.oar_opt.param_groups]
    assert [g["lr"] for g in run.oar_opt.param_groups] == [sched(), sched() * 0.5]
    assert run.oar_opt.get_lr() == sched() == run.paddle_opt.get_lr()


def test_reduce_on_plateau_drives_oar_optimizer_like_paddle():
    rng = np.random.default_rng(3)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 6), 0.5 + 0.01 * rng.random(14)])
    scheds = {M: M.ReduceOnPlateau(0.1, patience=1, factor=0.5, cooldown=1) for M in (O, P)}
    p0 = rng.standard_normal((3, 4))
    g0 = rng.standard_normal((3, 4))
    tp = torch.tensor(p0, requires_grad=True)
    pp = paddle.create_parameter([3, 4], "float64", default_initializer=paddle.nn.initializer.Assign(p0))
    opt_o = oar.SGD(learning_rate=scheds[O], parameters=[{"params": [tp], "learning_rate": 0.5}])
    opt_p = paddle.optimizer.SGD(learning_rate=scheds[P], parameters=[{"params": [pp], "learning_rate": 0.5}])
    assert scheds[O].optimizer is opt_o
    for m in metrics:
        tp.grad = torch.tensor(g0)
        (pp * paddle.to_tensor(g0)).sum().backward()
        opt_o.step()
        opt_p.step()
        opt_p.clear_grad()
        scheds[O].step(float(m))
        scheds[P].step(float(m))
        assert opt_o.param_groups[0]["lr"] == scheds[O]() * 0.5
        assert scheds[O].get_last_lr() == [scheds[O]() * 0.5]
        # 1e-10, the float64 bound: Paddle's SGD kernel (BLAS axpy) rounds p - lr * g once on
        # some CPUs (1.6e-14 measured on an AVX-512 Xeon), twice elsewhere, as oar
        np.testing.assert_allclose(tp.detach().numpy(), pp.numpy(), rtol=1e-10, atol=0)
    assert scheds[O]() == scheds[P]() < 0.1  # it did reduce


# ---------------------------------------------------------------------------------------------- torch protocol
def test_schedulers_are_torch_lr_schedulers():
    for name in SCHEDULES:
        assert isinstance(build(name), torch.optim.lr_scheduler.LRScheduler)
    rop = O.ReduceOnPlateau(0.1)
    assert isinstance(rop, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_unbound_scheduler_has_no_optimizer():
    s = O.StepDecay(0.1, 2)
    assert not hasattr(s, "optimizer")
    with pytest.raises(AttributeError, match="drives no optimizer"):
        s.optimizer  # noqa: B018
    assert s.get_last_lr() == [0.1]


def test_protocol_step_count_and_load_state_dict():
    p = torch.nn.Parameter(torch.ones(3))
    s = O.LinearWarmup(O.CosineAnnealingDecay(0.1, 10), 4, 0.0, 0.1)
    opt = oar.Adam(learning_rate=s, parameters=[p])
    assert s._step_count == 1  # the constructor's step, as torch counts it
    for _ in range(7):
        s.step()
    assert s._step_count == 8
    sd = s.state_dict()
    assert set(sd) == {"last_epoch", "last_lr", "LinearWarmup_LR"}  # Paddle's keys, not torch's __dict__
    other = O.LinearWarmup(O.CosineAnnealingDecay(0.1, 10), 4, 0.0, 0.1)
    opt2 = oar.Adam(learning_rate=other, parameters=[torch.nn.Parameter(torch.ones(3))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Paddle's "unused values" warning for the nested entry
        other.load_state_dict(sd)
    assert other.state_dict() == sd
    assert opt2.param_groups[0]["lr"] == s() == opt.param_groups[0]["lr"]
    assert other.get_last_lr() == s.get_last_lr()


def test_set_lr_scheduler_rebinds():
    p = torch.nn.Parameter(torch.ones(2))
    old, new = O.StepDecay(0.1, 2), O.ExponentialDecay(0.2, 0.5)
    opt = oar.Momentum(learning_rate=old, parameters=[p])
    assert old.optimizer is opt
    opt.set_lr_scheduler(new)
    assert new.optimizer is opt and not hasattr(old, "optimizer")
    old.step()
    old.step()
    assert opt.param_groups[0]["lr"] == 0.2
    new.step()
    assert opt.param_groups[0]["lr"] == new() == 0.1


def test_copies_do_not_carry_the_binding():
    p = torch.nn.Parameter(torch.ones(2))
    s = O.CyclicLR(0.01, 0.1, 4)
    opt = torch.optim.SGD([p], lr=1.0)
    O.attach(opt, s)
    for clone in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert not hasattr(clone, "optimizer")
        clone.step()
        assert opt.param_groups[0]["lr"] == s()
        assert clone.state_dict()["last_epoch"] == s.last_epoch + 1


# ---------------------------------------------------------------------------------------------- attach
def _torch_run(make_opt, name: str, steps: int, attach: bool) -> list[torch.Tensor]:
    """Train two params with a torch optimizer for ``steps``; the lr comes from oar's scheduler via
    ``attach`` or, as the reference, from Paddle's scheduler written into the groups by hand."""
    torch.manual_seed(0)
    params = [
        torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64)),
        torch.nn.Parameter(torch.randn(3, dtype=torch.float64)),
    ]
    grads = [[torch.randn_like(p) for p in params] for _ in range(steps)]
    opt = make_opt(params)
    if attach:
        sched = translate(SCHEDULES[name], "oar")
        assert O.attach(opt, sched) is sched
        assert sched.optimizer is opt
    else:
        sched = translate(SCHEDULES[name], "paddle")
    for k in range(steps):
        if not attach:
            for g in opt.param_groups:
                g["lr"] = sched()
        for p, g in zip(params, grads[k], strict=True):
            p.grad = g
        opt.step()
        sched.step()
        if attach:
            assert sched.get_last_lr() == [sched()] * len(opt.param_groups)
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("name", ["OneCycleLR", "LinearWarmup", "PiecewiseDecay", "CosineAnnealingWarmRestarts"])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: torch.optim.SGD(ps, lr=123.0, momentum=0.9),
        lambda ps: torch.optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 7.0}], lr=123.0),
    ],
    ids=["SGD", "Adam"],
)
def test_attach_drives_torch_optimizers_like_paddles_schedule(name, make_opt):
    got = _torch_run(make_opt, name, 18, attach=True)
    want = _torch_run(make_opt, name, 18, attach=False)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)


def test_attach_keeps_a_tensor_lr_a_tensor():
    p = torch.nn.Parameter(torch.ones(3))
    lr = torch.tensor(5.0)
    opt = torch.optim.Adam([p], lr=lr, foreach=False)
    s = O.attach(opt, O.StepDecay(0.1, 1, 0.5))
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.1)
    s.step()
    assert float(lr) == pytest.approx(0.05)
    last = s.get_last_lr()[0]
    assert isinstance(last, torch.Tensor) and last is not lr


def test_attach_twice_and_to_oar_and_bad_arguments():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=1.0)
    s = O.StepDecay(0.1, 1, 0.5)
    O.attach(opt, s)
    O.attach(opt, s)
    assert len(s._bindings) == 1
    q = torch.nn.Parameter(torch.ones(3))
    oar_opt = oar.Adam(learning_rate=0.3, parameters=[q])
    O.attach(oar_opt, s)
    assert oar_opt._learning_rate is s and oar_opt.param_groups[0]["lr"] == 0.1
    with pytest.raises(TypeError, match="'optimizer' must be a torch.optim.Optimizer"):
        O.attach([p], s)
    with pytest.raises(TypeError, match="'scheduler' must be an oar.lr.LRScheduler"):
        O.attach(opt, torch.optim.lr_scheduler.StepLR(opt, 1))


# ---------------------------------------------------------------------------------------------- fresh process
# steps before and after the checkpoint; OneCycleLR's schedule ends at its total_steps (20)
SPLIT = {name: (150, 150) for name in SCHEDULES} | {"OneCycleLR": (9, 11)}

_CHILD = r"""
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from test_lr_protocol import build, SCHEDULES, SPLIT
out = {}
for name in SCHEDULES:
    s = build(name)
    before, after = SPLIT[name]
    for _ in range(before):
        s.step()
    torch.save(s.state_dict(), f"{sys.argv[2]}/{name}.pt")
    values = []
    for _ in range(after):
        s.step()
        values.append(s())
    out[name] = values
json.dump(out, open(f"{sys.argv[2]}/values.json", "w"))
"""


def test_state_dict_resumes_in_a_fresh_process(tmp_path):
    """A child process runs every scheduler 150 steps, saves its state with torch.save and records the
    next 150 values (OneCycleLR: 9 and 11); here a fresh scheduler loads the file with weights_only=True and
    continues identically."""
    import json
    import subprocess
    import sys

    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, tests_dir, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    want = json.loads((tmp_path / "values.json").read_text())
    for name in SCHEDULES:
        s = build(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LinearWarmup's "unused values", as Paddle
            s.set_state_dict(torch.load(tmp_path / f"{name}.pt", weights_only=True))
        got = []
        for _ in range(SPLIT[name][1]):
            s.step()
            got.append(s())
        assert got == want[name], name
