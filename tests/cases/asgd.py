"""Test data of ASGD (see tests/cases/__init__.py). ASGD has no fused kernel (its ``y`` and int64
``m`` state are not element-wise: see src/oar/asgd.py), so ``engine_configs`` is empty and
tests/test_asgd_rprop_lbfgs.py compares its compiled and fused (fallback) engines with eager."""

from cases import ATTRS, CLIPS, DECAYS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases

ENTRY = AlgorithmCases(
    name="ASGD",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.05, "batch_num": 3}, None, None),
        ({"learning_rate": 0.05, "batch_num": 1, "weight_decay": 0.01}, None, None),
        ({"learning_rate": 0.1, "batch_num": 4, "weight_decay": ("L1", 0.05)}, None, None),
        ({"learning_rate": 0.1, "batch_num": 25, "grad_clip": GLOBAL, "weight_decay": ("L2", 0.1)}, ATTRS, None),
        ({"batch_num": 2, "grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"batch_num": 5, "grad_clip": VALUE_MIN, "learning_rate": 0.1}, None, None),
        (
            {"learning_rate": 0.02, "batch_num": 3, "weight_decay": ("L1", 0.02)},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "weight_decay": 0.1},
                {"idx": [2], "weight_decay": None, "grad_clip": VALUE},
                {"idx": [3], "learning_rate": 3.0},
            ],
        ),
        *[({"learning_rate": s, "batch_num": 3}, None, None) for s in SCHEDULERS],
    ],
    options={"batch_num": [1, 2, 3, 7], "grad_clip": [c for c in CLIPS if c is not None], "weight_decay": DECAYS},
    group_options=["grad_clip", "weight_decay"],
    weight_decay=True,
    required={},
    engine_configs=[{"batch_num": 3}],
    kernel_configs=[{"batch_num": 3}, {"batch_num": 1}],
    property_kwargs=lambda beta, eps: {"batch_num": 3},
)
