"""Test data of Adam (see tests/cases/__init__.py)."""

from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases

ENTRY = AlgorithmCases(
    name="Adam",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.01}, None, None),
        ({"weight_decay": ("L1", 0.05)}, None, None),
        ({"weight_decay": ("L2", 0.02), "amsgrad": True}, None, None),
        ({"beta1": 0.8, "beta2": 0.99, "epsilon": 0.3, "learning_rate": 0.05}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": 0.1}, None, None),
        ({"grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"grad_clip": VALUE}, NO_CLIP, None),
        ({"grad_clip": VALUE_MIN}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": ("L2", 0.01)}, ATTRS, None),
        (
            {"weight_decay": 0.01, "learning_rate": 0.02},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7},
                {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "beta2": 0.9},
            ],
        ),
        *[({"learning_rate": s, "amsgrad": True}, None, None) for s in SCHEDULERS],
    ],
    options={
        "beta1": [0.9, 0.8, 0.5, 0.0],
        "beta2": [0.999, 0.99, 0.9, 0.7],
        "epsilon": [1e-8, 1e-6, 1e-3, 0.3],
        "amsgrad": [False, True],
    },
    group_options=["beta1", "beta2", "epsilon"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"amsgrad": True}],
    kernel_configs=[{"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}],
    property_kwargs=lambda beta, eps: {"beta1": beta, "beta2": 0.999, "epsilon": eps},
)
