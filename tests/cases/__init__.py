"""Test data of each algorithm of the table, one module per algorithm (``tests/cases/<name>.py``),
and what they share: clips, schedulers, ParamAttr sets in the neutral vocabulary of
``paddle_harness.translate``. Each module defines ``ENTRY = AlgorithmCases(...)``;
``tests/algorithm_cases.py`` collects them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from paddle_harness import Spec

GLOBAL = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0})
GLOBAL_SKIP = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0, "auto_skip_clip": True})
VALUE = ("clip", "ClipGradByValue", {"max": 0.5})
VALUE_MIN = ("clip", "ClipGradByValue", {"max": 0.8, "min": -0.3})
NORM = ("clip", "ClipGradByNorm", {"clip_norm": 0.5})

# Per-parameter attributes: lr multipliers, own regularizers, one param left out of clipping.
ATTRS = [
    Spec((6, 5), lr_mult=0.5),
    Spec((5,), regularizer=("L1", 0.05)),
    Spec((2, 3, 4), regularizer=("L2", 0.2), need_clip=False),
    Spec((1,), lr_mult=2.0),
]
NO_CLIP = [Spec((6, 5)), Spec((5,), need_clip=False), Spec((2, 3, 4)), Spec((1,))]

SCHEDULERS = [
    ("sched", "StepDecay", {"learning_rate": 0.01, "step_size": 3, "gamma": 0.5}),
    ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 7}),
    ("sched", "NoamDecay", {"d_model": 16, "warmup_steps": 5, "learning_rate": 0.1}),
    (
        "sched",
        "LinearWarmup",
        {
            "learning_rate": ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 10}),
            "warmup_steps": 4,
            "start_lr": 0.0,
            "end_lr": 0.01,
        },
    ),
]

CLIPS = [None, GLOBAL, GLOBAL_SKIP, VALUE, VALUE_MIN, NORM]
DECAYS = [None, 0.01, ("L1", 0.05), ("L2", 0.02)]
SPEC_SETS = [None, ATTRS, NO_CLIP]

#: A case: ``(kwargs, specs, groups)``; groups are ``{'idx': [param indices], **options}``.
Case = tuple[dict[str, Any], "list[Spec] | None", "list[dict[str, Any]] | None"]


@dataclasses.dataclass(frozen=True)
class AlgorithmCases:
    """The test data of one algorithm.

    Attributes:
        name: the algorithm's name in the table (Paddle's class name).
        cases: the option matrix held to real Paddle (float64 and the float32 criterion).
        options: option -> values random configurations draw from.
        group_options: the options a random second group may override.
        weight_decay: whether the constructor takes ``weight_decay``.
        required: constructor keywords every configuration needs (RMSProp's learning_rate).
        engine_configs: option sets every engine is compared with eager on.
        kernel_configs: option sets its fused kernel is held to across thread/piece boundaries.
        property_kwargs: options for a drawn rate ``beta`` and ``eps`` (fused vs eager property).
        schedulers: whether random configurations may draw an LRScheduler as learning_rate.
        group_decays: the values a random second group's ``weight_decay`` is drawn from (AdamW:
            its decoupled coefficients).
    """

    name: str
    cases: list[Case]
    options: dict[str, list[Any]]
    group_options: list[str]
    weight_decay: bool
    engine_configs: list[dict[str, Any]]
    kernel_configs: list[dict[str, Any]]
    property_kwargs: Callable[[float, float], dict[str, Any]]
    required: dict[str, Any] = dataclasses.field(default_factory=dict)
    schedulers: bool = True  # False: the constructor refuses an LRScheduler (Paddle's Rprop)
    group_decays: list[Any] = dataclasses.field(default_factory=lambda: list(DECAYS))
