"""Helpers shared by the engines: where oar's files live on disk, writing them atomically, and
the caches of per-group plans that forget a group when one of its tensors dies."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

import torch

from . import torch_private

__all__ = ["PLAIN", "DropCache", "atomic_path", "cache_path", "read_json", "write_json"]

#: The tensor types the compiled and fused engines handle (subclasses such as DTensor run eagerly).
PLAIN = (torch.Tensor, torch.nn.Parameter)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def cache_path(*names: str) -> str | None:
    """``names`` joined below inductor's cache directory (oar's files live beside inductor's
    cache, and are cleared with it), or None when that directory cannot be found."""
    base = torch_private.inductor_cache_dir()
    return None if base is None else os.path.join(base, *names)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` to write to (its folder is created); on leaving the
    block the file replaces ``path`` in one step (``os.replace``), so that another process never
    reads a half-written file. On an exception the temporary file is removed."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def read_json(path: str | None) -> Any:
    """The JSON value in ``path``, or None when it is missing or unreadable."""
    if path is None:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f)


class DropCache(dict[K, V]):
    """A dict of per-group entries, each dropped when one of the objects it watches (the
    group's params) dies: a live entry then means that the ids its key holds still name the
    same objects, and the cache keeps no tensor alive.

    Entries are added with ``watch`` (or ``dropper`` when the caller makes its own weak
    references); removals and ``watch``'s insertion hold ``lock``."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        super().__init__()
        self.lock = threading.RLock() if lock is None else lock

    def dropper(self, key: K, value: V) -> Callable[[object], None]:
        """A weak-reference callback that removes ``key`` if it still maps to ``value``."""
        ref = weakref.ref(value)

        def drop(_: object) -> None:
            with self.lock:
                if self.get(key) is not None and self[key] is ref():
                    del self[key]

        return drop

    def watch(self, key: K, value: V, objects: Iterable[object]) -> list[weakref.ref]:
        """Store ``value`` under ``key`` until one of ``objects`` dies; returns the weak
        references, which the caller keeps alive with ``value`` (a dead reference calls back
        nothing).

        Raises:
            TypeError: an object has no weak references (nothing is stored).
        """
        drop = self.dropper(key, value)
        refs = [weakref.ref(o, drop) for o in objects]
        with self.lock:
            self[key] = value
        return refs
