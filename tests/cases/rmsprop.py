"""Test data of RMSProp (see tests/cases/__init__.py)."""

from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, AlgorithmCases

ENTRY = AlgorithmCases(
    name="RMSProp",
    cases=[
        ({"learning_rate": 0.01}, None, None),
        ({"learning_rate": 0.01, "centered": True}, None, None),
        ({"learning_rate": 0.01, "momentum": 0.9}, None, None),
        ({"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.9, "epsilon": 1e-4}, None, None),
        ({"learning_rate": 0.01, "weight_decay": ("L1", 0.01), "grad_clip": GLOBAL}, ATTRS, None),
        ({"learning_rate": 0.01, "grad_clip": GLOBAL_SKIP, "weight_decay": 0.05}, NO_CLIP, None),
        (
            {"learning_rate": 0.01},
            None,
            [
                {"idx": [0], "learning_rate": 0.1, "rho": 0.5},
                {"idx": [1, 2, 3], "momentum": 0.9, "centered": True, "weight_decay": 0.1},
            ],
        ),
        *[({"learning_rate": s, "momentum": 0.9}, None, None) for s in SCHEDULERS[1:3]],
    ],
    options={
        "rho": [0.95, 0.9, 0.8, 0.5],
        "epsilon": [1e-6, 1e-4, 1e-8],
        "momentum": [0.0, 0.5, 0.9],
        "centered": [False, True],
    },
    group_options=["rho", "epsilon", "momentum", "centered"],
    weight_decay=True,
    required={"learning_rate": 0.01},
    engine_configs=[{"centered": True, "momentum": 0.9}],
    kernel_configs=[{"momentum": 0.9}, {"centered": True}],
    property_kwargs=lambda beta, eps: {"rho": beta, "epsilon": eps + 1e-8, "momentum": beta},
)
