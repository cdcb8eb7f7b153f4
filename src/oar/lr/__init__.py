"""Learning-rate schedulers with the semantics of ``paddle.optimizer.lr`` (Paddle 3.3.1).

One module per family: :mod:`.base` (``LRScheduler``), :mod:`.decay`, :mod:`.cosine`,
:mod:`.warmup`. This package depends on nothing else in ``oar``.
"""
from __future__ import annotations

from .base import LRScheduler
from .cosine import CosineAnnealingDecay
from .decay import NoamDecay, StepDecay
from .warmup import LinearWarmup

__all__ = [
    "LRScheduler",
    "NoamDecay",
    "StepDecay",
    "CosineAnnealingDecay",
    "LinearWarmup",
]
