"""``oar lr plot``: the safe expression parser, the values it prints (checked against Paddle's scheduler
built from the same expression) and the PNG it writes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from lr_harness import P

from oar.cli import main
from oar.lr.expression import ScheduleExpressionError, parse_schedule, scheduler_classes
from oar.lr.plot import sample_rows, schedule_values

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXAMPLE = "LinearWarmup(CosineAnnealingDecay(0.1, T_max=1000), 100, 0.0, 0.1)"


def _paddle_values(build, steps: int) -> list[float]:
    s = build(P)
    values = [s()]
    for _ in range(steps - 1):
        s.step()
        values.append(s())
    return values


def test_plot_writes_png_and_prints_paddles_values(tmp_path, capsys):
    out = tmp_path / "lr.png"
    assert main(["lr", "plot", EXAMPLE, "--steps", "1100", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000
    printed = capsys.readouterr().out
    want = _paddle_values(lambda M: M.LinearWarmup(M.CosineAnnealingDecay(0.1, T_max=1000), 100, 0.0, 0.1), 1100)
    rows = sample_rows(want)
    assert rows[0][0] == 0 and rows[-1][0] == 1099
    for epoch, value in rows:
        assert f"{epoch:>8}  {value:.10g}" in printed
    assert f"wrote {out}" in printed


@pytest.mark.parametrize(
    "text,build",
    [
        (
            "OneCycleLR(0.1, total_steps=300, three_phase=True, anneal_strategy='linear')",
            lambda M: M.OneCycleLR(0.1, total_steps=300, three_phase=True, anneal_strategy="linear"),
        ),
        (
            "oar.lr.PiecewiseDecay([100, 200], [0.1, 0.01, 0.001])",
            lambda M: M.PiecewiseDecay([100, 200], [0.1, 0.01, 0.001]),
        ),
        (
            'lr.CyclicLR(1e-3, 1e-2, step_size_up=20, mode="exp_range", exp_gamma=0.99)',
            lambda M: M.CyclicLR(1e-3, 1e-2, step_size_up=20, mode="exp_range", exp_gamma=0.99),
        ),
        ("StepDecay(0.1 * 8, 30, gamma=2 ** -1)", lambda M: M.StepDecay(0.8, 30, gamma=0.5)),
        (
            "CosineAnnealingWarmRestarts(0.05, T_0=10, T_mult=2, eta_min=-(-1e-4), last_epoch=4)",
            lambda M: M.CosineAnnealingWarmRestarts(0.05, T_0=10, T_mult=2, eta_min=1e-4, last_epoch=4),
        ),
    ],
)
def test_expressions_build_paddles_schedule(text, build):
    assert schedule_values(parse_schedule(text), 300) == _paddle_values(build, 300)


def test_schedule_values_leaves_the_scheduler_untouched():
    s = parse_schedule("ExponentialDecay(0.1, 0.9)")
    schedule_values(s, 50)
    assert s.last_epoch == 0 and s() == 0.1


MALICIOUS = [
    "__import__('os').system('touch PWNED')",
    "os.system('touch PWNED')",
    "StepDecay.__init__.__globals__",
    "StepDecay(0.1, 2).__class__.__base__",
    "(lambda: 0)()",
    "[c for c in ().__class__.__bases__]",
    "open('PWNED', 'w')",
    "StepDecay(*[0.1, 2])",
    "StepDecay(**{'learning_rate': 0.1, 'step_size': 2})",
    "StepDecay(0.1, (10 ** 100) ** 1000)",
    "eval('1')",
    "StepDecay(0.1, 2); import os",
    "LambdaDecay(0.1, print)",
    "ReduceOnPlateau(0.1)",
    "LRScheduler(0.1)",
    "attach(1, 2)",
    "0.1",
    "x" * 20000,
]


@pytest.mark.parametrize("text", MALICIOUS)
def test_malicious_or_invalid_expressions_are_refused(text, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(text)
    out = tmp_path / "lr.png"
    assert main(["lr", "plot", text, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("oar: error: schedule expression refused:")
    assert not out.exists() and not (tmp_path / "PWNED").exists()


def test_scheduler_argument_errors_are_reported(tmp_path, capsys):
    assert main(["lr", "plot", "StepDecay(0.1, 0)", "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert "AssertionError" in err and "step_size" in err
    assert (
        main(["lr", "plot", "OneCycleLR(0.1, total_steps=10)", "--steps", "50", "--out", str(tmp_path / "b.png")]) == 1
    )
    err = capsys.readouterr().err
    assert "ValueError: OneCycleLR stopped at step" in err and "of 50" in err
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_every_line_buildable_scheduler_parses():
    skip = {"LambdaDecay", "MultiplicativeDecay", "ReduceOnPlateau"}
    for name in scheduler_classes():
        if name in skip:
            with pytest.raises(ScheduleExpressionError, match=name):
                parse_schedule(f"{name}(0.1)")


def test_console_script(tmp_path):
    out = tmp_path / "lr.png"
    oar_bin = os.path.join(os.path.dirname(sys.executable), "oar")
    res = subprocess.run(
        [oar_bin, "lr", "plot", "NaturalExpDecay(0.1, gamma=0.01)", "--steps", "20", "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "NaturalExpDecay: 20 epochs from 0" in res.stdout
