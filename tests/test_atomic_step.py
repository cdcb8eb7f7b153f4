"""Atomic steps and the opt-in non-finite guard (``oar.step_check``), for EVERY algorithm of the
table (``oar.algorithms.algorithms()``) and every engine (eager, fused, compiled).

* A step that fails a check (a grad, param and state that do not fit: shapes, the same numel
  in another shape, dtypes, devices, missing state, state of the wrong dtype, sparse grads an
  algorithm refuses) raises an exception naming the parameter, and leaves every param, grad
  (clipping has not run), accumulator, beta pow, step count and the LR scheduler bit for bit as
  they were (snapshot before, compare after), in every param group: the failing param is the
  last one, so that the old pipeline had stepped the others already.
* ``skip_nonfinite=True``: a NaN or an inf in one grad of several skips the whole step (with a
  ``RuntimeWarning`` naming that param); finite steps are bit for bit those of the same
  optimizer without the guard (same engine), with and without ``ClipGradByGlobalNorm`` (whose
  global norm the guard reuses); the count round-trips through ``state_dict`` and an optimizer
  without the guard ignores it; with ``torch.amp.GradScaler`` the scaler skips first and the
  guard counts nothing.

Engines: the failing steps never reach an engine (the checks run first), so the compiled engine
is selected after a first eager step (no compilation); the guard's finite steps do run on each
engine (compiled: one group of float64 (4, 3) and (5,) params, the structure test_engine.py
compiles too, so inductor's cache is shared). Runtime: about 40 s on 2 cores with inductor's
cache warm (a cold cache adds a compile per algorithm, ~5 s each).
"""

from __future__ import annotations

import copy
import inspect
import io
import math
import warnings
from typing import Any

import pytest
import torch
from algorithm_cases import ENTRIES

import oar
from oar import step_check
from oar.algorithms import Algorithm
from oar.engine import compiled as C
from oar.engine import fused as F

ALGORITHMS = {a.name: a for a in oar.algorithms.algorithms()}
NAMES = list(ALGORITHMS)
ENGINES = ["eager", "fused", "compiled"]
SHAPES = {"w1": (4, 3), "w2": (5,), "w3": (2, 3)}
NAN, INF = float("nan"), float("inf")
Params = dict[str, torch.Tensor]


# ------------------------------------------------------------------------------ helpers


def _flat(algo: Algorithm) -> bool:
    """LBFGS: not element-wise (no rule, no engine); one flat state for the last group."""
    return algo.rule is None


def _skip_engine(engine: str) -> None:
    if engine == "compiled" and not C.compile_available(torch.device("cpu")):
        pytest.skip("inductor cannot compile on this machine")


def _keeps_state(algo: Algorithm) -> bool:
    """Whether one step leaves a floating-point accumulator for a param (SGD keeps none): found
    by stepping once."""
    params = _params(names=("w1",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        opt: Any = algo.cls(list(params.values()), engine="eager", **_options(algo, scheduler=False, clip=False))
        _set_grads(params, _grads(params, 0))
        _step(opt, params, _flat(algo))
    values = [v for st in opt.state.values() for v in (st.values() if isinstance(st, dict) else [st])]
    return any(isinstance(v, torch.Tensor) and v.dtype.is_floating_point for v in values)  # LBFGS: flat


def _takes_coupled_regularizer(algo: Algorithm) -> bool:
    """Whether the constructor takes ``weight_decay=L2Decay(...)`` (decoupled-decay algorithms
    refuse it with a TypeError, as Paddle)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            algo.cls(
                list(_params(names=("w1",)).values()),
                weight_decay=oar.L2Decay(0.01),
                **_options(algo, scheduler=False, clip=False),
            )
        except TypeError:
            return False
    return True


def _options(algo: Algorithm, scheduler: bool = True, clip: bool = True) -> dict[str, Any]:
    """The algorithm's first engine configuration, a StepDecay scheduler where it takes one, and
    a global-norm clip small enough to scale the grads (LBFGS ignores clips: not given)."""
    entry = ENTRIES[algo.name]
    kw: dict[str, Any] = {**entry.required, **(entry.engine_configs[0] if entry.engine_configs else {})}
    if scheduler and entry.schedulers and algo.follows_lr:
        kw["learning_rate"] = oar.lr.StepDecay(0.05, step_size=1, gamma=0.5)
    else:
        kw["learning_rate"] = 0.05
    if clip and not _flat(algo):
        kw["grad_clip"] = oar.ClipGradByGlobalNorm(0.1)
    return kw


def _params(seed: int = 0, names: tuple[str, ...] = tuple(SHAPES)) -> Params:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(SHAPES[n], generator=g, dtype=torch.float64).requires_grad_() for n in names}


def _grads(params: Params, step: int) -> Params:
    g = torch.Generator().manual_seed(100 + step)
    return {n: torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) for n, p in params.items()}


def _groups(params: Params) -> list[dict[str, Any]]:
    """w1, w2 in a first group, w3 (when there) in a second: named, so messages carry names."""
    first = [(n, params[n]) for n in ("w1", "w2")]
    groups: list[dict[str, Any]] = [{"params": first}]
    if "w3" in params:
        groups.append({"params": [("w3", params["w3"])]})
    return groups


def _set_grads(params: Params, grads: Params) -> None:
    for n, p in params.items():
        p.grad = grads[n].clone()


def _step(opt: Any, params: Params, flat: bool) -> None:
    """One step; LBFGS's closure hands it the grads set on the params now."""
    if not flat:
        opt.step()
        return
    opt.step(lambda: torch.tensor(1.0, dtype=torch.float64))  # the grads stay as set


def _snap(obj: Any) -> Any:
    """A deep copy, tensors cloned (sparse and meta ones too)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _snap(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snap(v) for v in obj)
    return copy.deepcopy(obj)


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _same(a: Any, b: Any, where: str) -> None:
    """``a`` and ``b`` bit for bit (tensors: type, layout, device, dtype, shape and bytes)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert (a.layout, a.device, a.dtype, a.shape) == (b.layout, b.device, b.dtype, b.shape), (
            f"{where}: {a.layout} {a.device} {a.dtype} {tuple(a.shape)} vs "
            f"{b.layout} {b.device} {b.dtype} {tuple(b.shape)}"
        )
        if a.device.type == "meta":
            return
        if a.is_sparse:
            a, b = a.coalesce(), b.coalesce()
            _same(a.indices(), b.indices(), f"{where} indices")
            _same(a.values(), b.values(), f"{where} values")
            return
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)), f"{where} changed"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(map(str, a)) == sorted(map(str, b)), (
            f"{where}: keys {list(a)} vs {list(b)}"
        )
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (_is_nan(a) and _is_nan(b)), f"{where}: {a!r} vs {b!r}"


def _everything(opt: Any, params: Params) -> dict[str, Any]:
    """What a failing or skipped step must leave alone: params, grads, the optimizer's state
    (per param name; LBFGS's own keys), the group lrs, the scheduler's state."""
    names = {id(p): n for n, p in params.items()}
    state = {names.get(id(k), k) if isinstance(k, torch.Tensor) else k: v for k, v in opt.state.items()}
    sched = opt._learning_rate
    out: dict[str, Any] = _snap(
        {
            "params": dict(params),
            "grads": {n: p.grad for n, p in params.items()},
            "state": state,
            "lrs": [g.get("lr") for g in opt.param_groups],
            "scheduler": sched.state_dict() if isinstance(sched, oar.lr.LRScheduler) else sched,
            "skipped": opt.skipped_steps,
        }
    )
    return out


# ------------------------------------------------------------------------------ atomic steps


def _state_key(opt: Any, p: torch.Tensor) -> str:
    """The first floating-point accumulator of ``p``'s state."""
    return str(next(k for k, v in opt.state[p].items() if v.dtype.is_floating_point))


#: How each failure is made, after a first good step: (params, grads, opt) -> None, setting the
#: grads of the failing step. ``w3`` (the last group) is the one that does not fit.
def _resized(P: Params, G: Params, opt: Any) -> None:
    P["w3"].data = torch.randn(7, dtype=torch.float64)  # model surgery behind the optimizer's back
    G["w3"] = torch.randn(7, dtype=torch.float64)


def _same_numel(P: Params, G: Params, opt: Any) -> None:
    P["w3"].data = P["w3"].data.reshape(3, 2).clone()
    G["w3"] = torch.randn(3, 2, dtype=torch.float64)


def _grad_shape(P: Params, G: Params, opt: Any) -> None:
    _set_grads(P, G)
    P["w3"].data = torch.randn(3, 2, dtype=torch.float64)  # after the grad was computed
    G.clear()


def _grad_dtype(P: Params, G: Params, opt: Any) -> None:
    _set_grads(P, G)
    P["w3"].data = P["w3"].data.float()
    G.clear()


def _state_dtype(P: Params, G: Params, opt: Any) -> None:
    P["w3"].data = P["w3"].data.float()
    G["w3"] = G["w3"].float()


def _state_missing(P: Params, G: Params, opt: Any) -> None:
    if "d" in opt.state:  # LBFGS
        del opt.state["d"]
    else:
        del opt.state[P["w3"]][_state_key(opt, P["w3"])]


def _state_wrong_dtype(P: Params, G: Params, opt: Any) -> None:
    if "d" in opt.state:
        opt.state["d"] = opt.state["d"].float()
    else:
        st = opt.state[P["w3"]]
        key = _state_key(opt, P["w3"])
        st[key] = st[key].float()


def _state_device(P: Params, G: Params, opt: Any) -> None:
    if "d" in opt.state:
        opt.state["d"] = opt.state["d"].to("meta")
    else:
        st = opt.state[P["w3"]]
        key = _state_key(opt, P["w3"])
        st[key] = st[key].to("meta")


def _grad_device(P: Params, G: Params, opt: Any) -> None:
    _set_grads(P, G)
    P["w3"].data = P["w3"].data.cuda()  # the grad stays on the CPU
    G.clear()


def _sparse_rows(P: Params, G: Params, opt: Any) -> None:
    G["w3"] = G["w3"].to_sparse(1)  # as Embedding(sparse=True) gives


def _sparse_elements(P: Params, G: Params, opt: Any) -> None:
    G["w3"] = G["w3"].to_sparse()  # sparse_dim() == 2


KINDS = {
    "resized": _resized,
    "same_numel_other_shape": _same_numel,
    "grad_shape": _grad_shape,
    "grad_dtype": _grad_dtype,
    "state_dtype": _state_dtype,
    "state_missing": _state_missing,
    "state_wrong_dtype": _state_wrong_dtype,
    "state_device": _state_device,
    "grad_device": _grad_device,
    "sparse_rows": _sparse_rows,
    "sparse_elements": _sparse_elements,
    "sparse_rows_with_regularizer": _sparse_rows,
}
#: Kinds that need the param's state to exist (to be changed); and those that fail only through
#: the state (a param that keeps none, SGD's, may change shape or dtype between steps).
NEEDS_STATE = {"state_missing", "state_wrong_dtype", "state_device"}
THROUGH_STATE = {"resized", "same_numel_other_shape", "state_dtype"}


def _expected_to_fail(algo: Algorithm, opt: Any, params: Params, kind: str) -> bool | None:
    """Whether the step must fail (None: either, sparse grads, which some algorithms take)."""
    if kind.startswith("sparse"):
        return None
    if _flat(algo):  # one flat state for all params: a reshaped param with the same numel fits it
        return kind != "same_numel_other_shape"
    state = opt.state.get(params["w3"])
    if kind in THROUGH_STATE and not state:
        return False
    # state_missing with one accumulator leaves none: the param starts afresh, as after del opt.state[p]
    return not (kind == "state_missing" and len(state) == 1)


def _build(algo: Algorithm, params: Params, kind: str, engine: str) -> Any:
    kw = _options(algo)
    if kind == "sparse_rows_with_regularizer":
        kw["weight_decay"] = oar.L2Decay(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Rprop/LBFGS: options they ignore, as Paddle
        return algo.cls(_groups(params), engine=engine, **kw)


def _failing_step_cases() -> list[Any]:
    """(name, engine, kind) for every combination that means something: LBFGS runs no engine
    (eager only); a state kind needs an algorithm that keeps state; the regularizer kind one
    that takes a coupled regularizer."""
    cases = []
    for name, algo in ALGORITHMS.items():
        keeps_state, coupled = _keeps_state(algo), _takes_coupled_regularizer(algo)
        for engine in ENGINES if not _flat(algo) else ["eager"]:
            for kind in KINDS:
                if (kind in NEEDS_STATE and not keeps_state) or (
                    kind == "sparse_rows_with_regularizer" and not coupled
                ):
                    continue
                marks = (
                    [
                        pytest.mark.skipif(
                            not torch.cuda.is_available(),
                            reason="a grad on another device needs a second device (CUDA)",
                        )
                    ]
                    if kind == "grad_device"
                    else []
                )
                cases.append(pytest.param(name, engine, kind, id=f"{name}-{engine}-{kind}", marks=marks))
    return cases


@pytest.mark.parametrize(("name", "engine", "kind"), _failing_step_cases())
def test_a_failing_step_changes_nothing(name: str, engine: str, kind: str) -> None:
    algo = ALGORITHMS[name]
    _skip_engine(engine)
    flat = _flat(algo)
    params = _params()
    opt = _build(algo, params, kind, "eager" if engine == "compiled" else engine)
    _set_grads(params, _grads(params, 0))
    _step(opt, params, flat)  # a good step: the state exists
    opt.set_engine(engine)
    if isinstance(opt._learning_rate, oar.lr.LRScheduler):
        opt._learning_rate.step()
    grads = _grads(params, 1)
    expected = _expected_to_fail(algo, opt, params, kind)
    KINDS[kind](params, grads, opt)
    if grads:
        _set_grads(params, grads)
    before = _everything(opt, params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _step(opt, params, flat)
    except Exception as exc:
        assert expected is not False, f"{name} {engine} {kind}: a step that fits failed: {exc!r}"
        message = str(exc)
        if flat and kind in THROUGH_STATE | NEEDS_STATE:
            assert "its state" in message, message  # LBFGS's flat state: named by its key
        else:
            assert "'w3'" in message, f"{name}: the error does not name the parameter: {message}"
        _same(before, _everything(opt, params), f"{name} {engine} {kind}")
        return
    assert expected is not True, f"{name} {engine}: {kind} did not fail"
    after = _everything(opt, params)
    assert not torch.equal(before["params"]["w3"], after["params"]["w3"]), f"{name}: the step did not update w3"


def test_the_issue_example_adam_resized_param() -> None:
    """Issue 11: an Adam over two params steps once, the second is resized (``b.data = ...``)
    and both get grads: step() raises naming it, and the first param is not updated."""
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    adam: Any = oar.Adam  # typed signatures are Paddle's (params by keyword)
    opt = adam([a, b], learning_rate=0.1)
    a.grad, b.grad = torch.randn(3), torch.randn(3)
    opt.step()
    b.data = torch.randn(5)
    a.grad, b.grad = torch.randn(3), torch.randn(5)
    before = _snap({"a": a, "state": [dict(opt.state[a]), dict(opt.state[b])]})
    with pytest.raises(
        RuntimeError,
        match=r"parameter 1 of param group 0: its state 'moment1' has shape \[3\], "
        r"expected \[5\]",
    ):
        opt.step()
    _same(before, _snap({"a": a, "state": [dict(opt.state[a]), dict(opt.state[b])]}), "Adam")


def test_user_function_errors_are_named_and_atomic() -> None:
    """AdamW's ``lr_ratio`` raising for the last param: the error names it; nothing changed."""
    params = _params()

    def ratio(p: torch.Tensor) -> float:
        if p.shape == SHAPES["w3"]:
            raise ValueError("no ratio for this one")
        return 0.5

    adamw: Any = oar.AdamW
    opt = adamw(_groups(params), learning_rate=0.1, lr_ratio=ratio, engine="eager")
    _set_grads(params, _grads(params, 0))
    before = _everything(opt, params)
    with pytest.raises(ValueError, match=r"AdamW: parameter 'w3': no ratio for this one"):
        opt.step()
    _same(before, _everything(opt, params), "AdamW")


def test_minimize_is_atomic_too() -> None:
    params = _params()
    adam: Any = oar.Adam
    opt = adam(_groups(params), learning_rate=0.1)
    _set_grads(params, _grads(params, 0))
    opt.minimize(None)
    _resized(params, grads := _grads(params, 1), opt)
    _set_grads(params, grads)
    before = _everything(opt, params)
    with pytest.raises(RuntimeError, match="'w3'"):
        opt.minimize(None)
    _same(before, _everything(opt, params), "minimize")


# ------------------------------------------------------------------------------ non-finite guard

#: step -> (param, value) put in that param's grad; the other steps are finite.
BAD = {1: ("w2", NAN), 3: ("last", INF), 4: ("w1", -INF)}


def _guard_run(algo: Algorithm, engine: str, clip: bool, steps: int = 6) -> tuple[Any, Any, Params, Params]:
    """A guarded optimizer and one without the guard, same params and grads, the bad steps
    (``BAD``) only for the guarded one; compared after every step."""
    flat = _flat(algo)
    names = ("w1", "w2") if engine == "compiled" else tuple(SHAPES)
    last = names[-1]
    guarded_p, plain_p = _params(names=names), _params(names=names)
    kw = _options(algo, clip=clip)
    kw_plain = _options(algo, clip=clip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        guarded = algo.cls(_groups(guarded_p), engine=engine, skip_nonfinite=True, **kw)
        plain = algo.cls(_groups(plain_p), engine=engine, **kw_plain)
    for k in range(steps):
        grads = _grads(guarded_p, k)
        if k in BAD:
            where, value = BAD[k]
            where = last if where == "last" or flat else where  # LBFGS optimizes the last group only
            grads[where].view(-1)[-1] = value
            _set_grads(guarded_p, grads)
            before = _everything(guarded, guarded_p)
            with pytest.warns(RuntimeWarning, match=rf"parameter '{where}' has a NaN or inf gradient"):
                _step(guarded, guarded_p, flat)
            after = _everything(guarded, guarded_p)
            assert after.pop("skipped") == before.pop("skipped") + 1
            _same(before, after, f"{algo.name} {engine}: skipped step {k}")
        else:
            _set_grads(guarded_p, grads)
            _set_grads(plain_p, grads)
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # no skip, no warning
                _step(guarded, guarded_p, flat)
            _step(plain, plain_p, flat)
            a, b = _everything(guarded, guarded_p), _everything(plain, plain_p)
            a.pop("skipped"), b.pop("skipped")
            _same(b, a, f"{algo.name} {engine}: finite step {k} with and without the guard")
        for opt in (guarded, plain):  # the user's loop steps the scheduler, skipped or not
            if isinstance(opt._learning_rate, oar.lr.LRScheduler):
                opt._learning_rate.step()
    assert guarded.skipped_steps == len(BAD) and plain.skipped_steps == 0
    assert any(not torch.equal(p, q) for p, q in zip(guarded_p.values(), _params(names=names).values(), strict=True)), (
        "the finite steps changed nothing"
    )
    return guarded, plain, guarded_p, plain_p


def _guard_cases() -> list[Any]:
    """(name, engine, clip): LBFGS runs no engine and ignores clips (eager, no clip); the clip's
    reuse of the guard's norm happens before the engine runs, so it is tested on eager and fused,
    not again on compiled."""
    cases = []
    for name, algo in ALGORITHMS.items():
        for engine in ENGINES if not _flat(algo) else ["eager"]:
            for clip in (False, True):
                if clip and (engine == "compiled" or _flat(algo)):
                    continue
                cases.append(
                    pytest.param(name, engine, clip, id=f"{name}-{engine}-{'global_norm_clip' if clip else 'no_clip'}")
                )
    return cases


@pytest.mark.parametrize(("name", "engine", "clip"), _guard_cases())
def test_skip_nonfinite_skips_whole_steps_and_is_bit_exact_otherwise(name: str, engine: str, clip: bool) -> None:
    algo = ALGORITHMS[name]
    _skip_engine(engine)
    _guard_run(algo, engine, clip)


@pytest.mark.parametrize("name", NAMES)
def test_skipped_steps_round_trip_through_state_dict(name: str) -> None:
    """``state_dict()['skipped_steps']`` (plain data: ``torch.load(weights_only=True)``) is
    restored by a guarded optimizer and ignored by one without the guard; a resumed run equals
    the uninterrupted one bit for bit."""
    algo = ALGORITHMS[name]
    flat = _flat(algo)
    guarded, plain, guarded_p, _plain_p = _guard_run(algo, "eager", clip=False)
    sd = guarded.state_dict()
    assert sd["skipped_steps"] == len(BAD) and "skipped_steps" not in plain.state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    resumed_p = {n: p.detach().clone().requires_grad_() for n, p in guarded_p.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        resumed = algo.cls(_groups(resumed_p), engine="eager", skip_nonfinite=True, **_options(algo, clip=False))
        ignoring = algo.cls(
            _groups({n: p.detach().clone().requires_grad_() for n, p in guarded_p.items()}),
            engine="eager",
            **_options(algo, clip=False),
        )
    resumed.load_state_dict(copy.deepcopy(loaded))
    ignoring.load_state_dict(copy.deepcopy(loaded))
    assert resumed.skipped_steps == len(BAD) and resumed.state_dict()["skipped_steps"] == len(BAD)
    assert ignoring.skipped_steps == 0 and "skipped_steps" not in ignoring.state_dict()
    grads = _grads(guarded_p, 99)
    for opt, params in ((guarded, guarded_p), (resumed, resumed_p)):
        _set_grads(params, grads)
        _step(opt, params, flat)
    a, b = _everything(guarded, guarded_p), _everything(resumed, resumed_p)
    _same(a, b, f"{name}: resumed vs uninterrupted")
    bad = dict(loaded, skipped_steps=-1)
    before = _everything(resumed, resumed_p)
    with pytest.raises(ValueError, match=r"skipped_steps.*-1"):
        resumed.load_state_dict(bad)
    _same(before, _everything(resumed, resumed_p), f"{name}: a refused state dict")


@pytest.mark.parametrize("name", [n for n in NAMES if not _flat(ALGORITHMS[n])])
def test_grad_scaler_skips_first_and_the_guard_counts_nothing(name: str) -> None:
    """GradScaler + skip_nonfinite on inf grads behaves as GradScaler alone (same params and
    state bit for bit), and the guard neither counts nor warns: the scaler skips ``step()``."""
    algo = ALGORITHMS[name]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    twin = copy.deepcopy(model)
    kw = _options(algo, scheduler=False, clip=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        guarded = algo.cls(model.parameters(), engine="eager", skip_nonfinite=True, **kw)
        alone = algo.cls(twin.parameters(), engine="eager", **kw)
    scalers = [torch.amp.GradScaler("cpu", init_scale=2.0**10) for _ in range(2)]
    data = torch.randn(6, 8, 4, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for k, x in enumerate(data):
            for m, opt, scaler in ((model, guarded, scalers[0]), (twin, alone, scalers[1])):
                opt.zero_grad()
                scaler.scale(m(x).pow(2).mean()).backward()
                grad = next(m.parameters()).grad
                if k in (1, 3) and grad is not None:
                    grad.view(-1)[0] = INF if k == 1 else NAN
                scaler.step(opt)
                scaler.update()
    assert scalers[0].get_scale() == scalers[1].get_scale() == 2.0**10 / 4  # the scaler saw both
    assert guarded.skipped_steps == 0 and guarded.state_dict()["skipped_steps"] == 0
    _same([p.detach() for p in twin.parameters()], [p.detach() for p in model.parameters()], f"{name} params")
    _same(
        [_snap(dict(alone.state[p])) for p in twin.parameters()],
        [_snap(dict(guarded.state[p])) for p in model.parameters()],
        f"{name} state",
    )


# ------------------------------------------------------------------------------ the keyword


@pytest.mark.parametrize("name", NAMES)
def test_skip_nonfinite_keyword_in_both_styles(name: str) -> None:
    """Every constructor takes ``skip_nonfinite`` (keyword only, torch's positional params or
    Paddle's keywords), outside Paddle's signature; anything but a bool is a TypeError naming
    the argument and the value."""
    algo = ALGORITHMS[name]
    assert "skip_nonfinite" not in inspect.signature(algo.cls).parameters  # Paddle's signature kept
    kw = _options(algo, scheduler=False, clip=False)
    lr = kw.pop("learning_rate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for opt in (
            algo.cls(list(_params().values()), lr, skip_nonfinite=True, **kw),
            algo.cls(learning_rate=lr, parameters=list(_params().values()), skip_nonfinite=True, **kw),
        ):
            assert opt._skip_nonfinite and opt.skipped_steps == 0
        assert not algo.cls(list(_params().values()), lr, **kw)._skip_nonfinite
        for bad in (1, "yes", None):
            with pytest.raises(TypeError, match=rf"skip_nonfinite must be a bool, got {bad!r}"):
                algo.cls(list(_params().values()), lr, skip_nonfinite=bad, **kw)


# ------------------------------------------------------------------------------ the check itself


def test_overflowing_norms_are_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge finite grads whose sum of squares overflows (the ``_foreach_norm`` path, taken when
    the C kernel is unavailable): confirmed element-wise, the step is not skipped."""
    monkeypatch.setattr(F, "nonfinite", lambda grads, wait=False: None)
    p, q = torch.zeros(3, dtype=torch.float64, requires_grad=True), torch.zeros(2, requires_grad=True)
    sgd: Any = oar.SGD
    guarded = sgd(learning_rate=1e-300, parameters=[p, q], skip_nonfinite=True)
    p.grad = torch.full((3,), 1e200, dtype=torch.float64)
    q.grad = torch.full((2,), 1e30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        guarded.step()
    assert guarded.skipped_steps == 0 and bool((p != 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_nonfinite_kernel(dtype: torch.dtype) -> None:
    """The fused engine's ``nonfinite`` kernel: exact (no overflow), at the first, middle and
    last element of a group split across threads and pieces, for NaN, inf and -inf."""
    F.library(F.NONFINITE)
    g = torch.Generator().manual_seed(0)
    grads = [(torch.randn(n, generator=g) * 1e30).to(dtype) for n in (300_001, 5, 70_000)]
    grads[0][0] = torch.finfo(dtype).max
    assert F.nonfinite(grads) is False
    for value in (NAN, INF, -INF):
        for t, i in ((0, 0), (0, 150_000), (1, 4), (2, 69_999)):
            bad = [x.clone() for x in grads]
            bad[t][i] = value
            assert F.nonfinite(bad) is True, (value, t, i)
    with pytest.raises(ValueError, match="dense contiguous"):
        F.nonfinite([grads[0][::2]])


def test_guard_sees_sparse_and_unclipped_grads() -> None:
    """A NaN in a sparse grad's values, and in a ``need_clip=False`` param's grad of a group
    clipped by global norm (left out of the clip's norm, checked on its own), skip the step."""
    emb = torch.zeros(4, 2, requires_grad=True)
    sgd: Any = oar.SGD  # typed signatures are Paddle's: engine= and skip_nonfinite= are oar's extras
    adam: Any = oar.Adam
    opt = sgd(learning_rate=0.1, parameters=[emb], skip_nonfinite=True)
    emb.grad = torch.sparse_coo_tensor(torch.tensor([[1, 3]]), torch.tensor([[1.0, NAN], [2.0, 3.0]]), (4, 2))
    with pytest.warns(RuntimeWarning, match="parameter 0 of param group 0"):
        opt.step()
    assert opt.skipped_steps == 1 and bool((emb == 0).all())
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    oar.set_param_attr(b, need_clip=False)
    opt = adam(learning_rate=0.1, parameters=[a, b], grad_clip=oar.ClipGradByGlobalNorm(1.0), skip_nonfinite=True)
    a.grad, b.grad = torch.ones(3), torch.tensor([1.0, INF])
    with pytest.warns(RuntimeWarning, match="parameter 1 of param group 0"):
        opt.step()
    assert opt.skipped_steps == 1 and not opt.state and bool((a.grad == 1).all())


def test_param_labels() -> None:
    """Messages name a param by its ``named_parameters()`` name, else by its position."""
    model = torch.nn.Linear(2, 2)
    opt = oar.SGD(learning_rate=0.1, parameters=model.named_parameters())
    assert step_check.param_label(opt, 0, opt.param_groups[0], model.bias) == "SGD: parameter 'bias'"
    opt = oar.SGD(learning_rate=0.1, parameters=[{"params": [model.weight]}, {"params": [model.bias]}])
    assert step_check.param_label(opt, 1, opt.param_groups[1], model.bias) == "SGD: parameter 0 of param group 1"


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_guard_covers_every_closure_of_a_step(line_search_fn: str | None) -> None:
    """LBFGS evaluates its closure several times a step: non-finite grads at a later evaluation
    undo the whole step (params and state bit for bit as before it), counted and warned about
    once; the next steps are those of a run without the bad step."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 5, generator=g, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    lbfgs: Any = oar.LBFGS  # skip_nonfinite= is oar's extra keyword

    def run(poison_at: int | None, steps: int) -> tuple[Any, torch.Tensor, int]:
        x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        opt = lbfgs(learning_rate=0.5, parameters=[x], max_iter=4, line_search_fn=line_search_fn, skip_nonfinite=True)
        calls = 0

        def closure() -> torch.Tensor:
            nonlocal calls
            calls += 1
            opt.clear_grad(set_to_zero=False)
            loss = (A @ x - b).pow(2).sum()
            loss.backward()
            if calls == poison_at:
                x.grad[2] = NAN
            return loss

        for k in range(steps):
            if k == 1 and poison_at is not None:
                before = _everything(opt, {"x": x})
                before.pop("grads")  # the closure sets them
                first = calls + 1
                with pytest.warns(RuntimeWarning, match=r"has a NaN or inf gradient: the step is skipped"):
                    opt.step(closure)
                assert calls >= poison_at > first, "the bad evaluation was not a later one of the step"
                after = _everything(opt, {"x": x})
                after.pop("grads")
                assert after.pop("skipped") == before.pop("skipped") + 1
                _same(before, after, f"LBFGS {line_search_fn}: undone step")
                continue
            opt.step(closure)
        return opt, x.detach().clone(), calls

    clean_opt, clean, _ = run(None, 3)
    _, _, calls_one_step = run(None, 1)
    guarded_opt, guarded, _ = run(calls_one_step + 2, 4)  # the 2nd evaluation of the 2nd step
    assert guarded_opt.skipped_steps == 1 and clean_opt.skipped_steps == 0
    assert torch.equal(guarded, clean), "the steps after the undone one differ from a run without it"
