"""Test data of Adagrad (see tests/cases/__init__.py)."""

from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases

ENTRY = AlgorithmCases(
    name="Adagrad",
    cases=[
        ({"learning_rate": 0.01}, None, None),
        ({"learning_rate": 0.1, "weight_decay": 0.01}, None, None),
        ({"learning_rate": 0.05, "weight_decay": ("L1", 0.05), "initial_accumulator_value": 0.1}, None, None),
        ({"learning_rate": 0.05, "weight_decay": ("L2", 0.02), "epsilon": 0.3}, None, None),
        ({"learning_rate": 0.05, "epsilon": 1e-10, "initial_accumulator_value": 2.5}, None, None),
        ({"learning_rate": 0.05, "grad_clip": GLOBAL, "weight_decay": 0.1}, None, None),
        ({"learning_rate": 0.05, "grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"learning_rate": 0.05, "grad_clip": VALUE}, NO_CLIP, None),
        ({"learning_rate": 0.05, "grad_clip": VALUE_MIN, "initial_accumulator_value": 0.5}, None, None),
        ({"learning_rate": 0.05, "grad_clip": GLOBAL, "weight_decay": ("L2", 0.01)}, ATTRS, None),
        (
            {"learning_rate": 0.05, "weight_decay": 0.01},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "initial_accumulator_value": 0.3},
                {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "epsilon": 0.1, "weight_decay": None},
            ],
        ),
        *[({"learning_rate": s, "initial_accumulator_value": 0.1}, None, None) for s in SCHEDULERS],
    ],
    options={"epsilon": [1e-6, 1e-4, 1e-10, 0.1], "initial_accumulator_value": [0.0, 0.1, 1.0]},
    group_options=["epsilon", "initial_accumulator_value"],
    weight_decay=True,
    required={"learning_rate": 0.01},
    engine_configs=[{}, {"epsilon": 1e-3, "initial_accumulator_value": 0.5}],
    kernel_configs=[{"epsilon": 1e-4, "initial_accumulator_value": 0.1}],
    property_kwargs=lambda beta, eps: {"epsilon": eps + 1e-10, "initial_accumulator_value": beta},
)
