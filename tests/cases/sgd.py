"""Test data of SGD (see tests/cases/__init__.py)."""

from cases import ATTRS, CLIPS, DECAYS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases

ENTRY = AlgorithmCases(
    name="SGD",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.05, "weight_decay": 0.01}, None, None),
        ({"learning_rate": 0.05, "weight_decay": 1}, None, None),  # an int: L2Decay(1.0)
        ({"weight_decay": ("L1", 0.05), "learning_rate": 0.1}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": ("L2", 0.1), "learning_rate": 0.1}, ATTRS, None),
        ({"grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"grad_clip": VALUE_MIN, "learning_rate": 0.1}, None, None),
        (
            {"learning_rate": 0.02, "weight_decay": ("L1", 0.02)},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "weight_decay": 0.1},
                {"idx": [2], "weight_decay": None, "grad_clip": VALUE},
                {"idx": [3], "learning_rate": 3.0},
            ],
        ),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS],
    ],
    # SGD has no options of its own: a group's clip and decay are what a random group varies
    options={"grad_clip": [c for c in CLIPS if c is not None], "weight_decay": DECAYS},
    group_options=["grad_clip", "weight_decay"],
    weight_decay=True,
    required={},
    engine_configs=[{}, {"weight_decay": 0.01}],
    kernel_configs=[{}],
    property_kwargs=lambda beta, eps: {"weight_decay": eps},
)
