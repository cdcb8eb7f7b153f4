"""The timing of ``oar bench``: create every row's optimizer and time its first step, then run
rounds of one step of every row, interleaved in an order rotated every round (a burst of
contention from another process hits all rows alike), then one more step of each alone under
the memory probe."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .probes import CpuClock, CpuReading, Memory
from .rows import Row

__all__ = ["Timing", "create", "log", "measure", "probe_peaks", "time_rounds"]


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"[oar bench] {msg}", file=sys.stderr, flush=True)


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


@dataclass
class Timing:
    """The timed rounds of a run.

    Attributes:
        rounds (list[dict]): per timed round: ``round`` (its index), ``seconds`` (row name ->
            step time) and ``contention`` (:meth:`CpuClock.others` over the round).
        clock_timed (CpuReading | None): the CPU clock when the timed rounds began.
        clock_end (CpuReading | None): the CPU clock after the last round.
    """

    rounds: list[dict[str, Any]] = field(default_factory=list)
    clock_timed: CpuReading | None = None
    clock_end: CpuReading | None = None


def create(rows: Sequence[Row], memory: Memory) -> None:
    """Create each row's optimizer and time its very first step (state allocation,
    compilation); a row that fails gets its ``error`` and no ``step``."""
    for r in rows:
        try:
            rss0 = memory.rss()
            t0 = time.perf_counter()
            r.step, r.state_bytes_fn = r.make()
            r.create_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            r.step()
            r.first_step_s = time.perf_counter() - t0
            r.first_step_rss_growth = memory.rss() - rss0
            r.state_bytes = r.state_bytes_fn() if r.traffic is not None else None
            log(f"  {r.name}: first step {r.first_step_s * 1e3:.0f} ms")
        except Exception as exc:
            r.error = _failure(exc)
            r.step = None
            log(f"  {r.name}: FAILED ({r.error})")


def time_rounds(rows: Sequence[Row], warmup: int, repeats: int, steps: int = 1) -> Timing:
    """``warmup`` untimed then ``repeats`` timed rounds of ``steps`` steps of every created row
    (the time is per step), with the garbage collector off; fills each row's ``times`` and
    ``cpu_per_wall``. A row whose step raises gets its ``error`` and leaves the rounds."""
    active = [r for r in rows if r.step is not None]
    timing = Timing()
    total_rounds = warmup + repeats
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for k in range(total_rounds):
            if k == warmup:
                timing.clock_timed = CpuClock.read()
            c0 = CpuClock.read()
            t_round = time.perf_counter()
            shift = k % len(active) if active else 0
            times: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for r in active[shift:] + active[:shift]:
                if r.step is None:
                    continue
                try:
                    p0 = time.process_time()
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        r.step()
                    times[r.name] = (time.perf_counter() - t0) / steps
                    cpu[r.name] = (time.process_time() - p0) / steps
                except Exception as exc:
                    r.error = _failure(exc)
                    r.step = None
                    log(f"  {r.name}: FAILED in round {k} ({r.error})")
            timed = k >= warmup
            if timed:
                for r in active:
                    if r.name in times:
                        r.times.append(times[r.name])
                        r.cpu_per_wall.append(cpu[r.name] / times[r.name] if times[r.name] > 0 else 0.0)
                timing.rounds.append(
                    {"round": k - warmup, "seconds": times, "contention": CpuClock.others(c0, CpuClock.read())}
                )
            gc.collect()
            log(f"round {k + 1}/{total_rounds}{'' if timed else ' (warm-up)'}: {time.perf_counter() - t_round:.1f} s")
    finally:
        if gc_was_enabled:
            gc.enable()
    timing.clock_end = CpuClock.read()
    return timing


def probe_peaks(rows: Sequence[Row], memory: Memory, notes: list[str]) -> None:
    """The transient memory of one more step of each optimizer row, measured alone
    (``peak_extra``); a failure is added to ``notes``."""
    log(f"memory: one more step of each ({memory.method})")
    for r in rows:
        if r.step is None or r.traffic is None:
            continue
        try:
            r.peak_extra = memory.peak_during(r.step)
        except Exception as exc:
            notes.append(f"{r.name}: memory probe failed: {exc}")


def measure(rows: Sequence[Row], warmup: int, repeats: int, memory: Memory, notes: list[str], steps: int = 1) -> Timing:
    """:func:`create`, :func:`time_rounds` and :func:`probe_peaks`, in that order."""
    create(rows, memory)
    timing = time_rounds(rows, warmup, repeats, steps)
    probe_peaks(rows, memory, notes)
    return timing
