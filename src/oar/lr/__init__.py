"""Learning-rate schedulers with the semantics of ``paddle.optimizer.lr`` (Paddle 3.3.1).

One module per family: :mod:`.base` (``LRScheduler``), :mod:`.decay` (closed forms in the epoch),
:mod:`.cosine`, :mod:`.warmup` (linear schedules), :mod:`.cyclic` (one-cycle and cyclic),
:mod:`.plateau` (``ReduceOnPlateau``). Each module lists its public names in ``__all__``. This package
depends on nothing else in ``oar``.
"""
from __future__ import annotations

from . import base, cosine, cyclic, decay, plateau, warmup
from .base import *  # noqa: F403
from .cosine import *  # noqa: F403
from .cyclic import *  # noqa: F403
from .decay import *  # noqa: F403
from .plateau import *  # noqa: F403
from .warmup import *  # noqa: F403

__all__ = [*base.__all__, *decay.__all__, *cosine.__all__, *warmup.__all__, *cyclic.__all__, *plateau.__all__]
