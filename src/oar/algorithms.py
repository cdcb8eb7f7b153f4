"""The algorithm table: every optimizer of oar, declared once.

Each algorithm module ends with one ``register(Algorithm(...))``: its class, Paddle's name, its
rule, its bytes model, whether it supports ``multi_precision``, its demo settings and its bench
peers. The demo, ``oar bench``, the CLI, the benchmark scripts and the tests iterate
:func:`algorithms` instead of naming optimizers, so adding an optimizer touches its own module and
nothing else (see "Adding an optimizer" in the README).

This module imports nothing of oar: the table depends on no algorithm, and every algorithm
depends on it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["Traffic", "Peer", "Algorithm", "register", "algorithms", "get"]


@dataclasses.dataclass(frozen=True)
class Traffic:
    """The bytes model of one dense step: whole param-sized tensors read or written.

    Attributes:
        p_reads, p_writes, g_reads (int): passes over the param (reads, writes) and the grad.
        state_rw (int): element-wise state tensors read plus written (Adam: m, v read and
            written = 4).
        what (str): the same in words, printed under the bench's table.
    """

    p_reads: int
    p_writes: int
    g_reads: int
    state_rw: int
    what: str

    def bytes_per_param(self, p_size: int, s_size: int, master: bool = False) -> int:
        """Bytes per parameter for params of ``p_size`` bytes and state of ``s_size`` bytes;
        ``master``: low-precision params updated through a float32 master weight (the master is
        read and written like the param, and the param receives its rounded copy)."""
        if master:
            return (self.g_reads * p_size + (self.p_reads + self.p_writes + self.state_rw) * s_size
                    + self.p_writes * p_size)
        return (self.p_reads + self.p_writes + self.g_reads) * p_size + self.state_rw * s_size


#: A peer's constructor: ``make(params, lr, options)`` returns an object with ``step()``;
#: ``options`` holds the bench's per-run settings (e.g. ``{'momentum': 0.0}`` for RMSProp).
PeerFactory = Callable[[list[torch.Tensor], float, Mapping[str, Any]], Any]


@dataclasses.dataclass(frozen=True)
class Peer:
    """Another library's implementation of the same algorithm, measured beside oar's.

    Attributes:
        label (str): the bench row, e.g. ``'torch.Adam(fused=True)'``.
        library (str): ``'torch'``, ``'pytorch_optimizer'``, ``'timm'``, ...; a factory that
            raises ImportError is reported as skipped.
        make (PeerFactory): builds the optimizer over the bench's params.
        traffic (Traffic | Callable[[Mapping], Traffic] | None): its bytes model when it moves
            other bytes than oar's rule (torch's RMSprop keeps no momentum buffer at momentum 0).
        note (str): printed under the table.
        dtypes (tuple[torch.dtype, ...]): the param dtypes it runs on.
    """

    label: str
    library: str
    make: PeerFactory
    traffic: Traffic | Callable[[Mapping[str, Any]], Traffic] | None = None
    note: str = ""
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64, torch.bfloat16)


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One optimizer of oar.

    Attributes:
        name (str): Paddle's class name (``paddle.optimizer.<name>``), also oar's.
        cls (type): the oar optimizer class.
        rule (Callable): its update rule (the function every engine runs).
        traffic (Traffic): bytes one dense step of the rule must move.
        multi_precision (bool): whether it takes ``multi_precision`` (float32 master weights).
        demo (Mapping): ``oar demo``'s settings: ``peak_lr`` and constructor keywords (not
            ``learning_rate``, ``parameters`` or ``grad_clip``, which the demo sets).
        bench (Mapping): constructor keywords of ``oar bench``'s rows, oar's and Paddle's
            (besides ``learning_rate``, ``parameters`` and ``multi_precision``).
        bench_options (Mapping): per-run bench settings (their defaults) that the bench exposes
            as ``--<algorithm>-<option>`` and passes to oar, Paddle and the peers.
        peers (tuple[Peer, ...]): other libraries' implementations for the bench.
        required_lr (bool): the constructor has no default ``learning_rate`` (Paddle's RMSProp).
    """

    name: str
    cls: type
    rule: Callable[..., None]
    traffic: Traffic
    multi_precision: bool
    demo: Mapping[str, Any]
    bench: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    bench_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    peers: tuple[Peer, ...] = ()
    required_lr: bool = False

    @property
    def key(self) -> str:
        """The lower-case name the CLI takes (``'adam'``)."""
        return self.name.lower()


_table: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the table (called once, by its module).

    Raises:
        ValueError: an algorithm of that name is already registered.
    """
    if algorithm.key in _table and _table[algorithm.key].cls is not algorithm.cls:
        raise ValueError(f"an algorithm named {algorithm.name!r} is already registered")
    _table[algorithm.key] = algorithm
    return algorithm


def algorithms() -> tuple[Algorithm, ...]:
    """Every registered algorithm, in registration order (``import oar`` registers them all)."""
    return tuple(_table.values())


def get(name: str) -> Algorithm:
    """The algorithm named ``name`` (any case: ``'adam'``, ``'Adam'``).

    Raises:
        KeyError: no such algorithm; the message lists the known ones.
    """
    try:
        return _table[name.lower()]
    except KeyError:
        raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(a.key for a in _table.values())}") from None


def load_peer_class(path: str) -> type:
    """The class ``'package.module:Name'`` of a peer library, for a :class:`Peer` factory.

    Raises:
        ImportError: the library is not installed or the class cannot be loaded (the bench
            reports the peer as skipped, with this message).
    """
    import importlib

    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception as exc:  # noqa: BLE001 - any failure to import means: skip this peer
        raise ImportError(f"{path}: {type(exc).__name__}: {exc}") from exc
