"""Smoke test of an installed oar wheel (run by .ci/package_check from outside the checkout): the
package imports from site-packages, ships its kernel sources and py.typed, and an optimizer steps
through the fused C kernel (built from the shipped sources) with the eager engine's result."""

from __future__ import annotations

import pathlib
import sys

import torch

import oar
from oar.engine import fused

root = pathlib.Path(oar.__file__).parent
assert "site-packages" in str(root), f"oar imported from {root}, not from the installed wheel"
for name in ("kernels/adam.c", "kernels/common.h", "kernels/dtypes.h", "py.typed"):
    assert (root / name).is_file(), f"the wheel lacks oar/{name}"

torch.manual_seed(0)
params = [torch.randn(1000, requires_grad=True), torch.randn(10, 10, requires_grad=True)]
copies = [p.detach().clone().requires_grad_() for p in params]
fast = oar.Adam(learning_rate=1e-2, parameters=params, engine="fused")
slow = oar.Adam(learning_rate=1e-2, parameters=copies, engine="eager")
for _ in range(3):
    for group in (params, copies):
        for p in group:
            p.grad = torch.ones_like(p)
    fast.step()
    slow.step()
counts = fused.stats()
assert counts.get("fused_params") == 6 and not counts.get("fallback_params"), counts
for p, q in zip(params, copies, strict=True):
    torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
print(f"oar {oar.__version__} from {root}: the fused kernel ran ({counts}); Python {sys.version.split()[0]}")
