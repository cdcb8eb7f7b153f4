"""``oar demo`` and the ``oar`` command line: end to end, determinism, help texts, errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from oar import demo
from oar.algorithms import algorithms, get
from oar.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TABLE_HEADER = ("optimizer", "final train loss", "test accuracy (%)", "seconds")
KEYS = [a.key for a in algorithms()]  # "adam", "lamb", "rmsprop", ...
NAMES = [a.name for a in algorithms()]  # "Adam", "Lamb", "RMSProp", ...
FULL_BATCH = {a.key for a in algorithms() if a.full_batch}  # "rprop", "lbfgs": step(closure) on all data


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def data():
    return demo.load_data(0)


# ---------------------------------------------------------------------------------------------- end to end
def test_demo_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "oar.bench", None)  # `oar demo` must never import oar.bench
    out = tmp_path / "nested" / "out"  # created by the demo
    rc = main(["demo", "--optimizers", "all", "--epochs", "1", "--seed", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    stdout = capsys.readouterr().out

    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("optimizer"))
    for title in TABLE_HEADER:
        assert title in header
    for display in NAMES:
        row = next(line for line in lines if line.split()[:1] == [display])
        loss, acc, secs = (float(v) for v in row.split()[1:])
        assert loss > 0 and 0 <= acc <= 100 and secs >= 0

    png = out / "loss_curves.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["config"]["epochs"] == 1 and payload["config"]["seed"] == 1
    assert payload["config"]["optimizers"] == KEYS
    results = payload["results"]
    assert [r["optimizer"] for r in results] == KEYS
    for r in results:
        full_batch = r["optimizer"] in FULL_BATCH
        steps_per_epoch = demo.steps_per_epoch(r["optimizer"], 1347)
        for key in ("final_train_loss", "test_accuracy", "seconds", "test_loss", "final_lr"):
            assert isinstance(r[key], float) and math.isfinite(r[key]), key
        assert 0 <= r["test_accuracy"] <= 100
        assert len(r["epoch_train_losses"]) == len(r["epoch_test_accuracies"]) == 1
        assert r["final_train_loss"] == r["epoch_train_losses"][-1]
        assert len(r["step_losses"]) == steps_per_epoch
        if full_batch:  # a constant lr (LBFGS: the base class's 1.0, as Paddle's get_lr)
            lr = get(r["optimizer"]).cls(parameters=[torch.zeros(1)], learning_rate=r["peak_lr"]).get_lr()
            assert r["final_lr"] == lr
        else:  # the schedule has annealed: the last lr is the cosine floor's neighbourhood, far below the peak
            assert r["final_lr"] < 0.05 * r["peak_lr"]
        assert f"{r['test_accuracy']:.2f}" in stdout
    # one epoch already learns something (chance is 10%); a full-batch epoch is 1-3 steps
    weak = {
        r["optimizer"]: r["test_accuracy"]
        for r in results
        if r["test_accuracy"] <= (25 if r["optimizer"] in FULL_BATCH else 50)
    }
    assert not weak, weak


def test_single_optimizer_and_outputs_overwritten(tmp_path, capsys):
    (tmp_path / "results.json").write_text("stale")
    assert main(["demo", "--optimizer", "rmsprop", "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    rows = [line.split()[0] for line in stdout.splitlines() if line.split()[:1] in ([n] for n in NAMES)]
    assert rows == ["RMSProp"]
    payload = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["optimizer"] for r in payload["results"]] == ["rmsprop"]


# ---------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_losses(data):
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    a = demo.train("adam", epochs=1, seed=7, progress=False, data=data)
    b = demo.train("adam", epochs=1, seed=7, progress=False, data=data)
    c = demo.train("adam", epochs=1, seed=8, progress=False, data=data)
    assert a["step_losses"] == b["step_losses"]
    assert a["final_train_loss"] == b["final_train_loss"] and a["test_accuracy"] == b["test_accuracy"]
    assert a["step_losses"] != c["step_losses"]
    # the process-wide settings it changed are restored
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_cli_runs_are_reproducible(tmp_path, capsys):
    for run in ("a", "b"):
        assert (
            main(
                [
                    "demo",
                    "--optimizer",
                    "lamb",
                    "--epochs",
                    "1",
                    "--seed",
                    "3",
                    "--out",
                    str(tmp_path / run),
                    "--no-progress",
                ]
            )
            == 0
        )
    capsys.readouterr()
    losses = [
        json.loads((tmp_path / run / "results.json").read_text())["results"][0]["step_losses"] for run in ("a", "b")
    ]
    assert losses[0] == losses[1]


def test_data_split_is_fixed_and_scaled(data):
    again = demo.load_data(123)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(data[key], again[key])
    assert data["x_train"].shape == (1347, 1, 8, 8) and data["x_test"].shape == (450, 1, 8, 8)
    assert data["x_train"].dtype == torch.float32
    assert 0.0 <= float(data["x_train"].min()) and float(data["x_train"].max()) == 1.0
    # stratified: every class is in the test set in its proportion (about 45 each)
    counts = torch.bincount(data["y_test"], minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 47


def test_make_optimizer_uses_schedule_clip_and_decay():
    import oar

    model = demo.build_model()
    for name, cls in ((a.key, a.cls) for a in algorithms()):
        opt, sched = demo.make_optimizer(name, model, steps_per_epoch=10, epochs=3)
        assert isinstance(opt, cls)
        if name in FULL_BATCH:  # a constant lr, no schedule, no clip
            assert sched is None and opt._grad_clip is None
            continue
        assert isinstance(sched, oar.lr.LinearWarmup)
        assert isinstance(sched.learning_rate, oar.lr.CosineAnnealingDecay)
        assert isinstance(opt._grad_clip, oar.ClipGradByGlobalNorm)
        for key, value in demo.CONFIGS[name].items():  # the table's demo keywords, a float decay as L2Decay
            if key in opt.param_groups[0]:
                expected = oar.L2Decay(value) if key == "weight_decay" else value
                assert repr(opt.param_groups[0][key]) == repr(expected), (name, key)
        assert opt.get_lr() == 0.0  # warm-up starts from 0
        lrs = []
        for _ in range(30):
            sched.step()
            lrs.append(opt.get_lr())
        peak = demo.CONFIGS[name]["peak_lr"]
        assert max(lrs) == pytest.approx(peak)
        assert lrs[-1] < 0.05 * peak
    with pytest.raises(ValueError, match="unknown optimizer"):
        demo.make_optimizer("nope", model, 10, 1)


# ---------------------------------------------------------------------------------------------- help
@pytest.fixture(autouse=False)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # argparse wraps help at the terminal width


def test_top_level_help(capsys, wide_terminal):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "usage: oar" in text
    for word in ("demo", "bench", *NAMES, "oar <command> --help", "--version"):
        assert word in text


def test_demo_help(capsys, wide_terminal):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo the description's line breaks
    for word in (
        "--optimizers",
        "--epochs",
        "--seed",
        "--out",
        "--no-progress",
        "load_digits",
        "LinearWarmup",
        "CosineAnnealingDecay",
        "ClipGradByGlobalNorm",
        "L2Decay",
        "lamb_weight_decay",
        "loss_curves.png",
        "results.json",
        "test accuracy",
        "pip install 'oar[demo]'",
        "default 10",
        "default 0",
        "./oar-demo-out",
        ", ".join(KEYS),
        "adam,lamb,rmsprop",
    ):
        assert word in text, word


def test_version(capsys):
    import oar

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert oar.__version__ in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["demo", "--epochs", "0"],
        ["demo", "--epochs", "-3"],
        ["demo", "--epochs", "two"],
        ["demo", "--optimizer", "nope"],
        ["demo", "--optimizers", "adam,nope"],
        ["demo", "--optimizers", ","],
        ["demo", "--seed", "-1"],
        ["demo", "--seed", "1.5"],
        ["demo", "--bogus"],
        ["demo", "extra"],
    ],
)
def test_bad_options_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: oar" in err and "error:" in err


def test_missing_demo_dependency_is_explained(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install 'oar[demo]'" in err
    assert not (tmp_path / "o").exists()  # failed before training or writing anything


def test_unwritable_out_is_an_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["demo", "--epochs", "1", "--out", str(blocker), "--no-progress"]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_bench_missing_gives_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "oar.bench", None)  # makes `import oar.bench` fail
    assert main(["bench"]) == 1
    err = capsys.readouterr().err
    assert "oar bench" in err and "not available" in err
    # the rest of the CLI does not need it
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_bench_help_is_wired(capsys):
    pytest.importorskip("oar.bench")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    assert "usage: oar bench" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- processes
def test_imports_stay_light():
    script = """
import sys
import oar, oar.cli, oar.demo
oar.cli.build_parser()
heavy = [m for m in ("sklearn", "matplotlib", "oar.bench") if m in sys.modules]  # (torch imports tqdm)
assert not heavy, heavy
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], env=_env(), check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_python_dash_m_oar():
    proc = subprocess.run(
        [sys.executable, "-m", "oar", "demo", "--epochs", "0"],
        env=_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "usage: oar demo" in proc.stderr and "positive integer" in proc.stderr


def test_full_batch_algorithms_train_on_the_whole_training_set(data, monkeypatch):
    """Rprop and LBFGS: every loss evaluated for training covers all 1347 training images (the
    closure of ``step(closure)``), and an epoch is the algorithm's ``demo['steps_per_epoch']``."""
    assert {"rprop", "lbfgs"} <= FULL_BATCH
    batch_sizes: list[int] = []
    cross_entropy = torch.nn.functional.cross_entropy

    def recording(logits, target, *args, **kwargs):
        if torch.is_grad_enabled():  # training, not evaluate()
            batch_sizes.append(len(target))
        return cross_entropy(logits, target, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", recording)
    for name in sorted(FULL_BATCH):
        batch_sizes.clear()
        result = demo.train(name, epochs=2, progress=False, data=data)
        per_epoch = demo.steps_per_epoch(name, 1347)
        assert per_epoch == get(name).demo.get("steps_per_epoch", 1)
        assert len(result["step_losses"]) == 2 * per_epoch
        assert len(batch_sizes) >= 2 * per_epoch and set(batch_sizes) == {1347}
        assert result["epoch_train_losses"][1] < result["epoch_train_losses"][0]


@pytest.mark.parametrize("name", demo.OPTIMIZERS)
def test_defaults_reach_95_percent(name, data):
    result = demo.train(name, progress=False, data=data)  # default epochs and seed
    assert result["test_accuracy"] >= 95.0


def test_optimizers_option_takes_a_list_all_and_keeps_the_default(monkeypatch):
    """`--optimizers a,b` trains those in that order, `all` every algorithm of the table, and no
    option the three of the original demo."""
    seen = []
    monkeypatch.setattr(demo, "run_demo", lambda optimizers, **kw: seen.append(list(optimizers)))
    assert main(["demo", "--optimizers", "momentum,AdamW", "--no-progress"]) == 0
    assert main(["demo", "--optimizers", "all", "--no-progress"]) == 0
    assert main(["demo", "--no-progress"]) == 0
    assert seen == [["momentum", "adamw"], list(KEYS), list(demo.DEFAULT_OPTIMIZERS)]
