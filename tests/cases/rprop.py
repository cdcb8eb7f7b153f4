"""Test data of Rprop (see tests/cases/__init__.py). Rprop takes no scheduler (Paddle raises
TypeError) and no weight_decay argument; a group's ``etas`` is accepted and ignored (as Paddle)."""

from cases import ATTRS, CLIPS, GLOBAL, GLOBAL_SKIP, NO_CLIP, VALUE, VALUE_MIN, AlgorithmCases

ENTRY = AlgorithmCases(
    name="Rprop",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01}, None, None),
        ({"learning_rate": 0.05, "etas": (0.3, 1.5), "learning_rate_range": (1e-3, 0.2)}, None, None),
        ({"learning_rate": 0.5, "learning_rate_range": (0.1, 0.6)}, None, None),
        ({"learning_rate": 0.01, "grad_clip": GLOBAL}, ATTRS, None),
        ({"grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"grad_clip": VALUE_MIN, "learning_rate": 0.1}, ATTRS, None),
        (
            {"learning_rate": 0.02, "etas": (0.4, 1.1)},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "weight_decay": 0.1},
                {"idx": [2], "weight_decay": ("L1", 0.2), "grad_clip": VALUE},
                {"idx": [3]},
            ],
        ),
    ],
    options={
        "etas": [(0.5, 1.2), (0.3, 1.5), (0.9, 1.01)],
        "learning_rate_range": [(1e-5, 50), (1e-4, 1.0)],
        "grad_clip": [c for c in CLIPS if c is not None],
    },
    group_options=["grad_clip", "etas"],
    weight_decay=False,
    required={},
    schedulers=False,  # Paddle's Rprop refuses an LRScheduler
    engine_configs=[{}, {"etas": (0.3, 1.5), "learning_rate_range": (1e-3, 0.1)}],
    kernel_configs=[{"etas": (0.3, 1.5)}],
    property_kwargs=lambda beta, eps: {"etas": (0.05 + 0.9 * beta, 1.2), "learning_rate_range": (1e-6, 50)},
)
