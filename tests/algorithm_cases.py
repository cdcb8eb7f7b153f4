"""Test data of every algorithm in the table (``oar.algorithms``), collected from
``tests/cases/<name>.py`` (one module per algorithm, each defining ``ENTRY``): the option matrix
each is held to against real Paddle (``CASES``), the option space random configurations are
drawn from, and the option sets of the engine tests. Adding an optimizer adds its module there;
tests/test_parity.py fails for a registered algorithm without one.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from typing import Any

import cases as _cases
from cases import ATTRS, CLIPS, DECAYS, GLOBAL, NO_CLIP, NORM, SCHEDULERS, SPEC_SETS, VALUE, AlgorithmCases  # noqa: F401

ENTRIES: dict[str, AlgorithmCases] = {}
for _info in pkgutil.iter_modules(_cases.__path__):
    _entry = importlib.import_module(f"cases.{_info.name}").ENTRY
    ENTRIES[_entry.name] = _entry

CASES = {name: e.cases for name, e in ENTRIES.items()}
ENGINE_CONFIGS = {name: e.engine_configs for name, e in ENTRIES.items()}
KERNEL_CONFIGS = {name: e.kernel_configs for name, e in ENTRIES.items()}


def property_kwargs(name: str, beta: float, eps: float) -> dict[str, Any]:
    """The options of algorithm ``name`` for a drawn rate and epsilon (fused vs eager property)."""
    return ENTRIES[name].property_kwargs(beta, eps)


def random_config(name: str, seed: int) -> tuple[dict, list | None, list | None]:
    """A random configuration of algorithm ``name``: its options, lr or scheduler, weight decay,
    clip, ParamAttrs, and sometimes two param groups with their own options and lr multiplier."""
    rnd = random.Random(f"{name}-{seed}")
    entry = ENTRIES[name]
    kwargs: dict[str, Any] = dict(entry.required)
    for key, values in entry.options.items():
        if rnd.random() < 0.5:
            kwargs[key] = rnd.choice(values)
    lr = rnd.choice([None, 0.001, 0.01, 0.05, *(SCHEDULERS if entry.schedulers else [])])
    if lr is not None:
        kwargs["learning_rate"] = lr
    if entry.weight_decay:
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
        for key in rnd.sample(entry.group_options, 2):
            second[key] = rnd.choice(entry.options[key])
        second["weight_decay"] = rnd.choice(entry.group_decays)
        groups = [{"idx": [0, 1]}, second]
    return kwargs, specs, groups
