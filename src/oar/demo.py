"""``oar demo``: train a small CNN on scikit-learn's handwritten digits with oar's optimizers.

The demo trains the same small convolutional network (conv 1→16 3x3, ReLU, conv 16→32 3x3,
ReLU, 2x2 max-pool, linear 512→10) on ``sklearn.datasets.load_digits`` (1,797 real 8x8 greyscale
digit images, bundled with scikit-learn, no download; pixels scaled to [0, 1]) once per optimizer
of the algorithm table (:func:`oar.algorithms.algorithms`), each with

* a learning-rate schedule stepped once per batch: :class:`oar.lr.LinearWarmup` (one epoch of
  linear warm-up from 0) wrapping :class:`oar.lr.CosineAnnealingDecay` (cosine decay to 1% of the
  peak lr over the remaining steps);
* global-norm gradient clipping (:class:`oar.ClipGradByGlobalNorm`, clip norm 1.0);
* the algorithm's demo settings (``Algorithm.demo``): its peak lr and constructor keywords, such
  as its weight decay (passed as is: a float ``weight_decay`` means ``oar.L2Decay``, or AdamW's
  decoupled coefficient).

A *full-batch* algorithm (``Algorithm.full_batch``: Rprop, LBFGS, deterministic methods meant
to see all the data at every step) is trained as it is meant to be used instead: each step is
``optimizer.step(closure)``, where the closure evaluates the loss and its gradient on the whole
training set; an epoch is ``demo['steps_per_epoch']`` such steps (default 1); the learning rate is
the constant ``peak_lr`` (Rprop ignores any later change of its lr, LBFGS reads none), and there
is no gradient clipping (LBFGS ignores it; Rprop's update uses the gradient's sign only).

The train/test split is fixed (stratified, 25% test, ``random_state=0``); ``seed`` sets the weight
initialisation and the batch order, and a run is deterministic for a seed on a given machine.

The heavy optional dependencies (scikit-learn, matplotlib, tqdm; ``pip install 'oar[demo]'``)
are imported inside the functions that need them, so ``import oar`` and ``import oar.demo``
stay light.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

import torch
from torch import nn

import oar
from oar.algorithms import algorithms, get

__all__ = [
    "BATCH_SIZE",
    "CONFIGS",
    "DEFAULT_EPOCHS",
    "DEFAULT_OUT",
    "DEFAULT_SEED",
    "OPTIMIZERS",
    "DemoDependencyError",
    "build_model",
    "check_dependencies",
    "evaluate",
    "format_table",
    "load_data",
    "make_optimizer",
    "plot_losses",
    "run_demo",
    "steps_per_epoch",
    "train",
    "write_results",
]

OPTIMIZERS = tuple(a.key for a in algorithms())
#: What ``oar demo`` trains when no optimizer is named (``--optimizers all`` trains every one).
DEFAULT_OPTIMIZERS = ("adam", "lamb", "rmsprop")
DEFAULT_EPOCHS = 10
DEFAULT_SEED = 0
DEFAULT_OUT = "oar-demo-out"
BATCH_SIZE = 32
CLIP_NORM = 1.0
WARMUP_EPOCHS = 1
ETA_MIN_FRACTION = 0.01
SMOOTHING = 10  # batches averaged in the per-batch curves of loss_curves.png

# Per-optimizer settings, from the algorithm table: its display name, peak learning rate and
# constructor keywords (see the module docstring), and ``steps_per_epoch`` for a full-batch one.
# The demo promises >= 95% test accuracy with the default 10 epochs.
CONFIGS: dict[str, dict[str, Any]] = {a.key: {"display": a.name, **a.demo} for a in algorithms()}
#: The demo's own keys in ``Algorithm.demo`` (not constructor keywords).
_DEMO_KEYS = ("peak_lr", "steps_per_epoch")
# Plot colours, in table order (matplotlib's tab10).
_COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)

_DEPENDENCIES = (("sklearn", "scikit-learn"), ("matplotlib", "matplotlib"), ("tqdm", "tqdm"))


class DemoDependencyError(ImportError):
    """A package the demo needs (scikit-learn, matplotlib or tqdm) is not installed."""


def check_dependencies() -> None:
    """Raise :class:`DemoDependencyError` naming every missing demo dependency."""
    missing = []
    for module, dist in _DEPENDENCIES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise DemoDependencyError(
            f"the oar demo needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. "
            "Install the demo extras with:  pip install 'oar[demo]'"
        )


def _import(module: str, dist: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DemoDependencyError(
            f"the oar demo needs {dist}, which is not installed. Install the demo extras with:  pip install 'oar[demo]'"
        ) from exc


# ---------------------------------------------------------------------------------------------- data
def load_data(seed: int = DEFAULT_SEED) -> dict[str, torch.Tensor]:
    """The digits data set as tensors: ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Images are float32 of shape ``(N, 1, 8, 8)`` with pixels in [0, 1]; labels int64 in 0..9.
    The split is stratified with 25% test data and ``random_state=0`` whatever ``seed`` is, so
    accuracies of different seeds are comparable; ``seed`` is accepted for API symmetry only
    (the seeded randomness, initialisation and batch order, lives in :func:`train`).
    """
    del seed  # the split is deliberately fixed
    datasets = _import("sklearn.datasets", "scikit-learn")
    model_selection = _import("sklearn.model_selection", "scikit-learn")
    digits = datasets.load_digits()
    x = digits.images.astype("float32") / 16.0  # the raw pixels are integers 0..16
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=0
    )
    return {
        "x_train": torch.from_numpy(x_train).unsqueeze(1).contiguous(),
        "y_train": torch.from_numpy(y_train),
        "x_test": torch.from_numpy(x_test).unsqueeze(1).contiguous(),
        "y_test": torch.from_numpy(y_test),
    }


# ---------------------------------------------------------------------------------------------- model
def build_model() -> nn.Module:
    """The demo's CNN for 1x8x8 inputs and 10 classes (about 10k parameters). Initialised from
    torch's global RNG: seed it first (:func:`train` does)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 4 x 4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def make_schedule(peak_lr: float, steps_per_epoch: int, epochs: int) -> oar.lr.LRScheduler:
    """Per-batch schedule: linear warm-up from 0 to ``peak_lr`` over one epoch (capped at half of
    the run), then cosine decay to ``ETA_MIN_FRACTION * peak_lr`` over the remaining steps."""
    total = steps_per_epoch * epochs
    warmup = max(1, min(WARMUP_EPOCHS * steps_per_epoch, total // 2))
    cosine = oar.lr.CosineAnnealingDecay(
        learning_rate=peak_lr, T_max=max(1, total - warmup), eta_min=peak_lr * ETA_MIN_FRACTION
    )
    return oar.lr.LinearWarmup(learning_rate=cosine, warmup_steps=warmup, start_lr=0.0, end_lr=peak_lr)


def steps_per_epoch(name: str, train_size: int) -> int:
    """Optimizer steps per epoch of algorithm ``name``: one per batch of :data:`BATCH_SIZE` over
    ``train_size`` examples, or a full-batch algorithm's ``demo['steps_per_epoch']`` (default 1)."""
    algorithm = get(name)
    if algorithm.full_batch:
        return int(algorithm.demo.get("steps_per_epoch", 1))
    return math.ceil(train_size / BATCH_SIZE)


def make_optimizer(
    name: str, model: nn.Module, steps_per_epoch: int, epochs: int
) -> tuple[oar.Optimizer, oar.lr.LRScheduler | None]:
    """The optimizer ``name`` (a key of :data:`OPTIMIZERS`: ``'adam'``, ``'lamb'``, ...) for
    ``model``'s parameters, with its schedule, global-norm clipping and the algorithm's demo
    keywords, passed as they are. A full-batch algorithm
    (``Algorithm.full_batch``) gets the constant ``peak_lr``, no schedule and no clipping.

    Returns:
        ``(optimizer, scheduler)``; the scheduler is None for a full-batch algorithm. Call
        ``scheduler.step()`` after every ``optimizer.step()``; the optimizer reads the scheduler
        but never steps it.

    Raises:
        ValueError: an unknown ``name``.
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    algorithm = get(name)
    settings = {k: v for k, v in algorithm.demo.items() if k not in _DEMO_KEYS}
    if algorithm.full_batch:
        opt = algorithm.cls(learning_rate=float(algorithm.demo["peak_lr"]), parameters=model.parameters(), **settings)
        return opt, None
    sched = make_schedule(algorithm.demo["peak_lr"], steps_per_epoch, epochs)
    opt = algorithm.cls(
        learning_rate=sched,
        parameters=model.parameters(),
        grad_clip=oar.ClipGradByGlobalNorm(clip_norm=CLIP_NORM),
        **settings,
    )
    return opt, sched


# ---------------------------------------------------------------------------------------------- training
@contextmanager
def _deterministic(threads: int = 1) -> Iterator[None]:
    """Deterministic algorithms and a fixed intra-op thread count for the duration (both restored
    afterwards). One thread keeps the float reductions in a fixed order and is also the fastest
    setting for a network this small (several threads mostly wait on each other)."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    try:
        torch.use_deterministic_algorithms(True)
    except Exception:  # pragma: no cover - very old or unusual builds: not deterministic
        pass
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[float, float]:
    """``(mean cross-entropy loss, accuracy in %)`` of ``model`` on ``(x, y)``."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == target).sum())
    model.train(was_training)
    return total_loss / len(x), 100.0 * correct / len(x)


def train(
    name: str,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    data: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Train the demo CNN with optimizer ``name`` and return its results.

    ``seed`` seeds the weight initialisation and the per-epoch batch order (drawn from a private
    ``torch.Generator``); the global RNG state is restored afterwards. ``progress`` shows a tqdm
    bar on stderr when it is a terminal. ``data`` (from :func:`load_data`) avoids reloading.

    Returns a dict with ``optimizer``, ``display_name``, ``epochs``, ``seed``, ``peak_lr``,
    ``final_lr``, ``final_train_loss`` (mean loss over the last epoch's batches),
    ``test_loss``, ``test_accuracy`` (%), ``seconds``, ``epoch_train_losses`` (one mean per epoch),
    ``step_losses`` (one per batch, or per full-batch step) and ``epoch_test_accuracies``.
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    tqdm = _import("tqdm", "tqdm").tqdm
    if data is None:
        data = load_data(seed)
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]
    n = len(x_train)
    per_epoch = steps_per_epoch(name, n)
    full_batch = get(name).full_batch

    with torch.random.fork_rng(devices=[]), _deterministic():
        # timed from here: the first use_deterministic_algorithms() call imports a few seconds
        # of torch internals, once per process, which would otherwise count against one optimizer
        start = time.perf_counter()
        torch.manual_seed(seed)
        model = build_model()
        opt, sched = make_optimizer(name, model, per_epoch, epochs)
        shuffle = torch.Generator().manual_seed(seed)
        step_losses: list[float] = []
        epoch_losses: list[float] = []
        epoch_accs: list[float] = []
        bar = tqdm(
            total=per_epoch * epochs,
            desc=f"{CONFIGS[name]['display']:<8}",
            unit="step",
            leave=True,
            disable=None if progress else True,  # None: off when stderr is not a terminal
        )
        try:
            model.train()
            for epoch in range(epochs):
                if full_batch:
                    losses = _full_batch_epoch(model, opt, x_train, y_train, per_epoch, bar)
                    step_losses.extend(losses)
                    epoch_losses.append(sum(losses) / len(losses))
                else:
                    order = torch.randperm(n, generator=shuffle)
                    running = 0.0
                    for first in range(0, n, BATCH_SIZE):
                        idx = order[first : first + BATCH_SIZE]
                        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                        loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
                        opt.step()
                        opt.clear_grad()
                        assert sched is not None
                        sched.step()
                        value = loss.item()
                        step_losses.append(value)
                        running += value * len(idx)
                        bar.update(1)
                    epoch_losses.append(running / n)
                _, acc = evaluate(model, x_test, y_test)
                epoch_accs.append(acc)
                bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_losses[-1]:.4f}", test_acc=f"{acc:.1f}%")
        finally:
            bar.close()
        test_loss, test_acc = evaluate(model, x_test, y_test)
        final_lr = opt.get_lr()
        seconds = time.perf_counter() - start
    return {
        "optimizer": name,
        "display_name": CONFIGS[name]["display"],
        "epochs": epochs,
        "seed": seed,
        "peak_lr": CONFIGS[name]["peak_lr"],
        "final_lr": final_lr,
        "final_train_loss": epoch_losses[-1],
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "seconds": seconds,
        "epoch_train_losses": epoch_losses,
        "epoch_test_accuracies": epoch_accs,
        "step_losses": step_losses,
    }


class _Progress(Protocol):
    """What the demo uses of a tqdm bar."""

    def update(self, n: int = 1) -> object: ...


def _full_batch_epoch(
    model: nn.Module, opt: oar.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int, bar: _Progress
) -> list[float]:
    """``steps`` calls of ``opt.step(closure)``, the closure evaluating the whole training set;
    returns each step's loss (the closure's first value in that step)."""

    def closure() -> torch.Tensor:
        opt.clear_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
        return loss

    losses = []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        bar.update(1)
    return losses


# ---------------------------------------------------------------------------------------------- outputs
def format_table(results: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table: optimizer, final train loss, test accuracy (%), seconds."""
    headers = ("optimizer", "final train loss", "test accuracy (%)", "seconds")
    rows = [
        (r["display_name"], f"{r['final_train_loss']:.4f}", f"{r['test_accuracy']:.2f}", f"{r['seconds']:.1f}")
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False)]
        return "  ".join([first, *rest])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing means of ``window`` consecutive values (``len(values) - window + 1`` of them)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        if i >= window - 1:
            out.append(total / window)
    return out


def plot_losses(results: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write the training-loss curves (one line per optimizer, log scale) as a PNG at ``path``.

    Uses matplotlib's object API with the Agg canvas, so pyplot's global backend is untouched.
    """
    _import("matplotlib", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = {key: _COLORS[i % len(_COLORS)] for i, key in enumerate(OPTIMIZERS)}
    for r in results:
        color = colors.get(r["optimizer"])
        steps = r["step_losses"]
        per_epoch = len(steps) / r["epochs"]
        window = max(1, min(SMOOTHING, len(steps)))
        smooth = _moving_average(steps, window)
        x_steps = [(i + window) / per_epoch for i in range(len(smooth))]
        ax.plot(x_steps, smooth, color=color, alpha=0.35, linewidth=1.0)
        epochs = list(range(1, r["epochs"] + 1))
        ax.plot(
            epochs,
            r["epoch_train_losses"],
            color=color,
            marker="o",
            markersize=4,
            linewidth=2,
            label=f"{r['display_name']} (test acc {r['test_accuracy']:.1f}%)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy, log scale)")
    ax.set_title(
        "oar optimizers on sklearn digits (8x8): training loss\n"
        f"faint: moving average of {SMOOTHING} batches; markers: mean over each epoch",
        fontsize=11,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def write_results(
    results: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], config: Mapping[str, Any]
) -> Path:
    """Write ``{"config": ..., "results": [...]}`` as JSON at ``path``."""
    path = Path(path)
    payload = {
        "oar_version": oar.__version__,
        "torch_version": torch.__version__,
        "config": config,
        "results": list(results),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def run_demo(
    optimizers: Sequence[str] = OPTIMIZERS,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    out: str | os.PathLike[str] = DEFAULT_OUT,
    progress: bool = True,
    stream: TextIO | None = None,
) -> list[dict[str, Any]]:
    """Train with each optimizer, print the results table to ``stream`` (stdout by default), and
    write ``<out>/loss_curves.png`` and ``<out>/results.json``. Returns the per-optimizer results
    (see :func:`train`).

    Raises:
        DemoDependencyError: scikit-learn, matplotlib or tqdm is missing.
        ValueError: an unknown optimizer name or a non-positive ``epochs``.
    """
    stream = sys.stdout if stream is None else stream
    optimizers = list(optimizers)
    for name in optimizers:
        if name not in CONFIGS:
            raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    check_dependencies()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(seed)
    print(
        f"oar demo: CNN on sklearn digits ({len(data['x_train'])} train / {len(data['x_test'])} test "
        f"images, 8x8), {epochs} epoch{'s' if epochs != 1 else ''}, batch {BATCH_SIZE}, seed {seed}",
        file=stream,
        flush=True,
    )
    results = [train(name, epochs=epochs, seed=seed, progress=progress, data=data) for name in optimizers]
    print(file=stream)
    print(format_table(results), file=stream)
    png = plot_losses(results, out / "loss_curves.png")
    config = {
        "optimizers": optimizers,
        "epochs": epochs,
        "seed": seed,
        "batch_size": BATCH_SIZE,
        "clip_norm": CLIP_NORM,
        "warmup_epochs": WARMUP_EPOCHS,
        "eta_min_fraction": ETA_MIN_FRACTION,
        "optimizer_settings": {name: CONFIGS[name] for name in optimizers},
        "dataset": "sklearn.datasets.load_digits, stratified 75/25 split, random_state=0",
    }
    js = write_results(results, out / "results.json", config)
    print(f"\nwrote {png}\nwrote {js}", file=stream, flush=True)
    return results
