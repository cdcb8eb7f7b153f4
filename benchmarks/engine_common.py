"""Shared pieces of the engine timing scripts (not part of the package): they run from a
checkout (``src/`` is put on the path), on ``oar bench``'s parameter set, with oar's optimizers
built as ``oar bench`` builds them (:mod:`oar.bench.rows`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))

import torch

from oar import algorithms
from oar.bench.params import build_param_set
from oar.bench.rows import oar_optimizer, options_of, sizes

__all__ = ["algorithms", "build_param_set", "make_optimizer", "make_params"]


def make_params(scale: float = 1.0, dtype: torch.dtype = torch.float32, seed: int = 0) -> list[torch.Tensor]:
    """A fresh copy of the bench's transformer-shaped set (27.4M params at ``scale=1``), with
    gradients."""
    return build_param_set(scale, dtype, seed).torch_params()


def make_optimizer(
    key: str, params: list[torch.Tensor], engine: str, lr: float = 1e-3, options: Mapping[str, Any] | None = None
) -> Any:
    """oar's optimizer of the algorithm ``key`` (``'adam'``) over ``params``, as ``oar bench``
    builds it: its bench keywords, its ``bench_options`` overridden by ``options``, and float32
    master weights for 16-bit params where it takes them.

    Raises:
        KeyError: no algorithm ``key``.
    """
    algorithm = algorithms.get(key)
    low = sizes(params[0].dtype)[2]
    return oar_optimizer(algorithm, params, lr, engine, options_of(algorithm, options), low)
