"""The compiled engine with inductor's cache shared by processes of different ISAs: a process with
``ATEN_CPU_CAPABILITY=avx2`` after one with the CPU's own (AVX-512 where there is one) computes
the eager engine's values. Before ``torch_private.cpu_vec_options``, inductor's FX-graph cache
handed the second process code generated for the other vector width: 4 of 12 float64 elements
were wrong (torch 2.13, an AVX-512 Xeon). On a CPU whose best ISA is AVX2 both processes use one
width and the test shows the same as any cache reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from oar.engine import compiled as C

SCRIPT = r"""
import json, torch, oar
values = {}
for engine in ("eager", "compiled"):
    p = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    q = torch.randn(5, dtype=torch.float32, generator=torch.Generator().manual_seed(2)).requires_grad_()
    opt = oar.Adam(learning_rate=0.05, parameters=[p, q], engine=engine)
    for k in range(3):
        gen = torch.Generator().manual_seed(10 + k)
        p.grad = torch.randn(4, 3, dtype=torch.float64, generator=gen)
        q.grad = torch.randn(5, dtype=torch.float32, generator=gen)
        opt.step()
    values[engine] = [p.detach().tolist(), q.detach().tolist()]
print(json.dumps(values))
"""


@pytest.mark.skipif(not C.compile_available(torch.device("cpu")), reason="inductor cannot compile on this machine")
def test_processes_of_two_isas_share_the_cache(tmp_path: os.PathLike[str]) -> None:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}
    env.pop("ATEN_CPU_CAPABILITY", None)
    runs = []
    for extra in ({}, {"ATEN_CPU_CAPABILITY": "avx2"}):  # the CPU's own ISA first, then AVX2
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for values in runs:
        for eager, compiled in zip(values["eager"], values["compiled"], strict=True):
            # engines agree to float rounding (tests/test_engine.py's tolerance for float32)
            torch.testing.assert_close(torch.tensor(compiled), torch.tensor(eager), rtol=1e-5, atol=1e-6)
