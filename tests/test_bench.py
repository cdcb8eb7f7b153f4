"""``oar bench`` end to end on a tiny parameter set: the table, the JSON, finite positive times."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import oar
from oar import algorithms, bench

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
    adam, lamb, rmsprop = (algorithms.get(name).traffic for name in ("adam", "lamb", "rmsprop"))
    torch_rmsprop = next(p for p in algorithms.get("rmsprop").peers if p.label.startswith("torch.RMSprop"))
    assert adam.bytes_per_param(4, 4) == 28
    assert rmsprop.bytes_per_param(4, 4) == 28
    assert torch_rmsprop.traffic({"momentum": 0.0}).bytes_per_param(4, 4) == 20
    assert torch_rmsprop.traffic({"momentum": 0.9}).bytes_per_param(4, 4) == 28
    assert lamb.bytes_per_param(4, 4) == 40
    assert adam.bytes_per_param(8, 8) == 56
    # bfloat16 params with float32 master weights: g and p in bf16, master/m/v in fp32.
    assert adam.bytes_per_param(2, 4, master=True) == 2 + 2 + 6 * 4


def test_tiny_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    rc = bench.main(
        [
            # Only the eager engine: a compiled engine's first step may compile for minutes on a
            # cold cache; every engine is listed by test_every_engine_is_listed.
            "--params",
            "20000",
            "--repeats",
            "2",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--engines",
            "eager",
            "--bandwidth-mb",
            "4",
            "--json",
            str(out),
            "--plain",
        ]
    )
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
    for algo in oar.algorithms.algorithms():
        if algo.rule is not None:  # LBFGS has no per-step row
            assert f"oar.{algo.name}[eager]" in names
    assert any(n.startswith("torch.RMSprop") for n in names)
    for r in result["rows"]:
        assert r["error"] is None, (r["name"], r["error"])
        assert len(r["ms_per_round"]) == 2
        for key in ("ms_min", "ms_median", "ms_max", "gbs", "first_step_ms", "ratio_to_fused_adam"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["name"], key, r[key])
        assert r["ms_min"] <= r["ms_median"] <= r["ms_max"]
        assert r["bytes_per_param"] > 0 and r["bytes_per_param"] % 4 == 0  # float32 tensors
        assert r["state_mb"] >= 0 and r["peak_extra_mb"] >= 0  # SGD keeps no state
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
    for name in (
        "torch.Adam(foreach=False)",
        "torch.Adam(foreach=True)",
        bench.REFERENCE,
        "torch.RMSprop(foreach=False)",
        "torch.RMSprop(foreach=True)",
    ):
        assert name in listed
    assert bench.main(["--params", "5000", "--list", "--engines", "nope"]) == 2


def test_script_help():
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    for opt in ("--scale", "--params", "--dtype", "--repeats", "--warmup", "--only", "--json"):
        assert opt in res.stdout


# ---------------------------------------------------------------------------------------------- the table drives the rows
class _FakeOptimizer:
    """A stand-in oar optimizer recording how the bench constructed it."""

    made: list[dict] = []

    def __init__(self, params, learning_rate, engine, gain):
        self.state: dict = {}
        _FakeOptimizer.made.append({"n": len(params), "lr": learning_rate, "engine": engine, "gain": gain})

    def step(self):
        pass


def _missing_library(params, lr, options):
    raise ImportError("fakelib is not installed")


@pytest.fixture
def fake_algorithm(monkeypatch):
    """An algorithm registered for one test: the table is restored afterwards."""
    monkeypatch.setattr(algorithms, "_table", dict(algorithms._table))
    _FakeOptimizer.made.clear()
    return algorithms.register(
        algorithms.Algorithm(
            name="FakeOpt",
            cls=_FakeOptimizer,
            rule=lambda *a, **k: None,
            traffic=algorithms.Traffic(1, 1, 1, 2, "FakeOpt: reads p,g,s; writes p,s (3P+2S)"),
            multi_precision=False,
            demo={"peak_lr": 1e-3},
            bench_options={"gain": 2.0},
            peers=(
                algorithms.Peer("torch.SGD(fake)", "torch", lambda params, lr, o: torch.optim.SGD(params, lr=lr)),
                algorithms.Peer("fakelib.Fake", "fakelib", _missing_library),
            ),
        )
    )


def test_registered_algorithm_adds_its_rows(fake_algorithm, capsys):
    from oar import engine

    assert bench.main(["--params", "5000", "--list", "--only", "fake"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [n for n in listed if "fake" in n.lower()] == (
        [f"oar.FakeOpt[{e}]" for e in ["auto", *sorted(engine.ENGINES)]] + ["torch.SGD(fake)"]
    )
    assert "paddle.FakeOpt" not in listed  # paddle.optimizer has no FakeOpt


def test_registered_algorithm_runs_with_its_options(fake_algorithm, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(
        [
            "--params",
            "5000",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--engines",
            "eager",
            "--bandwidth-mb",
            "1",
            "--only",
            "fakeopt",
            "--fakeopt-gain",
            "3",
            "--plain",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    assert _FakeOptimizer.made and _FakeOptimizer.made[0]["gain"] == 3.0
    assert _FakeOptimizer.made[0]["engine"] == "eager"
    result = json.loads(out.read_text())
    assert result["config"]["fakeopt_gain"] == 3.0
    row = next(r for r in result["rows"] if r["name"] == "oar.FakeOpt[eager]")
    assert row["bytes_per_param"] == 20 and row["error"] is None
    notes = "\n".join(result["notes"])
    assert "fakelib.Fake skipped: fakelib is not installed" in notes
    assert "paddle.FakeOpt skipped" in notes or "Paddle rows skipped" in notes
    assert "FakeOpt: reads p,g,s; writes p,s (3P+2S)" in capsys.readouterr().out


def test_rmsprop_momentum_flag_is_generated():
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--rmsprop-momentum", "0.9"])
    assert bench.cli.algorithm_options(args)["rmsprop"] == {"momentum": 0.9}
    assert bench.cli.algorithm_options(parser.parse_args([]))["rmsprop"] == {"momentum": 0.0}


def test_oar_rows_follow_multi_precision():
    pset = bench.build_param_set(0.01, torch.bfloat16, 0)
    options = {a.key: bench.rows.options_of(a) for a in algorithms.algorithms()}
    rows = bench.rows.oar_rows(algorithms.algorithms(), pset, bench.rows.TorchParams(pset), 1e-3, options, ["eager"])
    assert [r.name for r in rows] == [f"oar.{a.name}[eager]" for a in algorithms.algorithms()]
    for r, a in zip(rows, algorithms.algorithms(), strict=False):
        assert r.master == a.multi_precision and (r.p_size, r.s_size) == (2, 4)


# ---------------------------------------------------------------------------------------------- report
def _measured_row(name, seconds, traffic):
    row = bench.Row(name, "test", "Adam", traffic, make=lambda: (lambda: None, lambda: 0))
    row.times = list(seconds)
    row.cpu_per_wall = [1.0] * len(seconds)
    row.first_step_s, row.create_s, row.state_bytes, row.peak_extra = 0.01, 0.001, 2_000_000, 0
    return row


def test_summarize_and_format_table():
    from oar.bench.probes import BANDWIDTH_INPLACE
    from oar.bench.runner import Timing

    traffic = algorithms.get("adam").traffic
    ref = _measured_row(bench.REFERENCE, [0.010, 0.020], traffic)
    mine = _measured_row("oar.Adam[test]", [0.005, 0.030], traffic)
    mine.error = None
    probe = bench.Row(
        BANDWIDTH_INPLACE,
        "probe",
        "bandwidth",
        None,
        make=lambda: (lambda: None, lambda: 0),
        probe_bytes=1_000_000,
        probe_mib=1.0,
    )
    probe.step = lambda: None
    probe.times = [0.0001, 0.0002]
    rounds = [
        {"round": i, "contention": None, "seconds": {r.name: r.times[i] for r in (ref, mine, probe)}} for i in range(2)
    ]
    record = bench.Record(
        rows=[probe, ref, mine],
        timing=Timing(rounds=rounds),
        params=1000,
        tensors=3,
        scale=1.0,
        dtype="float32",
        repeats=2,
        warmup=0,
        lr=1e-3,
        algorithm_options={"rmsprop_momentum": 0.0},
        memory="test",
        notes=["a note"],
    )
    result = bench.summarize(record)
    assert [r["name"] for r in result["rows"]] == [bench.REFERENCE, "oar.Adam[test]"]
    row = result["rows"][1]
    assert row["ratio_to_fused_adam"] == pytest.approx((0.5 + 1.5) / 2)
    assert row["ms_min"] == pytest.approx(5.0) and row["ms_max"] == pytest.approx(30.0)
    assert row["gbs"] == pytest.approx(28 * 1000 / 0.0175 / 1e9)
    assert row["state_mb"] == pytest.approx(2.0)
    assert result["bandwidth"]["best_gbs"] == pytest.approx(10.0)
    assert result["config"]["rmsprop_momentum"] == 0.0
    text = bench.format_table(result)
    lines = text.splitlines()
    assert lines[0].split() == " ".join(bench.COLUMNS).split()
    assert lines[3].split()[:3] == ["oar.Adam[test]", "28", "5.00"]
    assert lines[3].split()[7] == "1.00"
    assert "a note" in lines and traffic.what in text


# ---------------------------------------------------------------------------------------------- peers
def test_load_peer_class_falls_back_to_the_module_file(tmp_path, monkeypatch):
    """A peer module whose package's __init__ fails to import (timm without torchvision) is
    loaded from its file; its relative imports of siblings still work."""
    pkg = tmp_path / "brokenpkg"
    (pkg / "optim").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import a_module_that_is_not_installed\n")
    (pkg / "optim" / "__init__.py").write_text("")
    (pkg / "optim" / "_helper.py").write_text("SCALE = 3\n")
    (pkg / "optim" / "lamb.py").write_text("from ._helper import SCALE\n\nclass Lamb:\n    scale = SCALE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = algorithms.load_peer_class("brokenpkg.optim.lamb:Lamb")
    assert cls.scale == 3
    with pytest.raises(ImportError, match="brokenpkg has no brokenpkg/optim/adam.py"):
        algorithms.load_peer_class("brokenpkg.optim.adam:Adam")
    with pytest.raises(ImportError, match="nosuchpkg is not installed"):
        algorithms.load_peer_class("nosuchpkg.optim.lamb:Lamb")
    with pytest.raises(ImportError, match="nosuchpkg:Lamb: ModuleNotFoundError"):
        algorithms.load_peer_class("nosuchpkg:Lamb")


def test_fsdp_tiny_run(capsys):
    """``oar bench --fsdp 2`` at a tiny scale: 2 gloo ranks, every table optimizer that runs
    under FSDP and torch's fused and foreach Adam, each rank's finite positive median and its
    ratio to torch's fused Adam; an optimizer that cannot run under FSDP is named, not timed."""
    pytest.importorskip("torch.distributed")
    from oar.bench import fsdp

    rc = bench.main(["--fsdp", "2", "--scale", "0.01", "--repeats", "2", "--warmup", "0"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "2 gloo ranks" in printed
    lines = printed.splitlines()
    wanted = [fsdp.REFERENCE, "torch.Adam(foreach=True)"] + [
        f"oar.{a.name}" for a in algorithms.algorithms() if a.rule is not None and not a.full_batch
    ]
    for name in wanted:
        row = next(line for line in lines if line.startswith(name + " "))
        if "does not run under FSDP" in row:
            continue
        cells = row[len(name) :].split()
        ms = [float(c) for c in cells[0::2]]
        ratios = [float(c.rstrip("x")) for c in cells[1::2]]
        assert len(ms) == 2 and all(math.isfinite(v) and v > 0 for v in ms + ratios), row
    ref = next(line for line in lines if line.startswith(fsdp.REFERENCE))
    assert ref.split()[-1] == "1.00x"
    assert bench.main(["--fsdp", "1"]) == 2
