"""Helpers for rewrite tests: the graph's op counts, and one check that shows both graphs when it fails."""

from __future__ import annotations

from collections import Counter

import numpy as np

from aotgraph.graph.basic import Constant, toposort
from aotgraph.graph.evaluate import evaluate
from aotgraph.printing import debugprint
from aotgraph.rewrite import rewrite_graph


def op_counts(outputs) -> Counter:
    """How many nodes of each op the graph of `outputs` has."""
    return Counter(node.op.name for node in toposort(list(outputs)))


def statement_counts(outputs) -> Counter:
    """Like op_counts, with each fused node counted as the ops of its statements (and its reduction)."""
    counts: Counter = Counter()
    for node in toposort(list(outputs)):
        if node.op.name.startswith("fused"):
            counts.update(node.op.expr.ops)
            if node.op.name == "fused_reduce":
                counts["reduce"] += 1
        else:
            counts[node.op.name] += 1
    return counts


def constants(outputs) -> list:
    """The distinct constant objects the graph of `outputs` reads."""
    found = {id(v): v for node in toposort(list(outputs)) for v in node.inputs if isinstance(v, Constant)}
    found.update({id(v): v for v in outputs if isinstance(v, Constant)})
    return list(found.values())


def both_graphs(before, after) -> str:
    return "\nbefore:\n" + debugprint(list(before), file="str") + "after:\n" + debugprint(list(after), file="str")


def check_rewrite(outputs, passes, givens: dict, ops: dict | None = None, n_nodes: int | None = None,
                  exact: bool = True, rtol: float = 1e-12):
    """Rewrite `outputs` with `passes` (type-checked after each pass), check the new graph's op counts
    (`ops`: op name -> count, 0 for absent) and node count, and check its values, dtypes and shapes
    against the graph as written, both evaluated by the numpy reference. Returns the new outputs."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    new = rewrite_graph(outputs, passes, check=True)
    counts = op_counts(new)
    for name, count in (ops or {}).items():
        assert counts[name] == count, f"expected {count} {name!r} node(s), found {counts[name]}" + both_graphs(
            outputs, new)
    if n_nodes is not None:
        assert sum(counts.values()) == n_nodes, f"expected {n_nodes} nodes" + both_graphs(outputs, new)
    with np.errstate(all="ignore"):
        want, got = evaluate(outputs, givens), evaluate(new, givens)
    for old_var, new_var, w, g in zip(outputs, new, want, got):
        assert old_var.type.is_super(new_var.type), f"type {old_var.type} became {new_var.type}"
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if exact:
            np.testing.assert_array_equal(g, w, err_msg=both_graphs(outputs, new))
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, err_msg=both_graphs(outputs, new))
    return new
