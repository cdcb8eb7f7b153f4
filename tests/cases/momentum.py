"""Test data of Momentum (see tests/cases/__init__.py). rescale_grad stays 1.0 here: Paddle's
CPU kernel ignores it (tests/test_sgd_momentum.py holds the GPU formula oar follows)."""

import oar
from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, AlgorithmCases

ENTRY = AlgorithmCases(
    name="Momentum",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "use_nesterov": True}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.1}, None, None),  # fused, coeff float32(0.1)
        ({"learning_rate": 0.01, "weight_decay": 2, "momentum": 0.5}, None, None),  # an int
        ({"learning_rate": 0.01, "weight_decay": ("L2", 0.05), "use_nesterov": True}, None, None),
        ({"learning_rate": 0.01, "weight_decay": ("L1", 0.05), "momentum": 0.0}, None, None),
        (
            {"learning_rate": 0.02, "weight_decay": 0.01, "grad_clip": GLOBAL},
            ATTRS,
            None,
        ),  # own L2 fused, own L1 generic
        ({"learning_rate": 0.02, "weight_decay": ("L1", 0.03)}, ATTRS, None),
        ({"grad_clip": GLOBAL_SKIP, "momentum": 0.99}, NO_CLIP, None),
        ({"grad_clip": VALUE, "learning_rate": 0.1, "use_nesterov": True}, None, None),
        (
            {"learning_rate": 0.01, "weight_decay": 0.05},
            None,
            [
                {"idx": [0], "learning_rate": 0.5, "momentum": 0.8},
                {"idx": [1], "weight_decay": None},  # no decay at all
                {"idx": [2], "weight_decay": ("L1", 0.1), "use_nesterov": True},
                {"idx": [3], "weight_decay": ("L2", 0.2), "grad_clip": GLOBAL},
            ],
        ),
        (
            {"learning_rate": 0.01, "weight_decay": ("L1", 0.05)},
            None,
            [
                {"idx": [0, 1], "weight_decay": 0.1},  # fused L2 and the optimizer's L1
                {"idx": [2], "weight_decay": None},  # the optimizer's L1
                {"idx": [3]},
            ],
        ),
        *[({"learning_rate": s, "use_nesterov": True}, None, None) for s in SCHEDULERS],
    ],
    options={"momentum": [0.9, 0.5, 0.0, 0.99], "use_nesterov": [False, True]},
    group_options=["momentum", "use_nesterov"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"use_nesterov": True, "weight_decay": 0.01}, {"weight_decay": oar.L1Decay(0.01)}],
    kernel_configs=[{}, {"use_nesterov": True, "weight_decay": 0.01, "momentum": 0.5}],
    property_kwargs=lambda beta, eps: {"momentum": beta, "weight_decay": eps, "use_nesterov": eps > 5e-4},
)
