"""examples/ddp_train.py and examples/fsdp_train.py under torchrun with 2 processes (CPU, gloo):
a few steps and a distributed checkpoint, a resumed run that continues it, and an uninterrupted
run of as many steps that the resumed one must match (the same losses, printed to 6 decimals)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():  # pragma: no cover
    pytest.skip("torch.distributed with gloo is required", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
#: small enough for a few seconds a run on 2 busy cores
SMALL = [
    "--d-model",
    "32",
    "--layers",
    "1",
    "--heads",
    "2",
    "--batch-size",
    "8",
    "--seq-len",
    "32",
    "--warmup",
    "2",
    "--lr",
    "3e-2",
]
STEP = re.compile(r"^step (\d+) loss (\S+) lr (\S+)", re.MULTILINE)


#: A rank of a run that has finished its work sometimes aborts while the process exits (C++
#: std::terminate, after every step and the checkpoint are done; seen in 3 of about 40 launches
#: while other jobs loaded the 2 cores, in 0 of 6 alone): such a run is run once more; any other
#: failure fails the test.
EXIT_ABORT = "terminate called without an active exception"


def _torchrun(script: str, *args: str) -> dict[int, float]:
    """Run ``script`` on 2 processes; the loss printed for each step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for attempt in range(2):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node=2",
                str(ROOT / "examples" / script),
                *SMALL,
                *args,
            ],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0 or EXIT_ABORT not in proc.stderr + proc.stdout or attempt:
            break
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {int(step): float(loss) for step, loss, _ in STEP.findall(proc.stdout)}


@pytest.mark.parametrize("script", ["ddp_train.py", "fsdp_train.py"])
def test_example_trains_saves_and_resumes(script: str, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    first = _torchrun(script, "--steps", "3", "--schedule-steps", "6", "--ckpt-dir", str(ckpt))
    assert sorted(first) == [1, 2, 3]
    assert (ckpt / ".metadata").is_file()
    resumed = _torchrun(script, "--steps", "6", "--ckpt-dir", str(ckpt), "--resume")
    assert sorted(resumed) == [4, 5, 6]
    whole = _torchrun(script, "--steps", "6", "--optimizer", "lamb")
    assert sorted(whole) == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(loss) for loss in whole.values())
    assert whole[6] < whole[1]  # it learns
    for step in (1, 2, 3):
        assert first[step] == pytest.approx(whole[step], abs=2e-6)
    for step in (4, 5, 6):  # the resumed run continues as if never stopped (1 in the last printed digit)
        assert resumed[step] == pytest.approx(whole[step], abs=2e-6), (step, resumed, whole)
