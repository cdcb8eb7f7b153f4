"""Test data of RAdam (see tests/cases/__init__.py). Over the 20 steps of the float64 and
float32 runs, β2 >= 0.9 crosses to the rectified update (ρt > 5) at about the 6th step; β2 = 0.5
(ρ∞ = 3) never does."""

from cases import GLOBAL, SCHEDULERS, AlgorithmCases
from cases.nadam import clip_cases

ENTRY = AlgorithmCases(
    name="RAdam",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.01}, None, None),
        ({"weight_decay": ("L1", 0.05), "beta2": 0.9}, None, None),
        ({"weight_decay": ("L2", 0.02), "beta1": 0.0, "beta2": 0.5}, None, None),
        ({"beta1": 0.8, "beta2": 0.99, "epsilon": 0.3, "learning_rate": 0.05}, None, None),
        ({"beta2": 0.0, "epsilon": 0.0}, None, None),
        *clip_cases(),
        (
            {"weight_decay": 0.01, "learning_rate": 0.02},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7, "beta2": 0.9},
                {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "beta2": 0.5},
            ],
        ),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS],
    ],
    options={"beta1": [0.9, 0.8, 0.5, 0.0], "beta2": [0.999, 0.99, 0.9, 0.5], "epsilon": [1e-8, 1e-6, 1e-3, 0.3]},
    group_options=["beta1", "beta2", "epsilon"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"beta1": 0.8, "beta2": 0.9}],
    kernel_configs=[{"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}],
    property_kwargs=lambda beta, eps: {"beta1": beta, "beta2": 0.999, "epsilon": eps},
)
