"""The scheduler cases of the ``oar.lr`` parity tests, one table per family: factories
``make(M, **kw)`` that build the same scheduler with ``M = oar.lr`` or ``M = paddle.optimizer.lr``
(``kw``: ``last_epoch``, ``verbose``). ``ALL`` gathers them for the checks every scheduler must pass
(tests/test_lr_common.py); each family's own file tests what is particular to it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Factory = Callable[..., Any]

# ---------------------------------------------------------------------------------------------- base four
BASE: dict[str, Factory] = {
    "step": lambda M, **kw: M.StepDecay(0.5, 3, 0.7, **kw),
    "step_default_gamma": lambda M, **kw: M.StepDecay(learning_rate=2, step_size=10, **kw),
    "step_gamma_neg": lambda M, **kw: M.StepDecay(0.3, 1, -0.5, **kw),
    "noam": lambda M, **kw: M.NoamDecay(512, 40, **kw),
    "noam_lr": lambda M, **kw: M.NoamDecay(d_model=64.0, warmup_steps=7, learning_rate=0.25, **kw),
    "cosine": lambda M, **kw: M.CosineAnnealingDecay(0.5, 10, **kw),
    "cosine_eta": lambda M, **kw: M.CosineAnnealingDecay(1, 7, eta_min=0.01, **kw),
    "cosine_T1": lambda M, **kw: M.CosineAnnealingDecay(0.1, 1, 0.001, **kw),
    "warmup_float": lambda M, **kw: M.LinearWarmup(0.5, 20, 0.0, 0.5, **kw),
    "warmup_int": lambda M, **kw: M.LinearWarmup(1, 3, 0, 2, **kw),
    "warmup_step": lambda M, **kw: M.LinearWarmup(M.StepDecay(0.1, 5, 0.5), 10, 0.01, 0.1, **kw),
    "warmup_noam": lambda M, **kw: M.LinearWarmup(M.NoamDecay(100, 10), 5, 0.0, 0.02, **kw),
    "warmup_cosine": lambda M, **kw: M.LinearWarmup(M.CosineAnnealingDecay(0.3, 15, 0.05), 8, 0.1, 0.3, **kw),
    "warmup_warmup": lambda M, **kw: M.LinearWarmup(
        M.LinearWarmup(M.CosineAnnealingDecay(1.0, 9), 4, 0.2, 0.9), 6, 0.0, 0.2, **kw
    ),
}


# ---------------------------------------------------------------------------------------------- decay
DECAY: dict[str, Factory] = {
    "piecewise": lambda M, **kw: M.PiecewiseDecay([3, 6, 9], [1.0, 0.5, 0.1, 0.05], **kw),
    "piecewise_int_values": lambda M, **kw: M.PiecewiseDecay((5,), [1, 2], **kw),
    "piecewise_extra_values": lambda M, **kw: M.PiecewiseDecay([2, 4], [0.3, 0.2, 0.1, 0.9, 7], **kw),
    "piecewise_unsorted": lambda M, **kw: M.PiecewiseDecay([10, 5, 20], (0.4, 0.3, 0.2, 0.1), **kw),
    "piecewise_float_bounds": lambda M, **kw: M.PiecewiseDecay([2.5, 40.5, 150], [0.3, 0.2, 0.1, 1e-3], **kw),
    "natexp": lambda M, **kw: M.NaturalExpDecay(0.5, 0.1, **kw),
    "natexp_int": lambda M, **kw: M.NaturalExpDecay(learning_rate=2, gamma=1, **kw),
    "natexp_small": lambda M, **kw: M.NaturalExpDecay(0.3, 1e-3, **kw),
    "invtime": lambda M, **kw: M.InverseTimeDecay(0.5, 0.1, **kw),
    "invtime_int": lambda M, **kw: M.InverseTimeDecay(learning_rate=1, gamma=2, **kw),
    "invtime_neg": lambda M, **kw: M.InverseTimeDecay(0.2, -0.001, **kw),
    "invtime_zero": lambda M, **kw: M.InverseTimeDecay(0.2, 0, **kw),
    "poly": lambda M, **kw: M.PolynomialDecay(0.1, 50, **kw),
    "poly_cycle": lambda M, **kw: M.PolynomialDecay(0.1, 30, end_lr=0.001, power=2.0, cycle=True, **kw),
    "poly_power_half": lambda M, **kw: M.PolynomialDecay(1.0, 7, 0.0, 0.5, **kw),
    "poly_cycle_power3": lambda M, **kw: M.PolynomialDecay(0.5, 13, 0.01, 3, True, **kw),
    "poly_cycle_one": lambda M, **kw: M.PolynomialDecay(0.5, 1, 0.05, 1.5, cycle=True, **kw),
    "poly_end_above": lambda M, **kw: M.PolynomialDecay(learning_rate=0.01, decay_steps=20, end_lr=0.1, **kw),
    "poly_int_end": lambda M, **kw: M.PolynomialDecay(3, 40, end_lr=1, power=0.7, cycle=False, **kw),
    "exp": lambda M, **kw: M.ExponentialDecay(0.5, 0.95, **kw),
    "exp_small": lambda M, **kw: M.ExponentialDecay(learning_rate=1, gamma=0.3, **kw),
    "multistep": lambda M, **kw: M.MultiStepDecay(0.5, [3, 10, 30], **kw),
    "multistep_tuple": lambda M, **kw: M.MultiStepDecay(0.5, (2, 5), gamma=0.5, **kw),
    "multistep_empty": lambda M, **kw: M.MultiStepDecay(0.25, [], 0.3, **kw),
    "multistep_neg_gamma": lambda M, **kw: M.MultiStepDecay(1, (1, 7, 8, 200), -0.5, **kw),
    "multistep_float": lambda M, **kw: M.MultiStepDecay(0.1, [2.5, 12.0, 100], 0.9, **kw),
    "lambda": lambda M, **kw: M.LambdaDecay(0.5, lambda e: 0.95**e, **kw),
    "lambda_cos": lambda M, **kw: M.LambdaDecay(0.1, lambda e: math.cos(e / 10) + 1.5, **kw),
    "lambda_int": lambda M, **kw: M.LambdaDecay(learning_rate=2, lr_lambda=lambda e: e % 4, **kw),
    "multiplicative": lambda M, **kw: M.MultiplicativeDecay(0.5, lambda e: 0.95, **kw),
    "multiplicative_var": lambda M, **kw: M.MultiplicativeDecay(1.0, lambda e: 1 - 1 / (e + 10), **kw),
    "multiplicative_mixed": lambda M, **kw: M.MultiplicativeDecay(
        learning_rate=0.2, lr_lambda=lambda e: 1.01 if e % 3 else 0.9, **kw
    ),
}

# LinearWarmup around one case of each class
DECAY_WRAPPED = ["piecewise", "natexp", "invtime", "poly_cycle", "exp", "multistep", "lambda_cos", "multiplicative_var"]
for _name in DECAY_WRAPPED:
    DECAY[f"warmup_{_name}"] = lambda M, _inner=DECAY[_name], **kw: M.LinearWarmup(_inner(M), 10, 0.0, 0.5, **kw)


# ---------------------------------------------------------------------------------------------- cyclic, one-cycle, linear
# custom CyclicLR scale functions (module level: picklable)
def _halve(x):
    return 0.5**x


def _decay(x):
    return 1.0 / (1.0 + 0.01 * x)


# factories: M is oar.lr or paddle.optimizer.lr. OneCycleLR cases use total_steps >= 400 so that
# N_STEPS steps from any last_epoch below stay inside the cycle (beyond it both raise).
CYCLIC: dict[str, Factory] = {
    "onecycle": lambda M, **kw: M.OneCycleLR(0.1, 400, **kw),
    "onecycle_linear": lambda M, **kw: M.OneCycleLR(
        0.5, 400, divide_factor=10, end_learning_rate=0.001, phase_pct=0.25, anneal_strategy="linear", **kw
    ),
    "onecycle_three": lambda M, **kw: M.OneCycleLR(1.0, 450, phase_pct=0.3, three_phase=True, **kw),
    "onecycle_three_linear": lambda M, **kw: M.OneCycleLR(
        max_learning_rate=2,
        total_steps=401,
        divide_factor=4,
        end_learning_rate=0,
        phase_pct=0.45,
        anneal_strategy="linear",
        three_phase=True,
        **kw,
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


# ---------------------------------------------------------------------------------------------- warm restarts
RESTARTS: dict[str, Factory] = {
    "T1": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.5, 1, **kw),
    "T10": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.1, 10, **kw),
    "T7_mult1_eta": lambda M, **kw: M.CosineAnnealingWarmRestarts(1, 7, 1, 0.01, **kw),
    "T1_mult2": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.5, T_0=1, T_mult=2, **kw),
    "T3_mult2_eta": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.05, 3, 2, eta_min=1e-4, **kw),
    "T2_mult3": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.3, 2, 3, **kw),
    "T5_mult3_int_eta": lambda M, **kw: M.CosineAnnealingWarmRestarts(2, 5, 3, 1, **kw),
    "eta_above_lr": lambda M, **kw: M.CosineAnnealingWarmRestarts(0.01, 4, 1, 0.1, **kw),
}


ALL: dict[str, Factory] = {}
for _table in (BASE, DECAY, CYCLIC, RESTARTS):
    assert not set(_table) & set(ALL), set(_table) & set(ALL)
    ALL.update(_table)
