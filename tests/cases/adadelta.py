"""Test data of Adadelta (see tests/cases/__init__.py)."""

from cases import GLOBAL, SCHEDULERS, AlgorithmCases
from cases.nadam import clip_cases

ENTRY = AlgorithmCases(
    name="Adadelta",
    cases=[
        ({}, None, None),
        ({"learning_rate": 1.0, "weight_decay": 0.01}, None, None),
        ({"learning_rate": 0.5, "weight_decay": ("L1", 0.05), "rho": 0.9}, None, None),
        ({"learning_rate": 1.0, "weight_decay": ("L2", 0.02), "rho": 0.5, "epsilon": 1e-3}, None, None),
        ({"learning_rate": 2.0, "rho": 0.99, "epsilon": 1e-8}, None, None),
        *clip_cases(learning_rate=1.0),
        (
            {"learning_rate": 1.0, "weight_decay": 0.01},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "rho": 0.7},
                {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "rho": 0.99},
            ],
        ),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS],
    ],
    options={"rho": [0.95, 0.9, 0.5, 0.99], "epsilon": [1e-6, 1e-4, 1e-8, 1e-3]},
    group_options=["rho", "epsilon"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"rho": 0.9, "epsilon": 1e-4}],
    kernel_configs=[{"rho": 0.9, "epsilon": 1e-4}],
    property_kwargs=lambda beta, eps: {"rho": beta, "epsilon": eps + 1e-6},
)
