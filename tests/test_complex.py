"""Complex parameters: every optimizer updates a complex param as torch.optim does, as two reals
per element (``torch.view_as_real`` of the param, its grad and its state).

Paddle cannot create complex parameters, so the references are (1) the same oar optimizer run on
the real view as a float param, for every algorithm of the table and the eager and fused engines
(and the compiled engine for Adam): bit for bit; (2) torch.optim on the same complex param where
its math is oar's for the options chosen, in complex128. State dicts of complex params round-trip.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from algorithm_cases import ENTRIES

import oar  # type: ignore[import-untyped]  # (oar ships no py.typed marker)
from oar.algorithms import Algorithm, algorithms  # type: ignore[import-untyped]

#: Params of the small model: a complex64 matrix, a complex128 vector, a 0-d complex64, and a
#: real float32 vector beside them (one optimizer takes all).
PARAMS: list[tuple[tuple[int, ...], torch.dtype]] = [
    ((4, 3), torch.complex64),
    ((5,), torch.complex128),
    ((), torch.complex64),
    ((3,), torch.float32),
]
STEPS = 3
ELEMENTWISE = [a for a in algorithms() if a.rule is not None]


def _options(algo: Algorithm) -> dict[str, Any]:
    """Options that reach every path the complex view goes through: the algorithm's first
    non-default engine option set, a coupled L1 decay (sign of each real) where it takes one, a
    global-norm clip, and a learning rate where it has no default."""
    # not a config with a callable: it sees the complex param itself (AdamW's lr_ratio by ndim)
    configs = [c for c in ENTRIES[algo.name].engine_configs if not any(map(callable, c.values()))]
    kwargs: dict[str, Any] = dict(configs[-1]) if configs else {}
    if ENTRIES[algo.name].weight_decay and algo.name != "AdamW":
        kwargs["weight_decay"] = oar.L1Decay(0.01)
    kwargs["grad_clip"] = oar.ClipGradByGlobalNorm(1.0)
    kwargs.setdefault("learning_rate", 0.01)
    return kwargs


def _pair(seed: int) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """The complex params and their real twins (``view_as_real`` copies; real params cloned)."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, dtype=dtype, generator=gen)) for shape, dtype in PARAMS]
    twins = [torch.nn.Parameter((torch.view_as_real(p) if p.is_complex() else p).detach().clone()) for p in params]
    return params, twins


def _grads(params: list[torch.nn.Parameter], twins: list[torch.nn.Parameter], gen: torch.Generator) -> None:
    for p, t in zip(params, twins, strict=True):
        g = torch.randn(p.shape, dtype=p.dtype, generator=gen)
        p.grad = g
        t.grad = (torch.view_as_real(g) if g.is_complex() else g).clone()


def _as_real(p: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(p) if p.is_complex() else p


def _assert_same(opt: Any, params: list[torch.nn.Parameter], twin_opt: Any, twins: list[torch.nn.Parameter]) -> None:
    for p, t in zip(params, twins, strict=True):
        assert torch.equal(_as_real(p).detach(), t.detach()), (p, t)
        state, twin_state = opt.state[p], twin_opt.state[t]
        assert state.keys() == twin_state.keys()
        for key in state:
            assert torch.equal(state[key], twin_state[key]), key


@pytest.mark.parametrize("engine", ["eager", "fused"])
@pytest.mark.parametrize("algo", ELEMENTWISE, ids=[a.name for a in ELEMENTWISE])
def test_complex_param_is_updated_as_its_real_view(algo: Algorithm, engine: str) -> None:
    """Bit for bit the same optimizer run on ``view_as_real`` of each complex param as a float
    param: params, state (kept in real form, shape [*param.shape, 2]) and clipping/decay. Before
    complex support, Adam updated the real part only: this fails on the imaginary part."""
    params, twins = _pair(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Momentum's rescale_grad, Rprop's notes
        opt = algo.cls(params, engine=engine, **_options(algo))
        twin_opt = algo.cls(twins, engine=engine, **_options(algo))
    gen = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        _grads(params, twins, gen)
        opt.step()
        twin_opt.step()
        _assert_same(opt, params, twin_opt, twins)
    moved = [
        bool((torch.view_as_real(p).detach()[..., 1] != torch.view_as_real(p0)[..., 1]).any())
        for p, p0 in zip(params[:3], _pair(0)[0][:3], strict=True)
    ]
    assert all(moved), "the imaginary parts did not move"
    assert all(tuple(opt.state[params[0]][k].shape) in ((4, 3, 2), (1,)) or k == "y" for k in opt.state[params[0]])


def test_complex_param_compiled_engine() -> None:
    """The compiled engine takes the real views (inductor sees float tensors): Adam, bit for bit
    its real twin."""
    algo = oar.algorithms.get("Adam")
    params, twins = _pair(2)
    opt = oar.Adam(params, engine="compiled", learning_rate=0.01, amsgrad=True)
    twin_opt = oar.Adam(twins, engine="compiled", learning_rate=0.01, amsgrad=True)
    gen = torch.Generator().manual_seed(3)
    for _ in range(2):
        _grads(params, twins, gen)
        opt.step()
        twin_opt.step()
        _assert_same(opt, params, twin_opt, twins)
    assert algo.cls is oar.Adam


@pytest.mark.parametrize("algo", ELEMENTWISE, ids=[a.name for a in ELEMENTWISE])
def test_complex_state_dict_round_trips(algo: Algorithm) -> None:
    """``state_dict()`` of complex params through ``torch.save``/``torch.load(weights_only=True)``
    into a fresh optimizer: resuming equals never stopping, bit for bit."""
    params, _ = _pair(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = algo.cls(params, engine="eager", **_options(algo))
    gen = torch.Generator().manual_seed(5)
    grads = [[torch.randn(p.shape, dtype=p.dtype, generator=gen) for p in params] for _ in range(4)]
    for step in range(2):
        for p, g in zip(params, grads[step], strict=True):
            p.grad = g.clone()
        opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = [torch.nn.Parameter(p.detach().clone()) for p in params]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt2 = algo.cls(resumed, engine="eager", **_options(algo))
    opt2.load_state_dict(saved)
    for step in range(2, 4):
        for p, q, g in zip(params, resumed, grads[step], strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        opt2.step()
    for p, q in zip(params, resumed, strict=True):
        assert torch.equal(p.detach(), q.detach())
        for key, value in opt.state[p].items():
            assert torch.equal(value, opt2.state[q][key]), key


#: (oar algorithm, its options, the torch.optim optimizer with the same math). Options are
#: exactly representable in float32 where oar rounds them so (Paddle's float attributes);
#: RMSProp and Adamax with epsilon 0 (Paddle puts ε inside the sqrt / on β2·u).
TORCH_SAME_MATH: list[tuple[str, dict[str, Any], Any]] = [
    ("SGD", {}, lambda ps, lr: torch.optim.SGD(ps, lr=lr)),
    (
        "Momentum",
        {"momentum": 0.875, "use_nesterov": True},
        lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.875, nesterov=True),
    ),
    (
        "Adam",
        {"amsgrad": True, "beta1": 0.5},
        lambda ps, lr: torch.optim.Adam(ps, lr=lr, amsgrad=True, betas=(0.5, 0.999)),
    ),
    ("AdamW", {"weight_decay": 0.125}, lambda ps, lr: torch.optim.AdamW(ps, lr=lr, weight_decay=0.125)),
    ("Adagrad", {"epsilon": 2**-20}, lambda ps, lr: torch.optim.Adagrad(ps, lr=lr, eps=2**-20)),
    (
        "RMSProp",
        {"epsilon": 0.0, "rho": 0.875, "momentum": 0.5, "centered": True},
        lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, eps=0.0, alpha=0.875, momentum=0.5, centered=True),
    ),
    (
        "Adadelta",
        {"epsilon": 2**-20, "rho": 0.875},
        lambda ps, lr: torch.optim.Adadelta(ps, lr=lr, eps=2**-20, rho=0.875),
    ),
    (
        "Adamax",
        {"epsilon": 0.0, "beta1": 0.875, "beta2": 0.9375},
        lambda ps, lr: torch.optim.Adamax(ps, lr=lr, eps=0.0, betas=(0.875, 0.9375)),
    ),
    (
        "NAdam",
        {"beta1": 0.875, "beta2": 0.9375, "momentum_decay": 2**-8},
        lambda ps, lr: torch.optim.NAdam(ps, lr=lr, betas=(0.875, 0.9375), momentum_decay=2**-8),
    ),
    ("RAdam", {"beta1": 0.875, "beta2": 0.9375}, lambda ps, lr: torch.optim.RAdam(ps, lr=lr, betas=(0.875, 0.9375))),
    ("Rprop", {}, lambda ps, lr: torch.optim.Rprop(ps, lr=lr, etas=(0.5, 1.2), step_sizes=(1e-5, 50))),
]
#: complex128 error allowed relative to the largest distance a param moved: the formulas agree,
#: their float64 rounding does not (measured worst: 2.5e-14, NAdam; AdamW 1.7e-14).
TORCH_TOL = 1e-12


@pytest.mark.parametrize("name,kwargs,make", TORCH_SAME_MATH, ids=[c[0] for c in TORCH_SAME_MATH])
def test_complex_param_like_torch_optim(name: str, kwargs: dict[str, Any], make: Any) -> None:
    """The same complex128 params and grads through oar and torch.optim, 20 steps. (torch keeps
    NAdam's ``mu_product`` in the default dtype: float64 here, else it is float32.)"""
    gen = torch.Generator().manual_seed(6)
    shapes = [(4, 3), (5,), ()]
    init = [torch.randn(s, dtype=torch.complex128, generator=gen) for s in shapes]
    a = [torch.nn.Parameter(p.clone()) for p in init]
    b = [torch.nn.Parameter(p.clone()) for p in init]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        opt, ref = getattr(oar, name)(a, learning_rate=0.01, **kwargs), make(b, 0.01)
        worst = 0.0
        for _ in range(20):
            for x, y in zip(a, b, strict=True):
                g = torch.randn(x.shape, dtype=x.dtype, generator=gen)
                x.grad, y.grad = g.clone(), g.clone()
            opt.step()
            ref.step()
            for x, y, p0 in zip(a, b, init, strict=True):
                worst = max(worst, float((x - y).detach().abs().max() / (y.detach() - p0).abs().max()))
    finally:
        torch.set_default_dtype(default)
    assert worst <= TORCH_TOL, worst


def _lbfgs_run(
    make_opt: Callable[[list[torch.nn.Parameter]], Any],
    params: list[torch.nn.Parameter],
    closure_of: Callable[[Any], Callable[[], torch.Tensor]],
    steps: int = 3,
) -> Any:
    opt = make_opt(params)
    for _ in range(steps):
        opt.step(closure_of(opt))
    return opt


def test_complex_lbfgs_like_its_real_view_and_torch() -> None:
    """LBFGS (not element-wise: flat vectors of all params) on a complex least-squares problem:
    bit for bit the same LBFGS on the real view (the loss computed from ``view_as_complex``), and
    torch.optim.LBFGS without line search (Paddle's loop is torch's; measured 7e-15)."""
    gen = torch.Generator().manual_seed(7)
    A = torch.randn(6, 4, dtype=torch.complex128, generator=gen)
    target = torch.randn(6, dtype=torch.complex128, generator=gen)
    p0 = torch.randn(4, dtype=torch.complex128, generator=gen)

    def closure_of(
        param: torch.Tensor, as_complex: Callable[[torch.Tensor], torch.Tensor]
    ) -> Callable[[Any], Callable[[], torch.Tensor]]:
        def make(opt: Any) -> Callable[[], torch.Tensor]:
            def closure() -> torch.Tensor:
                opt.zero_grad()
                loss = (A @ as_complex(param) - target).abs().pow(2).sum()
                loss.backward()  # type: ignore[no-untyped-call]
                return loss

            return closure

        return make

    for line_search in (None, "strong_wolfe"):
        x = torch.nn.Parameter(p0.clone())
        r = torch.nn.Parameter(torch.view_as_real(p0).clone())

        def make(ps: list[torch.nn.Parameter], search: str | None = line_search) -> Any:
            return oar.LBFGS(parameters=ps, learning_rate=0.5, max_iter=5, line_search_fn=search)

        _lbfgs_run(make, [x], closure_of(x, lambda t: t))
        _lbfgs_run(make, [r], closure_of(r, torch.view_as_complex))
        assert torch.equal(torch.view_as_real(x.detach()), r.detach()), line_search
        assert float((x.detach() - p0).abs().max()) > 0.1  # it moved
    y = torch.nn.Parameter(p0.clone())
    x = torch.nn.Parameter(p0.clone())
    _lbfgs_run(lambda ps: oar.LBFGS(parameters=ps, learning_rate=0.5, max_iter=5), [x], closure_of(x, lambda t: t), 1)
    _lbfgs_run(lambda ps: torch.optim.LBFGS(ps, lr=0.5, max_iter=5), [y], closure_of(y, lambda t: t), 1)
    # one step of 5 iterations: rounding differences (oar adds d·t as a rounded product, torch
    # with add_(alpha=t)) are amplified by the iterations (measured here: 1.6e-16; 1.7e-11 after 15 iterations)
    assert float((x - y).detach().abs().max() / (y.detach() - p0).abs().max()) <= TORCH_TOL


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", {}),
        ("Adam", {"lazy_mode": True}),
        ("Adam", {}),
        ("Adagrad", {"learning_rate": 0.1}),
        ("RMSProp", {"learning_rate": 0.1}),
        ("Lamb", {}),
        ("Momentum", {}),
    ],
)
def test_sparse_complex_grads_like_their_real_form(name: str, kwargs: dict[str, Any]) -> None:
    """A sparse COO complex grad (rows of an embedding) is the sparse grad of the real view
    (same rows, real-viewed values): the complex param moves as its real twin given that grad
    (built here independently), rows absent from the grad included (lazy or not)."""
    gen = torch.Generator().manual_seed(8)
    weight = torch.nn.Parameter(torch.randn(10, 4, dtype=torch.complex64, generator=gen))
    twin = torch.nn.Parameter(torch.view_as_real(weight).detach().clone())
    opt = getattr(oar, name)([weight], engine="eager", **kwargs)
    twin_opt = getattr(oar, name)([twin], engine="eager", **kwargs)
    for rows in ([3, 3, 7, 0], [1, 2, 9]):
        index = torch.tensor([rows])
        values = torch.randn(len(rows), 4, dtype=torch.complex64, generator=gen)
        weight.grad = torch.sparse_coo_tensor(index, values, (10, 4), check_invariants=True)
        twin.grad = torch.sparse_coo_tensor(
            index, torch.view_as_real(values).clone(), (10, 4, 2), check_invariants=True
        )
        opt.step()
        twin_opt.step()
        assert torch.equal(torch.view_as_real(weight.detach()), twin.detach())


def test_conjugated_grad_is_resolved_and_conjugated_param_refused() -> None:
    """A grad that is a conjugated view (``is_conj()``) is read as its values; a param that is
    one cannot be written through a real view: a TypeError naming it, nothing updated."""
    gen = torch.Generator().manual_seed(9)
    p = torch.nn.Parameter(torch.randn(3, dtype=torch.complex64, generator=gen))
    q = torch.nn.Parameter(p.detach().clone())
    g = torch.randn(3, dtype=torch.complex64, generator=gen)
    p.grad, q.grad = g.conj(), g.conj().resolve_conj()
    assert p.grad.is_conj()
    a, b = oar.SGD([p], learning_rate=0.5), oar.SGD([q], learning_rate=0.5)
    a.step()
    b.step()
    assert torch.equal(p.detach(), q.detach())
    base = torch.randn(3, dtype=torch.complex64, generator=gen)
    conj = base.conj().requires_grad_()
    conj.grad = torch.ones_like(base)
    opt = oar.SGD([conj], learning_rate=0.5)
    before = base.clone()
    with pytest.raises(TypeError, match="conjugated view"):
        opt.step()
    assert torch.equal(base, before)


def test_real_param_views_are_reused_and_follow_param_data() -> None:
    """The real view of a complex param is made once (the fused engine's plan stays valid) and
    made again when the param's memory changes (``param.data = ...``)."""
    p = torch.nn.Parameter(torch.randn(4, dtype=torch.complex128))
    opt = oar.Adam([p], learning_rate=0.1, engine="fused")
    view = opt._real_views(p)
    assert opt._real_views(p) is view and view.data_ptr() == p.data_ptr()
    p.grad = torch.randn_like(p)
    opt.step()
    p.data = torch.zeros(4, dtype=torch.complex128)
    p.grad = torch.ones_like(p)
    opt.step()
    new = opt._real_views(p)
    assert new is not view and new.data_ptr() == p.data_ptr()
    assert bool((torch.view_as_real(p.detach()) != 0).all())  # the new memory was updated
