"""Reading and writing Paddle's pickle files without executing code from them.

``paddle.save`` writes a pickle (protocol 4 by default, 2 to 4 allowed) of plain containers and
numpy arrays: ``dict``, ``list``, ``tuple``, ``str``, numbers, ``None``, and ndarrays pickled by
numpy (``numpy._core.multiarray._reconstruct`` with ``numpy.ndarray``, a ``numpy.dtype``, raw
bytes). Objects that are not a state dict of tensors (an optimizer state with
``'master_weights'``, LBFGS's nested state) go through its ``_pickle_save``, which writes every
tensor as ``builtins.tuple(((name, ndarray),))``; protocol 2 writes bytes through
``_codecs.encode(text, 'latin1')``. Inspected with ``pickletools`` on files written by Paddle
3.3.1 (numpy 2.x; numpy 1.x spells the module ``numpy.core.multiarray``).

:func:`load` admits exactly these globals (:data:`ALLOWED_GLOBALS`) and refuses every other one
with :class:`UnsafePickleError` naming it, before anything it names is imported or called; the
loaded object is then checked to hold only the plain data above (numeric or bool arrays, no
object arrays). :func:`dump` writes plain data with the standard pickler, protocol 4, as
``paddle.save`` does, replacing the file only once it is fully written.
"""

from __future__ import annotations

import collections
import os
import pickle
from collections.abc import Callable
from typing import IO, Any

import numpy as np

__all__ = ["ALLOWED_GLOBALS", "UnsafePickleError", "check_plain", "dump", "load"]


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for something a Paddle checkpoint never contains (a global outside
    :data:`ALLOWED_GLOBALS`, an object array, a persistent id); nothing it named was run.

    Also a ``ValueError``, so one ``except ValueError`` catches every bad checkpoint."""


_LATIN1 = frozenset(("latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"))


def _latin1_encoder() -> Callable[..., bytes]:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it: latin-1 only (another codec
    name is refused before any codec lookup, which imports modules by name). A new function
    for every pickle global that names it, so that a pickle changing its attributes (BUILD)
    changes nothing that outlives the load."""

    def encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        if (
            not isinstance(text, str)
            or not isinstance(encoding, str)
            or encoding.lower() not in _LATIN1
            or errors != "strict"
        ):
            raise UnsafePickleError(
                f"refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r}): "
                "Paddle's pickles encode bytes as latin-1 only"
            )
        return text.encode("latin-1")

    return encode


def _ndarray_reconstruct() -> Callable[..., Any]:
    """numpy's ``_reconstruct`` (whichever module holds it in the running numpy)."""
    reduced: Any = np.ndarray((0,)).__reduce__()
    function: Callable[..., Any] = reduced[0]
    return function


def _numpy_scalar() -> Callable[..., Any]:
    """numpy's ``scalar`` reconstructor (numpy scalars: ``scalar(dtype, bytes)``)."""
    reduced: Any = np.float64(0.0).__reduce__()
    function: Callable[..., Any] = reduced[0]
    return function


#: ``(module, name)`` -> the object the unpickler gets for it: what Paddle 3.3.1 files contain.
#: numpy's reconstructors are taken from the running numpy (whichever module spells them).
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{
        (module, "_reconstruct"): _ndarray_reconstruct()
        for module in ("numpy._core.multiarray", "numpy.core.multiarray")
    },
    **{(module, "scalar"): _numpy_scalar() for module in ("numpy._core.multiarray", "numpy.core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "tuple"): tuple,  # Paddle's _pickle_save: a tensor is tuple(((name, ndarray),))
    ("__builtin__", "tuple"): tuple,  # the same at protocol 2 (Python 2's module name)
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encoder,  # protocol 2's bytes (a factory: see find_class)
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            found = ALLOWED_GLOBALS[(module, name)]
            return found() if found is _latin1_encoder else found
        except KeyError:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: a Paddle checkpoint holds only dicts, lists, "
                "tuples, strings, numbers and numpy arrays (allowed: "
                f"{', '.join(sorted(f'{m}.{n}' for m, n in ALLOWED_GLOBALS))})"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused persistent id {pid!r}: Paddle's pickles have none")


def load(path: str | os.PathLike[str] | IO[bytes]) -> Any:
    """The object pickled in ``path`` (a file name or a binary file), read without running code.

    Args:
        path (str | os.PathLike | binary file): what ``paddle.save`` wrote.

    Returns:
        The plain data (dicts, lists, tuples, strings, numbers, None, numpy arrays and scalars).

    Raises:
        UnsafePickleError: a global outside :data:`ALLOWED_GLOBALS` (named), a persistent id,
            or a loaded object that is not plain data (an object array...).
        ValueError: not a pickle, or a truncated or corrupt one (the file and the cause named).
        OSError: the file cannot be read.
    """
    where = getattr(path, "name", path) if not isinstance(path, (str, os.PathLike)) else os.fspath(path)
    try:
        if isinstance(path, (str, os.PathLike)):
            with open(path, "rb") as f:
                obj = _Unpickler(f, encoding="latin1").load()
        else:
            obj = _Unpickler(path, encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{where}: {exc}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        UnicodeDecodeError,
        MemoryError,
        RecursionError,
    ) as exc:
        raise ValueError(f"{where}: not a readable Paddle checkpoint ({type(exc).__name__}: {exc})") from None
    check_plain(obj, str(where))
    return obj


_NUMERIC_KINDS = frozenset("biuf")  # bool, int, uint, float (Paddle has complex too: 'c')


def check_plain(obj: Any, where: str) -> None:
    """Check that ``obj`` is plain data: containers of strings, numbers, None and numeric numpy
    arrays/scalars.

    Raises:
        UnsafePickleError: anything else, named with its path inside ``obj``.
    """
    stack: list[tuple[str, Any]] = [(where, obj)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, (str, int)):
                    raise UnsafePickleError(f"{at}: a key of type {type(key).__name__} ({key!r})")
                stack.append((f"{at}[{key!r}]", item))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{at}[{k}]", item) for k, item in enumerate(value))
        elif isinstance(value, (np.ndarray, np.generic)):
            if value.dtype.kind not in _NUMERIC_KINDS and value.dtype.kind != "c":
                raise UnsafePickleError(f"{at}: an array of dtype {value.dtype} (only numbers are expected)")
        elif value is not None and not isinstance(value, (str, bytes, bool, int, float, complex)):
            raise UnsafePickleError(f"{at}: an object of type {type(value).__name__}")


def dump(obj: Any, path: str | os.PathLike[str]) -> None:
    """Pickle plain data ``obj`` to ``path`` as ``paddle.save`` does (protocol 4), through a
    temporary file in the same folder that replaces ``path`` only once complete.

    Raises:
        OSError: the folder is not writable.
    """
    target = os.fspath(path)
    tmp = f"{target}.oar-{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=4)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
