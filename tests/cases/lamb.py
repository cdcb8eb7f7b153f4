"""Test data of Lamb (see tests/cases/__init__.py)."""

from cases import ATTRS, GLOBAL, NO_CLIP, SCHEDULERS, VALUE, AlgorithmCases

ENTRY = AlgorithmCases(
    name="Lamb",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "lamb_weight_decay": 0.1}, None, None),
        ({"lamb_weight_decay": 0.0}, None, None),
        ({"lamb_weight_decay": 0.0, "always_adapt": True}, None, None),
        ({"exclude_from_weight_decay_fn": ("exclude", {1, 3})}, None, None),
        ({"grad_clip": GLOBAL}, ATTRS, None),
        ({"grad_clip": VALUE}, NO_CLIP, None),
        (
            {"learning_rate": 0.01},
            None,
            [
                {"idx": [0, 2], "learning_rate": 2.0, "lamb_weight_decay": 0.2},
                {"idx": [1, 3], "beta1": 0.8, "epsilon": 1e-4, "weight_decay": ("L2", 0.05)},
            ],
        ),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS[:2]],
    ],
    options={
        "lamb_weight_decay": [0.01, 0.0, 0.1],
        "beta1": [0.9, 0.8, 0.5],
        "beta2": [0.999, 0.99, 0.9],
        "epsilon": [1e-6, 1e-4, 1e-2],
        "always_adapt": [False, True],
    },
    group_options=["beta1", "beta2", "epsilon", "lamb_weight_decay"],
    weight_decay=False,
    required={},
    engine_configs=[
        {"lamb_weight_decay": 0.01},
        {"lamb_weight_decay": 0.0},
        {"lamb_weight_decay": 0.0, "always_adapt": True},
    ],
    kernel_configs=[
        {"lamb_weight_decay": 0.1, "exclude_from_weight_decay_fn": lambda p: p.ndim == 1},
        {"lamb_weight_decay": 0.0, "always_adapt": True},
    ],
    property_kwargs=lambda beta, eps: {"beta1": beta, "epsilon": eps, "lamb_weight_decay": 0.01},
)
