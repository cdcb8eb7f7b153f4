"""Launch a real process group once and run many cases in it.

:func:`launch` spawns ``world`` worker processes (``torch.multiprocessing``, the ``spawn`` start
method), each joins one gloo process group on 127.0.0.1 at a free port and runs every case of
a list in the same order; a case that raises records its traceback and the workers go on with
the next case. Each rank's results come back to the parent as a dict ``{case id: payload}``
(``torch.save`` to a file in ``tmp``), so one launch (a few seconds of process start) serves
every test of tests/test_distributed.py, and pytest reports each case on its own.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["Failed", "free_port", "launch"]

#: A rank waits this long for the others in a collective before giving up on the case (a case
#: that fails on one rank only would otherwise hang the other).
TIMEOUT = datetime.timedelta(seconds=30)


@dataclasses.dataclass(frozen=True)
class Failed:
    """A case that raised on a rank: the formatted traceback."""

    traceback: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(
    rank: int,
    world: int,
    port: int,
    tmp: str,
    runner: Callable[[Any, int, int, Path], Any],
    cases: Sequence[tuple[str, Any]],
) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=TIMEOUT)
    results: dict[str, Any] = {}
    try:
        for case_id, spec in cases:
            try:
                results[case_id] = runner(spec, rank, world, Path(tmp))
            except Exception:
                results[case_id] = Failed(traceback.format_exc())
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        torch.save(results, Path(tmp) / f"rank{rank}.pt")
        dist.destroy_process_group()


def launch(
    runner: Callable[[Any, int, int, Path], Any], cases: Sequence[tuple[str, Any]], tmp: Path, world: int = 2
) -> list[dict[str, Any]]:
    """Run ``runner(spec, rank, world, tmp)`` for every ``(case id, spec)`` of ``cases`` on each
    of ``world`` gloo ranks; return each rank's ``{case id: payload or Failed}``.

    ``runner`` must be a module-level function (the spawned workers import it by name); its
    payloads must be what ``torch.save`` writes (tensors, numbers, strings, containers).

    Raises:
        torch.multiprocessing.ProcessRaisedException: a worker died outside a case (e.g. the
            process group could not be set up).
    """
    import torch.multiprocessing as mp

    mp.start_processes(
        _worker, args=(world, free_port(), str(tmp), runner, list(cases)), nprocs=world, join=True, start_method="spawn"
    )
    return [torch.load(tmp / f"rank{rank}.pt", weights_only=False) for rank in range(world)]
