"""The rows of ``oar bench``, all from the algorithm table (:func:`oar.algorithms.algorithms`):
for every algorithm, oar's optimizer on each engine, Paddle's class of the same name, and the
algorithm's peers (other libraries' implementations).

A row knows how to build its optimizer (``make``) and the bytes one step of it must move
(``traffic``); the runner fills in what was measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..algorithms import Algorithm, Peer, Traffic, algorithms
from .params import ParamSet

__all__ = [
    "REFERENCE",
    "Made",
    "Maker",
    "Row",
    "TorchParams",
    "build_rows",
    "oar_engines",
    "oar_optimizer",
    "oar_rows",
    "options_of",
    "paddle_rows",
    "peer_rows",
    "reference_peer",
    "sizes",
]

#: The row every other is compared with (the 'vs fused Adam' column): one of Adam's peers.
REFERENCE = "torch.Adam(fused=True)"

#: What a row's constructor returns: the step function and a counter of the state's bytes.
Made = tuple[Callable[[], Any], Callable[[], int]]
#: A row's constructor.
Maker = Callable[[], Made]


@dataclass
class Row:
    """One measured optimizer, or a memory-bandwidth probe (``traffic`` None, ``probe_bytes``
    set), with what the runner measured.

    Attributes:
        name (str): the row's label, e.g. ``'oar.Adam[fused]'``.
        library (str): ``'oar'``, ``'paddle'``, a peer's library, or ``'probe'``.
        algorithm (str): the algorithm's name, or ``'bandwidth'``.
        traffic (Traffic | None): bytes one step must move; None for a probe.
        make (Maker): builds the optimizer (called once, by the runner).
        p_size, s_size (int): element sizes of the params and of the state, in bytes.
        master (bool): the params are updated through float32 master weights.
        note (str): a remark, in the JSON.
        probe_bytes (int | None): a probe's bytes moved per step.
        probe_mib (float | None): a probe's buffer size in MiB.
    """

    name: str
    library: str
    algorithm: str
    traffic: Traffic | None
    make: Maker
    p_size: int = 4
    s_size: int = 4
    master: bool = False
    note: str = ""
    probe_bytes: int | None = None
    probe_mib: float | None = None
    # results
    step: Callable[[], Any] | None = None
    state_bytes_fn: Callable[[], int] | None = None
    times: list[float] = field(default_factory=list)
    cpu_per_wall: list[float] = field(default_factory=list)
    first_step_s: float | None = None
    create_s: float | None = None
    state_bytes: int | None = None
    first_step_rss_growth: int | None = None
    peak_extra: int | None = None
    error: str | None = None

    @property
    def bytes_per_param(self) -> int | None:
        """Bytes one step must move per parameter (None for a probe)."""
        if self.traffic is None:
            return None
        return self.traffic.bytes_per_param(self.p_size, self.s_size, self.master)


# ---------------------------------------------------------------------------- parameters
class TorchParams:
    """Hands out the torch parameters of the torch-tensor rows: one set shared by all
    (default), or a fresh copy per call (``private``)."""

    def __init__(self, pset: ParamSet, private: bool = False) -> None:
        self.pset = pset
        self.private = private

    def __call__(self) -> list[torch.Tensor]:
        if self.private or not self.pset.created:
            return self.pset.torch_params()
        return self.pset.created[-1]


def sizes(dtype: torch.dtype) -> tuple[int, int, bool]:
    """``(param element size, state element size, low precision)`` of params of ``dtype``:
    oar and Paddle keep float32 state (and master weights) for 16-bit params."""
    p_size = torch.empty((), dtype=dtype).element_size()
    low = dtype in (torch.float16, torch.bfloat16)
    return p_size, 4 if low else p_size, low


def options_of(algorithm: Algorithm, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``algorithm.bench_options`` with the values of ``overrides`` (keyed by option name)."""
    return {k: (overrides or {}).get(k, v) for k, v in algorithm.bench_options.items()}


# ---------------------------------------------------------------------------- state bytes
def _tensor_bytes(tensors: Iterable[Any]) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            continue
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def _torch_state_bytes(opt: Any) -> Callable[[], int]:
    def count() -> int:
        return _tensor_bytes(v for st in opt.state.values() for v in st.values())

    return count


def _torch_maker(build: Callable[[], Any]) -> Maker:
    def make() -> Made:
        opt = build()
        return opt.step, _torch_state_bytes(opt)

    return make


# ---------------------------------------------------------------------------- oar
def oar_optimizer(
    algorithm: Algorithm, params: list[torch.Tensor], lr: float, engine: str, options: Mapping[str, Any], low: bool
) -> Any:
    """oar's optimizer of ``algorithm`` as the bench measures it: ``learning_rate=lr``,
    ``engine``, the algorithm's ``bench`` keywords, ``options`` (its ``bench_options``), and
    ``multi_precision=low`` where the algorithm takes it."""
    extra = {"multi_precision": low} if algorithm.multi_precision else {}
    return algorithm.cls(params, learning_rate=lr, engine=engine, **algorithm.bench, **options, **extra)


def oar_engines(wanted: Sequence[str] | None) -> list[str]:
    """``'auto'`` and every engine of ``oar.engine.ENGINES`` (as registered now), or those of
    ``wanted`` (names, comma-separated allowed) that exist.

    Raises:
        ValueError: ``wanted`` names an unknown engine.
    """
    from oar import engine as oar_engine

    available = ["auto"] + sorted(oar_engine.ENGINES)
    if not wanted:
        return available
    names = [s.strip() for w in wanted for s in w.split(",") if s.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown oar engine(s) {unknown}; available: {available}")
    return [n for n in available if n in names]


def oar_rows(
    algos: Sequence[Algorithm],
    pset: ParamSet,
    params_for: Callable[[], list[torch.Tensor]],
    lr: float,
    options: Mapping[str, Mapping[str, Any]],
    engines: Sequence[str],
) -> list[Row]:
    """``oar.<name>[<engine>]`` for every algorithm and engine; ``options`` by algorithm key."""
    p_size, s_size, low = sizes(pset.dtype)
    rows = []
    for a in algos:
        for eng in engines:

            def build(a: Algorithm = a, eng: str = eng) -> Any:
                return oar_optimizer(a, params_for(), lr, eng, options[a.key], low)

            rows.append(
                Row(
                    f"oar.{a.name}[{eng}]",
                    "oar",
                    a.name,
                    a.traffic,
                    _torch_maker(build),
                    p_size=p_size,
                    s_size=s_size,
                    master=low and a.multi_precision,
                )
            )
    return rows


# ---------------------------------------------------------------------------- Paddle
class _PaddleParams:
    """Paddle parameters holding the same data as the torch set, with their gradients set
    (made at the first Paddle row's creation, shared by all Paddle rows)."""

    def __init__(self, pset: ParamSet) -> None:
        self.pset = pset
        self._params: list[Any] | None = None

    def get(self) -> list[Any]:
        if self._params is None:
            import paddle

            dtype = str(self.pset.dtype).removeprefix("torch.")
            params = []
            for v, g in zip(self.pset.values, self.pset.grads, strict=False):
                p = paddle.create_parameter(
                    list(v.shape), "float32", default_initializer=paddle.nn.initializer.Assign(v.numpy())
                )
                pg = paddle.to_tensor(g.numpy())
                if dtype != "float32":
                    p = paddle.create_parameter(
                        list(v.shape), dtype, default_initializer=paddle.nn.initializer.Assign(p.astype(dtype))
                    )
                    pg = pg.astype(dtype)
                p._set_grad_ivar(pg)
                params.append(p)
            self._params = params
        return self._params


def _paddle_state_bytes(opt: Any) -> Callable[[], int]:
    def count() -> int:
        tensors = [t for per_param in getattr(opt, "_accumulators", {}).values() for t in per_param.values()]
        tensors += list(getattr(opt, "_master_weights", {}).values())
        return sum(int(math.prod(t.shape)) * t.element_size() for t in tensors)

    return count


def paddle_rows(
    algos: Sequence[Algorithm], pset: ParamSet, lr: float, options: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Row], list[str]]:
    """``paddle.<name>`` for every algorithm that ``paddle.optimizer`` has (on the CPU), and the
    notes of those skipped."""
    try:
        import paddle
    except Exception as exc:
        return [], [f"Paddle rows skipped: {type(exc).__name__}: {exc}"]
    paddle.set_device("cpu")
    pparams = _PaddleParams(pset)
    p_size, s_size, low = sizes(pset.dtype)
    rows, notes = [], []
    for a in algos:
        cls = getattr(paddle.optimizer, a.name, None)
        if cls is None:
            notes.append(f"paddle.{a.name} skipped: paddle.optimizer has no {a.name}")
            continue
        master = low and a.multi_precision

        def make(cls: Any = cls, a: Algorithm = a, master: bool = master) -> Made:
            extra = {"multi_precision": master} if a.multi_precision else {}
            opt = cls(learning_rate=lr, parameters=pparams.get(), **a.bench, **options[a.key], **extra)
            return opt.step, _paddle_state_bytes(opt)

        rows.append(
            Row(f"paddle.{a.name}", "paddle", a.name, a.traffic, make, p_size=p_size, s_size=s_size, master=master)
        )
    return rows, notes


# ---------------------------------------------------------------------------- peers
def _peer_traffic(peer: Peer, algorithm: Algorithm, options: Mapping[str, Any]) -> Traffic:
    if peer.traffic is None:
        return algorithm.traffic
    if isinstance(peer.traffic, Traffic):
        return peer.traffic
    return peer.traffic(options)


def _peer_skipped(peer: Peer, dtype: torch.dtype, lr: float, options: Mapping[str, Any]) -> str | None:
    """Why ``peer`` cannot run here (its library does not load, or not on ``dtype``), or None.
    The library is tried on a one-element parameter."""
    if dtype not in peer.dtypes:
        return f"{peer.label} skipped: it runs on {', '.join(str(d) for d in peer.dtypes)} only"
    try:
        peer.make([torch.zeros(1, dtype=dtype, requires_grad=True)], lr, options)
    except ImportError as exc:
        return f"{peer.label} skipped: {exc}"
    except Exception:
        pass
    return None


def peer_rows(
    algos: Sequence[Algorithm],
    pset: ParamSet,
    params_for: Callable[[], list[torch.Tensor]],
    lr: float,
    options: Mapping[str, Mapping[str, Any]],
) -> tuple[list[Row], list[str]]:
    """A row for every peer of every algorithm that can run here, and the notes of those
    skipped. Peers keep their state in the params' dtype (no master weights)."""
    p_size = torch.empty((), dtype=pset.dtype).element_size()
    rows, notes = [], []
    for a in algos:
        opts = options[a.key]
        for peer in a.peers:
            why = _peer_skipped(peer, pset.dtype, lr, opts)
            if why is not None:
                notes.append(why)
                continue

            def build(peer: Peer = peer, opts: Mapping[str, Any] = opts) -> Any:
                return peer.make(params_for(), lr, opts)

            rows.append(
                Row(
                    peer.label,
                    peer.library,
                    a.name,
                    _peer_traffic(peer, a, opts),
                    _torch_maker(build),
                    p_size=p_size,
                    s_size=p_size,
                    note=peer.note,
                )
            )
    return rows, notes


def reference_peer() -> tuple[Algorithm, Peer]:
    """The algorithm and peer labelled :data:`REFERENCE`.

    Raises:
        LookupError: no registered peer has that label.
    """
    for a in algorithms():
        for peer in a.peers:
            if peer.label == REFERENCE:
                return a, peer
    raise LookupError(f"no algorithm has the reference peer {REFERENCE!r}")


# ---------------------------------------------------------------------------- all
def build_rows(
    pset: ParamSet,
    params_for: Callable[[], list[torch.Tensor]],
    lr: float,
    options: Mapping[str, Mapping[str, Any]],
    engines: Sequence[str],
    notes: list[str],
) -> list[Row]:
    """Every optimizer row, in the table's order: oar's (algorithm by engine), torch's own
    peers, Paddle's, then the other libraries' peers; skipped rows are explained in ``notes``.
    ``options`` holds every algorithm's options, by key."""
    algos = [a for a in algorithms() if a.rule is not None]  # LBFGS: no single step to time
    rows: list[Row] = []
    try:
        rows += oar_rows(algos, pset, params_for, lr, options, engines)
    except Exception as exc:
        notes.append(f"oar rows skipped: {type(exc).__name__}: {exc}")
    peers, peer_notes = peer_rows(algos, pset, params_for, lr, options)
    paddle, paddle_notes = paddle_rows(algos, pset, lr, options)
    rows += [r for r in peers if r.library == "torch"] + paddle + [r for r in peers if r.library != "torch"]
    notes += paddle_notes + peer_notes
    return rows
