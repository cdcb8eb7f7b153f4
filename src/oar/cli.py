"""The ``oar`` command line: ``oar demo``, ``oar bench`` and ``oar lr plot``.

``oar demo`` lives in :mod:`oar.demo`; ``oar bench`` in :mod:`oar.bench`, which is imported only
when the ``bench`` subcommand is chosen (so ``oar demo`` and ``oar --help`` never import it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
import types
from collections.abc import Sequence

from . import __version__
from . import demo as _demo
from .algorithms import algorithms

__all__ = ["build_parser", "main"]


def _names(sep: str = ", ", last: str = " and ") -> str:
    """The names of the algorithm table (``'Adam, Lamb and RMSProp'``)."""
    names = [a.name for a in algorithms()]
    return sep.join(names[:-1]) + last + names[-1] if len(names) > 1 else "".join(names)


def _demo_settings() -> str:
    """One line per algorithm: its demo's peak lr and constructor keywords (a float
    ``weight_decay`` is an ``oar.L2Decay``)."""
    lines = []
    for a in algorithms():
        words = [f"peak lr {a.demo['peak_lr']:g}"] + [
            f"{k}=oar.L2Decay({v:g})" if k == "weight_decay" and isinstance(v, float) else f"{k}={v!r}"
            for k, v in a.demo.items()
            if k != "peak_lr"
        ]
        lines.append(f"      {a.name}: {', '.join(words)}")
    return "\n".join(lines)


_DESCRIPTION = f"""\
oar: PaddlePaddle 3.3.1's optimizers (paddle.optimizer: {_names(last=", ")}, the lr
schedulers, L1/L2 decay, gradient clipping) with Paddle's numerics, on PyTorch tensors.

This command runs the two showcases and draws lr schedules; the library itself is used
from Python (`import oar`)."""

_EPILOG = f"""\
examples:
  oar demo                         train with {_names()} ({_demo.DEFAULT_EPOCHS} epochs each)
  oar demo --optimizers momentum,adamw --epochs 3 --out /tmp/demo
  oar demo --optimizers all         train with every optimizer (about a minute)
  oar bench --help                 options of the optimizer-step benchmark
  oar lr plot "LinearWarmup(CosineAnnealingDecay(0.1, T_max=1000), 100, 0.0, 0.1)" --steps 1100

Run `oar <command> --help` for the details of a command."""

_DEMO_DESCRIPTION = f"""\
Train a small convolutional network on scikit-learn's bundled handwritten digits with
oar's optimizers and compare them.

Data: sklearn.datasets.load_digits, 1,797 real 8x8 greyscale images of the digits 0-9
(no download), pixels scaled to [0, 1], a fixed stratified split: 1,347 training and
450 test images (25%, random_state=0).

Model: conv 1->16 3x3, ReLU, conv 16->32 3x3, ReLU, 2x2 max-pool, linear 512->10
(about 10k parameters), cross-entropy loss, batches of {_demo.BATCH_SIZE}.

The same network is trained once with each optimizer, each with
  - a learning-rate schedule stepped every batch: oar.lr.LinearWarmup (one epoch of
    warm-up from 0) wrapping oar.lr.CosineAnnealingDecay (down to 1% of the peak);
    peak lr below;
  - global-norm gradient clipping, oar.ClipGradByGlobalNorm({_demo.CLIP_NORM!r});
  - the optimizer's own settings (its weight decay among them):
{_demo_settings()}

A run is deterministic for a given --seed on a given machine (seeded initialisation
and batch order, torch's deterministic algorithms, one CPU thread). With the defaults
every optimizer reaches at least 95% test accuracy (typically 98-99.5%); the whole run
takes well under a minute on two CPU cores.

Outputs: a progress bar per optimizer (on stderr, when it is a terminal), then a
table on stdout (optimizer, final train loss = mean over the last epoch, test
accuracy in %, seconds), and in --out:
  loss_curves.png   training loss per batch and per epoch, one colour per optimizer
  results.json      the settings and, per optimizer, the table's values plus the
                    per-epoch losses and test accuracies and the per-batch losses

Needs scikit-learn, matplotlib and tqdm: pip install 'oar[demo]'.
Exit status: 0 on success, 1 on an error (a missing package, an unwritable --out),
2 on a bad option."""

_LR_DESCRIPTION = """\
Learning-rate schedules of oar.lr (Paddle's paddle.optimizer.lr). `oar lr plot --help` for the
one command."""

_LR_PLOT_DESCRIPTION = """\
Draw a schedule of oar.lr to a PNG and print some of its values.

The expression is one scheduler call made of oar.lr names and literals, nested as in
Python, e.g.
  "LinearWarmup(CosineAnnealingDecay(0.1, T_max=1000), 100, 0.0, 0.1)"
  "OneCycleLR(0.1, total_steps=500, three_phase=True)"
  "PiecewiseDecay([100, 200], [0.1, 0.01, 0.001])"
It is parsed, never evaluated: only oar.lr schedulers, numbers, strings, lists, tuples
and arithmetic on numbers are accepted. LambdaDecay and MultiplicativeDecay (a Python
callable) and ReduceOnPlateau (a metric) need the Python API.

Epoch 0 (or the scheduler's last_epoch + 1) is the value after construction; each
further epoch is one scheduler.step(). Drawing needs matplotlib (pip install 'oar[demo]')."""

_BENCH_HELP = "time one optimizer step of oar's optimizers against torch.optim and Paddle"
_BENCH_DESCRIPTION = f"""\
Benchmark one optimizer step of oar's {_names()} against torch.optim and
paddle.optimizer (implemented in oar.bench)."""


# ---------------------------------------------------------------------------------------------- option types
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------- parser
def _bench_description(bench_module: types.ModuleType | None) -> str:
    """The first two paragraphs of oar.bench's docstring (reST quotes dropped), else a default."""
    doc = getattr(bench_module, "__doc__", None) or ""
    paragraphs = [p.strip() for p in doc.replace("``", "`").split("\n\n") if p.strip()]
    return "\n\n".join(paragraphs[:2]) or _BENCH_DESCRIPTION


def build_parser(bench_module: types.ModuleType | None = None) -> argparse.ArgumentParser:
    """The ``oar`` argument parser. ``bench_module`` (``oar.bench``, imported by the caller only
    when the ``bench`` subcommand is requested) adds its options to ``oar bench``."""
    parser = argparse.ArgumentParser(
        prog="oar",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,bench,lr}", title="commands")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help=f"train a small CNN on handwritten digits with {_names()}",
        description=_DEMO_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--optimizers",
        "--optimizer",
        type=_optimizer_list,
        default=list(_demo.DEFAULT_OPTIMIZERS),
        metavar="NAMES",
        help=f"comma-separated optimizers to train with, in turn, or 'all' (default: "
        f"{','.join(_demo.DEFAULT_OPTIMIZERS)}; known: {', '.join(_demo.OPTIMIZERS)})",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=_demo.DEFAULT_EPOCHS,
        metavar="N",
        help="passes over the 1,347 training images per optimizer (default %(default)s; the lr "
        "schedule spans them all, so fewer epochs still end at a low lr but reach a lower "
        "accuracy)",
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=_demo.DEFAULT_SEED,
        metavar="S",
        help="seed of the weight initialisation and the batch order (default %(default)s; the "
        "train/test split is fixed)",
    )
    demo.add_argument(
        "--out",
        default=_demo.DEFAULT_OUT,
        metavar="DIR",
        help="directory for loss_curves.png and results.json, created if missing, files "
        "overwritten (default: ./%(default)s)",
    )
    demo.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (shown by default; always hidden when stderr is not a terminal)",
    )
    demo.set_defaults(handler=_run_demo)

    # oar.bench's help texts state their own defaults: no ArgumentDefaultsHelpFormatter here.
    bench = sub.add_parser(
        "bench",
        help=_BENCH_HELP,
        description=_bench_description(bench_module),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if bench_module is not None:
        bench_module.add_arguments(bench)
    bench.set_defaults(handler=_run_bench, _bench_module=bench_module)

    lr = sub.add_parser(
        "lr",
        help="learning-rate schedules: oar lr plot",
        description=_LR_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lr_sub = lr.add_subparsers(dest="lr_command", metavar="{plot}", title="commands")
    lr_sub.required = True
    plot = lr_sub.add_parser(
        "plot",
        help="draw a schedule to a PNG and print some of its values",
        description=_LR_PLOT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plot.add_argument("expression", help='a scheduler call, e.g. "CosineAnnealingDecay(0.1, T_max=100)"')
    plot.add_argument(
        "--steps",
        type=_positive_int,
        default=300,
        metavar="N",
        help="epochs to draw: the value after construction, then N-1 steps (default %(default)s)",
    )
    plot.add_argument(
        "--out",
        default="lr.png",
        metavar="FILE",
        help="the image to write, overwritten if present (default %(default)s)",
    )
    plot.set_defaults(handler=_run_lr_plot)
    return parser


# ---------------------------------------------------------------------------------------------- handlers
def _error(message: str) -> int:
    print(f"oar: error: {message}", file=sys.stderr)
    return 1


def _optimizer_list(text: str) -> list[str]:
    """``--optimizers``: 'all' or comma-separated keys of the algorithm table."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(_demo.OPTIMIZERS)
    unknown = [n for n in names if n not in _demo.OPTIMIZERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer {', '.join(unknown) or repr(text)}; known: {', '.join(_demo.OPTIMIZERS)} or all"
        )
    return names


def _run_demo(args: argparse.Namespace) -> int:
    optimizers = args.optimizers
    try:
        _demo.run_demo(
            optimizers,
            epochs=args.epochs,
            seed=args.seed,
            out=args.out,
            progress=not args.no_progress,
        )
    except _demo.DemoDependencyError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot write the demo's outputs to {args.out!r}: {exc}")
    return 0


def _run_lr_plot(args: argparse.Namespace) -> int:
    from .lr.expression import ScheduleExpressionError, parse_schedule
    from .lr.plot import plot_schedule, sample_rows, schedule_values

    try:
        scheduler = parse_schedule(args.expression)
        values = schedule_values(scheduler, args.steps)
    except ScheduleExpressionError as exc:
        return _error(f"schedule expression refused: {exc}")
    except (TypeError, ValueError, AssertionError, ZeroDivisionError) as exc:
        return _error(f"{args.expression!r}: {type(exc).__name__}: {exc}")
    first = scheduler.last_epoch
    print(
        f"{type(scheduler).__name__}: {len(values)} epochs from {first}, "
        f"lr min {min(values):.6g}, max {max(values):.6g}"
    )
    print(f"{'epoch':>8}  lr")
    for epoch, value in sample_rows(values, first):
        print(f"{epoch:>8}  {value:.10g}")
    try:
        plot_schedule(values, args.out, args.expression.strip(), first)
    except ImportError:
        return _error("drawing needs matplotlib: pip install 'oar[demo]'")
    except OSError as exc:
        return _error(f"cannot write {args.out!r}: {exc}")
    print(f"wrote {args.out}")
    return 0


def _import_bench() -> tuple[types.ModuleType | None, str | None]:
    """``(oar.bench, None)``, or ``(None, message)`` when it cannot be used (never both None)."""
    try:
        module = importlib.import_module("oar.bench")
    except ModuleNotFoundError as exc:
        if exc.name == "oar.bench":
            return None, (
                "`oar bench` is not available in this installation: the module oar.bench "
                "is missing. Reinstall oar (pip install -e .) to get it."
            )
        return None, (
            f"`oar bench` is not available: importing oar.bench failed because the "
            f"package {exc.name!r} is missing ({exc})."
        )
    except ImportError as exc:
        return None, f"`oar bench` is not available: importing oar.bench failed: {exc}"
    missing = [name for name in ("add_arguments", "run") if not callable(getattr(module, name, None))]
    if missing:
        return None, f"`oar bench` is not available: oar.bench defines no {' or '.join(missing)}()."
    return module, None


def _run_bench(args: argparse.Namespace) -> int:
    module = args._bench_module
    if module is None:  # pragma: no cover - main() imports it before parsing
        module, message = _import_bench()
        if module is None:
            assert message is not None  # no module: a message
            return _error(message)
    return int(module.run(args) or 0)


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: its first non-option word (the top-level options,
    --help and --version, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``oar`` command with ``argv`` (default ``sys.argv[1:]``) and return its exit status.

    argparse errors (a bad option or value) and ``--help`` exit through ``SystemExit`` with
    status 2 and 0, as usual for argparse programs.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_module = None
    if _command(argv) == "bench":
        bench_module, message = _import_bench()
        if bench_module is None:
            assert message is not None  # no module: a message
            if any(word in ("-h", "--help") for word in argv):
                print(textwrap.dedent(_BENCH_DESCRIPTION))
            return _error(message)
    parser = build_parser(bench_module)
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)  # the subcommand's _run_* function
        return status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
