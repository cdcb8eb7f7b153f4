"""The ``>>>`` examples in oar's docstrings run as tests (doctest), module by module, so an example
that no longer matches the code fails here; and every scheduler of ``oar.lr`` has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import types

import pytest

import oar


def _modules() -> list[str]:
    names = ["oar"]
    for info in pkgutil.walk_packages(oar.__path__, prefix="oar."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={"oar": oar}):
        if test.name.split(".")[-1].startswith("_") or not _defined_in(test, module):
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (output above)"


def _defined_in(test: doctest.DocTest, module: types.ModuleType) -> bool:
    """A docstring found through an import of another module is that module's to run."""
    return test.filename is None or test.filename == getattr(module, "__file__", None)


def test_every_scheduler_has_an_example() -> None:
    schedulers = [getattr(oar.lr, name) for name in oar.lr.__all__]
    schedulers = [
        c
        for c in schedulers
        if isinstance(c, type) and issubclass(c, oar.lr.LRScheduler) and c is not oar.lr.LRScheduler
    ]
    paddle = pytest.importorskip("paddle")
    assert {c.__name__ for c in schedulers} == set(paddle.optimizer.lr.__all__) - {"LRScheduler"}
    missing = [c.__name__ for c in schedulers if ">>> " not in (c.__doc__ or "")]
    assert not missing, f"schedulers without a docstring example: {missing}"


def test_every_optimizer_has_an_example() -> None:
    missing = [a.name for a in oar.algorithms.algorithms() if ">>> " not in (a.cls.__doc__ or "")]
    assert not missing, f"optimizers without a docstring example: {missing}"
