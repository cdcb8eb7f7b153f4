"""torch's conventions, held for EVERY algorithm of the table (``oar.algorithms.algorithms()``):
an optimizer registered later is covered without editing this file.

* ``torch.amp.GradScaler``: a step with a non-finite gradient is skipped and leaves every
  accumulator (moments, beta pows, counters: the whole ``opt.state`` and ``state_dict()``) and
  every param untouched, bit for bit; finite steps equal the same optimizer fed the unscaled
  gradients, bit for bit (the scale is a power of two).
* torch LR schedulers (``StepLR``, ``LambdaLR``) write ``param_groups[i]['lr']`` and the update
  uses it: the same as Paddle's ``set_lr`` to the same values, bit for bit.
* ``torch.compile(opt.step)`` runs and gives the uncompiled result; a new lr (``set_lr``, a torch
  scheduler, an ``oar.lr`` scheduler) does not recompile. Dynamo's "automatic dynamic" compiles
  the first graph with the lr as a constant and recompiles once, at the first change, with the
  lr as a graph input (that one recompile is dynamo's rule for every Python float;
  ``dynamic=True`` avoids it, see test_compiled_step_dynamic_true_never_recompiles); no later
  change recompiles. The backend is dynamo's CompileCounter (dynamo's graph run eagerly):
  recompiling is decided by dynamo's guards, before any backend, and inductor would spend tens
  of seconds per algorithm here.
* torch's calling conventions: params first, positionally; ``named_parameters()``; torch's
  keyword names (``params``, ``lr``, ``betas``, ``eps``) refused with a TypeError naming Paddle's.

Algorithms whose ``step`` needs a closure (LBFGS): detected by a class attribute
``_requires_closure`` when the class defines one, else by ``step``'s signature (a ``closure``
parameter without a default). They step with a closure here; ``torch.compile(opt.step)`` is not
tried on them (reported as a skip with the reason), and torch's GradScaler refuses closures,
which is what their GradScaler test checks.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import pytest
import torch
import torch._dynamo
import torch._dynamo.testing

import oar

ALGORITHMS = {a.name: a for a in oar.algorithms.algorithms()}
NAMES = list(ALGORITHMS)

#: Algorithms whose update does not follow ``param_groups[i]['lr']`` (as in Paddle, where
#: ``set_lr`` does not change their update either): the scheduler test still requires the same
#: result as Paddle's ``set_lr`` and the scheduler's values in ``param_groups``, but not a
#: different result from a constant lr.


def _requires_closure(cls) -> bool:
    flag = getattr(cls, "_requires_closure", None)
    if flag is not None:
        return bool(flag)
    closure = inspect.signature(cls.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def _kwargs(algo) -> dict:
    """The demo's settings that are constructor keywords (not ``peak_lr``, ``steps_per_epoch``
    or another demo-only key), and ``learning_rate=peak_lr``."""
    accepted = inspect.signature(algo.cls.__init__).parameters
    kw = {k: v for k, v in algo.demo.items() if k in accepted and k != "learning_rate"}
    kw["learning_rate"] = float(algo.demo.get("peak_lr", 0.01))
    return kw


def _model(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).to(dtype)


def _clone(model):
    return copy.deepcopy(model)


def _data(dtype=torch.float32, n=6):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(8, 4, generator=g).to(dtype) for _ in range(n)]


def _loss(model, x):
    return model(x).pow(2).mean()


def _step(opt, model, x, closure_needed):
    """One training step (``step(closure)`` for algorithms that need one)."""
    if closure_needed:

        def closure():
            opt.zero_grad()
            loss = _loss(model, x)
            loss.backward()
            return loss

        opt.step(closure)
    else:
        opt.zero_grad()
        _loss(model, x).backward()
        opt.step()


def _snapshot(obj):
    """A deep copy with every tensor cloned (for bit-for-bit comparison)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snapshot(v) for v in obj)
    return copy.deepcopy(obj)


def _assert_identical(a, b, where="state"):
    """``a`` and ``b`` equal bit for bit (tensors: dtype, shape and bytes)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)), (
            f"{where} changed: {a} vs {b}"
        )
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for k in a:
            _assert_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _assert_identical(x, y, f"{where}[{i}]")
    elif callable(a):
        assert callable(b), where
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def _opt_state(opt):
    """Everything an optimizer accumulates: its per-param state (by param position) and its
    state dict."""
    params = [p for g in opt.param_groups for p in g["params"]]
    return {
        "state": {i: _snapshot(dict(opt.state[p])) for i, p in enumerate(params) if p in opt.state},
        "state_dict": _snapshot(opt.state_dict()),
    }


def _params_of(model):
    return [p.detach().clone() for p in model.parameters()]


# ------------------------------------------------------------------------------ GradScaler


@pytest.mark.parametrize("name", NAMES)
def test_grad_scaler_skips_non_finite_steps_and_unscales(name):
    """An inf (step 1) and a NaN (step 3) in a scaled grad: GradScaler skips ``opt.step()``,
    and the state, the state dict and the params stay bit for bit as they were; the other steps
    equal the same optimizer fed the unscaled grads, bit for bit (scale 2**10, then halved)."""
    algo = ALGORITHMS[name]
    model, kw = _model(), _kwargs(algo)
    ref = _clone(model)
    opt = algo.cls(model.parameters(), **kw)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    if _requires_closure(algo.cls):
        # torch's GradScaler refuses closures; nothing else to check for such an algorithm.
        with pytest.raises(RuntimeError, match="[Cc]losure"):
            scaler.step(opt, closure=lambda: _loss(model, _data()[0]))
        return
    ref_opt = algo.cls(ref.parameters(), **kw)
    bad = {1: float("inf"), 3: float("nan")}
    for k, x in enumerate(_data()):
        opt.zero_grad()
        scaler.scale(_loss(model, x)).backward()
        if k in bad:
            next(model.parameters()).grad.view(-1)[0] = bad[k]
            state_before, params_before = _opt_state(opt), _params_of(model)
            scale_before = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        if k in bad:
            assert scaler.get_scale() == scale_before / 2, "the non-finite grad was not seen"
            _assert_identical(state_before, _opt_state(opt), f"{name} state after the skipped step {k}")
            _assert_identical(params_before, _params_of(model), f"{name} params after the skipped step {k}")
        else:
            _step(ref_opt, ref, x, False)
    assert opt.state, f"{name}: no state was created"
    _assert_identical(_params_of(ref), _params_of(model), f"{name} params (scaled vs unscaled)")
    _assert_identical(_opt_state(ref_opt)["state"], _opt_state(opt)["state"], f"{name} state (scaled vs unscaled)")


# ------------------------------------------------------------------------------ LR schedulers

SCHEDULERS = {
    "StepLR": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    "LambdaLR": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: [1.0, 0.25, 2.0, 0.5, 4.0, 0.125][e % 6]),
}


def _groups(model, multiplier=0.5):
    """Two groups, the second with a Paddle lr multiplier (a power of two: the effective lrs of
    the torch scheduler and of set_lr are then the same floats)."""
    params = list(model.parameters())
    return [{"params": params[:2]}, {"params": params[2:], "learning_rate": multiplier}]


@pytest.mark.filterwarnings("ignore:(Rprop|LBFGS) ignores:UserWarning")  # as Paddle: Algorithm.follows_lr
@pytest.mark.parametrize("sched", list(SCHEDULERS))
@pytest.mark.parametrize("name", NAMES)
def test_torch_lr_scheduler_drives_the_update(name, sched):
    algo = ALGORITHMS[name]
    closure = _requires_closure(algo.cls)
    kw = _kwargs(algo)
    base = kw["learning_rate"]
    models = [_model() for _ in range(3)]
    scheduled = algo.cls(_groups(models[0]), **kw)
    scheduler = SCHEDULERS[sched](scheduled)
    by_set_lr = algo.cls(_groups(models[1]), **kw)
    constant = algo.cls(_groups(models[2]), **kw)
    expected_lrs = []
    for x in _data():
        lr = scheduled.param_groups[0]["lr"]
        expected_lrs.append(lr)
        assert scheduled.param_groups[1]["lr"] == lr * 0.5
        by_set_lr.set_lr(lr)
        for model, opt in zip(models, (scheduled, by_set_lr, constant), strict=False):
            _step(opt, model, x, closure)
        scheduler.step()
    assert len(set(expected_lrs)) > 1 and expected_lrs[0] == base
    _assert_identical(_params_of(models[1]), _params_of(models[0]), f"{name} {sched} vs set_lr")
    if algo.follows_lr:
        assert any(not torch.equal(a, b) for a, b in zip(_params_of(models[0]), _params_of(models[2]), strict=False)), (
            f"{name}: the scheduled lr made no difference"
        )


# ------------------------------------------------------------------------------ torch.compile


def _compile_run(name, make, change_lr, dynamic=None, steps=4, dtype=torch.float32):
    """(compiled model, eager model, compile frames after each compiled step). ``make(cls,
    params, kw)`` builds the optimizer; a first step runs uncompiled (it creates the state);
    then each compiled step is followed by ``change_lr(opt, k)``, for the compiled optimizer
    and for its uncompiled twin on the eager engine. float32 by default: rounding the lr to
    float32 (Paddle's kernels) is where a Python float lr would be specialized."""
    algo = ALGORITHMS[name]
    kw = _kwargs(algo)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).to(dtype)
    ref = _clone(model)
    opt, ref_opt = make(algo.cls, model.parameters(), kw), make(algo.cls, ref.parameters(), kw)
    ref_opt.set_engine("eager")
    data = [x[:, :3] for x in _data(dtype, steps + 1)]
    for m, o in ((model, opt), (ref, ref_opt)):
        _step(o, m, data[0], False)
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(opt.step, backend=counter, dynamic=dynamic)
    frames = []
    for k, x in enumerate(data[1:]):
        for m, o in ((model, opt), (ref, ref_opt)):
            o.zero_grad()
            _loss(m, x).backward()
        compiled()
        ref_opt.step()
        frames.append(counter.frame_count)
        change_lr(opt, k)
        change_lr(ref_opt, k)
    return model, ref, frames


def _make_float_lr(cls, params, kw):
    opt = cls(params, **kw)
    opt._test_scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.6)
    return opt


def _set_lr_or_torch_scheduler(opt, k):
    """Even steps: Paddle's set_lr; odd steps: a torch StepLR (both write the groups' lr)."""
    if k % 2 == 0:
        opt.set_lr(opt.get_lr() * [0.5, 3.0][k // 2 % 2])
    else:
        opt._test_scheduler.step()


def _assert_compiled_equals_eager(model, ref):
    """Equal to float rounding (dynamo's graph may order a product differently)."""
    for a, b in zip(model.parameters(), ref.parameters(), strict=False):
        tol = 1e-12 if a.dtype == torch.float64 else 1e-6
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


# closure-only algorithms (LBFGS) are left out: torch.compile(opt.step) needs a step() without one
@pytest.mark.parametrize("name", [n for n in NAMES if not _requires_closure(ALGORITHMS[n].cls)])
def test_compiled_step_follows_the_lr_without_recompiling(name):
    """Compiled steps equal eager steps (float32, to float rounding) while the lr changes after
    every step (set_lr and a torch StepLR in turn); after the first change (dynamo's
    automatic-dynamic recompile, at most one) the compiled frames stay the same."""
    with warnings.catch_warnings():  # Rprop and LBFGS warn that they ignore set_lr, as Paddle does
        warnings.simplefilter("ignore", UserWarning)
        model, ref, frames = _compile_run(name, _make_float_lr, _set_lr_or_torch_scheduler)
    assert frames[0] >= 1
    assert frames[1] <= frames[0] + 1, f"{name}: frames per step {frames}"
    assert frames[-1] == frames[1], f"{name}: an lr change recompiled: frames per step {frames}"
    _assert_compiled_equals_eager(model, ref)


def test_compiled_step_follows_an_oar_scheduler_without_recompiling():
    """The same with an ``oar.lr`` scheduler as learning_rate (read in the base class's step)."""

    def make(cls, params, kw):
        return cls(params, **dict(kw, learning_rate=oar.lr.StepDecay(kw["learning_rate"], step_size=1, gamma=0.5)))

    model, ref, frames = _compile_run("Adam", make, lambda opt, k: opt._learning_rate.step(), dtype=torch.float64)
    assert frames[1] <= frames[0] + 1 and frames[-1] == frames[1], f"frames per step {frames}"
    _assert_compiled_equals_eager(model, ref)


def test_compiled_step_dynamic_true_never_recompiles():
    """With ``dynamic=True`` no lr change recompiles, from the first one (Adam; the lr reaches
    the rule as a 0-d tensor computed from the group's float: see oar.optimizer._rounded_lr)."""
    model, ref, frames = _compile_run("Adam", _make_float_lr, _set_lr_or_torch_scheduler, dynamic=True)
    assert frames == [frames[0]] * len(frames), f"frames per step {frames}"
    _assert_compiled_equals_eager(model, ref)


# ------------------------------------------------------------------------------ calling conventions


def _first_positional(cls) -> str:
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    return params[0].name


@pytest.mark.parametrize("name", NAMES)
def test_positional_params_and_named_parameters(name):
    """``Algo(model.parameters(), lr, ...)``, ``Algo(model.named_parameters(), ...)`` and torch's
    group dicts build the same optimizer as Paddle's keywords (same step, bit for bit)."""
    algo = ALGORITHMS[name]
    closure = _requires_closure(algo.cls)
    kw = _kwargs(algo)
    lr = kw.pop("learning_rate") * 0.5  # not the default
    # Paddle's first argument, learning_rate, comes right after torch's positional params.
    assert _first_positional(algo.cls) == "learning_rate"
    models = [_model() for _ in range(4)]
    with warnings.catch_warnings():  # Rprop warns that it ignores a group's learning_rate, as Paddle
        warnings.simplefilter("ignore", UserWarning)
        built = {
            "keywords": algo.cls(learning_rate=lr, parameters=list(models[0].parameters()), **kw),
            "positional": algo.cls(models[1].parameters(), lr, **kw),
            "named": algo.cls(models[2].named_parameters(), learning_rate=lr, **kw),
            "groups": algo.cls([{"params": list(models[3].parameters())}], learning_rate=lr, **kw),
        }
    for opt in built.values():
        assert isinstance(opt, torch.optim.Optimizer) and isinstance(opt, oar.Optimizer)
        assert opt.get_lr() == built["keywords"].get_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in built["keywords"].param_groups]
    for opt, model in zip(built.values(), models, strict=False):
        assert opt.param_groups[-1]["params"] == list(model.parameters())
        _step(opt, model, _data()[0], closure)
    assert built["named"].param_groups[0]["param_names"] == [n for n, _ in models[2].named_parameters()]
    for key, model in zip(built, models, strict=False):
        _assert_identical(_params_of(models[0]), _params_of(model), f"{name}: {key} vs keywords")
    assert any(not torch.equal(a, b) for a, b in zip(_params_of(models[0]), _params_of(_model()), strict=False)), (
        f"{name}: the step changed nothing"
    )
    if algo.required_lr:
        with pytest.raises(TypeError):
            algo.cls(models[0].parameters(), **kw)
    else:
        default = inspect.signature(algo.cls.__init__).parameters["learning_rate"].default
        assert (
            algo.cls(models[0].parameters(), **kw).get_lr()
            == algo.cls(models[0].parameters(), learning_rate=default, **kw).get_lr()
        )
    # A group's 'learning_rate' is Paddle's multiplier of the base lr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        opt = algo.cls(_groups(models[0], 0.25), learning_rate=lr, **kw)
    assert [g["lr"] for g in opt.param_groups] == [opt.get_lr(), opt.get_lr() * 0.25]


TORCH_KWARGS = {"params": "parameters", "lr": "learning_rate", "betas": "beta1", "eps": "epsilon"}


@pytest.mark.parametrize("key", list(TORCH_KWARGS))
@pytest.mark.parametrize("name", NAMES)
def test_torch_keyword_names_are_refused_with_paddles(name, key):
    algo = ALGORITHMS[name]
    kw = _kwargs(algo)
    model = _model()
    value = {"params": list(model.parameters()), "lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8}[key]
    args = () if key == "params" else (model.parameters(),)
    with pytest.raises(TypeError, match=rf"'{key}'.*{TORCH_KWARGS[key]}"):
        algo.cls(*args, **{key: value}, **kw)
