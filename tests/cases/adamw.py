"""Test data of AdamW (see tests/cases/__init__.py). ``weight_decay`` is AdamW's decoupled
coefficient (a float, for the optimizer and for each group), so the coupled decays of the other
algorithms (L1/L2 objects) appear only as ParamAttr regularizers (ATTRS), which Paddle's AdamW
adds to the gradient on top of the decoupled decay."""

from cases import ATTRS, GLOBAL, GLOBAL_SKIP, NO_CLIP, SCHEDULERS, VALUE, VALUE_MIN, AlgorithmCases


def _half_for_vectors(param):
    """An lr_ratio (engine tests only: Paddle's CPU build refuses lr_ratio)."""
    return 0.5 if param.ndim == 1 else 1.0


ENTRY = AlgorithmCases(
    name="AdamW",
    cases=[
        ({}, None, None),
        ({"learning_rate": 0.01, "weight_decay": 0.1}, None, None),
        ({"weight_decay": 0.0, "lazy_mode": True}, None, None),
        ({"weight_decay": 1, "learning_rate": 0.02, "multi_precision": True}, None, None),  # an int coeff
        ({"weight_decay": 0.05, "amsgrad": True}, None, None),
        ({"beta1": 0.8, "beta2": 0.99, "epsilon": 0.3, "learning_rate": 0.05, "weight_decay": 0.3}, None, None),
        ({"grad_clip": GLOBAL, "weight_decay": 0.1}, None, None),
        ({"grad_clip": GLOBAL_SKIP}, NO_CLIP, None),
        ({"grad_clip": VALUE, "weight_decay": 0.2}, NO_CLIP, None),
        ({"grad_clip": VALUE_MIN}, None, None),
        # ParamAttr lr multipliers (they scale the decay too) and coupled L1/L2 regularizers
        ({"grad_clip": GLOBAL, "weight_decay": 0.05, "learning_rate": 0.02}, ATTRS, None),
        (
            {"weight_decay": 0.01, "learning_rate": 0.02},
            None,
            [
                {"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7, "weight_decay": 0.2},
                {"idx": [2], "weight_decay": 0.0, "epsilon": 1e-3, "grad_clip": GLOBAL},
                {"idx": [3], "beta2": 0.9, "lazy_mode": True},
            ],
        ),
        *[({"learning_rate": s, "amsgrad": True, "weight_decay": 0.1}, None, None) for s in SCHEDULERS],
    ],
    options={
        "beta1": [0.9, 0.8, 0.5, 0.0],
        "beta2": [0.999, 0.99, 0.9, 0.7],
        "epsilon": [1e-8, 1e-6, 1e-3, 0.3],
        "amsgrad": [False, True],
        "weight_decay": [0.0, 0.01, 0.1, 1.0],
    },
    group_options=["beta1", "beta2", "epsilon", "weight_decay"],
    weight_decay=False,  # the coupled decays (L1/L2 objects) are no AdamW weight_decay
    required={},
    group_decays=[0.0, 0.01, 0.1, 1.0],  # a group's weight_decay is its decoupled coefficient
    engine_configs=[{}, {"amsgrad": True}, {"weight_decay": 0.1, "lr_ratio": _half_for_vectors}],
    kernel_configs=[{"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.1, "lr_ratio": _half_for_vectors}],
    property_kwargs=lambda beta, eps: {"beta1": beta, "beta2": 0.999, "epsilon": eps, "weight_decay": 0.1},
)
