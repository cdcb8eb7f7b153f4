"""``oar bench`` end to end on a tiny parameter set: the table, the JSON, finite positive times."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from oar import bench

ROOT = Path(__file__).resolve().parents[1]


def test_param_set_is_the_transformer_shape():
    shapes = bench.param_shapes(1.0)
    assert len(shapes) == 51
    assert shapes[0][1] == (8000, 768)
    assert sum(math.prod(s) for _, s in shapes) == 27_409_152
    scale = bench.scale_for_params(50_000)
    n = sum(math.prod(s) for _, s in bench.param_shapes(scale))
    assert abs(n - 50_000) / 50_000 < 0.1


def test_bytes_per_param():
    assert bench.ADAM.bytes_per_param(4, 4) == 28
    assert bench.RMSPROP.bytes_per_param(4, 4) == 28
    assert bench.RMSPROP_NO_MOMENTUM.bytes_per_param(4, 4) == 20
    assert bench.LAMB.bytes_per_param(4, 4) == 40
    assert bench.ADAM.bytes_per_param(8, 8) == 56
    # bfloat16 params with float32 master weights: g and p in bf16, master/m/v in fp32.
    assert bench.ADAM.bytes_per_param(2, 4, master=True) == 2 + 2 + 6 * 4


def test_tiny_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    rc = bench.main([
        # Only the eager engine: a compiled engine's first step may compile for minutes on a
        # cold cache; every engine is listed by test_every_engine_is_listed.
        "--params", "20000", "--repeats", "2", "--warmup", "0", "--threads", "1", "--engines", "eager",
        "--bandwidth-mb", "4", "--json", str(out), "--plain",
    ])
    assert rc == 0
    assert torch.get_num_threads() == threads  # restored
    printed = capsys.readouterr().out
    header = printed.splitlines()[0].split()
    assert " ".join(header) == " ".join(" ".join(bench.COLUMNS).split())
    assert "memory bandwidth" in printed and "contention" in printed

    result = json.loads(out.read_text())
    assert {"machine", "config", "bandwidth", "contention", "rows", "rounds"} <= result.keys()
    assert result["config"]["params"] == pytest.approx(20000, rel=0.1)
    assert result["bandwidth"]["best_gbs"] > 0
    names = [r["name"] for r in result["rows"]]
    assert bench.REFERENCE in names
    for algo in ("Adam", "Lamb", "RMSProp"):
        assert f"oar.{algo}[eager]" in names
    assert any(n.startswith("torch.RMSprop") for n in names)
    for r in result["rows"]:
        assert r["error"] is None, (r["name"], r["error"])
        assert len(r["ms_per_round"]) == 2
        for key in ("ms_min", "ms_median", "ms_max", "gbs", "first_step_ms", "ratio_to_fused_adam"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["name"], key, r[key])
        assert r["ms_min"] <= r["ms_median"] <= r["ms_max"]
        assert r["bytes_per_param"] in (20, 28, 40)
        assert r["state_mb"] > 0 and r["peak_extra_mb"] >= 0
        assert r["name"] in printed
    ref = next(r for r in result["rows"] if r["name"] == bench.REFERENCE)
    assert ref["ratio_to_fused_adam"] == pytest.approx(1.0)


def test_only_filter_keeps_reference(capsys):
    rc = bench.main(["--params", "5000", "--only", "oar.adam", "--list"])
    assert rc == 0
    listed = capsys.readouterr().out.splitlines()
    assert bench.REFERENCE in listed
    assert all(n.lower().startswith("oar.adam") or n == bench.REFERENCE or n in bench.BANDWIDTH_ROWS for n in listed)


def test_every_engine_is_listed(capsys):
    from oar import engine

    assert bench.main(["--params", "5000", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    for algo in ("Adam", "Lamb", "RMSProp"):
        for eng in ["auto", *engine.ENGINES]:
            assert f"oar.{algo}[{eng}]" in listed
    for name in ("torch.Adam(foreach=False)", "torch.Adam(foreach=True)", bench.REFERENCE,
                 "torch.RMSprop(foreach=False)", "torch.RMSprop(foreach=True)"):
        assert name in listed
    assert bench.main(["--params", "5000", "--list", "--engines", "nope"]) == 2


def test_script_help():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for opt in ("--scale", "--params", "--dtype", "--repeats", "--warmup", "--only", "--json"):
        assert opt in res.stdout
