"""The documentation site: its ``>>>`` examples run, and it builds with ``mkdocs build --strict``.

The examples of every ``docs/*.md`` page run as doctests (the pages are Markdown; doctest reads the
``>>>`` blocks and ignores the rest). The build runs the docs hook (docs/hooks/gen_pages.py), which
generates one page per optimizer of the algorithm table and fails when docs/rules.yml lacks one.
"""

from __future__ import annotations

import doctest
import glob
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from oar.algorithms import algorithms
from oar.lr.expression import scheduler_classes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(glob.glob(str(DOCS / "*.md")))


@pytest.mark.parametrize("page", PAGES, ids=[os.path.basename(p) for p in PAGES])
def test_page_examples_run(page: str) -> None:
    """Every ``>>>`` example of the page gives the output written under it."""
    result = doctest.testfile(
        page, module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {page} failed (output above)"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oar_docs_hook", DOCS / "hooks" / "gen_pages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_algorithm_has_a_rule() -> None:
    rules = _hook().load_rules()
    assert {a.name for a in algorithms()} <= set(rules)


def test_missing_rule_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """An algorithm added to the table without a formula in docs/rules.yml stops the build."""
    from mkdocs.exceptions import PluginError

    hook = _hook()
    fake = type("Fake", (), {"name": "NotAnOptimizer"})()
    monkeypatch.setattr(hook, "algorithms", lambda: [*algorithms(), fake])
    with pytest.raises(PluginError, match="NotAnOptimizer"):
        hook.load_rules()


def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: no warning (broken link, bad docstring, missing page), one page per
    optimizer of the table and a plot per scheduler of oar.lr."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for algo in algorithms():
        page = (site / "optimizers" / algo.name / "index.html").read_text(encoding="utf-8")
        assert f"oar.{algo.cls.__name__}" in page
    for name in scheduler_classes():
        assert (site / "lr" / f"{name}.png").stat().st_size > 0
    assert elapsed < 120, f"the docs build took {elapsed:.0f} s"
