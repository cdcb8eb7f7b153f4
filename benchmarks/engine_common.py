"""Shared helpers for the engine timing scripts (not part of the package)."""
from __future__ import annotations

import time

import torch


def transformer_shapes(vocab=8000, d=768, blocks=3, ff=3072):
    """The 27.4M-param transformer-shaped set of issue 3 (51 tensors)."""
    shapes = [(vocab, d)]
    for _ in range(blocks):
        for _ in range(4):
            shapes += [(d, d), (d,)]
        shapes += [(d, ff), (ff,), (ff, d), (d,)]
        shapes += [(d,), (d,), (d,), (d,)]
    shapes += [(d,), (d,)]
    return shapes


def make_params(shapes, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g).to(dtype).requires_grad_() for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g).to(dtype)
    return params


def median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]
