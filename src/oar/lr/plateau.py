"""``ReduceOnPlateau``: lower the lr when a metric stops improving."""
from __future__ import annotations

__all__: list[str] = []
