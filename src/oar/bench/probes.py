"""What ``oar bench`` measures besides the optimizers: the process's memory (/proc, psutil or
``getrusage``), the machine's CPU time (/proc/stat: how busy other processes keep it), the load
average, the machine's description, and the memory-bandwidth probe rows."""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from .rows import Made, Maker, Row

__all__ = [
    "BANDWIDTH_INPLACE",
    "BANDWIDTH_OUT",
    "BANDWIDTH_ROWS",
    "CpuClock",
    "CpuReading",
    "Memory",
    "bandwidth_rows",
    "loadavg",
    "machine_info",
    "proc_field",
]

# Memory-bandwidth probes, run every round. The read-modify-write one moves memory the way an
# optimizer step does (no read-for-ownership of a separate output); the per-round bandwidth is
# the faster of the two.
BANDWIDTH_INPLACE = "memory: a.add_(b)"
BANDWIDTH_OUT = "memory: torch.add(a,b,out=c)"
BANDWIDTH_ROWS = (BANDWIDTH_INPLACE, BANDWIDTH_OUT)

#: One reading of :meth:`CpuClock.read`: seconds of ``busy``, ``steal`` and ``total`` CPU time of
#: the machine, ``self`` (this process's CPU time) and ``wall`` (monotonic clock).
CpuReading = dict[str, float]


def proc_field(path: str, key: str) -> str | None:
    """The value after ``key:`` on the first line of the /proc file ``path`` that starts with
    ``key``, or None (no such line, or the file cannot be read)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------- memory
class Memory:
    """Resident-set measurements of this process (Linux /proc first, then psutil, then
    ``resource.getrusage``); ``method`` says which."""

    def __init__(self) -> None:
        self._libc: ctypes.CDLL | None = None
        try:
            self._libc = ctypes.CDLL("libc.so.6")
            self._libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            self._libc = None
        self.method = self._pick_method()

    def _pick_method(self) -> str:
        if os.path.exists("/proc/self/status"):
            try:
                self._clear_refs()
                if self._status("VmHWM") is not None:
                    return "hwm"
            except OSError:
                pass
            return "sample-proc"
        try:
            import psutil  # noqa: F401

            return "sample-psutil"
        except ImportError:
            return "rusage"

    @property
    def description(self) -> str:
        """How the peak is measured, in words."""
        return {
            "hwm": "peak RSS from /proc/self/status VmHWM, reset through /proc/self/clear_refs "
            "before the step, minus VmRSS before it (after malloc_trim)",
            "sample-proc": "RSS sampled every 0.2 ms from /proc/self/statm during the step, minus RSS before it",
            "sample-psutil": "RSS sampled every 0.2 ms with psutil during the step, minus RSS before it",
            "rusage": "growth of resource.getrusage ru_maxrss (the process peak: a lower bound, "
            "only new peaks are seen)",
        }[self.method]

    @staticmethod
    def _clear_refs() -> None:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS

    @staticmethod
    def _status(key: str) -> int | None:
        value = proc_field("/proc/self/status", key + ":")
        return int(value.split()[0]) * 1024 if value is not None else None

    @staticmethod
    def _max_rss() -> int:
        import resource  # not on Windows

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def rss(self) -> int:
        """The resident set size now, in bytes (with ``rusage``: the peak so far)."""
        if self.method in ("hwm", "sample-proc"):
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        try:
            import psutil

            return int(psutil.Process().memory_info().rss)
        except ImportError:
            return self._max_rss()

    def trim(self) -> None:
        """Collect garbage and give freed heap memory back to the system."""
        gc.collect()
        if self._libc is not None:
            self._libc.malloc_trim(0)

    def peak_during(self, fn: Callable[[], Any]) -> int:
        """Bytes by which the resident set grew, at its peak, while ``fn()`` ran."""
        self.trim()
        before = self.rss()
        if self.method == "hwm":
            self._clear_refs()
            fn()
            return max(0, (self._status("VmHWM") or before) - before)
        if self.method == "rusage":
            peak0 = self._max_rss()
            fn()
            return max(0, self._max_rss() - max(peak0, before))
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], self.rss())
                time.sleep(0.0002)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            fn()
        finally:
            done.set()
            t.join()
        peak[0] = max(peak[0], self.rss())
        return max(0, peak[0] - before)


# ---------------------------------------------------------------------------- contention
class CpuClock:
    """System-wide busy CPU time (from /proc/stat) and this process's CPU time."""

    @staticmethod
    def read() -> CpuReading | None:
        """A reading, or None where /proc/stat cannot be read."""
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(x) for x in fields[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        steal = ticks[7] if len(ticks) > 7 else 0
        total = sum(ticks[:8])
        t = os.times()
        return {
            "busy": (total - idle - steal) / hz,
            "steal": steal / hz,
            "total": total / hz,
            "self": t.user + t.system,
            "wall": time.monotonic(),
        }

    @staticmethod
    def others(a: CpuReading | None, b: CpuReading | None) -> dict[str, float] | None:
        """Average number of cores kept busy by other processes between two readings
        (``other_cores``), and the share of CPU time stolen by the hypervisor (``steal_pct``);
        None where either reading is missing."""
        if a is None or b is None:
            return None
        wall = b["wall"] - a["wall"]
        total = b["total"] - a["total"]
        if wall <= 0 or total <= 0:
            return None
        busy = b["busy"] - a["busy"]
        mine = b["self"] - a["self"]
        return {
            "other_cores": max(0.0, (busy - mine) / wall),
            "steal_pct": 100.0 * (b["steal"] - a["steal"]) / total,
        }


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# ---------------------------------------------------------------------------- machine
def machine_info() -> dict[str, Any]:
    """Platform, Python, torch and its threads, CPUs, memory, oar and its engines, and the
    versions of the peer libraries (None where not installed)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    cpu = proc_field("/proc/cpuinfo", "model name")
    if cpu is not None:
        info["cpu"] = cpu
    mem_kb = proc_field("/proc/meminfo", "MemTotal")
    if mem_kb is not None:
        info["mem_total_gb"] = round(int(mem_kb.split()[0]) / 2**20, 1)
    try:
        import oar

        info["oar"] = oar.__version__
        from oar import engine as oar_engine

        info["oar_engines"] = sorted(oar_engine.ENGINES)
    except Exception as exc:
        info["oar"] = f"unavailable: {exc}"
    for mod in ("paddle", "pytorch_optimizer", "timm"):
        try:
            from importlib.metadata import version

            info[mod] = version({"paddle": "paddlepaddle"}.get(mod, mod))
        except Exception:
            info[mod] = None
    return info


# ---------------------------------------------------------------------------- bandwidth
def bandwidth_rows(megabytes: float) -> list[Row]:
    """The two probes, on float32 buffers of ``megabytes`` MiB allocated (and touched) once."""
    n = max(1024, int(megabytes * 2**20 / 4))
    buffers: dict[str, torch.Tensor] = {}

    def buf(name: str, value: float) -> torch.Tensor:
        if name not in buffers:
            buffers[name] = torch.full((n,), value)
        return buffers[name]

    def make_inplace() -> Made:
        a, b = buf("a", 1.0), buf("b", 2.0)
        sign = [1.0]

        def step() -> None:  # a += b then a -= b: the values stay bounded
            a.add_(b, alpha=sign[0])
            sign[0] = -sign[0]

        return step, lambda: 0

    def make_out() -> Made:
        a, b, c = buf("a", 1.0), buf("b", 2.0), buf("c", 0.0)

        def step() -> None:
            torch.add(a, b, out=c)

        return step, lambda: 0

    size = f"float32 buffers of {n * 4 / 2**20:.0f} MiB, reused"
    probes: list[tuple[str, Maker, str]] = [
        (BANDWIDTH_INPLACE, make_inplace, "reads a, b, writes a"),
        (BANDWIDTH_OUT, make_out, "reads a, b, writes c"),
    ]
    return [
        Row(
            name,
            "probe",
            "bandwidth",
            None,
            make,
            note=f"{what}: 3 x N x 4 bytes; {size}",
            probe_bytes=3 * n * 4,
            probe_mib=n * 4 / 2**20,
        )
        for name, make, what in probes
    ]
