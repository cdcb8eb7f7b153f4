"""The compiled engine's graph passes (oar.engine.graph_passes) on toy FX graphs: each rewrite
happens where it should, nowhere else, and the rewritten graph (run eagerly, no inductor)
computes what the traced function computes, to float rounding."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import fx

from oar.engine import graph_passes as G
from oar.engine import torch_private as P
from oar.engine.artifacts import TwoPass, trace_step
from oar.engine.eager import apply_rule
from oar.lamb import lamb_update

aten = torch.ops.aten
CPU = torch.device("cpu")


def _trace(fn: Callable[..., object], *shapes: tuple[int, ...]) -> fx.GraphModule:
    """``fn`` traced as the engine traces a step: on fake float32 tensors of ``shapes``."""
    metas = [(torch.float32, s, torch.empty(s).stride()) for s in shapes]
    with torch.no_grad():
        return P.trace(fn, P.fake_tensors(metas, CPU))


def _targets(gm: fx.GraphModule) -> list[object]:
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def _inputs(seed: int, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(s, generator=g) + 0.5 for s in shapes]


def _run(gm: Callable[..., object], inputs: list[torch.Tensor]) -> tuple[list[torch.Tensor], object]:
    """Run ``gm`` on copies of ``inputs``: (the copies after any in-place updates, its output)."""
    copies = [t.clone() for t in inputs]
    with torch.no_grad():
        out = gm(*copies)
    return copies, out


# ---------------------------------------------------------------- reciprocal_scalar_divisions


def test_division_by_a_one_element_tensor_becomes_a_product_with_its_reciprocal():
    def f(x, s, y):
        return x / s, x / y, s / s  # only the first divides many elements by one

    gm = _trace(f, (16,), (1,), (16,))
    ref = _run(gm, _inputs(0, (16,), (1,), (16,)))[1]
    G.reciprocal_scalar_divisions(gm)
    targets = _targets(gm)
    assert targets.count(aten.div.Tensor) == 2
    assert targets.count(aten.reciprocal.default) == 1 and aten.mul.Tensor in targets
    got = _run(gm, _inputs(0, (16,), (1,), (16,)))[1]
    for a, b in zip(ref, got, strict=False):
        torch.testing.assert_close(a, b, rtol=2e-7, atol=0)


def test_reciprocal_pass_leaves_a_graph_without_scalar_divisions_unchanged():
    gm = _trace(lambda x, y: (x / y,), (8,), (8,))
    code = gm.code
    G.reciprocal_scalar_divisions(gm)
    assert gm.code == code


# ---------------------------------------------------------------- hoist_scalars


def test_costly_scalars_feeding_elementwise_loops_become_outputs():
    def f(x, s):
        x.mul_(torch.sqrt(1 + s))  # sqrt of a scalar: costly, feeds the loop
        x.add_(s * 2)  # cheap scalar arithmetic: stays inline

    gm = _trace(f, (16,), (1,))
    G.hoist_scalars(gm)
    out = next(n for n in gm.graph.nodes if n.op == "output")
    hoisted = list(out.args[0])
    assert [P.op_name(n.target) for n in hoisted] == ["sqrt"]
    ref_inputs = _inputs(1, (16,), (1,))
    (x, _s), _ = _run(gm, ref_inputs)
    x_ref, s_ref = ref_inputs
    torch.testing.assert_close(x, x_ref * torch.sqrt(1 + s_ref) + s_ref * 2)


def test_scalars_used_only_by_scalars_are_not_hoisted():
    def f(x, s):
        return (x.sum() * torch.sqrt(s),)  # the sqrt's user is one element

    gm = _trace(f, (16,), (1,))
    G.hoist_scalars(gm)
    out = next(n for n in gm.graph.nodes if n.op == "output")
    assert len(out.args[0]) == 1


# ---------------------------------------------------------------- split_at_reductions


def _trust_ratio_step(p, g, m):
    """A LAMB-like step: a moment update, then an update scaled by a ratio of two norms."""
    m.mul_(0.9).add_(g * 0.1)
    r = m / (m.abs() + 1.0) + 0.01 * p
    ratio = torch.linalg.vector_norm(p) / torch.linalg.vector_norm(r)
    p.sub_(r * (0.05 * ratio))


def test_a_step_with_whole_tensor_norms_splits_into_two_graphs_with_the_same_result():
    shapes = ((32,), (32,), (32,))
    gm = _trace(_trust_ratio_step, *shapes)
    split = G.split_at_reductions(gm)
    assert split is not None
    gm_a, gm_b, extra = split
    assert extra >= 1  # the norms' ratio (or its inputs) goes from A to B
    # A updates the moment and computes the norms, B only moves the param
    assert "sub_" not in {P.op_name(t) for t in _targets(gm_a)}
    assert "mul_" not in {P.op_name(t) for t in _targets(gm_b)}
    inputs = _inputs(2, *shapes)
    ref, _ = _run(gm, inputs)
    got, _ = _run(TwoPass(gm_a, gm_b, extra), inputs)
    for a, b in zip(ref, got, strict=False):
        torch.testing.assert_close(a, b)
    assert not torch.equal(got[0], inputs[0]) and not torch.equal(got[2], inputs[2])


def test_split_graph_a_stores_the_updated_moment_where_it_computes_it():
    gm_a = G.split_at_reductions(_trace(_trust_ratio_step, (32,), (32,), (32,)))[0]
    barrier = P.force_stride_order()
    stored = [n for n in gm_a.graph.nodes if n.target is barrier]
    assert len(stored) == 1 and P.op_name(stored[0].args[0].target) == "add_"


def test_no_split_without_a_reduction_or_through_a_view():
    def no_reduction(p, g):
        p.sub_(g * 0.1)

    def update_through_a_view(p, g):
        p[0].add_(torch.linalg.vector_norm(g))
        p.sub_(g * torch.linalg.vector_norm(p))

    assert G.split_at_reductions(_trace(no_reduction, (8,), (8,))) is None
    assert G.split_at_reductions(_trace(update_through_a_view, (8,), (8,))) is None


def test_store_updates_where_computed_leaves_updates_without_later_readers():
    def f(p, g):
        p.add_(g)

    gm = _trace(f, (8,), (8,))
    G.store_updates_where_computed(gm.graph)
    assert P.force_stride_order() not in _targets(gm)


def test_the_lamb_rule_passes_and_split_match_the_eager_rule():
    """The engine's whole pipeline of passes on the real LAMB rule, run eagerly."""
    names = ("lr", "beta1", "beta2", "epsilon", "weight_decay")
    layout = (("moment1", "moment2", "beta1_pow_acc", "beta2_pow_acc"), names, (("always_adapt", False),))
    shapes = [(4, 6), (4, 6), (4, 6), (4, 6), (1,), (1,)]
    metas = [(torch.float32, s, torch.empty(s).stride()) for s in shapes]
    metas.append((torch.float64, (len(names),), (1,)))
    with torch.no_grad():
        gm, _ = trace_step(lamb_update, [layout], metas, CPU)
    G.reciprocal_scalar_divisions(gm)
    G.hoist_scalars(gm)
    split = G.split_at_reductions(gm)
    assert split is not None
    values = [0.01, 0.9, 0.999, 1e-6, 0.01]
    tensors = _inputs(3, *shapes)
    tensors[4:6] = [torch.tensor([0.9]), torch.tensor([0.999])]
    got, _ = _run(TwoPass(*split), tensors + [torch.tensor(values, dtype=torch.float64)])
    ref = [t.clone() for t in tensors]
    state = dict(zip(layout[0], ref[2:], strict=False))
    apply_rule(lamb_update, ref[0], ref[1], state, dict(zip(names, values, strict=False), always_adapt=False))
    for a, b in zip(ref, got, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
