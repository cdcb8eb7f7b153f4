"""Test data of NAdam (see tests/cases/__init__.py), and the clip rows Adadelta and RAdam share."""

from typing import Any

from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases, Case


def clip_cases(**base: Any) -> list[Case]:
    """One row per clip class (ClipGradByNorm aside: Paddle's is float32-only, see
    tests/test_adadelta_nadam_radam.py), with and without ParamAttrs and coupled decay; ``base``:
    options every row has. Shared by Adadelta's, NAdam's and RAdam's matrices."""
    return [
        ({**base, "grad_clip": GLOBAL, "weight_decay": 0.1}, None, None),
        ({**base, "grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({**base, "grad_clip": VALUE}, NO_CLIP, None),
        ({**base, "grad_clip": VALUE_MIN}, None, None),
        ({**base, "grad_clip": GLOBAL, "weight_decay": ("L2", 0.01)}, ATTRS, None),
    ]


ENTRY = AlgorithmCases(
    name="NAdam",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.01}, None, None),
        ({"weight_decay": ("L1", 0.05), "momentum_decay": 0.0}, None, None),
        ({"weight_decay": ("L2", 0.02), "momentum_decay": 0.1}, None, None),
        ({"beta1": 0.8, "beta2": 0.99, "epsilon": 0.3, "learning_rate": 0.05, "momentum_decay": 0.5}, None, None),
        ({"beta1": 0.0, "beta2": 0.0, "epsilon": 0.0}, None, None),
        *clip_cases(),
        (
            {"weight_decay": 0.01, "learning_rate": 0.02},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7, "momentum_decay": 0.02},
                {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "beta2": 0.9},
            ],
        ),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS],
    ],
    options={
        "beta1": [0.9, 0.8, 0.5, 0.0],
        "beta2": [0.999, 0.99, 0.9, 0.7],
        "epsilon": [1e-8, 1e-6, 1e-3, 0.3],
        "momentum_decay": [0.004, 0.0, 0.1, 1.0],
    },
    group_options=["beta1", "beta2", "epsilon", "momentum_decay"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"beta1": 0.8, "beta2": 0.99, "momentum_decay": 0.1}],
    kernel_configs=[{"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "momentum_decay": 0.1}],
    property_kwargs=lambda beta, eps: {"beta1": beta, "beta2": 0.999, "epsilon": eps, "momentum_decay": 0.004},
)
