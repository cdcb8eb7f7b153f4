import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session", autouse=True)
def _fused_kernels_built():
    """Build the fused C kernels before any test: the auto engine then uses them from the first
    step (otherwise it runs eagerly while they build, and runs would differ by float rounding)."""
    import oar  # noqa: F401 - registers the kernels
    from oar.engine import fused

    for kernel in {k.source: k for k in fused._kernels.values()}.values():
        assert fused.library(kernel) is not None, (
            f"the fused {kernel.name} kernel did not build (${fused.MARCH_ENV}="
            f"{os.environ.get(fused.MARCH_ENV, 'native')!r})"
        )
