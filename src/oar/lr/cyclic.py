"""One-cycle and cyclic schedules: ``OneCycleLR``, ``CyclicLR``."""
from __future__ import annotations

__all__: list[str] = []
