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

__all__ = ["Algorithm", "Peer", "Traffic", "algorithms", "get", "load_peer_class", "register"]


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
            return (
                self.g_reads * p_size + (self.p_reads + self.p_writes + self.state_rw) * s_size + self.p_writes * p_size
            )
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
        rule (Callable | None): its update rule (the function every engine runs); None for
            LBFGS (see below).
        traffic (Traffic): bytes one dense step of the rule must move.
        multi_precision (bool): whether it takes ``multi_precision`` (float32 master weights).
        demo (Mapping): ``oar demo``'s settings: ``peak_lr``, ``steps_per_epoch`` (full-batch
            algorithms only: full-batch steps per epoch, default 1) and constructor keywords (not
            ``learning_rate``, ``parameters`` or ``grad_clip``, which the demo sets).
        bench (Mapping): constructor keywords of ``oar bench``'s rows, oar's and Paddle's
            (besides ``learning_rate``, ``parameters`` and ``multi_precision``).
        bench_options (Mapping): per-run bench settings (their defaults) that the bench exposes
            as ``--<algorithm>-<option>`` and passes to oar, Paddle and the peers.
        peers (tuple[Peer, ...]): other libraries' implementations for the bench.
        required_lr (bool): the constructor has no default ``learning_rate`` (Paddle's RMSProp).
        follows_lr (bool): whether the effective lr (base lr or scheduler x a group's
            multiplier, ``param_groups[i]['lr']``, torch schedulers) drives the update; False
            where Paddle takes the lr once (Rprop: the initial step size) or never (LBFGS).
        full_batch (bool): a deterministic full-batch method (Rprop, LBFGS), meant to see the
            whole training set at every step: ``oar demo`` trains it so, calling
            ``step(closure)`` with a closure that evaluates the whole training set, at a constant
            learning rate (``demo['peak_lr']``, no schedule) and without gradient clipping.

    ``rule`` is None for an algorithm that is not an element-wise update of each param (LBFGS,
    whose ``step(closure)`` runs its own iterations over all params): the engines, the fused
    kernels, the side-by-side parity harness and the bench's per-step rows cannot run it, and
    skip it.
    """

    name: str
    cls: type
    rule: Callable[..., None] | None
    traffic: Traffic
    multi_precision: bool
    demo: Mapping[str, Any]
    bench: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    bench_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    peers: tuple[Peer, ...] = ()
    required_lr: bool = False
    full_batch: bool = False
    follows_lr: bool = True

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

    When importing ``package.sub.module`` fails because a package above it cannot be imported
    (timm's ``__init__`` needs torchvision, which its optimizers do not), the module's file is
    loaded on its own, under a private package name whose path is the module's folder (so its
    relative imports of sibling modules still work).

    Raises:
        ImportError: the library is not installed or the class cannot be loaded, either way (the
            bench reports the peer as skipped, with this message).
    """
    import importlib

    module, _, name = path.partition(":")
    try:
        cls: type = getattr(importlib.import_module(module), name)
        return cls
    except Exception as exc:
        if "." not in module:
            raise ImportError(f"{path}: {type(exc).__name__}: {exc}") from exc
        why = f"{type(exc).__name__}: {exc}"
        try:
            standalone: type = getattr(_load_standalone(module, why), name)
            return standalone
        except Exception as standalone_exc:
            raise ImportError(f"{path}: {standalone_exc}") from exc


def _load_standalone(module: str, why: str) -> Any:
    """``module`` (``'package.sub.module'``) loaded from its file without importing the packages
    above it; ``why`` says why the normal import failed.

    Raises:
        ImportError: the top package is not installed, or has no such file.
        Exception: whatever executing the module's file raises.
    """
    import importlib.util
    import os
    import sys
    import types

    top, *parts = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{top} is not installed")
    folder = os.path.join(next(iter(spec.submodule_search_locations)), *parts[:-1])
    relative = "/".join([top, *parts]) + ".py"
    filename = os.path.join(folder, parts[-1] + ".py")
    if not os.path.exists(filename):
        raise ImportError(f"{top} has no {relative} ({why})")
    package = "_oar_peer_" + "_".join([top, *parts[:-1]])
    full_name = f"{package}.{parts[-1]}"
    if full_name in sys.modules:
        return sys.modules[full_name]
    try:
        pkg = types.ModuleType(package)
        pkg.__path__ = [folder]
        sys.modules[package] = pkg
        mod_spec = importlib.util.spec_from_file_location(full_name, filename)
        assert mod_spec is not None and mod_spec.loader is not None
        mod = importlib.util.module_from_spec(mod_spec)
        sys.modules[full_name] = mod
        mod_spec.loader.exec_module(mod)
        return mod
    except Exception as exc:
        for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[key]
        raise ImportError(
            f"{relative} could not be loaded standalone (import {top} failed: {why}): {type(exc).__name__}: {exc}"
        ) from exc
