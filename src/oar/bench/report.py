"""The result of ``oar bench``: :class:`Record` (what a run measured) turned by
:func:`summarize` into the JSON result, and that result as a table (plain text or rich)."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .probes import BANDWIDTH_ROWS, CpuClock, CpuReading, loadavg, machine_info
from .rows import REFERENCE, Row
from .runner import Timing

__all__ = ["COLUMNS", "Record", "footer", "format_table", "print_table", "summarize", "table_cells"]

# Column headers of the printed table (also the keys a reader of the table can rely on).
COLUMNS = [
    "optimizer",
    "B/param",
    "ms min",
    "ms median",
    "ms max",
    "GB/s",
    "%BW",
    "vs fused Adam",
    "first step ms",
    "state MB",
    "peak extra MB",
]


@dataclass
class Record:
    """What one run measured, and the settings it ran with.

    Attributes:
        rows (list[Row]): every row, probes included, with what was measured.
        timing (Timing): the timed rounds.
        params, tensors (int): size of the parameter set.
        scale (float): its ``scale``.
        dtype (str): the params' dtype (``'float32'``).
        repeats, warmup (int): timed and untimed rounds.
        lr (float): the learning rate of every row.
        algorithm_options (dict): every algorithm's bench options, as ``<key>_<option>``.
        shared_params (bool): the torch-tensor rows share one parameter set.
        compile_cache (str): which inductor cache the compiled engines used.
        memory (str): how the peak memory was measured.
        options (dict): the command line's options (those JSON can hold).
        notes (list[str]): remarks printed under the table.
        load_start (list[float] | None): the load average at the start.
        clock_start (CpuReading | None): the CPU clock at the start.
        started (float): ``time.monotonic()`` at the start.
    """

    rows: list[Row]
    timing: Timing
    params: int
    tensors: int
    scale: float
    dtype: str
    repeats: int
    warmup: int
    lr: float
    algorithm_options: dict[str, Any] = field(default_factory=dict)
    shared_params: bool = True
    compile_cache: str = ""
    memory: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_start: list[float] | None = None
    clock_start: CpuReading | None = None
    started: float = field(default_factory=time.monotonic)


# ---------------------------------------------------------------------------- statistics
def _median(xs: Iterable[float | None]) -> float | None:
    finite = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(finite) if finite else None


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan"
    return f"{x:.{digits}f}"


def _ms(seconds: float | None) -> float | None:
    return seconds * 1e3 if seconds is not None else None


def _mb(nbytes: int | None) -> float | None:
    return nbytes / 1e6 if nbytes is not None else None


# ---------------------------------------------------------------------------- summary
def _bandwidth(probes: Sequence[Row], rounds: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[float | None]]:
    """The bandwidth section of the result, and the bandwidth of each round (bytes/s of the
    faster probe)."""
    by_round: list[float | None] = []
    for rd in rounds:
        rates = [
            p.probe_bytes / rd["seconds"][p.name]
            for p in probes
            if p.probe_bytes is not None and rd["seconds"].get(p.name)
        ]
        by_round.append(max(rates) if rates else None)
    valid = [b for b in by_round if b]

    def gbs(p: Row, seconds: float) -> float:
        return (p.probe_bytes or 0) / seconds / 1e9

    section = {
        "probes": {
            p.name: {
                "note": p.note,
                "bytes": p.probe_bytes,
                "best_gbs": gbs(p, min(p.times)) if p.times else None,
                "median_gbs": gbs(p, statistics.median(p.times)) if p.times else None,
            }
            for p in probes
        },
        "buffer_mib": probes[0].probe_mib if probes else None,
        "best_gbs": max(valid) / 1e9 if valid else None,
        "median_gbs": statistics.median(valid) / 1e9 if valid else None,
        "per_round_gbs": [b / 1e9 if b else None for b in by_round],
        "definition": "per round, the faster of the probes; %BW divides by it",
    }
    return section, by_round


def _row(r: Row, params: int, rounds: Sequence[dict[str, Any]], bw_by_round: Sequence[float | None]) -> dict[str, Any]:
    assert r.traffic is not None
    d: dict[str, Any] = {
        "name": r.name,
        "library": r.library,
        "algorithm": r.algorithm,
        "bytes_per_param": r.bytes_per_param,
        "traffic": r.traffic.what,
        "master_weights": r.master,
        "note": r.note,
        "error": r.error,
    }
    if r.times:
        total_bytes = (r.bytes_per_param or 0) * params
        ratios, pcts = [], []
        for rd, bw in zip(rounds, bw_by_round, strict=False):
            s = rd["seconds"]
            if r.name in s and REFERENCE in s:
                ratios.append(s[r.name] / s[REFERENCE])
            if r.name in s and bw:
                pcts.append(100.0 * (total_bytes / s[r.name]) / bw)
        med = statistics.median(r.times)
        d.update(
            {
                "ms_min": min(r.times) * 1e3,
                "ms_median": med * 1e3,
                "ms_max": max(r.times) * 1e3,
                "gbs": total_bytes / med / 1e9,
                "pct_bandwidth": _median(pcts),
                "ratio_to_fused_adam": _median(ratios),
                "cpu_per_wall": _median(r.cpu_per_wall),
                "ms_per_round": [t * 1e3 for t in r.times],
            }
        )
    d.update(
        {
            "first_step_ms": _ms(r.first_step_s),
            "create_ms": _ms(r.create_s),
            "state_mb": _mb(r.state_bytes),
            "first_step_rss_growth_mb": _mb(r.first_step_rss_growth),
            "peak_extra_mb": _mb(r.peak_extra),
        }
    )
    return d


def summarize(record: Record) -> dict[str, Any]:
    """The JSON result of a run: ``machine``, ``config``, ``definitions``, ``bandwidth``,
    ``contention``, ``rows`` (one dict per optimizer row), ``rounds``, ``notes``, ``elapsed_s``."""
    rounds = record.timing.rounds
    probes = [r for r in record.rows if r.name in BANDWIDTH_ROWS and r.step is not None]
    bandwidth, bw_by_round = _bandwidth(probes, rounds)
    out_rows = [_row(r, record.params, rounds, bw_by_round) for r in record.rows if r.traffic is not None]
    per_round = [rd["contention"] for rd in rounds if rd["contention"]]
    timed = CpuClock.others(record.timing.clock_timed, record.timing.clock_end)
    contention = {
        "cpu_count": os.cpu_count(),
        "loadavg_start": record.load_start,
        "loadavg_end": loadavg(),
        "other_processes_cores_timed": timed["other_cores"] if timed else None,
        "other_processes_cores_max_round": max((c["other_cores"] for c in per_round), default=None),
        "steal_pct_timed": timed["steal_pct"] if timed else None,
        "whole_run": CpuClock.others(record.clock_start, record.timing.clock_end),
    }
    return {
        "machine": machine_info(),
        "config": {
            "options": record.options,
            "params": record.params,
            "tensors": record.tensors,
            "scale": record.scale,
            "dtype": record.dtype,
            "repeats": record.repeats,
            "warmup": record.warmup,
            "lr": record.lr,
            **record.algorithm_options,
            "shared_params": record.shared_params,
            "compile_cache": record.compile_cache,
            "reference": REFERENCE,
        },
        "definitions": {
            "bytes_per_param": "whole param-sized tensors one step must read or write, times their "
            "element size (P: param, S: state); see each row's 'traffic'",
            "gbs": "bytes_per_param x params / median step time",
            "pct_bandwidth": "per round, (bytes / step time) / (the faster probe's bytes / its time); "
            "median over rounds (over 100 means the step streamed faster than the probe)",
            "ratio_to_fused_adam": f"per round, step time / {REFERENCE}'s step time; median over rounds",
            "first_step_ms": "the very first step of a freshly created optimizer: state allocation, and "
            "compilation for compiled engines (torch.compile's once-per-process start-up "
            "lands on the first row that compiles)",
            "cpu_per_wall": "this process's CPU time during the step / its wall time (about the number "
            "of busy threads; spinning OpenMP workers count)",
            "state_mb": "bytes of the tensors in the optimizer's state (Paddle: its accumulators and master weights)",
            "peak_extra_mb": "extra memory during one steady-state step: " + record.memory,
        },
        "bandwidth": bandwidth,
        "contention": contention,
        "rows": out_rows,
        "rounds": rounds,
        "notes": record.notes,
        "elapsed_s": time.monotonic() - record.started,
    }


# ---------------------------------------------------------------------------- table
def table_cells(d: dict[str, Any]) -> list[str]:
    """The table's cells (see :data:`COLUMNS`) of one row of a result."""
    return [
        d["name"],
        str(d["bytes_per_param"]),
        _fmt(d.get("ms_min"), 2),
        _fmt(d.get("ms_median"), 2),
        _fmt(d.get("ms_max"), 2),
        _fmt(d.get("gbs"), 1),
        _fmt(d.get("pct_bandwidth"), 0),
        _fmt(d.get("ratio_to_fused_adam"), 2),
        _fmt(d.get("first_step_ms"), 0),
        _fmt(d.get("state_mb"), 0),
        _fmt(d.get("peak_extra_mb"), 1),
    ]


def footer(result: dict[str, Any]) -> list[str]:
    """The lines under the table: the run's size, the bandwidth, the bytes models of the rows,
    the definitions, the contention, the failures and the notes."""
    cfg, bw, con, mach = result["config"], result["bandwidth"], result["contention"], result["machine"]
    traffics = list(dict.fromkeys(d["traffic"] for d in result["rows"]))
    lines = [
        (
            f"{cfg['params']:,} params in {cfg['tensors']} tensors, {cfg['dtype']}; {cfg['warmup']} warm-up + "
            f"{cfg['repeats']} timed rounds, interleaved; torch threads {mach['torch_threads']}, "
            f"{mach.get('cpu', '?')}, {mach['cpu_count']} CPUs"
        ),
        "memory bandwidth, per round the faster of "
        + " and ".join(
            f"{name.split(': ', 1)[1]} (best {_fmt(p['best_gbs'], 1)}, median {_fmt(p['median_gbs'], 1)} GB/s)"
            for name, p in bw["probes"].items()
        )
        + f" on {_fmt(bw['buffer_mib'], 0)} MiB float32 buffers, bytes = 3 x N x 4: "
        f"best {_fmt(bw['best_gbs'], 1)} GB/s, median {_fmt(bw['median_gbs'], 1)} GB/s",
        "B/param: bytes that must move per parameter per step (P, S = param, state element size):",
        *(f"  {what}" for what in traffics),
        "%BW and 'vs fused Adam': ratio taken in each round, median over rounds",
        f"peak extra MB: {result['definitions']['peak_extra_mb']}",
        f"first step: {result['definitions']['first_step_ms']}; compile cache: {cfg['compile_cache']}",
    ]
    other = con["other_processes_cores_timed"]
    lines.append(
        f"contention: load average {con['loadavg_start']} at start, {con['loadavg_end']} at end, "
        f"{con['cpu_count']} CPUs; other processes kept {_fmt(other, 2)} cores busy on average during the "
        f"timed rounds (max {_fmt(con['other_processes_cores_max_round'], 2)} in a round), steal "
        f"{_fmt(con['steal_pct_timed'], 1)}%"
    )
    if other is not None and other > 0.2:
        lines.append(
            "  -> contended run: steps using several torch threads stall while another process holds a "
            "core (single-threaded ones, e.g. Paddle's CPU kernels, suffer less); the per-round ratios "
            "are the figures to trust, or rerun on an idle machine or with --threads 1"
        )
    for d in result["rows"]:
        if d["error"]:
            lines.append(f"{d['name']}: FAILED: {d['error']}")
    lines += result["notes"]
    lines.append(f"elapsed {result['elapsed_s']:.0f} s")
    return lines


def format_table(result: dict[str, Any]) -> str:
    """The plain-text table (and its footer) of a result from :func:`summarize`."""
    body = [table_cells(d) for d in result["rows"]]
    widths = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        )

    out = [line(COLUMNS), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in body]
    out.append("")
    out += footer(result)
    return "\n".join(out)


def print_table(result: dict[str, Any], plain: bool = False) -> None:
    """Print the table of ``result``: with rich when it is installed and ``plain`` is false,
    else as :func:`format_table`."""
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(format_table(result), flush=True)
        return
    table = Table(*COLUMNS)
    for d in result["rows"]:
        table.add_row(*table_cells(d))
    console = Console()
    console.print(table)
    for line in footer(result):
        console.print(line, markup=False, highlight=False)
