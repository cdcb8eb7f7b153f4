"""``oar bench``'s command line: its options (:func:`add_arguments`, including an
``--<algorithm>-<option>`` flag for every bench option of the algorithm table), the row filter
and :func:`run`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..algorithms import Algorithm, algorithms
from .params import build_param_set, scale_for_params
from .probes import BANDWIDTH_ROWS, CpuClock, Memory, bandwidth_rows, loadavg
from .report import Record, print_table, summarize
from .rows import REFERENCE, Row, TorchParams, build_rows, oar_engines, options_of
from .runner import log, measure

__all__ = [
    "DTYPES",
    "add_algorithm_options",
    "add_arguments",
    "algorithm_options",
    "epilog",
    "main",
    "run",
    "select",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def epilog() -> str:
    """The help's epilog: the columns, with every algorithm's bytes per parameter in float32."""
    bytes_f32 = ", ".join(f"{a.name} {a.traffic.bytes_per_param(4, 4)}" for a in algorithms())
    return (
        f"Columns: B/param = bytes one step must move per parameter ({bytes_f32} in float32; a peer "
        "that keeps less state moves less); ms min/median/max over the timed rounds; GB/s = B/param x "
        "params / median; %BW and 'vs fused Adam' = ratio to the bandwidth probe and to "
        f"{REFERENCE} in the same round, median over rounds; first step = the first step of a fresh "
        "optimizer (state allocation, compilation); state MB = the optimizer's state tensors; peak "
        "extra MB = resident-memory growth during one steady step. Another busy process on this "
        "machine slows multi-threaded steps many times: read the contention line under the table."
    )


def _dest(a: Algorithm, option: str) -> str:
    return f"{a.key}_{option}"


_Group = argparse.ArgumentParser | argparse._ArgumentGroup


def _add_option(group: _Group, a: Algorithm, option: str, default: Any) -> None:
    flag = f"--{a.key}-{option.replace('_', '-')}"
    help_ = f"{option} of every {a.name}: oar's, Paddle's and its peers' (default {default!r})"
    if isinstance(default, bool):
        group.add_argument(
            flag, dest=_dest(a, option), default=default, help=help_, action=argparse.BooleanOptionalAction
        )
    else:
        group.add_argument(
            flag, dest=_dest(a, option), default=default, help=help_, type=type(default), metavar=option.upper()
        )


def add_algorithm_options(group: _Group) -> None:
    """Add ``--<key>-<option>`` for every ``bench_options`` entry of every algorithm (e.g.
    ``--rmsprop-momentum``); read them back with :func:`algorithm_options`."""
    for a in algorithms():
        for option, default in a.bench_options.items():
            _add_option(group, a, option, default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``oar bench``'s options to ``parser`` (and its epilog, if it has none)."""
    if parser.epilog is None:
        parser.epilog = epilog()
    size = parser.add_argument_group("parameter set")
    size.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the hidden size (768) and vocabulary (8000) of the transformer-shaped "
        "set; 1.0 gives 27.4M parameters in 51 tensors (default 1.0)",
    )
    size.add_argument(
        "--params", type=int, default=None, metavar="N", help="size the set to about N parameters (overrides --scale)"
    )
    size.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="float32",
        help="parameter dtype (bfloat16: oar and Paddle use float32 master weights "
        "and state, torch keeps bfloat16 state); default float32",
    )
    size.add_argument("--seed", type=int, default=0, help="seed of the parameters and gradients (default 0)")
    meas = parser.add_argument_group("measurement")
    meas.add_argument(
        "--repeats",
        type=int,
        default=12,
        help="timed rounds; each round runs one step of every optimizer, interleaved (default 12)",
    )
    meas.add_argument(
        "--warmup", type=int, default=2, help="untimed rounds after each optimizer's first step (default 2)"
    )
    meas.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="SUBSTR",
        help="measure only optimizers whose name contains SUBSTR (case-insensitive; "
        f"repeat or separate with commas for several). {REFERENCE}, the "
        "reference of the ratio column, and the bandwidth probes are always measured",
    )
    meas.add_argument(
        "--engines",
        action="append",
        default=None,
        metavar="NAMES",
        help="oar engines to measure: 'auto' and names of oar.engine.ENGINES, comma-"
        "separated or repeated (default: 'auto' and every engine registered)",
    )
    meas.add_argument(
        "--skip",
        action="append",
        default=None,
        metavar="SUBSTR",
        help="leave out optimizers whose name contains SUBSTR (repeatable, commas)",
    )
    meas.add_argument(
        "--bandwidth-mb",
        type=float,
        default=256.0,
        metavar="MB",
        help="size of each float32 buffer of the memory-bandwidth probes, a.add_(b) and "
        "torch.add(a, b, out=c), run every round (3 x N x 4 bytes each; the faster "
        "one is the round's bandwidth); keep it well above the last-level cache "
        "(default 256)",
    )
    meas.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads(N) before measuring (default: torch's default)"
    )
    meas.add_argument("--lr", type=float, default=1e-3, help="learning rate of every optimizer (default 1e-3)")
    add_algorithm_options(meas)
    meas.add_argument(
        "--private-params",
        action="store_true",
        help="give every optimizer its own copy of the parameters (default: all torch-"
        "tensor optimizers update one shared set; Paddle has its own copy)",
    )
    meas.add_argument(
        "--cold-compile-cache",
        action="store_true",
        help="point TORCHINDUCTOR_CACHE_DIR at a fresh empty directory, so first-step "
        "times include a cold compile (default: inductor's usual cache, warm if "
        "the bench ran before)",
    )
    meas.add_argument(
        "--fsdp",
        type=int,
        default=None,
        metavar="N",
        help="measure under FSDP2 instead: N gloo ranks on 127.0.0.1, 1 thread each, every "
        "tensor fully_shard-ed; per rank ms/step of every optimizer of the table that "
        "runs under FSDP and torch's Adam (fused, foreach); uses --scale/--params, "
        "--repeats, --warmup, --seed, --lr, --only, --skip (see oar.bench.fsdp)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write every row, per-round times and the machine info as JSON to PATH",
    )
    out.add_argument("--plain", action="store_true", help="plain-text table even if rich is installed")
    out.add_argument("--list", action="store_true", help="list the optimizers that would be measured and exit")


def algorithm_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every algorithm's bench options (by key): its ``bench_options`` overridden by the
    ``--<key>-<option>`` flags in ``args``."""
    return {
        a.key: options_of(a, {o: getattr(args, _dest(a, o)) for o in a.bench_options if hasattr(args, _dest(a, o))})
        for a in algorithms()
    }


def _split(values: Sequence[str] | None) -> list[str]:
    return [s.strip().lower() for v in values or [] for s in v.split(",") if s.strip()]


def select(rows: Sequence[Row], only: Sequence[str] | None, skip: Sequence[str] | None) -> list[Row]:
    """The rows whose name (any case) contains a substring of ``only`` (all when empty) and none
    of ``skip``; the reference row and the bandwidth probes are always kept. Both lists may
    hold comma-separated substrings."""
    only, skip = _split(only), _split(skip)
    chosen = []
    for r in rows:
        name = r.name.lower()
        keep = (
            r.name == REFERENCE
            or r.name in BANDWIDTH_ROWS
            or ((not only or any(s in name for s in only)) and not any(s in name for s in skip))
        )
        if keep:
            chosen.append(r)
    return chosen


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (from :func:`add_arguments`); print the table and
    write the JSON. Returns the exit code: 0, or 2 on a bad option (non-positive ``--repeats``,
    negative ``--warmup``, unknown engine)."""
    started = time.monotonic()
    if args.repeats < 1:
        log("--repeats must be >= 1")
        return 2
    if args.warmup < 0:
        log("--warmup must be >= 0")
        return 2
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    cold_dir = None
    if args.cold_compile_cache:
        cold_dir = tempfile.mkdtemp(prefix="oar-bench-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cold_dir
        os.environ["TRITON_CACHE_DIR"] = os.path.join(cold_dir, "triton")
    try:
        if args.fsdp is not None:
            from .fsdp import print_fsdp, run_fsdp

            if args.fsdp < 2:
                log(f"--fsdp must be >= 2 ranks, got {args.fsdp}")
                return 2
            scale = scale_for_params(args.params) if args.params else args.scale
            only, skip = _split(args.only), _split(args.skip)
            print_fsdp(run_fsdp(args.fsdp, scale, args.repeats, args.warmup, args.seed, args.lr, only, skip))
            return 0
        return _run(args, started, cold_dir)
    finally:
        torch.set_num_threads(threads_before)
        if cold_dir:
            shutil.rmtree(cold_dir, ignore_errors=True)


def _run(args: argparse.Namespace, started: float, cold_dir: str | None) -> int:
    dtype = DTYPES[args.dtype]
    scale = scale_for_params(args.params) if args.params else args.scale
    notes: list[str] = []
    load_start = loadavg()
    clock_start = CpuClock.read()
    memory = Memory()

    log(f"building the parameter set (scale {scale:.4g}, {args.dtype})")
    pset = build_param_set(scale, dtype, args.seed)
    options = algorithm_options(args)
    try:
        engines = oar_engines(args.engines)
    except ValueError as exc:
        log(str(exc))
        return 2
    rows = bandwidth_rows(args.bandwidth_mb) + build_rows(
        pset, TorchParams(pset, args.private_params), args.lr, options, engines, notes
    )
    rows = select(rows, args.only, args.skip)
    if args.list:
        for r in rows:
            print(r.name)
        return 0
    log(
        f"{pset.numel:,} parameters in {len(pset.names)} tensors; {len(rows)} rows; "
        f"{args.warmup} warm-up + {args.repeats} timed rounds"
    )

    timing = measure(rows, args.warmup, args.repeats, memory, notes)
    notes += pset.integrity_notes()
    record = Record(
        rows=rows,
        timing=timing,
        params=pset.numel,
        tensors=len(pset.names),
        scale=scale,
        dtype=args.dtype,
        repeats=args.repeats,
        warmup=args.warmup,
        lr=args.lr,
        algorithm_options={f"{key}_{o}": v for key, opts in options.items() for o, v in opts.items()},
        shared_params=not args.private_params,
        compile_cache="cold (fresh TORCHINDUCTOR_CACHE_DIR)"
        if cold_dir
        else f"default ({os.environ.get('TORCHINDUCTOR_CACHE_DIR') or 'inductor default dir'})",
        memory=memory.description,
        options={k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, list, type(None)))},
        notes=notes,
        load_start=load_start,
        clock_start=clock_start,
        started=started,
    )
    result = summarize(record)
    print_table(result, plain=args.plain)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        log(f"wrote {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m oar.bench`` / ``benchmarks/bench_step.py``: parse ``argv`` (default
    ``sys.argv[1:]``) and :func:`run`."""
    parser = argparse.ArgumentParser(
        prog="oar bench",
        description="Time one optimizer step of oar's optimizers and their peers (torch.optim, Paddle, "
        "pytorch_optimizer, timm) on a transformer-shaped parameter set, interleaved in "
        "one process, against the memory bandwidth measured in the same run.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
