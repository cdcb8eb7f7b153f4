"""Test data of every algorithm in the table (``oar.algorithms``): the option matrix each is
held to against real Paddle (``CASES``) and the option space random configurations are drawn
from (``OPTION_SPACE``). Adding an optimizer adds its entries here; tests/test_parity.py fails
for a registered algorithm without them.

A case is ``(kwargs, specs, groups)`` in the neutral vocabulary of ``paddle_harness.translate``.
"""
from __future__ import annotations

import random
from typing import Any

from paddle_harness import Spec

GLOBAL = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0})
GLOBAL_SKIP = ("clip", "ClipGradByGlobalNorm", {"clip_norm": 1.0, "auto_skip_clip": True})
VALUE = ("clip", "ClipGradByValue", {"max": 0.5})
VALUE_MIN = ("clip", "ClipGradByValue", {"max": 0.8, "min": -0.3})
NORM = ("clip", "ClipGradByNorm", {"clip_norm": 0.5})

# Per-parameter attributes: lr multipliers, own regularizers, one param left out of clipping.
ATTRS = [Spec((6, 5), lr_mult=0.5), Spec((5,), regularizer=("L1", 0.05)),
         Spec((2, 3, 4), regularizer=("L2", 0.2), need_clip=False), Spec((1,), lr_mult=2.0)]
NO_CLIP = [Spec((6, 5)), Spec((5,), need_clip=False), Spec((2, 3, 4)), Spec((1,))]

SCHEDULERS = [
    ("sched", "StepDecay", {"learning_rate": 0.01, "step_size": 3, "gamma": 0.5}),
    ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 7}),
    ("sched", "NoamDecay", {"d_model": 16, "warmup_steps": 5, "learning_rate": 0.1}),
    ("sched", "LinearWarmup", {"learning_rate": ("sched", "CosineAnnealingDecay", {"learning_rate": 0.01, "T_max": 10}),
                               "warmup_steps": 4, "start_lr": 0.0, "end_lr": 0.01}),
]

CASES = {
    "Adam": [
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
        ({"weight_decay": 0.01, "learning_rate": 0.02},
         None,
         [{"idx": [0, 1], "learning_rate": 0.5, "beta1": 0.7},
          {"idx": [2], "weight_decay": ("L1", 0.1), "epsilon": 1e-3, "grad_clip": GLOBAL},
          {"idx": [3], "beta2": 0.9}]),
        *[({"learning_rate": s, "amsgrad": True}, None, None) for s in SCHEDULERS],
    ],
    "Lamb": [
        ({}, None, None),
        ({"learning_rate": 0.01, "lamb_weight_decay": 0.1}, None, None),
        ({"lamb_weight_decay": 0.0}, None, None),
        ({"lamb_weight_decay": 0.0, "always_adapt": True}, None, None),
        ({"exclude_from_weight_decay_fn": ("exclude", {1, 3})}, None, None),
        ({"grad_clip": GLOBAL}, ATTRS, None),
        ({"grad_clip": VALUE}, NO_CLIP, None),
        ({"learning_rate": 0.01},
         None,
         [{"idx": [0, 2], "learning_rate": 2.0, "lamb_weight_decay": 0.2},
          {"idx": [1, 3], "beta1": 0.8, "epsilon": 1e-4, "weight_decay": ("L2", 0.05)}]),
        *[({"learning_rate": s}, None, None) for s in SCHEDULERS[:2]],
    ],
    "RMSProp": [
        ({"learning_rate": 0.01}, None, None),
        ({"learning_rate": 0.01, "centered": True}, None, None),
        ({"learning_rate": 0.01, "momentum": 0.9}, None, None),
        ({"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.9, "epsilon": 1e-4}, None, None),
        ({"learning_rate": 0.01, "weight_decay": ("L1", 0.01), "grad_clip": GLOBAL}, ATTRS, None),
        ({"learning_rate": 0.01, "grad_clip": GLOBAL_SKIP, "weight_decay": 0.05}, NO_CLIP, None),
        ({"learning_rate": 0.01},
         None,
         [{"idx": [0], "learning_rate": 0.1, "rho": 0.5},
          {"idx": [1, 2, 3], "momentum": 0.9, "centered": True, "weight_decay": 0.1}]),
        *[({"learning_rate": s, "momentum": 0.9}, None, None) for s in SCHEDULERS[1:3]],
    ],
}



# ------------------------------------------------------------------------------ random configs
CLIPS = [None, GLOBAL, GLOBAL_SKIP, VALUE, VALUE_MIN, NORM]
DECAYS = [None, 0.01, ("L1", 0.05), ("L2", 0.02)]
SPEC_SETS = [None, ATTRS, NO_CLIP]

#: Per algorithm: its own options and the values a random configuration draws from. The common
#: ones (learning rate or scheduler, weight decay, clip, ParamAttrs, groups) are added by
#: :func:`random_config`. ``weight_decay``: whether the constructor takes one.
OPTION_SPACE: dict[str, dict[str, Any]] = {
    "Adam": {
        "options": {"beta1": [0.9, 0.8, 0.5, 0.0], "beta2": [0.999, 0.99, 0.9, 0.7],
                    "epsilon": [1e-8, 1e-6, 1e-3, 0.3], "amsgrad": [False, True]},
        "group_options": ["beta1", "beta2", "epsilon"],
        "weight_decay": True, "required": {},
    },
    "Lamb": {
        "options": {"lamb_weight_decay": [0.01, 0.0, 0.1], "beta1": [0.9, 0.8, 0.5],
                    "beta2": [0.999, 0.99, 0.9], "epsilon": [1e-6, 1e-4, 1e-2],
                    "always_adapt": [False, True]},
        "group_options": ["beta1", "beta2", "epsilon", "lamb_weight_decay"],
        "weight_decay": False, "required": {},
    },
    "RMSProp": {
        "options": {"rho": [0.95, 0.9, 0.8, 0.5], "epsilon": [1e-6, 1e-4, 1e-8],
                    "momentum": [0.0, 0.5, 0.9], "centered": [False, True]},
        "group_options": ["rho", "epsilon", "momentum", "centered"],
        "weight_decay": True, "required": {"learning_rate": 0.01},
    },
}


def random_config(name: str, seed: int) -> tuple[dict, list | None, list | None]:
    """A random configuration of algorithm ``name``: its options, lr or scheduler, weight decay,
    clip, ParamAttrs, and sometimes two param groups with their own options and lr multiplier."""
    rnd = random.Random(f"{name}-{seed}")
    space = OPTION_SPACE[name]
    kwargs: dict[str, Any] = dict(space["required"])
    for key, values in space["options"].items():
        if rnd.random() < 0.5:
            kwargs[key] = rnd.choice(values)
    lr = rnd.choice([None, 0.001, 0.01, 0.05, *SCHEDULERS])
    if lr is not None:
        kwargs["learning_rate"] = lr
    if space["weight_decay"]:
        decay = rnd.choice(DECAYS)
        if decay is not None:
            kwargs["weight_decay"] = decay
    clip = rnd.choice(CLIPS)
    if clip is not None:
        kwargs["grad_clip"] = clip
    specs = rnd.choice(SPEC_SETS)
    groups = None
    if rnd.random() < 0.4:
        specs = None  # ParamAttr multipliers apply in list mode only
        second: dict[str, Any] = {"idx": [2, 3], "learning_rate": rnd.choice([0.5, 2.0, 0.1])}
        for key in rnd.sample(space["group_options"], 2):
            second[key] = rnd.choice(space["options"][key])
        second["weight_decay"] = rnd.choice(DECAYS)
        groups = [{"idx": [0, 1]}, second]
    return kwargs, specs, groups


# ------------------------------------------------------------------------------ engine tests
#: Per algorithm: option sets every engine is compared with the eager one on (tests/test_engine.py).
ENGINE_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "Adam": [{}, {"amsgrad": True}],
    "Lamb": [{"lamb_weight_decay": 0.01}, {"lamb_weight_decay": 0.0},
             {"lamb_weight_decay": 0.0, "always_adapt": True}],
    "RMSProp": [{"centered": True, "momentum": 0.9}],
}

#: Per algorithm: option sets its fused kernel is held to across thread and piece boundaries.
KERNEL_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "Adam": [{"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}],
    "Lamb": [{"lamb_weight_decay": 0.1, "exclude_from_weight_decay_fn": lambda p: p.ndim == 1},
             {"lamb_weight_decay": 0.0, "always_adapt": True}],
    "RMSProp": [{"momentum": 0.9}, {"centered": True}],
}


def property_kwargs(name: str, beta: float, eps: float) -> dict[str, Any]:
    """The options of algorithm ``name`` for a drawn beta-like rate and epsilon (the property
    test of fused against eager)."""
    return {
        "Adam": {"beta1": beta, "beta2": 0.999, "epsilon": eps},
        "Lamb": {"beta1": beta, "epsilon": eps, "lamb_weight_decay": 0.01},
        "RMSProp": {"rho": beta, "epsilon": eps + 1e-8, "momentum": beta},
    }[name]
