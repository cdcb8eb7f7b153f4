"""Every engine against the eager reference engine (results equal to float rounding), the
compiled engine's bookkeeping (no recompilation when lr changes, buckets per dtype, fallbacks),
the fused kernels' eligibility and fallbacks, and the auto engine's choice. Shapes are tiny
except where a fused kernel's thread split is under test: compile time dominates this file."""

from __future__ import annotations

import warnings

import pytest
import torch
from algorithm_cases import ENGINE_CONFIGS, KERNEL_CONFIGS, property_kwargs

import oar
from oar import engine as E
from oar.engine import auto as A
from oar.engine import compiled as C
from oar.engine import fused as F

pytestmark = pytest.mark.skipif(
    not C.compile_available(torch.device("cpu")), reason="inductor cannot compile on this machine"
)

DTYPES = (torch.float32, torch.float64, torch.bfloat16)
TOL = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    torch.float64: {"rtol": 1e-12, "atol": 1e-13},
    torch.bfloat16: {"rtol": 1e-2, "atol": 1e-2},  # rounded copies of float32 masters
}

ALGORITHMS = {a.name: a for a in oar.algorithms.algorithms()}
#: "<key>[<i>]" -> (algorithm, options), for every algorithm in the table
CONFIGS = {f"{a.key}[{i}]": (a, kw) for a in ALGORITHMS.values() for i, kw in enumerate(ENGINE_CONFIGS[a.name])}


def _dtypes(algo, dtypes=DTYPES):
    """bfloat16 only where the algorithm has float32 master weights (multi_precision)."""
    return tuple(dt for dt in dtypes if dt != torch.bfloat16 or algo.multi_precision)


def _params(dtypes, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (5,)]
    return [torch.randn(s, generator=g, dtype=torch.float64).to(dt).requires_grad_() for dt in dtypes for s in shapes]


def _grads(params, step):
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) for p in params]


def _run(cls, kwargs, engine, dtypes, steps=3, lrs=(0.05, 0.02, 0.07)):
    params = _params(dtypes)
    if any(dt in (torch.float16, torch.bfloat16) for dt in dtypes):
        kwargs = dict(kwargs, multi_precision=True)
    opt = cls(params, learning_rate=lrs[0], engine=engine, **kwargs)
    compiles = []
    for k in range(steps):
        for p, g in zip(params, _grads(params, k), strict=False):
            p.grad = g
        opt.set_lr(lrs[k % len(lrs)])
        before = C.stats().get("compiles", 0)
        opt.step()
        compiles.append(C.stats().get("compiles", 0) - before)
    return params, opt, compiles


def _close(a, b, key=""):
    """Equal to float rounding. The absolute part of the tolerance scales with the tensor's
    largest magnitude: engines round differently (torch's float32 sqrt is one ulp off in ~20% of
    elements on some CPUs, the fused kernels' is exact), and where an element is a near
    cancellation of larger terms (RMSProp's momentum: mu m + lr g / sqrt(ms)), an ulp of those
    terms is a large part of it."""
    if not b.dtype.is_floating_point:  # counters (ASGD's step count) are exact
        assert torch.equal(a, b), f"{key}: {a} != {b}"
        return
    tol = dict(TOL[b.dtype])
    if b.numel():
        tol["atol"] *= max(1.0, float(b.detach().abs().max()))
    torch.testing.assert_close(a, b, **tol, msg=lambda m: f"{key}: {m}")


def _assert_same(params_a, opt_a, params_b, opt_b):
    for pa, pb in zip(params_a, params_b, strict=False):
        _close(pa.detach(), pb.detach(), "param")
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert sa.keys() == sb.keys()
        for key in sa:
            _close(sa[key], sb[key], key)


@pytest.mark.parametrize("engine", ["compiled", "fused"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_engine_matches_eager_mixed_dtypes(name, engine):
    """One group holding float32, float64 and bfloat16 (+float32 master) params: the compiled
    engine buckets it per dtype, matches eager, and a new lr every step never recompiles. The
    fused engine runs its kernels on every param (bfloat16 through its float32 master weight),
    except with amsgrad, which it hands to the compiled engine."""
    algo, kwargs = CONFIGS[name]
    cls, dtypes = algo.cls, _dtypes(algo)
    ref, ref_opt, _ = _run(cls, kwargs, "eager", dtypes)
    fused_before = F.stats().get("fused_params", 0)
    got, got_opt, compiles = _run(cls, kwargs, engine, dtypes)
    if engine == "fused":
        # two params of each dtype; no kernel for amsgrad
        fused_per_step = 0 if kwargs.get("amsgrad") else 2 * len(dtypes)
        assert F.stats().get("fused_params", 0) - fused_before == 3 * fused_per_step
    _assert_same(ref, ref_opt, got, got_opt)
    assert compiles[0] <= len(dtypes)  # one compiled function per bucket (maybe cached already)
    assert compiles[1:] == [0] * (len(compiles) - 1), compiles


def test_lamb_excluded_params_in_a_group_of_several_chunks():
    """Per-param hyper-parameters (LAMB's weight decay switched off by
    exclude_from_weight_decay_fn) are per-param rows of the hyper buffer; a group of more params
    than one compiled function takes (``_CHUNK``) is split across several."""

    def run(engine):
        params = _params((torch.float32,) * ((C._CHUNK + 2) // 2), seed=3)
        opt = oar.Lamb(
            params,
            learning_rate=0.01,
            lamb_weight_decay=0.1,
            engine=engine,
            exclude_from_weight_decay_fn=lambda p: p.ndim == 1,
        )
        for k in range(2):
            for p, g in zip(params, _grads(params, k), strict=False):
                p.grad = g
            opt.step()
        return params, opt

    _assert_same(*run("eager"), *run("compiled"))


def test_compiled_is_reused_across_groups_and_optimizers():
    """Compiled functions are cached per structure: a second optimizer over same-shaped params
    compiles nothing, and each keeps its own hyper-parameters."""
    _run(oar.Adam, {}, "compiled", (torch.float32,))
    before = C.stats().get("compiles", 0)
    a, a_opt, _ = _run(oar.Adam, {}, "compiled", (torch.float32,), lrs=(0.1,))
    b, b_opt, _ = _run(oar.Adam, {}, "compiled", (torch.float32,), lrs=(0.001,))
    assert C.stats().get("compiles", 0) == before
    ra, ra_opt, _ = _run(oar.Adam, {}, "eager", (torch.float32,), lrs=(0.1,))
    rb, rb_opt, _ = _run(oar.Adam, {}, "eager", (torch.float32,), lrs=(0.001,))
    _assert_same(ra, ra_opt, a, a_opt)
    _assert_same(rb, rb_opt, b, b_opt)


def test_sparse_grad_falls_back_to_eager():
    """A sparse grad (and a param the compiler may not see) runs eagerly beside compiled ones."""

    def run(engine):
        torch.manual_seed(0)
        dense = torch.randn(4, 3, requires_grad=True)
        emb = torch.randn(6, 3, requires_grad=True)
        opt = oar.Adam([dense, emb], learning_rate=0.05, engine=engine)
        for _k in range(2):
            dense.grad = torch.randn(4, 3)
            idx = torch.tensor([[0, 2, 2]])
            emb.grad = torch.sparse_coo_tensor(idx, torch.randn(3, 3), (6, 3), check_invariants=True)
            opt.step()
        return [dense, emb], opt

    before = C.stats().get("eager_params", 0)
    got = run("compiled")
    assert C.stats().get("eager_params", 0) - before == 2
    _assert_same(*run("eager"), *got)


def test_rule_that_cannot_be_traced_falls_back_with_a_warning():
    def data_dependent(param, grad, state, *, lr):
        if float(grad.abs().max()) > 0:  # Python control flow on a tensor value
            param.sub_(grad * lr)

    p = torch.ones(3)
    ref = p.clone()
    grad = torch.full((3,), 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        E.run(data_dependent, [p], [grad], [{}], [{"lr": 0.5}], engine="compiled")
    assert any("eager" in str(w.message) for w in caught)
    E.run(data_dependent, [ref], [grad], [{}], [{"lr": 0.5}], engine="eager")
    torch.testing.assert_close(p, ref)


def test_flag_change_compiles_a_new_function():
    """Flags are baked in: changing one (here Adam's lazy_mode group option) switches to the
    function compiled for the new value instead of reusing a stale one."""
    params = _params((torch.float32,), seed=5)
    ref = [p.detach().clone().requires_grad_() for p in params]
    opt = oar.Adam(params, learning_rate=0.05, engine="compiled")
    ref_opt = oar.Adam(ref, learning_rate=0.05, engine="eager")
    for k in range(2):
        for o in (opt, ref_opt):
            o.param_groups[0]["lazy_mode"] = bool(k)
        for ps in (params, ref):
            for p, g in zip(ps, _grads(ps, k), strict=False):
                p.grad = g
        opt.step()
        ref_opt.step()
    _assert_same(ref, ref_opt, params, opt)


def test_auto_small_group_stays_eager(monkeypatch):
    monkeypatch.setattr(F, "_kernels", {})  # the unfused path (Adam has a fused kernel)
    params = _params((torch.float32,))
    opt = oar.Adam(params, learning_rate=0.05)
    for p, g in zip(params, _grads(params, 0), strict=False):
        p.grad = g
    before = C.stats().get("compiles", 0)
    opt.step()
    assert C.stats().get("compiles", 0) == before
    assert any(d["mode"] == "eager" for d in A.decisions())


def test_auto_compiles_once_compiling_has_paid(monkeypatch):
    """With no minimum size and a compile expected to cost nothing, auto compiles at once; with
    an expensive one it stays eager. The results are the eager engine's either way."""
    monkeypatch.setattr(F, "_kernels", {})  # the unfused path (Adam has a fused kernel)
    monkeypatch.setattr(A, "MIN_NUMEL", 0)
    monkeypatch.setattr(A, "COLD_BASE_S", 0.0)
    monkeypatch.setattr(A, "COLD_PER_PARAM_S", 0.0)
    monkeypatch.setattr(A, "_read_history", dict)
    monkeypatch.setattr(A, "_record", lambda digest, seconds: None)
    got, got_opt, _ = _run(oar.Adam, {}, "auto", (torch.float32,))
    ref, ref_opt, _ = _run(oar.Adam, {}, "eager", (torch.float32,))
    _assert_same(ref, ref_opt, got, got_opt)
    assert [d["mode"] for d in A.decisions() if d["expected_compile_s"] == 0.0] == ["compiled"]
    monkeypatch.setattr(A, "COLD_BASE_S", 1e9)
    slow, slow_opt, _ = _run(oar.Adam, {}, "auto", (torch.float32,))
    _assert_same(ref, ref_opt, slow, slow_opt)
    mine = [d for d in A.decisions() if d["expected_compile_s"] == 1e9]
    assert len(mine) == 1 and mine[0]["mode"] == "measuring" and mine[0]["eager_steps"] == 3
    assert 0 < mine[0]["lost_s"] < 1e9


def test_unknown_engine_is_rejected():
    with pytest.raises(ValueError):
        E.run(oar.adam.adam_update, [], [], [], [], engine="nope")
    with pytest.raises(ValueError):
        oar.Adam(_params((torch.float32,)), learning_rate=0.1, engine="nope")


def test_no_param_sized_allocation_per_step():
    """A compiled step allocates nothing param-sized: the largest CPU allocation made during a
    step (tracked by the profiler) stays far below one param."""
    params = [torch.randn(256, 256, requires_grad=True)]
    opt = oar.Lamb(params, learning_rate=0.01, engine="compiled")
    for _ in range(2):
        params[0].grad = torch.randn(256, 256)
        opt.step()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt.step()
    biggest = max((e.cpu_memory_usage for e in prof.events()), default=0)
    assert biggest < params[0].numel() * 4 // 8, biggest
    # LAMB's trust ratio splits the step in two graphs: moments + norms, then the update
    plans = [b.plan.fn for g in C._groups.values() for b in g.buckets if g.refs[0]() is params[0]]
    assert plans and isinstance(plans[0], C._TwoPass)


def test_saved_artifact_is_loaded_by_a_fresh_cache():
    """After the in-process cache is cleared, the bucket's saved artifact (when torch has
    standalone_compile) is loaded instead of compiled again, and gives the same results."""
    ref, ref_opt, _ = _run(oar.RMSProp, {"momentum": 0.5}, "eager", (torch.float32,))
    _run(oar.RMSProp, {"momentum": 0.5}, "compiled", (torch.float32,))
    C.clear_cache()
    before = C.stats().get("loaded", 0)
    got, got_opt, _ = _run(oar.RMSProp, {"momentum": 0.5}, "compiled", (torch.float32,))
    if hasattr(torch._inductor, "standalone_compile"):
        assert C.stats().get("loaded", 0) == before + 1
    _assert_same(ref, ref_opt, got, got_opt)


def test_inside_torch_compile_the_rule_is_traced_eagerly():
    """An optimizer step inside the user's torch.compile runs the eager engine (dynamo traces
    the rule itself) instead of nesting our compiler."""
    params = _params((torch.float32,))
    ref = [p.detach().clone().requires_grad_() for p in params]
    opt = oar.Adam(params, learning_rate=0.05, engine="compiled")
    ref_opt = oar.Adam(ref, learning_rate=0.05, engine="eager")
    for ps in (params, ref):
        for p, g in zip(ps, _grads(ps, 0), strict=False):
            p.grad = g
    before = C.stats().get("compiles", 0)
    torch.compile(opt.step, backend="eager")()
    ref_opt.step()
    assert C.stats().get("compiles", 0) == before
    _assert_same(ref, ref_opt, params, opt)


# ---------------------------------------------------------------- the fused engine

#: "<key>[<i>]" -> (algorithm, options), for every algorithm that has a fused kernel
FUSED_CONFIGS = {
    f"{a.key}[{i}]": (a, kw)
    for a in ALGORITHMS.values()
    if F.kernel_for(a.rule)
    for i, kw in enumerate(KERNEL_CONFIGS[a.name])
}
# 72k elements: two threads split the group inside the first tensor, pieces of 4096 end inside
# tensors, and one-element and empty tensors sit between.
FUSED_SHAPES = [(257, 263), (1,), (0,), (4097,), (3, 1)]


def _run_shapes(cls, kwargs, engine, dtype, shapes, steps=3):
    g = torch.Generator().manual_seed(7)
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_() for s in shapes]
    if dtype == torch.bfloat16:
        kwargs = dict(kwargs, multi_precision=True)
    opt = cls(params, learning_rate=0.01, engine=engine, **kwargs)
    for k in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype)
        opt.set_lr(0.01 * (k + 1))
        opt.step()
    return params, opt


@pytest.mark.parametrize(
    "name,dtype", [(name, dtype) for name, (algo, _) in FUSED_CONFIGS.items() for dtype in _dtypes(algo)]
)
def test_fused_kernel_matches_eager_across_thread_and_piece_boundaries(name, dtype):
    """bfloat16 params are updated through their float32 master weight."""
    algo, kwargs = FUSED_CONFIGS[name]
    cls = algo.cls
    before = F.stats()
    got = _run_shapes(cls, kwargs, "fused", dtype, FUSED_SHAPES)
    after = F.stats()
    assert after.get("fused_params", 0) - before.get("fused_params", 0) == 3 * len(FUSED_SHAPES)
    assert after.get("fallback_params", 0) == before.get("fallback_params", 0)
    _assert_same(*_run_shapes(cls, kwargs, "eager", dtype, FUSED_SHAPES), *got)


def test_fused_hands_what_it_cannot_run_to_the_fallback():
    """Amsgrad (no kernel for it), a non-contiguous param, a sparse grad and a grad of another
    dtype take the fallback engine, beside params the kernel runs; results are eager's."""

    def run(engine, amsgrad):
        g = torch.Generator().manual_seed(11)
        dense = torch.randn(6, 5, generator=g).requires_grad_()
        strided = torch.randn(5, 6, generator=g).t().detach().requires_grad_()
        emb = torch.randn(6, 3, generator=g).requires_grad_()
        other = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_()
        params = [dense, strided, emb, other]
        opt = oar.Adam(params, learning_rate=0.05, amsgrad=amsgrad, engine=engine)
        for _ in range(2):
            dense.grad = torch.randn(6, 5, generator=g)
            strided.grad = torch.randn(6, 5, generator=g)
            emb.grad = torch.sparse_coo_tensor(
                torch.tensor([[0, 2, 2]]), torch.randn(3, 3, generator=g), (6, 3), check_invariants=True
            )
            other.grad = torch.randn(4, generator=g).to(torch.float64)
            opt.step()
        return params, opt

    for amsgrad, fused_count in ((False, 4), (True, 0)):  # dense and other, 2 steps
        before = F.stats()
        got = run("fused", amsgrad)
        after = F.stats()
        assert after.get("fused_params", 0) - before.get("fused_params", 0) == fused_count
        assert after.get("fallback_params", 0) - before.get("fallback_params", 0) == 8 - fused_count
        _assert_same(*run("eager", amsgrad), *got)


def test_fused_step_counts_as_an_inplace_update_for_autograd():
    """Like torch's in-place ops, a fused step bumps the param's version counter, so a backward
    through values saved before the step fails loudly instead of using stale ones."""
    p = torch.randn(8, requires_grad=True)
    opt = oar.Adam([p], learning_rate=0.1, engine="fused")
    loss = (p * p).sum()
    p.grad = torch.ones(8)
    version = p._version
    opt.step()
    assert p._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_fused_build_failure_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(F, "_libs", {})
    monkeypatch.setattr(F, "_compiler", lambda: None)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        got = _run_shapes(oar.Adam, {}, "fused", torch.float32, [(4, 3)])
    _assert_same(*_run_shapes(oar.Adam, {}, "eager", torch.float32, [(4, 3)]), *got)


def test_auto_runs_the_fused_kernel_without_compiling():
    before_fused, before_compiles = F.stats().get("fused_params", 0), C.stats().get("compiles", 0)
    got = _run_shapes(oar.Lamb, {}, "auto", torch.float32, FUSED_SHAPES)
    assert F.stats().get("fused_params", 0) - before_fused == 3 * len(FUSED_SHAPES)
    assert C.stats().get("compiles", 0) == before_compiles
    _assert_same(*_run_shapes(oar.Lamb, {}, "eager", torch.float32, FUSED_SHAPES), *got)


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 9000), min_size=1, max_size=4),
    algo=st.sampled_from(sorted(a.name for a in oar.algorithms.algorithms() if F.kernel_for(a.rule))),
    beta=st.floats(0.0, 0.999),
    lr=st.floats(1e-5, 1.0),
    eps=st.floats(0.0, 1e-3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_fused_equals_eager_for_any_sizes_and_hyperparameters(sizes, algo, beta, lr, eps, dtype):
    """Property: for any tensor sizes and hyper-parameters, the fused kernel's params and state
    equal the eager rule's to float rounding."""
    cls, kwargs = ALGORITHMS[algo].cls, property_kwargs(algo, beta, eps)

    def run(engine):
        g = torch.Generator().manual_seed(sum(sizes))
        params = [torch.randn(n, generator=g, dtype=torch.float64).to(dtype).requires_grad_() for n in sizes]
        opt = cls(params, learning_rate=lr, engine=engine, **kwargs)
        for _ in range(2):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype)
            opt.step()
        return params, opt

    _assert_same(*run("eager"), *run("fused"))


def test_auto_builds_the_kernel_in_the_background_on_a_cold_cache(monkeypatch, tmp_path):
    """With no built kernel, auto does not wait for the C compiler: the first step runs unfused
    while a thread builds; once it is done, steps run fused. Results are eager's throughout."""
    monkeypatch.setattr(F, "_libs", {})
    monkeypatch.setattr(F, "_cache_dir", lambda: str(tmp_path))
    params = _params((torch.float32,))
    opt = oar.Adam(params, learning_rate=0.05)
    ref = [p.detach().clone().requires_grad_() for p in params]
    ref_opt = oar.Adam(ref, learning_rate=0.05, engine="eager")
    fused_counts = []
    for k in range(3):
        for ps in (params, ref):
            for p, g in zip(ps, _grads(ps, k), strict=False):
                p.grad = g
        before = F.stats().get("fused_params", 0)
        opt.step()
        ref_opt.step()
        fused_counts.append(F.stats().get("fused_params", 0) - before)
        if k == 0:
            assert fused_counts[0] == 0  # the build was started, not waited for
            thread = F._building.get(F.kernel_for(oar.adam.adam_update).source)
            if thread is not None:
                thread.join()
    assert fused_counts[1:] == [len(params)] * 2
    assert any(f.name.endswith(".so") for f in tmp_path.iterdir())
    _assert_same(ref, ref_opt, params, opt)


def test_two_fused_optimizers_over_the_same_params_keep_their_own_plans():
    """Alternating steps of three optimizers over the same params: each keeps its own plan (none
    is rebuilt at a later step) and state, and the results are eager's."""

    def run(engine, rounds):
        params = _params((torch.float32, torch.float64), seed=9)
        opts = (
            oar.Adam(params, learning_rate=0.05, engine=engine),
            oar.RMSProp(params, learning_rate=0.01, momentum=0.5, engine=engine),
            oar.Adam(params, learning_rate=0.02, engine=engine),
        )
        plans = []
        for k in range(rounds):
            for opt in opts:
                for p, g in zip(params, _grads(params, k), strict=False):
                    p.grad = g
                opt.step()
            plans.append({key: plan for key, plan in F._plans.items() if key[1] == tuple(map(id, params))})
        return params, opts, plans

    got, got_opts, plans = run("fused", 3)
    assert len(plans[0]) == 3
    assert all(p.keys() == plans[0].keys() and all(p[k] is plans[0][k] for k in p) for p in plans)
    ref, ref_opts, _ = run("eager", 3)
    for ro, go in zip(ref_opts, got_opts, strict=False):
        _assert_same(ref, ro, got, go)


def test_fused_compiler_error_warns_and_falls_back(monkeypatch, tmp_path):
    """A compiler that fails (here: a flag it rejects) leaves no partial library behind; the
    params take the fallback engine with a warning naming the failure."""
    monkeypatch.setattr(F, "_libs", {})
    monkeypatch.setattr(F, "_cache_dir", lambda: str(tmp_path))
    monkeypatch.setattr(F, "_FLAGS", F._FLAGS + ["-fno-such-flag-for-oar"])
    with pytest.warns(RuntimeWarning, match="failed on"):
        got = _run_shapes(oar.Lamb, {}, "fused", torch.float32, [(4, 3)])
    assert not list(tmp_path.iterdir())
    _assert_same(*_run_shapes(oar.Lamb, {}, "eager", torch.float32, [(4, 3)]), *got)


def test_lamb_exclude_fn_is_called_once_per_param_per_step():
    """As in Paddle: the user's exclude_from_weight_decay_fn runs once per param and step, even
    though params with the same answer share one hyper-parameter dict."""
    params = _params((torch.float32, torch.float64))
    calls = []
    opt = oar.Lamb(params, learning_rate=0.01, exclude_from_weight_decay_fn=lambda p: calls.append(p) or p.ndim == 1)
    for k in range(2):
        for p, g in zip(params, _grads(params, k), strict=False):
            p.grad = g
        opt.step()
    assert len(calls) == 2 * len(params)


def test_fused_kernels_isa_is_chosen_by_environment(monkeypatch):
    """$OAR_FUSED_MARCH picks -march (default native); each ISA gets its own cached library,
    and anything but a plain ISA name is refused before a compiler sees it."""
    kernel = next(iter(F._kernels.values()))
    monkeypatch.delenv(F.MARCH_ENV, raising=False)
    assert "-march=native" in F._flags()
    native = F._lib_path(kernel, "cc")
    monkeypatch.setenv(F.MARCH_ENV, "x86-64")
    assert "-march=x86-64" in F._flags() and "-march=native" not in F._flags()
    assert F._lib_path(kernel, "cc") != native
    monkeypatch.setenv(F.MARCH_ENV, "native; rm -rf /")
    with pytest.raises(ValueError, match="OAR_FUSED_MARCH"):
        F._flags()


def test_kernel_allocation_failure_raises_memory_error_and_changes_nothing(monkeypatch):
    """A kernel that cannot allocate its scratch returns OAR_ENOMEM before writing anything:
    the step raises MemoryError, never a silent no-op."""
    params = _params((torch.float32,))
    opt = oar.Adam(params, learning_rate=0.05, engine="fused")
    for p, g in zip(params, _grads(params, 0), strict=False):
        p.grad = g
    before = [p.detach().clone() for p in params]
    for key in [k for k in F._fns if k[1] is torch.float32]:
        monkeypatch.setitem(F._fns, key, lambda *args: 12)  # OAR_ENOMEM
    with pytest.raises(MemoryError, match="could not allocate"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=False))
