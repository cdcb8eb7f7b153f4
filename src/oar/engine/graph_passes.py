"""Graph passes the compiled engine runs on a traced step before inductor compiles it.

Pure functions over aten-level FX graphs as ``make_fx`` traces them (in-place ops kept, each
node's fake value recorded: ``torch_private.node_value``). Each keeps the rule's result to float
rounding:

* ``reciprocal_scalar_divisions``: ``x / s`` -> ``x * (1/s)`` for a one-element ``s`` (LAMB's
  loops were bound by the divider).
* ``hoist_scalars``: costly one-element values computed once, not once per vector of floats.
* ``split_at_reductions``: a rule with whole-tensor norms (LAMB) becomes two graphs: pass 1
  stores the moments and accumulates the norms in one loop, pass 2 recomputes r from p, m, v
  and applies the trust ratio: 28 bytes/param read instead of 32, no temporaries.
"""

from __future__ import annotations

import torch
from torch import fx

from .torch_private import force_stride_order, node_value, op_name, set_node_value

__all__ = [
    "hoist_scalars",
    "reciprocal_scalar_divisions",
    "split_at_reductions",
    "store_updates_where_computed",
]

# Ops that are cheap on a scalar: a scalar computed from these only is left inline in the loops.
_CHEAP = frozenset(
    {
        "select",
        "view",
        "reshape",
        "_unsafe_view",
        "squeeze",
        "unsqueeze",
        "expand",
        "alias",
        "clone",
        "_to_copy",
        "convert_element_type",
        "lift_fresh_copy",
        "detach",
        "add",
        "sub",
        "rsub",
        "mul",
        "neg",
        "gt",
        "ge",
        "lt",
        "le",
        "eq",
        "ne",
        "bitwise_and",
        "bitwise_or",
        "logical_and",
        "logical_or",
        "logical_not",
        "scalar_tensor",
        "full",
        "ones_like",
        "zeros_like",
    }
)

# Whole-tensor reductions: what a split graph's second pass waits for.
_REDUCTIONS = frozenset(
    {
        "linalg_vector_norm",
        "norm",
        "sum",
        "mean",
        "amax",
        "amin",
        "max",
        "min",
        "prod",
        "var",
        "std",
        "var_mean",
        "dot",
        "vdot",
        "all",
        "any",
        "argmax",
        "argmin",
        "logsumexp",
    }
)

# Views: a one-element view of a param the second pass reads itself instead of receiving it.
_VIEWS = frozenset({"select", "view", "reshape", "squeeze", "unsqueeze", "alias", "expand"})


def _base_name(node: fx.Node) -> str:
    return op_name(node.target).split(".")[0]


def _numel(node: object) -> int:
    """Elements of a node's value (0 for a non-tensor)."""
    v = node_value(node)
    return v.numel() if isinstance(v, torch.Tensor) else 0


def _is_scalar(node: object) -> bool:
    v = node_value(node)
    return isinstance(v, torch.Tensor) and v.numel() == 1


def _outputs(graph: fx.Graph) -> tuple[fx.Node, tuple]:
    """The graph's output node and the values it returns, as a tuple."""
    out = next(n for n in reversed(graph.nodes) if n.op == "output")
    old = out.args[0]
    return out, tuple(old) if isinstance(old, (tuple, list)) else (() if old is None else (old,))


def _inplace_chains(nodes: list[fx.Node]) -> tuple[dict[fx.Node, fx.Node], dict[fx.Node, fx.Node], bool]:
    """(root, last, complete): the placeholder each in-place node's chain updates, the last
    in-place update of each placeholder, and whether every in-place update could be traced to a
    placeholder (False for an update through a view or of a list)."""
    root: dict[fx.Node, fx.Node] = {}
    last: dict[fx.Node, fx.Node] = {}
    complete = True
    for n in nodes:
        if n.op != "call_function" or not op_name(n.target).endswith("_"):
            continue
        first = n.args[0] if n.args else None
        r = None
        if isinstance(first, fx.Node):
            r = first if first.op == "placeholder" else root.get(first)
        if r is None:
            complete = False
            continue
        root[n] = r
        last[r] = n
    return root, last, complete


def _finish(gm: fx.GraphModule) -> None:
    gm.graph.lint()
    gm.recompile()


def reciprocal_scalar_divisions(gm: fx.GraphModule) -> None:
    """Rewrite ``x / s`` (x a tensor of many elements, s of one) as ``x * (1 / s)``, in place.

    A vector division costs ~10 cycles per 16 floats on AVX-512 and shares its unit with sqrt:
    LAMB divides m and v by their bias corrections in both of its passes, and those divisions
    alone made the compiled LAMB compute-bound. The product with the reciprocal differs from the
    quotient by at most one rounding (torch's own CUDA kernels divide by a CPU scalar this way)."""
    aten = torch.ops.aten
    graph = gm.graph
    changed = False
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not aten.div.Tensor or len(node.args) != 2:
            continue
        num, den = node.args
        vn, vd = node_value(num), node_value(den)
        if not (isinstance(vn, torch.Tensor) and isinstance(vd, torch.Tensor)):
            continue
        if not (vn.is_floating_point() and vd.is_floating_point() and vd.numel() == 1 and vn.numel() > 1):
            continue
        with graph.inserting_before(node):
            inv = graph.call_function(aten.reciprocal.default, (den,))
            set_node_value(inv, torch.reciprocal(vd))
            mul = graph.call_function(aten.mul.Tensor, (num, inv))
            set_node_value(mul, node_value(node))
        node.replace_all_uses_with(mul)
        graph.erase_node(node)
        changed = True
    if changed:
        _finish(gm)


def hoist_scalars(gm: fx.GraphModule) -> None:
    """Compute each costly one-element value that feeds the elementwise loops once, before them
    (in place).

    Inductor inlines one-element intermediates into the consuming loop, and the C++ compiler
    cannot hoist them (the pointers may alias, and libm keeps errno): Adam's ``sqrt(1-β2^t)`` and
    ``lr·sqrt(1-β2^t)/(1-β1^t)``, or LAMB's trust ratio (two square roots, a division and a
    select on the two norms), were recomputed for every 16 floats, on the divider that the loop
    needs for its own division and square root. A one-element value with an elementwise user,
    computed with anything but cheap arithmetic, is made an output of the graph: inductor then
    stores it once and the loops load it."""
    graph = gm.graph
    costly: dict[fx.Node, bool] = {}

    def is_costly(n: fx.Node) -> bool:
        if n not in costly:
            result = False
            if n.op == "call_function":
                result = _base_name(n) not in _CHEAP or any(is_costly(a) for a in n.all_input_nodes if _is_scalar(a))
            costly[n] = result
        return costly[n]

    hoisted = [
        node
        for node in graph.nodes
        if node.op == "call_function"
        and _is_scalar(node)
        and is_costly(node)
        and any(_numel(u) > 1 for u in node.users)
    ]
    if hoisted:
        out, returned = _outputs(graph)
        out.args = (returned + tuple(hoisted),)
        _finish(gm)


def split_at_reductions(gm: fx.GraphModule) -> tuple[fx.GraphModule, fx.GraphModule, int] | None:
    """Split a traced step into two graphs at its whole-tensor reductions, or None.

    LAMB's trust ratio needs ||r|| before any param moves. Compiled as one graph, inductor
    recomputed the new moments in the second pass from the gradient and the old moments (the
    moments are stored only where the graph ends), reading 16 bytes/param twice. Split, graph A
    is everything that does not depend on a reduction — the moment updates, stored where they
    are computed, and the norms — and graph B the rest: it recomputes the values it needs (r)
    from the stored moments and the param, reading 12 bytes/param. One-element values (bias
    corrections, the ratio's inputs) go from A to B as extra inputs.

    Returns (graph A, graph B, number of extra values A returns for B at the end of its
    outputs), or None when the graph has no such structure or B would need a value it cannot
    recompute (one read before a later in-place update). ``gm`` is not changed."""
    nodes = list(gm.graph.nodes)
    order = {n: i for i, n in enumerate(nodes)}
    root, last, complete = _inplace_chains(nodes)
    if not complete:  # an update through a view or of a list: do not split
        return None
    updates: dict[fx.Node, list[fx.Node]] = {}
    for n, r in root.items():
        updates.setdefault(r, []).append(n)
    # B: every node downstream of a reduction over a multi-element tensor (not the reductions)
    dependent: set[fx.Node] = set()
    reductions: set[fx.Node] = set()
    for n in nodes:
        if n.op != "call_function":
            continue
        if any(a in dependent for a in n.all_input_nodes):
            dependent.add(n)
        elif _base_name(n) in _REDUCTIONS and any(_numel(a) > 1 for a in n.all_input_nodes):
            dependent.add(n)
            reductions.add(n)
    in_b = dependent - reductions
    if not any(_numel(n) > 1 for n in in_b):
        return None
    # A must not read a placeholder after B updated it (A runs first)
    for n in nodes:
        if n in in_b or n.op != "call_function":
            continue
        for a in n.all_input_nodes:
            updated = a if a.op == "placeholder" else root.get(a)
            if updated is not None and any(u in in_b and order[u] < order[n] for u in updates.get(updated, ())):
                return None
    extra, recompute = _values_b_needs(nodes, order, in_b, root, last, updates)
    if extra is None:
        return None
    # graph A: drop B's nodes; return its outputs plus the extra values
    _, outs = _outputs(gm.graph)
    g_a = fx.Graph()
    env_a: dict[fx.Node, fx.Node] = {}
    for n in nodes:
        if n.op != "output" and n not in in_b:
            env_a[n] = g_a.node_copy(n, lambda x: env_a[x])
    g_a.output(tuple(env_a[o] for o in outs if o not in in_b) + tuple(env_a[e] for e in extra))
    store_updates_where_computed(g_a)
    # graph B: the same placeholders plus the extra values
    g_b = fx.Graph()
    env_b: dict[fx.Node, fx.Node] = {}
    for n in nodes:
        if n.op == "placeholder":
            env_b[n] = g_b.node_copy(n)
    for i, e in enumerate(extra):
        ph = g_b.placeholder(f"extra_{i}")
        set_node_value(ph, node_value(e))
        env_b[e] = ph
    for n, r in root.items():  # in-place updates done by A: read their placeholder
        if n not in in_b:
            env_b[n] = env_b[r]
    keep = set(recompute) | in_b
    for n in nodes:
        if n in keep and n not in env_b:
            env_b[n] = g_b.node_copy(n, lambda x: env_b[x])
    g_b.output(tuple(env_b[o] for o in outs if o in in_b))
    gm_a, gm_b = fx.GraphModule(gm, g_a), fx.GraphModule(gm, g_b)
    gm_a.graph.lint()
    gm_b.graph.lint()
    return gm_a, gm_b, len(extra)


def _values_b_needs(
    nodes: list[fx.Node],
    order: dict[fx.Node, int],
    in_b: set[fx.Node],
    root: dict[fx.Node, fx.Node],
    last: dict[fx.Node, fx.Node],
    updates: dict[fx.Node, list[fx.Node]],
) -> tuple[list[fx.Node] | None, list[fx.Node]]:
    """The A values graph B needs: (one-element values A passes to B, multi-element A nodes B
    recomputes), or (None, ...) when B would need a value it cannot recompute."""
    extra: list[fx.Node] = []
    recompute: list[fx.Node] = []
    seen: set[fx.Node] = set()

    def need(a: fx.Node, reader: fx.Node) -> bool:
        if a in seen or a in in_b:
            return True
        seen.add(a)
        if a.op == "placeholder":
            # B reads the placeholder after all of A's updates: valid if none came after reader
            return not any(u not in in_b and order[u] > order[reader] for u in updates.get(a, ()))
        if a in root:  # an in-place update: B may read its placeholder if it is the last one
            return last[root[a]] is a and not any(order[u] > order[a] and u in in_b for u in updates.get(root[a], ()))
        if _numel(a) <= 1 and not (
            _base_name(a) in _VIEWS and all(x.op == "placeholder" and x not in last for x in a.all_input_nodes)
        ):
            extra.append(a)
            return True
        recompute.append(a)
        return all(need(x, a) for x in a.all_input_nodes)

    for n in in_b:
        for a in n.all_input_nodes:
            if not need(a, n):
                return None, recompute
    return extra, recompute


def store_updates_where_computed(graph: fx.Graph) -> None:
    """Pass each multi-element in-place update that is read afterwards through inductor's
    ``force_stride_order`` prim, in place: inductor then computes it once, in the loop that
    first needs it, and writes it back there (otherwise it recomputed the update in a loop of
    its own)."""
    barrier = force_stride_order()
    _, last, _ = _inplace_chains(list(graph.nodes))
    for n in last.values():
        v = node_value(n)
        users = [u for u in n.users if u.op != "output"]
        if not isinstance(v, torch.Tensor) or v.numel() <= 1 or not users:
            continue
        with graph.inserting_after(n):
            stored = graph.call_function(barrier, (n, tuple(v.stride())))
            set_node_value(stored, v)
        for u in users:
            u.replace_input_with(n, stored)
