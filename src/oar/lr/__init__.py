"""Learning-rate schedulers with the semantics of ``paddle.optimizer.lr`` (Paddle 3.3.1).

One module per family: :mod:`.base` (``LRScheduler``), :mod:`.decay` (closed forms in the epoch),
:mod:`.cosine`, :mod:`.warmup` (linear schedules), :mod:`.cyclic` (one-cycle and cyclic),
:mod:`.plateau` (``ReduceOnPlateau``). Each module lists its public names in ``__all__``. This package
depends on nothing else in ``oar``.
"""

from __future__ import annotations

from . import base, cosine, cyclic, decay, plateau, warmup
from .base import *
from .cosine import *
from .cyclic import *
from .decay import *
from .plateau import *
from .warmup import *

__all__ = [  # noqa: PLE0604 - the modules' own __all__ lists, all strings
    *base.__all__,
    *decay.__all__,
    *cosine.__all__,
    *warmup.__all__,
    *cyclic.__all__,
    *plateau.__all__,
]
