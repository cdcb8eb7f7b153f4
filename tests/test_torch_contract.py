"""torch.optim's contract (what PyTorch's own optimizer tests check of every optimizer) and
Paddle's own unit tests, ported, held for EVERY algorithm of ``oar.algorithms.algorithms()``
(an algorithm registered later is covered without editing this file), side by side with
torch.optim or real Paddle 3.3.1 where they have the feature:

* ``copy.deepcopy`` / ``pickle`` (torch keeps ``defaults``, ``state``, ``param_groups`` and
  drops hooks and a torch scheduler's ``step`` wrapper): a copy steps its own params and
  continues exactly as the original; lambda hooks do not stop pickling; an ``oar.lr`` scheduler
  in the copy drives the copy.
* torch's momentum-cycling schedulers (``OneCycleLR``, ``CyclicLR``): ``'betas'`` and
  ``'momentum'`` group keys written each step reach the update (against torch's Adam and against
  Paddle with the same values in its group dict); optimizers without them raise torch's error.
* ``zero_grad`` (torch's rules) and ``clear_grad`` (Paddle's), the profiler's records, state not
  tied to a param in state dicts, torch's errors for tensors as params, torch's hooks, ``repr``.
* Paddle's unit tests: every numeric constructor argument set to None raises Paddle's exception
  type; ``get_opti_var_name_list()`` as Paddle's.

Runtime: 342 tests, 20-30 s on 2 cores (most of it importing Paddle and the Paddle side-by-side runs).
"""

from __future__ import annotations

import copy
import inspect
import numbers
import pickle
import warnings

import pytest
import torch

import oar

ALGORITHMS = {a.name: a for a in oar.algorithms.algorithms()}
NAMES = list(ALGORITHMS)

pytestmark = pytest.mark.filterwarnings(
    # as Paddle, Rprop and LBFGS ignore lr changes (Algorithm.follows_lr) and say so
    "ignore:(Rprop|LBFGS) ignores:UserWarning",
    # torch's schedulers warn when they are stepped before the optimizer: irrelevant here
    "ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning",
)


def _requires_closure(cls: type) -> bool:
    """``step`` needs a closure (LBFGS): a ``_requires_closure`` class flag, else ``step``'s signature."""
    flag = getattr(cls, "_requires_closure", None)
    if flag is not None:
        return bool(flag)
    closure = inspect.signature(cls.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def _kwargs(algo) -> dict:
    """The demo's constructor keywords, and ``learning_rate=peak_lr`` (a float)."""
    accepted = inspect.signature(algo.cls.__init__).parameters
    kw = {k: v for k, v in algo.demo.items() if k in accepted and k != "learning_rate"}
    kw["learning_rate"] = float(algo.demo.get("peak_lr", 0.01))
    return kw


SHAPES = [(3, 4), (4,), (2, 2)]


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64)) for s in SHAPES]


def _targets(k: int) -> list[torch.Tensor]:
    """Step ``k``'s targets: the loss is ``sum((p - t)^2)``, its grads ``2 (p - t)``."""
    g = torch.Generator().manual_seed(1000 + k)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]


def _loss(params, k: int, only=None) -> torch.Tensor:
    """``sum((p - t)^2)`` over ``params`` (``params[i]`` has shape ``SHAPES[i]``), or over
    ``params[i]`` for ``i`` in ``only``."""
    targets = _targets(k)
    return sum(((params[i] - targets[i]) ** 2).sum() for i in (range(len(params)) if only is None else only))


def _train_step(opt, params, k: int) -> None:
    """One training step on step ``k``'s loss (``step(closure)`` for closure-only algorithms)."""
    if _requires_closure(type(opt)):

        def closure():
            opt.zero_grad()
            loss = _loss(params, k)
            loss.backward()
            return loss

        opt.step(closure)
    else:
        opt.zero_grad()
        _loss(params, k).backward()
        opt.step()


def _params_of(opt) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def _values(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _identical(a, b, where: str) -> None:
    """Lists of tensors equal bit for bit."""
    assert len(a) == len(b), where
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x.dtype == y.dtype and x.shape == y.shape, f"{where}[{k}]"
        assert torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8)), (
            f"{where}[{k}]: {x} vs {y}"
        )


def _build(name: str, params, **extra):
    algo = ALGORITHMS[name]
    return algo.cls(params, **{**_kwargs(algo), **extra})


def _accepts_scheduler(name: str) -> bool:
    """Whether the constructor takes an ``oar.lr`` scheduler as learning_rate (LBFGS refuses one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _build(name, _params(), learning_rate=oar.lr.StepDecay(0.01, 1))
    except TypeError:
        return False
    return True


HOOK_KINDS = (
    "step_pre",
    "step_post",
    "state_dict_pre",
    "state_dict_post",
    "load_state_dict_pre",
    "load_state_dict_post",
)


def _register_lambda_hooks(opt, calls: list) -> None:
    """One lambda of each of torch's hook kinds, each appending its kind to ``calls``."""
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("step_pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("step_post"))
    opt.register_state_dict_pre_hook(lambda o: calls.append("state_dict_pre"))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append("state_dict_post"))
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_state_dict_pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_state_dict_post"))


def _hook_counts(opt) -> dict[str, int]:
    return {kind: len(getattr(opt, f"_optimizer_{kind}_hooks")) for kind in HOOK_KINDS}


# ================================================================== copies and pickles


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_under_a_torch_scheduler_steps_its_own_params(name):
    """torch's ``StepLR`` wraps ``opt.step`` on the instance (through a weak reference to the
    optimizer): a deep copy must not carry that wrapper. As torch.optim.Adam: stepping the copy
    leaves the original's params alone; and the copy continues exactly as the original."""
    params = _params()
    opt = _build(name, params)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    ref_params = _params()
    ref = torch.optim.Adam(ref_params, lr=0.01)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, step_size=1, gamma=0.5)
    for o, ps, s in ((opt, params, sched), (ref, ref_params, ref_sched)):
        for k in range(2):  # two steps: oar's per-step caches exist too
            _train_step(o, ps, k)
            s.step()
    for o, ps in ((opt, params), (ref, ref_params)):
        twin = copy.deepcopy(o)
        twin_params = _params_of(twin)
        assert all(a is not b for a, b in zip(twin_params, ps, strict=True))
        before = _values(ps)
        _train_step(twin, twin_params, 2)
        _identical(_values(ps), before, f"{type(o).__name__}: the original's params after the copy's step")
        assert any(not torch.equal(a, b) for a, b in zip(twin_params, before, strict=True)), (
            "the copy's step changed nothing"
        )
        _train_step(o, ps, 2)
        _identical(_values(twin_params), _values(ps), f"{type(o).__name__}: the copy vs the original")
    assert "step" not in vars(copy.deepcopy(opt)) and "step" in vars(opt)  # the wrapper stays with the original


@pytest.mark.parametrize("name", NAMES)
def test_pickle_drops_hooks_and_continues_identically(name):
    """With lambda hooks of every kind and a torch scheduler, ``pickle`` works (torch.optim.Adam
    too); the clone has no hooks (as torch's clone), its own params, and continues exactly as the
    original, its state dict included."""
    params, calls = _params(), []
    opt = _build(name, params)
    torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    _register_lambda_hooks(opt, calls)
    ref = torch.optim.Adam(_params(), lr=0.01)
    torch.optim.lr_scheduler.StepLR(ref, step_size=1, gamma=0.5)
    _register_lambda_hooks(ref, [])
    for k in range(2):  # two steps: oar's per-step caches exist too (weak references)
        _train_step(opt, params, k)
    ref_clone = pickle.loads(pickle.dumps(ref))
    clone = pickle.loads(pickle.dumps(opt))
    assert _hook_counts(clone) == _hook_counts(ref_clone) == dict.fromkeys(HOOK_KINDS, 0)
    assert set(_hook_counts(opt).values()) == {1}, "the original lost its hooks"
    clone_params = _params_of(clone)
    assert all(a is not b for a, b in zip(clone_params, params, strict=True))
    seen = len(calls)
    _train_step(clone, clone_params, 2)
    assert len(calls) == seen, "the clone ran the original's hooks"
    _train_step(opt, params, 2)
    _identical(_values(clone_params), _values(params), f"{name}: the clone vs the original")
    if not isinstance(opt, oar.LBFGS):  # LBFGS's state dict is Paddle's LBFGS layout (no groups)
        a, b = opt.state_dict(), clone.state_dict()
        assert a["param_groups"] == b["param_groups"]
        for index in a["state"]:
            _identical(list(a["state"][index].values()), list(b["state"][index].values()), f"state {index}")


@pytest.mark.parametrize("name", [n for n in NAMES if _accepts_scheduler(n)])
def test_copies_listen_to_their_own_oar_scheduler(name):
    """An ``oar.lr`` scheduler as learning_rate: a copy's (deepcopy or pickle) scheduler is the
    copy's own, drives the copy (its ``optimizer`` is the copy) and not the original."""
    opt = _build(name, _params(), learning_rate=oar.lr.StepDecay(0.01, step_size=1, gamma=0.5))
    sched = opt._learning_rate
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        own = clone._learning_rate
        assert own is not sched and own.optimizer is clone and sched.optimizer is opt
        own.step()
        assert (
            [g["lr"] for g in clone.param_groups]
            == [0.005] * len(clone.param_groups)
            == [own()] * len(clone.param_groups)
        )
        assert [g["lr"] for g in opt.param_groups] == [sched()] * len(opt.param_groups) != [own()]
        own.step(0)


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_copies_all_public_attributes(name):
    """torch's ``test_deepcopy_copies_all_public_attrs``: after a few steps, a deep copy has the
    same public attributes."""
    params = _params()
    opt = _build(name, params)
    for k in range(3):
        _train_step(opt, params, k)

    def public(o):
        return {k for k in vars(o) if not k.startswith("_")}

    assert public(copy.deepcopy(opt)) == public(opt)


# ================================================================== 'betas' / 'momentum' and torch's cycling schedulers

MOMENTUM_SCHEDULERS = {
    "OneCycleLR": lambda opt, steps: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=steps),
    "CyclicLR": lambda opt, steps: torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.001, max_lr=0.02, step_size_up=3),
}
STEPS = 10


def _momentum_key(opt) -> tuple[str, str] | None:
    """(torch's key, the Paddle key it sets) of the momentum torch's schedulers cycle, or None."""
    if "betas" in opt.defaults:
        return "betas", "beta1"
    if "momentum" in opt.defaults:
        return "momentum", "momentum"
    return None


def _written(group: dict, key: str):
    return group["betas"][0] if key == "betas" else group["momentum"]


def _torch_without_momentum_error(sched: str) -> str:
    """torch's message for an optimizer with neither 'momentum' nor 'betas' (torch's Adagrad)."""
    with pytest.raises(ValueError) as exc:
        MOMENTUM_SCHEDULERS[sched](torch.optim.Adagrad(_params(), lr=0.01), STEPS)
    return str(exc.value)


@pytest.mark.parametrize("sched", list(MOMENTUM_SCHEDULERS))
@pytest.mark.parametrize("name", NAMES)
def test_cycled_momentum_reaches_the_update(name, sched):
    """Where the algorithm has betas or a momentum, torch's cycling scheduler drives it: the
    values written into ``param_groups[i]['betas' | 'momentum']`` are torch's (the same sequence
    as for torch's Adam / SGD(momentum)), and the update equals a twin given the same lr and the
    same momentum through Paddle's group keys (``'beta1'``, ``'momentum'``), bit for bit, and
    differs from a twin given the lr only. Elsewhere: torch's ValueError, as for torch's Adagrad."""
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "learning_rate": 0.5}]
    params = [_params() for _ in range(3)]
    scheduled, twin, lr_only = (_build(name, groups(ps)) for ps in params)
    keys = _momentum_key(scheduled)
    if keys is None:
        with pytest.raises(ValueError) as exc:
            MOMENTUM_SCHEDULERS[sched](scheduled, STEPS)
        assert str(exc.value) == _torch_without_momentum_error(sched)
        return
    view, paddle_key = keys
    scheduler = MOMENTUM_SCHEDULERS[sched](scheduled, STEPS)
    torch_opt = (
        torch.optim.Adam(_params(), lr=0.01) if view == "betas" else torch.optim.SGD(_params(), lr=0.01, momentum=0.9)
    )
    torch_scheduler = MOMENTUM_SCHEDULERS[sched](torch_opt, STEPS)
    written = []
    for k in range(STEPS):
        written.append(_written(scheduled.param_groups[0], view))
        assert written[-1] == _written(torch_opt.param_groups[0], view), f"step {k}: not torch's value"
        for g, t, c in zip(scheduled.param_groups, twin.param_groups, lr_only.param_groups, strict=True):
            t["lr"] = c["lr"] = g["lr"]
            t[paddle_key] = _written(g, view)
        for opt, ps in zip((scheduled, twin, lr_only), params, strict=True):
            _train_step(opt, ps, k)
        scheduler.step()
        torch_scheduler.step()
    assert len(set(written)) > 2, written
    scheduled.state_dict()  # syncs the last value written (after the last step) into Paddle's key
    assert all(g[paddle_key] == _written(g, view) for g in scheduled.param_groups)
    _identical(_values(params[0]), _values(params[1]), f"{name} {sched} vs Paddle's group keys")
    assert any(not torch.equal(a, b) for a, b in zip(params[0], params[2], strict=True)), (
        "the cycled momentum changed nothing"
    )


@pytest.mark.parametrize("sched", list(MOMENTUM_SCHEDULERS))
def test_adam_under_cycled_betas_keeps_torchs_moments(sched):
    """oar's Adam and torch's Adam under the same cycling scheduler, fed the same gradients
    (float64): the same lrs and betas every step, and the same moments (``moment1`` =
    ``exp_avg``, ``moment2`` = ``exp_avg_sq``) to 1e-13 relative, element-wise (torch's ``lerp``
    rounds differently from Paddle's ``b m + (1-b) g``: measured at most 1.6e-14, on the smallest
    elements; ignoring the written betas moves them by 1e-2). The params follow Paddle's bias
    correction (a product of the betas; see test_cycled_betas_match_paddle), not torch's
    ``1 - b**t`` with the current beta: they differ from torch's by up to 2.4e-2 here."""
    t_params, o_params = _params(), _params()
    t_opt, o_opt = torch.optim.Adam(t_params, lr=0.01), oar.Adam(o_params, learning_rate=0.01)
    t_sched, o_sched = MOMENTUM_SCHEDULERS[sched](t_opt, STEPS), MOMENTUM_SCHEDULERS[sched](o_opt, STEPS)
    for k in range(STEPS):
        assert o_opt.param_groups[0]["lr"] == t_opt.param_groups[0]["lr"]
        assert o_opt.param_groups[0]["betas"] == t_opt.param_groups[0]["betas"]
        grads = _targets(k)
        for p, q, g in zip(t_params, o_params, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        t_opt.step()
        o_opt.step()
        for p, q in zip(t_params, o_params, strict=True):
            torch.testing.assert_close(o_opt.state[q]["moment1"], t_opt.state[p]["exp_avg"], rtol=1e-13, atol=0)
            torch.testing.assert_close(o_opt.state[q]["moment2"], t_opt.state[p]["exp_avg_sq"], rtol=1e-13, atol=0)
        t_sched.step()
        o_sched.step()


def _paddle_twin(paddle, name: str, init, group_options: dict):
    """Paddle's optimizer over float64 params equal to ``init``, in group mode (one group)."""
    ps = [
        paddle.create_parameter(
            list(a.shape), "float64", default_initializer=paddle.nn.initializer.Assign(a.detach().numpy())
        )
        for a in init
    ]
    kw = {k: v for k, v in _kwargs(ALGORITHMS[name]).items() if k != "weight_decay"}
    opt = getattr(paddle.optimizer, name)(parameters=[{"params": ps, **group_options}], **kw)
    return opt, ps


@pytest.mark.parametrize("name", [n for n in NAMES if _momentum_key(_build(n, _params())) is not None])
def test_cycled_betas_match_paddle(name):
    """Real Paddle 3.3.1 given, before each step, the lr (``set_lr``) and the beta1 / momentum
    that torch's OneCycleLR wrote into oar's group (in its group dict, which Paddle reads at every
    step): float64 params within 1e-10 of Paddle relative to the update (the parity criterion)."""
    paddle = pytest.importorskip("paddle")
    from paddle_harness import rel_err

    paddle.set_default_dtype("float64")
    init = _params()
    kw = {k: v for k, v in _kwargs(ALGORITHMS[name]).items() if k != "weight_decay"}
    params = _params()
    opt = ALGORITHMS[name].cls([{"params": params}], **kw)
    view, paddle_key = _momentum_key(opt)
    scheduler = MOMENTUM_SCHEDULERS["OneCycleLR"](opt, STEPS)
    popt, pparams = _paddle_twin(paddle, name, init, {})
    try:
        for k in range(STEPS):
            group = opt.param_groups[0]
            popt.set_lr(group["lr"])
            popt._param_groups[0][paddle_key] = _written(group, view)
            grads = _targets(k)
            popt.clear_grad()
            sum((p * paddle.to_tensor(g.numpy())).sum() for p, g in zip(pparams, grads, strict=True)).backward()
            popt.step()
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
            scheduler.step()
            for t, p, a in zip(params, pparams, init, strict=True):
                err = rel_err(t.detach().numpy(), p.numpy(), a.detach().numpy())
                assert err <= 1e-10, f"{name} step {k}: {err:.3g} off Paddle"
    finally:
        paddle.set_default_dtype("float32")


@pytest.mark.parametrize("name", [n for n in NAMES if "betas" in _build(n, _params()).defaults])
def test_betas_group_key_both_ways(name):
    """torch's ``'betas'`` given in a group dict sets beta1/beta2; Paddle's ``'beta1'`` written in a
    group shows in ``'betas'`` at the next step; a bad ``'betas'`` raises a ValueError naming it and
    leaves the group as it was; a state dict carries both, in agreement."""
    params = _params()
    opt = _build(name, [{"params": params[:2]}, {"params": params[2:], "betas": (0.5, 0.75)}])
    assert opt.param_groups[1]["beta1"] == 0.5 and opt.param_groups[1]["beta2"] == 0.75
    assert opt.param_groups[0]["betas"] == (opt.defaults["beta1"], opt.defaults["beta2"]) == opt.defaults["betas"]
    with pytest.raises(ValueError, match="betas.*disagree"):
        _build(name, [{"params": params, "betas": (0.5, 0.75), "beta1": 0.6}])
    opt.param_groups[0]["beta1"] = 0.25
    _train_step(opt, params, 0)
    assert opt.param_groups[0]["betas"][0] == 0.25
    opt.param_groups[1]["betas"] = (1.5, 0.75)
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['betas'\] = \(1.5, 0.75\).*beta1"):
        _train_step(opt, params, 1)
    assert opt.param_groups[1]["beta1"] == 0.5
    opt.param_groups[1]["betas"] = (0.125, 0.5)
    sd = opt.state_dict()
    assert [(g["beta1"], g["beta2"]) for g in sd["param_groups"]] == [tuple(g["betas"]) for g in sd["param_groups"]]
    assert sd["param_groups"][1]["betas"] == (0.125, 0.5)
    fresh = _build(name, [{"params": _params()[:2]}, {"params": _params()[2:]}])
    fresh.load_state_dict(sd)
    assert fresh.param_groups[1]["beta1"] == 0.125 and fresh.param_groups[1]["betas"] == (0.125, 0.5)


# ================================================================== zero_grad and clear_grad


def _grad_facts(p) -> tuple:
    """What zero_grad leaves: None, or (values, requires_grad, has a grad_fn)."""
    if p.grad is None:
        return (None,)
    return (p.grad.detach().clone().tolist(), p.grad.requires_grad, p.grad.grad_fn is not None)


def _grad_scenarios(params) -> None:
    """params[0]: frozen after backward; params[1]: a grad that requires grad (a leaf);
    params[2]: a grad in a graph (``create_graph=True``)."""
    for p in params:
        p.grad = None
        p.requires_grad_(True)
    _loss(params, 0, only=[0]).backward()
    params[0].requires_grad_(False)
    params[1].grad = torch.ones_like(params[1], requires_grad=True)
    (params[2] ** 3).sum().backward(create_graph=True)


@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_zero_grad_like_torch(name, set_to_none):
    """torch.optim.SGD and oar, side by side, on a param frozen after backward, a grad that
    requires grad and a grad with a graph: ``zero_grad(set_to_none)`` leaves the same."""
    torch_params, oar_params = _params(), _params()
    torch_opt, opt = torch.optim.SGD(torch_params, lr=0.1), _build(name, oar_params)
    facts = []
    for o, ps in ((torch_opt, torch_params), (opt, oar_params)):
        _grad_scenarios(ps)
        o.zero_grad(set_to_none=set_to_none)
        facts.append([_grad_facts(p) for p in ps])
    assert facts[0] == facts[1]
    assert facts[1][0] == ((None,) if set_to_none else ([[0.0] * 4] * 3, False, False))


def _kind(grad) -> str:
    if grad is None:
        return "None"
    return "zero" if not bool(grad.abs().sum()) else "kept"


@pytest.mark.parametrize("name", NAMES)
def test_clear_grad_keeps_paddles_rules(name):
    """Paddle's ``clear_grad`` (side by side with real Paddle): a frozen param's grad is kept; a
    trainable one is zero-filled (default) or set to None (``set_to_zero=False``). A grad that
    requires grad is zero-filled without an error, as torch's zero_grad."""
    paddle = pytest.importorskip("paddle")
    pp = [paddle.create_parameter([2], "float64") for _ in range(2)]
    popt = getattr(paddle.optimizer, name)(parameters=pp, learning_rate=0.01)
    params = _params()[:2]
    opt = _build(name, params)
    expected, got = [], []
    for set_to_zero in (True, False):
        (pp[0].sum() + pp[1].sum()).backward()
        pp[1].stop_gradient = True  # frozen after backward
        popt.clear_grad(set_to_zero=set_to_zero)
        expected.append([_kind(p.grad) for p in pp])
        pp[1].stop_gradient = False
        pp[1].clear_gradient(False)
        _loss(params, 0).backward()
        params[1].requires_grad_(False)
        opt.clear_grad(set_to_zero=set_to_zero)
        got.append([_kind(p.grad) for p in params])
        params[1].requires_grad_(True)
        params[1].grad = None
    assert got == expected == [["zero", "kept"], ["None", "kept"]]
    params[0].grad = torch.ones_like(params[0], requires_grad=True)
    opt.clear_grad()
    assert not params[0].grad.requires_grad and _kind(params[0].grad) == "zero"


@pytest.mark.parametrize("name", NAMES)
def test_profiler_records_zero_grad_and_step_like_torch(name):
    """The profiler shows ``Optimizer.zero_grad#<class>.zero_grad`` and
    ``Optimizer.step#<class>.step``, as for torch's Adam; a pickled copy records the same."""

    def records(opt, params):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            _train_step(opt, params, 0)
        cls = type(opt).__name__
        return sorted({e.name.replace(cls, "<cls>") for e in prof.events() if e.name.startswith("Optimizer.")})

    expected = records(torch.optim.Adam(ps := _params(), lr=0.01), ps)
    assert expected == ["Optimizer.step#<cls>.step", "Optimizer.zero_grad#<cls>.zero_grad"]
    params = _params()
    opt = _build(name, params)
    assert records(opt, params) == expected
    clone = pickle.loads(pickle.dumps(opt))
    assert records(clone, _params_of(clone)) == expected


# ================================================================== state dicts


@pytest.mark.parametrize("name", NAMES)
def test_state_not_tied_to_a_param_is_kept(name):
    """torch's ``test_state_dict_pre_hook``: a pre hook writes ``opt.state['test'] = 1``; the state
    dict has it, as torch's, and loading it restores it (torch keeps such entries as they are).
    An int key, which a state dict cannot tell from a param's index, raises a ValueError naming it."""

    def hook(o):
        o.state["test"] = 1

    ref = torch.optim.Adam(_params(), lr=0.01)
    ref.register_state_dict_pre_hook(hook)
    params = _params()
    opt = _build(name, params)
    opt.register_state_dict_pre_hook(hook)
    _train_step(opt, params, 0)
    sd = opt.state_dict()
    assert sd["state"]["test"] == ref.state_dict()["state"]["test"] == 1
    if isinstance(opt, oar.LBFGS):
        return  # its state dict is Paddle's LBFGS layout, whose loading accepts LBFGS's keys only
    fresh = _build(name, _params())
    fresh.load_state_dict(sd)
    assert fresh.state["test"] == 1
    assert set(fresh.state_dict()["state"]) == set(sd["state"])
    opt.state[7] = "x"
    with pytest.raises(ValueError, match=r"opt.state\[7\]"):
        opt.state_dict()


@pytest.mark.parametrize("name", [n for n in NAMES if not _requires_closure(ALGORITHMS[n].cls)])
def test_state_dict_param_names_load_like_torch(name):
    """torch's rules for ``'param_names'``: a state dict of a named optimizer loaded into an
    unnamed one gives it the names; an unnamed dict loaded into a named one keeps its names."""
    results = []
    for build in (lambda ps: torch.optim.SGD(ps, lr=0.1), lambda ps: _build(name, ps)):
        named = build([(f"p{k}", p) for k, p in enumerate(_params())])
        plain = build(_params())
        plain.load_state_dict(named.state_dict())
        named2 = build([(f"q{k}", p) for k, p in enumerate(_params())])
        named2.load_state_dict(build(_params()).state_dict())
        results.append((plain.param_groups[0].get("param_names"), named2.param_groups[0].get("param_names")))
    assert results[1] == results[0] == (["p0", "p1", "p2"], ["q0", "q1", "q2"])


# ================================================================== calling conventions


def _torch_error(call):
    with pytest.raises(Exception) as exc:
        call()
    return exc.value


@pytest.mark.parametrize("name", NAMES)
def test_a_tensor_as_params_raises_torchs_type_error(name):
    """``Algo(tensor, learning_rate=...)``, ``Algo(tensor)`` and ``Algo(parameters=tensor)``: torch's
    TypeError and message (``torch.optim.SGD(tensor, lr=0.1)``)."""
    tensor = torch.zeros(3, requires_grad=True)
    expected = _torch_error(lambda: torch.optim.SGD(tensor, lr=0.1))
    kw = _kwargs(ALGORITHMS[name])
    lr = kw.pop("learning_rate")
    calls = [
        lambda: ALGORITHMS[name].cls(tensor, learning_rate=lr, **kw),
        lambda: ALGORITHMS[name].cls(parameters=tensor, learning_rate=lr, **kw),
    ]
    if not ALGORITHMS[name].required_lr:
        calls.append(lambda: ALGORITHMS[name].cls(tensor, **kw))
    for call in calls:
        got = _torch_error(call)
        assert type(got) is type(expected) and str(got) == str(expected)


@pytest.mark.parametrize("name", NAMES)
def test_named_and_plain_params_mixed_raise_torchs_value_error(name):
    """torch raises ValueError ("all optimizer params should be with/without names") for a mix of
    (name, tensor) pairs and tensors, in a list or in a group: oar the same type and words."""
    a, b = _params()[:2]
    mixes = (lambda: [("a", a), b], lambda: [b, ("a", a)], lambda: [{"params": [("a", a), b]}])
    for mix in mixes:  # a new list each time: torch rewrites a group dict's 'params' before raising
        expected = _torch_error(lambda mix=mix: torch.optim.SGD(mix(), lr=0.1))
        got = _torch_error(lambda mix=mix: _build(name, mix()))
        assert type(got) is type(expected) is ValueError
        assert str(expected) in str(got)


# ================================================================== torch's hooks, repr, no-grad steps


@pytest.mark.parametrize("name", NAMES)
def test_hooks_run_like_torchs(name):
    """torch's hook tests: every kind of hook runs, in the same order as for torch.optim.SGD
    around ``step``, ``state_dict`` and ``load_state_dict``; a state-dict post hook's result and a
    load pre hook's edit (``param_groups[0]['lr']``) are taken, as torch takes them."""
    orders = []
    for build in (lambda ps: torch.optim.SGD(ps, lr=0.1), lambda ps: _build(name, ps)):
        params, calls = _params(), []
        opt = build(params)
        _register_lambda_hooks(opt, calls)
        opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": True})
        opt.register_load_state_dict_pre_hook(
            lambda o, sd: {**sd, "param_groups": [{**g, "lr": 0.002} for g in sd["param_groups"]]}
        )
        _train_step(opt, params, 0)
        sd = opt.state_dict()
        assert sd.get("extra") is True
        if "param_groups" in sd:  # LBFGS's state dict has no groups
            opt.load_state_dict({k: v for k, v in sd.items() if k != "extra"})
            assert opt.param_groups[0]["lr"] == 0.002
        orders.append(calls)
    if isinstance(_build(name, _params()), oar.LBFGS):
        orders = [[c for c in calls if not c.startswith("load")] for calls in orders]
    assert orders[1] == orders[0]


@pytest.mark.parametrize("name", NAMES)
def test_repr_lists_the_groups_like_torch(name):
    """torch's repr: the class name, then each group's options (``Parameter Group i``), lr included."""
    text = repr(_build(name, [{"params": _params()[:2]}, {"params": _params()[2:]}]))
    expected = repr(torch.optim.SGD([{"params": _params()[:2]}, {"params": _params()[2:]}], lr=0.1))
    assert text.startswith(f"{name} (") and expected.startswith("SGD (")
    for k in range(2):
        assert f"Parameter Group {k}\n" in text and f"Parameter Group {k}\n" in expected
    assert text.count("    lr: ") == 2


@pytest.mark.parametrize("name", NAMES)
def test_step_without_grads_changes_nothing(name):
    """torch's ``test_step_is_noop_when_params_have_no_grad``: no grads (a closure that does not
    call backward, for closure-only algorithms), no change of any param, no state."""
    params = _params()
    opt = _build(name, params)
    before = _values(params)
    if _requires_closure(type(opt)):
        opt.step(lambda: _loss(params, 0).detach())
    else:
        opt.step()
    _identical(_values(params), before, f"{name} params")
    assert not any(isinstance(k, torch.Tensor) and v for k, v in opt.state.items())


# ================================================================== Paddle's unit tests, ported


def _numeric_arguments(name: str) -> list[str]:
    """``learning_rate`` and Paddle's constructor arguments whose default is a number."""
    import paddle

    sig = inspect.signature(getattr(paddle.optimizer, name).__init__)
    return [
        k
        for k, p in sig.parameters.items()
        if k == "learning_rate" or (isinstance(p.default, numbers.Real) and not isinstance(p.default, bool))
    ]


def _none_cases() -> list[tuple[str, str]]:
    try:
        import paddle  # noqa: F401
    except ImportError:
        return []
    return [(name, arg) for name in NAMES for arg in _numeric_arguments(name)]


def _first_error(run):
    try:
        run()
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("name,arg", _none_cases())
def test_none_argument_raises_paddles_exception_type(name, arg):
    """Paddle's unit tests (``RMSProp(None)``, ``rho=None``, ...), for every algorithm and numeric
    argument: built with it None and stepped once, oar raises an exception of the type Paddle
    raises (oar may raise a class that is Paddle's type and TypeError/ValueError too), with a
    message that names the argument. Paddle raises some at the first step (TypeError); oar at
    construction."""
    paddle = pytest.importorskip("paddle")
    algo = ALGORITHMS[name]
    base = {"learning_rate": 0.01} if algo.required_lr else {}
    kw = {**base, arg: None}

    def paddle_run():
        lin = paddle.nn.Linear(2, 2)
        opt = getattr(paddle.optimizer, name)(parameters=lin.parameters(), **kw)
        x = paddle.ones([3, 2])

        def closure():
            opt.clear_grad()
            loss = lin(x).sum()
            loss.backward()
            return loss

        if _requires_closure(algo.cls):
            opt.step(closure)
        else:
            closure()
            opt.step()

    def oar_run():
        params = _params()
        opt = algo.cls(parameters=params, **kw)
        _train_step(opt, params, 0)

    expected, got = _first_error(paddle_run), _first_error(oar_run)
    assert expected is not None, f"Paddle accepts {name}({arg}=None)"
    assert isinstance(got, type(expected)), f"{name}({arg}=None): Paddle {expected!r}, oar {got!r}"
    assert arg in str(got) or arg.replace("_", " ") in str(got), f"the message does not name {arg}: {got}"


@pytest.mark.parametrize("mode", ["list", "groups", "named_optimizer"])
@pytest.mark.parametrize("name", NAMES)
def test_get_opti_var_name_list_matches_paddle(name, mode):
    """``get_opti_var_name_list()`` after three steps, the first with a grad for the second param
    only (accumulators are created lazily, in that order): Paddle's list, given the params the
    same names (oar: ``named_parameters``-style names; Paddle: ParamAttr names)."""
    paddle = pytest.importorskip("paddle")
    algo = ALGORITHMS[name]
    names = ["fc.weight", "fc.bias", "head.w"]
    opt_name = "opt1" if mode == "named_optimizer" else None
    lr = _kwargs(algo)["learning_rate"]
    with paddle.utils.unique_name.guard():
        pp = [
            paddle.create_parameter(list(s), "float64", attr=paddle.ParamAttr(name=n))
            for s, n in zip(SHAPES, names, strict=True)
        ]
        p_arg = [{"params": pp[:2]}, {"params": pp[2:]}] if mode == "groups" else pp
        popt = getattr(paddle.optimizer, name)(parameters=p_arg, learning_rate=lr, name=opt_name)
        params = _params()
        named = list(zip(names, params, strict=True))
        o_arg = [{"params": named[:2]}, {"params": named[2:]}] if mode == "groups" else named
        opt = algo.cls(o_arg, learning_rate=lr, name=opt_name)
        for k in range(3):
            active = [1] if k == 0 else [0, 1, 2]
            for p in params:
                p.grad = None
            if _requires_closure(algo.cls):

                def pclosure(active=active):
                    popt.clear_grad()
                    loss = sum((pp[i] * pp[i]).sum() for i in active)
                    loss.backward()
                    return loss

                popt.step(pclosure)

                def closure(active=active, k=k):
                    loss = _loss(params, k, only=active)
                    loss.backward()
                    return loss

                opt.step(closure)
            else:
                popt.clear_grad(set_to_zero=False)
                sum((pp[i] * pp[i]).sum() for i in active).backward()
                popt.step()
                _loss(params, k, only=active).backward()
                opt.step()
        expected = popt.get_opti_var_name_list()
    assert opt.get_opti_var_name_list() == expected
    if algo.rule is not None and name != "SGD":
        assert expected, f"{name}: Paddle created no accumulators (the test compares nothing)"


@pytest.mark.parametrize("name", [n for n in NAMES if ALGORITHMS[n].multi_precision])
def test_get_opti_var_name_list_master_weights_match_paddle(name):
    """With ``multi_precision=True`` on bfloat16 params, accumulators belong to the float32
    master weight (``<param>_fp32_master_0_<acc>_0``). Paddle's CPU build has no bfloat16 update
    kernels (``step()`` raises NotFound after creating the accumulators, except SGD's), so the names
    are those it created before the kernel ran."""
    paddle = pytest.importorskip("paddle")
    algo = ALGORITHMS[name]
    names = ["fc.weight", "fc.bias"]
    lr = _kwargs(algo)["learning_rate"]
    with paddle.utils.unique_name.guard():
        pp = [
            paddle.create_parameter(
                [3], "bfloat16", attr=paddle.ParamAttr(name=n), default_initializer=paddle.nn.initializer.Constant(1.0)
            )
            for n in names
        ]
        popt = getattr(paddle.optimizer, name)(parameters=pp, learning_rate=lr, multi_precision=True)
        sum((p.astype("float32") * p.astype("float32")).sum() for p in pp).backward()
        try:
            popt.step()
        except RuntimeError as exc:  # no bfloat16 kernel on CPU: the accumulators exist already
            assert "not registered" in str(exc), exc
        expected = popt.get_opti_var_name_list()
    params = [torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16)) for _ in names]
    opt = algo.cls(list(zip(names, params, strict=True)), learning_rate=lr, multi_precision=True)
    for p in params:
        p.grad = 2 * p.detach()
    opt.step()
    assert opt.get_opti_var_name_list() == expected
    if name != "SGD":
        assert expected and all("_fp32_master_0_" in n for n in expected), expected
