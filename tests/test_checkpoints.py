"""Checkpoints of every optimizer of the table (``oar.algorithms.algorithms()``).

* Loading is atomic: a corrupted state dict (wrong optimizer kind, param or group count, shapes,
  accumulators, types, dtypes, NaN counts and beta pows, bad group options, a corrupt
  ``'LR_Scheduler'``) raises ValueError naming the entry and changes nothing (params, state,
  param groups, scheduler); hypothesis corrupts valid dicts in many ways and every outcome is
  either that, or a load after which the next step equals that of a fresh optimizer loaded with
  the same dict.
* Exact resume: each algorithm (with a scheduler, weight decay and clipping from its test cases,
  tests/cases/<name>.py) and each LR scheduler of ``oar.lr`` trains K steps, is saved with
  ``torch.save``, loaded in one fresh Python process with ``torch.load(..., weights_only=True)``
  and continues N steps: bit-identical to the uninterrupted run (params and the whole state
  dict), on the eager and fused engines (and the fused kernel runs every update in both).

Running this file as a script (``python tests/test_checkpoints.py DIR``) is the fresh-process
half; it imports neither Paddle nor pytest-only helpers. Runtime: about 35 s on 2 cores (the
resume test 9 s with its child process, the hypothesis tests 1 s per algorithm at 30 examples).
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

import oar  # type: ignore[import-untyped]  # (oar ships no py.typed marker)
from oar.engine import fused  # type: ignore[import-untyped]

SHAPES = [(6, 5), (5,), (2, 3, 4), (1,)]
K, N = 4, 4  # steps before the checkpoint, steps after it
NAMES = [a.name for a in oar.algorithms.algorithms()]

Config = dict[str, Any]


# ---------------------------------------------------------------------------- building and training
def _to_oar(obj: Any) -> Any:
    """A neutral description (tests/cases: ``('L1'|'L2', c)``, ``('clip', kind, kwargs)``,
    ``('sched', name, kwargs)``; here also ``('lr_case', name)``, a case of tests/lr_cases.py) as
    the oar object, without Paddle."""
    if isinstance(obj, tuple) and obj and obj[0] in ("L1", "L2"):
        return (oar.L1Decay if obj[0] == "L1" else oar.L2Decay)(obj[1])
    if isinstance(obj, tuple) and obj and obj[0] == "clip":
        return getattr(oar, obj[1])(**obj[2])
    if isinstance(obj, tuple) and obj and obj[0] == "sched":
        return getattr(oar.lr, obj[1])(**{k: _to_oar(v) for k, v in obj[2].items()})
    if isinstance(obj, tuple) and obj and obj[0] == "lr_case":
        import lr_cases

        return lr_cases.ALL[obj[1]](oar.lr)
    return obj


def build(config: Config, seed: int = 0) -> tuple[list[torch.nn.Parameter], oar.Optimizer]:
    """Four float32 params (``SHAPES``, drawn from ``seed``) and the optimizer of ``config``:
    ``name`` (the algorithm), ``engine``, ``kwargs`` and ``groups`` (``{'idx': [...], **options}``)
    in the neutral vocabulary."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).float()) for s in SHAPES]
    kwargs = {k: _to_oar(v) for k, v in config["kwargs"].items()}
    arg: Any = params
    if config.get("groups"):
        arg = [
            {"params": [params[i] for i in grp["idx"]], **{k: _to_oar(v) for k, v in grp.items() if k != "idx"}}
            for grp in config["groups"]
        ]
    algorithm = oar.algorithms.get(config["name"])
    if algorithm.rule is not None:
        kwargs["engine"] = config["engine"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # options Paddle ignores (Rprop's group lr, ...): oar warns
        opt = algorithm.cls(parameters=arg, **kwargs)
    return params, opt


def _loss(params: Sequence[torch.Tensor], step: int) -> torch.Tensor:
    """A strictly convex loss of the params, other at every step: sum(a p + b p^2 / 2), b > 0."""
    g = torch.Generator().manual_seed(1000 + step)
    total = torch.zeros((), dtype=params[0].dtype)
    for p in params:
        a = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
        b = (0.5 + torch.rand(p.shape, generator=g, dtype=torch.float64)).to(p.dtype)
        total = total + (a * p).sum() + 0.5 * (b * p * p).sum()
    return total


def train(params: Sequence[torch.Tensor], opt: oar.Optimizer, steps: Iterable[int]) -> None:
    """One ``opt.step(closure)`` per step (every oar optimizer takes a closure; LBFGS needs one),
    then the scheduler's step (``ReduceOnPlateau`` with the loss)."""
    for t in steps:

        def closure(t: int = t) -> torch.Tensor:
            opt.clear_grad()
            loss = _loss(params, t)
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        loss = opt.step(closure)
        sched = opt._learning_rate
        if isinstance(sched, oar.lr.ReduceOnPlateau):
            sched.step(float(loss.detach()))
        elif isinstance(sched, oar.lr.LRScheduler):
            sched.step()


# ---------------------------------------------------------------------------- comparing
def same(a: Any, b: Any) -> bool:
    """Equal as data, bit for bit: tensors of one dtype and shape with equal elements (NaN equal
    to NaN), numbers equal (NaN too), containers element by element, other objects ``==``."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape or a.layout != b.layout:
            return False
        if a.layout != torch.strided or a.device.type == "meta":
            return True
        if a.dtype.is_floating_point or a.dtype.is_complex:
            return bool(torch.equal(torch.isnan(a), torch.isnan(b))) and bool(
                torch.equal(torch.nan_to_num(a, nan=0.0), torch.nan_to_num(b, nan=0.0))
            )
        return bool(torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------- the fresh-process half
def _child(workdir: str) -> None:
    """Resume every configuration from its checkpoint and compare with the uninterrupted run;
    prints one JSON line ``{'resumed': [...], 'failures': [...]}``."""
    with open(os.path.join(workdir, "configs.txt")) as f:
        configs = ast.literal_eval(f.read())
    ckpts = torch.load(os.path.join(workdir, "ckpt.pt"), weights_only=True)
    expected = torch.load(os.path.join(workdir, "expected.pt"), weights_only=True)
    resumed, failures = [], []
    for config in configs:
        label = config["label"]
        try:
            params, opt = build(config, seed=123)  # other initial params: the checkpoint must set them
            with torch.no_grad():
                for p, saved in zip(params, ckpts[label]["model"], strict=True):
                    p.copy_(saved)
            opt.set_state_dict(ckpts[label]["opt"])
            before = fused.stats()
            train(params, opt, range(K, K + N))
            after = fused.stats()
            want = expected[label]
            if not all(same(p.detach(), q) for p, q in zip(params, want["model"], strict=True)):
                failures.append(f"{label}: params differ from the uninterrupted run")
            elif not same(opt.state_dict(), want["opt"]):
                failures.append(f"{label}: the state dict differs from the uninterrupted run")
            elif config["engine"] == "fused" and (
                after.get("fallback_params", 0) != before.get("fallback_params", 0)
                or after.get("fused_params", 0) == before.get("fused_params", 0)
            ):
                failures.append(f"{label}: the fused kernel did not run every update after the load")
            else:
                resumed.append(label)
        except Exception as exc:
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
    print(json.dumps({"resumed": resumed, "failures": failures}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _child(sys.argv[1])
    sys.exit(0)


# ---------------------------------------------------------------------------- configurations (Paddle's test data)
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st


def _has_kernel(name: str) -> bool:
    rule = oar.algorithms.get(name).rule
    return rule is not None and fused.kernel_for(rule) is not None


def rich_config(name: str, engine: str = "eager", rotation: int = 0) -> Config:
    """``name``'s first option case with param groups (tests/cases/<name>.py: per-group options,
    weight decay, clipping), with a scheduler from tests/cases ``SCHEDULERS`` (the
    ``rotation``-th) where the algorithm takes one, weight decay where it takes one, and
    global-norm clipping. An algorithm without cases (LBFGS) gets its demo's settings."""
    from algorithm_cases import ENTRIES
    from cases import GLOBAL, SCHEDULERS

    algorithm = oar.algorithms.get(name)
    entry = ENTRIES[name]
    label = f"{name}-{engine}"
    grouped = [case for case in entry.cases if case[2]]
    if algorithm.rule is None or not grouped:
        demo = dict(algorithm.demo)
        kwargs = {"learning_rate": demo.pop("peak_lr"), **{k: v for k, v in demo.items() if k != "steps_per_epoch"}}
        return {"label": label, "name": name, "engine": engine, "kwargs": kwargs, "groups": None}
    kwargs, _, groups = grouped[0]
    kwargs = {**entry.required, **kwargs}
    if entry.schedulers:
        kwargs["learning_rate"] = SCHEDULERS[rotation % len(SCHEDULERS)]
    if entry.weight_decay:
        kwargs.setdefault("weight_decay", 0.01)
    kwargs.setdefault("grad_clip", GLOBAL)
    return {"label": label, "name": name, "engine": engine, "kwargs": kwargs, "groups": groups}


def scheduler_cases() -> list[tuple[str, Any]]:
    """One case of each ``oar.lr`` scheduler class (tests/lr_cases.py, plus ReduceOnPlateau with a
    short patience, which reduces within K + N steps), and a LinearWarmup nested twice."""
    import lr_cases

    chosen: dict[str, tuple[str, Any]] = {}
    for key, factory in lr_cases.ALL.items():
        chosen.setdefault(type(factory(oar.lr)).__name__, (key, ("lr_case", key)))
    cases = list(chosen.values()) + [("warmup_warmup", ("lr_case", "warmup_warmup"))]
    plateau = (
        "sched",
        "ReduceOnPlateau",
        {"learning_rate": 1.0, "mode": "max", "patience": 1, "factor": 0.5, "cooldown": 1},
    )
    return cases + [("plateau", plateau)]


def resume_configs() -> list[Config]:
    """Every algorithm (its rich config) on the eager engine and, where it has a kernel, the fused
    one; then every scheduler case driving an algorithm that follows the lr (in turn), through a
    group lr multiplier of 0.01 (the cases' lrs reach 3), eager and fused in turn."""
    from algorithm_cases import ENTRIES

    configs = []
    for i, name in enumerate(NAMES):
        for engine in ("eager", "fused") if _has_kernel(name) else ("eager",):
            configs.append(rich_config(name, engine, rotation=i))
    followers = [
        a.name
        for a in oar.algorithms.algorithms()
        if a.follows_lr and a.rule is not None and ENTRIES[a.name].schedulers
    ]
    for j, (key, sched) in enumerate(scheduler_cases()):
        name = followers[j % len(followers)]
        engine = "fused" if j % 2 and _has_kernel(name) else "eager"
        configs.append(
            {
                "label": f"{key}-{name}-{engine}",
                "name": name,
                "engine": engine,
                "kwargs": {**ENTRIES[name].required, "learning_rate": sched},
                "groups": [{"idx": [0, 1, 2, 3], "learning_rate": 0.01}],
            }
        )
    return configs


# ---------------------------------------------------------------------------- exact resume
def test_resume_in_a_fresh_process_is_bit_identical_for_every_algorithm_and_scheduler(tmp_path: Path) -> None:
    """K steps, save (params and optimizer), N more steps; a fresh process loads the checkpoint
    with ``weights_only=True`` and runs the N steps: the params and the whole state dict are
    bit-identical to the uninterrupted run's, and a fused run stays fused after the load."""
    configs = resume_configs()
    assert {c["name"] for c in configs} == set(NAMES)
    every = {
        n
        for n in oar.lr.__all__
        if isinstance(getattr(oar.lr, n), type)
        and issubclass(getattr(oar.lr, n), oar.lr.LRScheduler)
        and n != "LRScheduler"
    }
    assert {type(_to_oar(s)).__name__ for _, s in scheduler_cases()} == every
    ckpts, expected = {}, {}
    for config in configs:
        params, opt = build(config)
        before = fused.stats()
        train(params, opt, range(K))
        ckpts[config["label"]] = {"model": [p.detach().clone() for p in params], "opt": copy.deepcopy(opt.state_dict())}
        train(params, opt, range(K, K + N))
        expected[config["label"]] = {
            "model": [p.detach().clone() for p in params],
            "opt": copy.deepcopy(opt.state_dict()),
        }
        if config["engine"] == "fused":  # the uninterrupted run is fused throughout too
            assert fused.stats().get("fallback_params", 0) == before.get("fallback_params", 0), config["label"]
    torch.save(ckpts, tmp_path / "ckpt.pt")
    torch.save(expected, tmp_path / "expected.pt")
    (tmp_path / "configs.txt").write_text(repr(configs))
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["failures"] == []
    assert sorted(report["resumed"]) == sorted(c["label"] for c in configs)


def test_the_resume_check_can_fail() -> None:
    """The comparison of the resume test sees a state that was not restored: resuming without
    loading the optimizer's state dict (params only) differs from the uninterrupted run."""
    config = rich_config("Adam")
    params, opt = build(config)
    train(params, opt, range(K))
    model = [p.detach().clone() for p in params]
    train(params, opt, range(K, K + N))
    fresh_params, fresh = build(config, seed=123)
    with torch.no_grad():
        for p, saved in zip(fresh_params, model, strict=True):
            p.copy_(saved)
    train(fresh_params, fresh, range(K, K + N))
    assert not all(same(p.detach(), q.detach()) for p, q in zip(fresh_params, params, strict=True))
    assert not same(fresh.state_dict(), opt.state_dict())


# ---------------------------------------------------------------------------- atomic loading
def trained(config: Config, steps: int = 2) -> tuple[list[torch.nn.Parameter], oar.Optimizer]:
    params, opt = build(config)
    train(params, opt, range(steps))
    return params, opt


def _snapshot(params: Sequence[torch.Tensor], opt: oar.Optimizer) -> dict[str, Any]:
    """Everything a load may change: param values, the state dict (values: state, groups,
    scheduler, lr), and the identities of the group dicts, state dicts and state tensors."""
    return {
        "params": [p.detach().clone() for p in params],
        "state_dict": copy.deepcopy(opt.state_dict()),
        "groups": [id(g) for g in opt.param_groups],
        "state": {
            id(k): (id(v), {n: id(t) for n, t in v.items()} if isinstance(v, dict) else None)
            for k, v in opt.state.items()
        },
        "lr": opt._learning_rate if isinstance(opt._learning_rate, oar.lr.LRScheduler) else float(opt._learning_rate),
    }


def assert_unchanged(before: dict[str, Any], params: Sequence[torch.Tensor], opt: oar.Optimizer) -> None:
    after = _snapshot(params, opt)
    assert all(same(a, b) for a, b in zip(before["params"], after["params"], strict=True)), "params changed"
    assert same(before["state_dict"], after["state_dict"]), "the state dict changed"
    assert before["groups"] == after["groups"], "param_groups replaced"
    assert before["state"] == after["state"], "state entries replaced"
    assert before["lr"] is after["lr"] or before["lr"] == after["lr"], "learning rate changed"


def load_or_reject(config: Config, params: Sequence[torch.Tensor], opt: oar.Optimizer, corrupted: Any) -> str:
    """Load ``corrupted`` into ``opt``: either a ValueError (or Paddle's AssertionError for a
    missing ``'LR_Scheduler'``) and nothing changed, or a load that leaves the dict as it was and
    after which one step gives the params and state dict of a fresh optimizer (other initial
    state, the same params) loaded with the same dict. Returns ``'rejected'`` or ``'loaded'``."""
    before = _snapshot(params, opt)
    given = copy.deepcopy(corrupted)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.set_state_dict(given)
    except ValueError:
        assert_unchanged(before, params, opt)
        return "rejected"
    except AssertionError:
        assert isinstance(opt._learning_rate, oar.lr.LRScheduler) and "LR_Scheduler" not in corrupted
        assert_unchanged(before, params, opt)
        return "rejected"
    assert same(given, corrupted), "the load changed the dict it was given"
    ref_params, ref = build(config, seed=7)
    with torch.no_grad():
        for r, p in zip(ref_params, params, strict=True):
            r.copy_(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.set_state_dict(copy.deepcopy(corrupted))
        outcomes: list[type[BaseException] | None] = []
        for ps, o in ((params, opt), (ref_params, ref)):
            try:
                train(ps, o, [K])
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(type(exc))
    assert outcomes[0] is None, f"the step after an accepted load raised {outcomes[0]}"
    assert outcomes[1] is None
    assert all(same(p.detach(), r.detach()) for p, r in zip(params, ref_params, strict=True)), (
        "the step differs from the reference"
    )
    assert same(opt.state_dict(), ref.state_dict()), "the state differs from the reference"
    return "loaded"


# --------------------------------------------------------------- targeted corruptions, every algorithm
def _edit(obj: Any, path: tuple[Any, ...], fn: Callable[[Any], Any]) -> Any:
    """A copy of ``obj`` whose node at ``path`` is ``fn(node)`` (containers on the way copied; a
    tuple stays a tuple)."""
    if not path:
        return fn(obj)
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        new = dict(obj)
        new[head] = _edit(obj.get(head), rest, fn)  # a new key: fn(None)
        return new
    items = list(obj)
    items[head] = _edit(obj[head], rest, fn)
    return tuple(items) if isinstance(obj, tuple) else items


def _without(mapping: dict[Any, Any], key: Any) -> dict[Any, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _put(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``obj`` with ``value`` at ``path``."""
    return _edit(obj, path, lambda _: value)


def _drop(obj: Any, path: tuple[Any, ...]) -> Any:
    """A copy of ``obj`` without the node at ``path`` (a dict's key, a list's or tuple's item)."""
    key = path[-1]

    def drop(c: Any) -> Any:
        if isinstance(c, dict):
            return _without(c, key)
        return type(c)(v for i, v in enumerate(c) if i != key)

    return _edit(obj, path[:-1], drop)


def _rename(obj: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``obj`` whose dict entry at ``path`` is moved to the key ``new``."""
    return _edit(obj, path[:-1], lambda d: {**_without(d, path[-1]), new: d[path[-1]]})


def targeted(opt: oar.Optimizer, sd: dict[str, Any]) -> Iterator[tuple[str, Any, list[str]]]:
    """(what, corrupted dict, fragments its message must hold) for one trained optimizer: every
    kind of corruption the brief names, on each accumulator of the first param's state and each
    option of the first group."""
    other = NAMES[(NAMES.index(type(opt).__name__) + 1) % len(NAMES)]
    if isinstance(opt, oar.LBFGS):
        yield "wrong kind", {**sd, "optimizer": other}, ["['optimizer']", other]
        yield "state not a dict", {"state": [1]}, ["['state']"]
        yield "unknown key", _put(sd, ("state", "moment1"), torch.zeros(1)), ["moment1"]
        for key in sd["state"]:
            yield f"{key} a str", _put(sd, ("state", key), "x"), [f"[{key!r}]"]
        lbfgs = sd["state"]
        yield "d of another size", _put(sd, ("state", "d"), lbfgs["d"][:-1]), ["['d']", "shape"]
        yield "n_iter NaN", _put(sd, ("state", "n_iter"), math.nan), ["['n_iter']"]
        yield "n_iter negative", _put(sd, ("state", "n_iter"), -1), ["['n_iter']"]
        yield "d missing", _drop(sd, ("state", "d")), ["['d']"]
        yield "H_diag NaN", _put(sd, ("state", "H_diag"), torch.tensor(math.nan)), ["['H_diag']", "finite"]
        yield "history too long", _put(sd, ("state", "ro"), [*lbfgs["ro"], 1.0]), ["ro"]
        yield "al too short", _put(sd, ("state", "al"), lbfgs["al"][:-1]), ["['al']"]
        return
    groups, state = sd["param_groups"], sd["state"]
    yield "wrong kind", {**sd, "optimizer": other}, ["['optimizer']", other]
    yield "state not a dict", {**sd, "state": list(state.values())}, ["['state']"]
    yield "state missing", _without(sd, "state"), ["['state']", "missing"]
    yield "param_groups not a list", {**sd, "param_groups": dict(enumerate(groups))}, ["['param_groups']"]
    yield "a group more", {**sd, "param_groups": [*groups, {**groups[-1], "params": []}]}, ["groups"]
    yield "a group less", {**sd, "param_groups": groups[:-1]}, ["groups"]
    last = max(i for g in groups for i in g["params"])
    first = ("param_groups", 0, "params")
    indices = groups[0]["params"]
    yield "a param more", _put(sd, first, [*indices, last + 1]), ["['param_groups'][0]"]
    yield "a param less", _put(sd, first, indices[:-1]), ["['param_groups'][0]"]
    yield "params missing", _drop(sd, first), ["['params']"]
    yield "a param index twice", _put(sd, first, [*indices[:-1], groups[-1]["params"][-1]]), ["twice"]
    yield "a param index not an int", _put(sd, first, [str(indices[0]), *indices[1:]]), ["['params']", "'0'"]
    yield "state of no param", _put(sd, ("state", last + 5), {}), [f"['state'][{last + 5}]"]
    index = next(iter(state), None)  # the first param's (shape (6, 5)); SGD has none
    where = f"['state'][{index}]"
    names = list(state[index]) if index is not None else []
    scalars = {n for n in names if state[index][n].numel() == 1}
    if names:
        yield "accumulators not a dict", _put(sd, ("state", index), list(state[index].values())), [where]
    for name in names:
        at = ("state", index, name)
        here = f"{where}[{name!r}]"
        t = state[index][name]
        yield f"{name} missing", _drop(sd, at), [where, name]
        yield f"{name} renamed", _rename(sd, at, name + "_x"), [where, name + "_x"]
        for bad in ([0.0], "x", None, 0.5):
            yield f"{name} = {bad!r}", _put(sd, at, bad), [here, "tensor"]
        yield f"{name} of another shape", _put(sd, at, t.unsqueeze(0)), [here, "shape"]
        yield f"{name} sparse", _put(sd, at, t.to_sparse()), [here, "dense"]
        yield f"{name} meta", _put(sd, at, t.to("meta")), [here, "meta"]
        if t.dtype.is_floating_point:
            for dtype in (torch.int64, torch.bool, torch.complex64):
                yield f"{name} {dtype}", _put(sd, at, t.to(dtype)), [here, "dtype"]
        else:  # a count (ASGD's m)
            yield f"{name} float", _put(sd, at, t.to(torch.float32)), [here, "dtype"]
            yield f"{name} negative", _put(sd, at, t - 100), [here, ">= 0"]
        if name in scalars and t.dtype.is_floating_point:
            for bad in (math.nan, math.inf):
                yield f"{name} {bad}", _put(sd, at, torch.full_like(t, bad)), [here, "finite"]
    for key, value in groups[0].items():
        if key == "params" or isinstance(value, str):
            continue
        at = ("param_groups", 0, key)
        yield f"group {key} a str", _put(sd, at, "x"), ["['param_groups'][0]", key]
        if isinstance(value, bool):
            yield f"group {key} an int", _put(sd, at, 1), ["['param_groups'][0]", key]
        elif isinstance(value, (int, float)):
            yield f"group {key} NaN", _put(sd, at, math.nan), ["['param_groups'][0]", key]
    yield "lr multiplier negative", _put(sd, ("param_groups", 0, "learning_rate"), -1.0), ["'learning_rate'"]
    yield "lr inf", _put(sd, ("param_groups", 0, "lr"), math.inf), ["['lr']"]
    yield "unknown regularizer", _put(sd, ("param_groups", 0, "weight_decay"), {"type": "L3Decay"}), ["'weight_decay'"]
    yield (
        "clip without its norm",
        _put(sd, ("param_groups", 0, "grad_clip"), {"type": "ClipGradByNorm"}),
        ["'grad_clip'", "clip_norm"],
    )
    if "LR_Scheduler" in sd:
        yield "scheduler not a dict", {**sd, "LR_Scheduler": [1]}, ["['LR_Scheduler']"]
        yield "scheduler empty", {**sd, "LR_Scheduler": {}}, ["['LR_Scheduler']", "last_epoch"]
        for key in sd["LR_Scheduler"]:
            at_s = ("LR_Scheduler", key)
            yield f"scheduler {key} a str", _put(sd, at_s, "x"), ["['LR_Scheduler']", key]
            if not isinstance(sd["LR_Scheduler"][key], dict):
                yield f"scheduler {key} NaN", _put(sd, at_s, math.nan), ["['LR_Scheduler']", key]
                yield f"scheduler {key} missing", _drop(sd, at_s), ["['LR_Scheduler']", key]
            else:
                yield f"scheduler {key} emptied", _put(sd, at_s, {}), ["['LR_Scheduler']"]
    else:
        for bad in ("x", math.nan, -1.0):
            yield f"learning_rate {bad!r}", {**sd, "learning_rate": bad}, ["['learning_rate']"]


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_of_corruption_raises_naming_the_entry_and_changes_nothing(name: str) -> None:
    """Each corruption of ``targeted`` raises ValueError whose message holds the entry's path
    (and what is wrong), and leaves params, state, groups and scheduler as they were."""
    config = rich_config(name, rotation=NAMES.index(name))
    params, opt = trained(config)
    sd = copy.deepcopy(opt.state_dict())
    cases = list(targeted(opt, sd))
    assert len(cases) >= 15
    for what, corrupted, fragments in cases:
        before = _snapshot(params, opt)
        with pytest.raises(ValueError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.set_state_dict(corrupted)
        message = str(info.value)
        assert all(f in message for f in fragments), (what, message)
        assert_unchanged(before, params, opt)
    assert load_or_reject(config, params, opt, sd) == "loaded"  # the dict itself still loads


@pytest.mark.parametrize("name", NAMES)
def test_another_optimizers_state_dict_is_refused(name: str) -> None:
    """Every other algorithm's state dict (same params, one group) into a trained optimizer:
    refused naming ``'optimizer'``; without its ``'optimizer'`` entry, refused or loaded exactly
    as a fresh optimizer loads it (an SGD dict carries no accumulators to refuse)."""
    from algorithm_cases import ENTRIES

    def plain(n: str) -> Config:
        kwargs = {**ENTRIES[n].required} if oar.algorithms.get(n).rule is not None else rich_config(n)["kwargs"]
        return {"label": n, "name": n, "engine": "eager", "kwargs": kwargs, "groups": None}

    rejected = 0
    for other in NAMES:
        if other == name:
            continue
        params, opt = trained(plain(name))
        foreign = copy.deepcopy(trained(plain(other))[1].state_dict())
        if "optimizer" in foreign:
            before = _snapshot(params, opt)
            with pytest.raises(ValueError, match=rf"\['optimizer'\].*{other}"):
                opt.set_state_dict(foreign)
            assert_unchanged(before, params, opt)
            foreign = _without(foreign, "optimizer")
        rejected += load_or_reject(plain(name), params, opt, foreign) == "rejected"
    # loadable without its kind: only dicts whose accumulators have the same names and shapes
    # (SGD's, which has none; Adam's, AdamW's and Lamb's, which share theirs)
    assert rejected >= len(NAMES) - 4


# ---------------------------------------------------------------------------- hypothesis: any corruption
def _nodes(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _nodes(v, (*path, i))


#: Values a corruption puts somewhere (built fresh each time).
VALUES: list[Callable[[], Any]] = [
    lambda: None,
    lambda: True,
    lambda: 0,
    lambda: 1,
    lambda: -1,
    lambda: 3,
    lambda: 2**70,
    lambda: 0.5,
    lambda: -0.5,
    lambda: math.nan,
    lambda: math.inf,
    lambda: "x",
    lambda: "",
    list,
    lambda: [0],
    lambda: [0, 1],
    lambda: (0.9, 0.999),
    dict,
    lambda: {"type": "L2Decay", "coeff": 0.1},
    lambda: {"type": "ClipGradByNorm", "clip_norm": 1.0},
    lambda: {"last_epoch": 1, "last_lr": 0.1},
    lambda: torch.zeros(1),
    lambda: torch.tensor([math.nan]),
    lambda: torch.zeros(1, dtype=torch.int64),
    lambda: torch.zeros(()),
    lambda: torch.ones(6, 5),
    lambda: torch.zeros(5, dtype=torch.float64),
]
KEYS: list[Any] = [
    "bogus",
    0,
    1,
    7,
    -1,
    "lr",
    "moment1",
    "d",
    "m",
    "params",
    "LR_Scheduler",
    "learning_rate",
    "optimizer",
    "state",
    "last_epoch",
    "beta1",
]
TENSOR_EDITS: list[Callable[[torch.Tensor], torch.Tensor]] = [
    lambda t: t.unsqueeze(0),
    lambda t: t.reshape(-1)[:-1] if t.numel() > 1 else t.reshape(()),
    lambda t: t.to(torch.float64),
    lambda t: t.to(torch.float16),
    lambda t: t.to(torch.bfloat16),
    lambda t: t.to(torch.int64),
    lambda t: t.to(torch.int32),
    lambda t: t.to(torch.bool),
    lambda t: t.to(torch.complex64),
    lambda t: torch.full(t.shape, math.nan),
    lambda t: torch.full(t.shape, math.inf),
    lambda t: torch.full_like(t, -1),
    lambda t: t.to_sparse(),
    lambda t: t.to("meta"),
    lambda t: t.t().contiguous().t() if t.dim() == 2 else (t.flip(0) if t.dim() else t),  # non-contiguous
    lambda t: t.detach().clone().requires_grad_(t.dtype.is_floating_point),
]


def corrupt(sd: dict[str, Any], data: st.DataObject, foreign: dict[str, Any]) -> Any:
    """1 to 3 corruptions of ``sd``: delete, rename or add a key; replace a value; change a
    tensor's shape, dtype, layout or values; swap two list entries; or swap in another
    algorithm's dict (``foreign``), with or without its ``'optimizer'`` entry."""
    for _ in range(data.draw(st.integers(1, 3), label="corruptions")):
        nodes = list(_nodes(sd))
        op = data.draw(st.sampled_from(["delete", "rename", "add", "replace", "tensor", "swap", "foreign"]), label="op")
        if op == "foreign":
            sd = copy.deepcopy(foreign)
            if data.draw(st.booleans(), label="drop its kind"):
                sd.pop("optimizer", None)
            continue
        if op == "tensor":
            paths = [
                p
                for p, v in nodes
                if isinstance(v, torch.Tensor) and v.layout == torch.strided and v.device.type != "meta"
            ]
            if paths:
                edit = data.draw(st.sampled_from(TENSOR_EDITS), label="tensor edit")
                at = data.draw(st.sampled_from(paths), label="at")
                sd = _put(sd, at, edit(dict(nodes)[at].detach()))
            continue
        if op == "swap":
            paths = [p for p, v in nodes if isinstance(v, (list, tuple)) and len(v) >= 2]
            if paths:
                at = data.draw(st.sampled_from(paths), label="at")
                sd = _edit(
                    sd, at, lambda v: type(v)([v[1], v[0], *v[2:]]) if isinstance(v, tuple) else [v[1], v[0], *v[2:]]
                )
            continue
        if op == "add":
            at = data.draw(st.sampled_from([p for p, v in nodes if isinstance(v, dict)]), label="at")
            key = data.draw(st.sampled_from(KEYS), label="key")
            sd = _put(sd, (*at, key), data.draw(st.sampled_from(VALUES), label="value")())
            continue
        paths = [p for p, _ in nodes if p]
        if not paths:
            continue
        at = data.draw(st.sampled_from(paths), label="at")
        if op == "replace":
            sd = _put(sd, at, data.draw(st.sampled_from(VALUES), label="value")())
        elif op == "delete":
            sd = _drop(sd, at)
        elif isinstance(dict(nodes)[at[:-1]], dict):  # rename
            sd = _rename(sd, at, data.draw(st.sampled_from(KEYS), label="new key"))
    return sd


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_corrupted_state_dict_raises_or_loads_like_a_fresh_optimizer(name: str, data: st.DataObject) -> None:
    """1 to 3 random corruptions of a trained optimizer's state dict: ValueError and nothing
    changed, or a load equal to a fresh optimizer's with the same dict (``load_or_reject``)."""
    config = rich_config(name, rotation=NAMES.index(name))
    params, opt = trained(config)
    sd = copy.deepcopy(opt.state_dict())
    other = data.draw(st.sampled_from([n for n in NAMES if n != name]), label="foreign")
    foreign = copy.deepcopy(trained(rich_config(other))[1].state_dict())
    corrupted = corrupt(sd, data, foreign)
    event(load_or_reject(config, params, opt, corrupted))


def _with_load(opt: oar.Optimizer, load: Callable[[Any, Any], None]) -> None:
    """Give ``opt`` another ``load_state_dict`` (a subclass of its class by the same name)."""
    cls = type(type(opt).__name__, (type(opt),), {"load_state_dict": load})
    opt.__class__ = cls


def test_the_loaded_or_rejected_check_can_fail() -> None:
    """``load_or_reject`` sees a load that keeps old state (a param's state the dict leaves out
    survives: the step differs from the fresh reference's) and a refusal that changed something
    before raising."""
    config = rich_config("Adam")
    params, opt = trained(config)
    sd = copy.deepcopy(opt.state_dict())
    kept, load = opt.state[params[0]], type(opt).load_state_dict

    def leaky(self: Any, state_dict: Any) -> None:
        load(self, state_dict)
        self.state[params[0]] = kept

    _with_load(opt, leaky)
    with pytest.raises(AssertionError, match="differs from the reference"):
        load_or_reject(config, params, opt, {**sd, "state": _without(sd["state"], 0)})

    params, opt = trained(config)

    def half_done(self: Any, state_dict: Any) -> None:
        self.param_groups[0]["lr"] = 123.0
        raise ValueError("refused after a change")

    _with_load(opt, half_done)
    with pytest.raises(AssertionError, match="changed"):
        load_or_reject(config, params, opt, sd)


def test_a_group_without_lr_takes_the_loaded_base_lr() -> None:
    """A saved group without ``'lr'`` (a hand-made or Paddle-like dict) gets the effective lr of
    the loaded scheduler state times its multiplier, not the optimizer's current lr; options the
    saved group lacks keep the optimizer's values (Paddle's dicts hold no options)."""
    config = rich_config("Adam", rotation=1)  # CosineAnnealingDecay: the lr changes every step
    params, opt = trained(config, steps=1)
    sd = copy.deepcopy(opt.state_dict())
    train(params, opt, range(1, 4))
    assert opt.param_groups[0]["lr"] != sd["param_groups"][0]["lr"]
    groups = [{k: v for k, v in g.items() if k not in ("lr", "epsilon")} for g in sd["param_groups"]]
    epsilons = [g["epsilon"] for g in opt.param_groups]
    opt.set_state_dict({**sd, "param_groups": groups})
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in sd["param_groups"]]
    assert [g["epsilon"] for g in opt.param_groups] == epsilons


def test_child_source_needs_no_paddle() -> None:
    """The fresh-process half imports nothing of Paddle (it must start fast)."""
    source = inspect.getsource(_child) + inspect.getsource(build) + inspect.getsource(_to_oar)
    assert "paddle" not in source and "algorithm_cases" not in source
