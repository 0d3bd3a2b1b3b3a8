"""matvec: `X.T @ v`, v computed row by row from `X @ w`, becomes ONE fused_matvec node (one pass over X).

    z = dot(X, w); v = f(z, y, b); g = dot(X.T, v)   ->   z, v, g = fused_matvec{f}(X, w, y, b)

A gradient step of a linear model reads X twice this way (two BLAS matrix-vector products); the fused node
reads a block of rows once for both (tensor/fused_matvec.py). The pass runs after `fuse`, so v is usually one
fused node: its program, and those of the elementwise nodes between z and it (sigmoid(z + b) feeding both the
prediction and v), are composed into the node's program. It fires when:

- the product is `matmul(v, X)`, `matmul{trans_a}(X, v)` or `matmul(transpose(X), v)`, v a vector, X a matrix;
- v depends on `matmul(X, w)` (the same X, w a vector) through elementwise or fused nodes only, and on other
  values only through scalars and vectors not broadcast along the row (leaves computed before the node);
- X, w, v and the product share one float dtype.

z and v stay available to other consumers (the prediction, the loss, a sum of v): they are outputs of the node.
Another product of the same X and that v (`dot(v, X)` next to `dot(X.T, v)`) becomes the node's g.
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Apply, Variable, clone_replace, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.fuse import MAX_STATEMENTS
from aotgraph.tensor.fused import ScalarProgram
from aotgraph.tensor.fused_matvec import FLOATS, fused_matvec_op

MAX_REPLACEMENTS = 64  # products rewritten in one graph (each one pass over the graph)


def fuse_matvec(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, each matching pair of products one fused_matvec node."""
    outputs = list(outputs)
    for _ in range(MAX_REPLACEMENTS):
        replacement = next((r for node in toposort(outputs) if (r := match(node)) is not None), None)
        if replacement is None:
            break
        outputs = clone_replace(outputs, replacement)
    return outputs


def match(node: Apply) -> dict[Variable, Variable] | None:
    """{z: z', v: v', g: g'} replacing the product `node` (g = X.T @ v) and the z it reads by a fused node."""
    operands = _transposed_product(node)
    if operands is None:
        return None
    x, v = operands
    g = node.outputs[0]
    if not (x.type.dtype == v.type.dtype == g.type.dtype and x.type.dtype in FLOATS):
        return None
    owner = v.owner
    if owner is not None and owner.op.name == "fused_matvec" and owner.inputs[0] is x and v is owner.outputs[1]:
        return {g: owner.outputs[2]}  # the product a fused node already computes (written the other way)
    order = toposort([v])
    for z_node in order:
        if _is_matvec_of(z_node, x):
            program_and_leaves = row_program(order, z_node.outputs[0], v)
            if program_and_leaves is not None:
                program, leaves = program_and_leaves
                z, new_v, new_g = _apply(program, x, z_node.inputs[1], leaves, node.trace)
                return {z_node.outputs[0]: z, v: new_v, g: new_g}
    if _is_matvec_of(v.owner, x):  # X.T @ (X @ w): v is z itself
        program = ScalarProgram((), ("i0",), (v.type,))
        z, new_v, new_g = _apply(program, x, v.owner.inputs[1], [], node.trace)
        return {v: z, g: new_g}
    return None


def _apply(program: ScalarProgram, x: Variable, w: Variable, leaves: list[Variable], trace: str) -> list[Variable]:
    op = fused_matvec_op(program)
    inputs = [x, w, *leaves]
    types = rule_of(op).infer(op, [i.type for i in inputs])
    return Apply(op, inputs, types, trace=trace).outputs


def _transposed_product(node: Apply) -> tuple[Variable, Variable] | None:
    """(X, v) when `node` computes X.T @ v (written v @ X, matmul{trans_a}(X, v) or transpose(X) @ v)."""
    if node.op.name != "matmul" or node.op.trans_b:
        return None
    a, b = node.inputs
    if not node.op.trans_a and a.type.ndim == 1 and b.type.ndim == 2:
        return b, a
    if a.type.ndim != 2 or b.type.ndim != 1:
        return None
    if node.op.trans_a:
        return a, b
    owner = a.owner
    if owner is not None and owner.op.name == "dimshuffle" and tuple(owner.op.pattern) == (1, 0):
        return owner.inputs[0], b
    return None


def _is_matvec_of(node: Apply | None, x: Variable) -> bool:
    """Whether `node` is matmul(x, w), w a vector of x's dtype."""
    return (node is not None and node.op.name == "matmul" and not node.op.trans_a and not node.op.trans_b
            and node.inputs[0] is x and node.inputs[1].type.ndim == 1
            and node.inputs[1].type.dtype == x.type.dtype)


def _inlinable(node: Apply) -> bool:
    return node.op.name in ("fused", "fused_inplace") or rule_of(node.op).elemwise is not None


def row_program(order: list[Apply], z: Variable, v: Variable) -> tuple[ScalarProgram, list[Variable]] | None:
    """(program computing v from i0 = z and i<k> = leaves[k - 1], leaves) when v is a row-by-row function of z;
    `order`: the nodes v depends on, in topological order."""
    depends = {id(z)}
    refs: dict[int, str] = {id(z): "i0"}
    leaves: list[Variable] = []
    in_types = [z.type]
    stmts: list = []

    def ref(var: Variable) -> str | None:
        if id(var) in refs:
            return refs[id(var)]
        if var.type.ndim > 1 or (var.type.ndim == 1 and var.type.shape[0] == 1):
            return None  # only scalars and vectors indexed by the row
        refs[id(var)] = f"i{len(in_types)}"
        leaves.append(var)
        in_types.append(var.type)
        return refs[id(var)]

    for node in order:
        if not any(id(i) in depends for i in node.inputs):
            continue
        if not _inlinable(node) or any(o.type.ndim != 1 for o in node.outputs):
            return None
        args = [ref(i) for i in node.inputs]
        if None in args:
            return None
        if node.op.name in ("fused", "fused_inplace"):
            local = {f"i{k}": a for k, a in enumerate(args)}
            for j, (op, op_args) in enumerate(node.op.expr.stmts):
                local[f"t{j}"] = f"t{len(stmts)}"
                stmts.append((op, tuple(local[a] for a in op_args)))
            outs = [local[r] for r in node.op.expr.outputs]
        else:
            outs = [f"t{len(stmts)}"]
            stmts.append((node.op, tuple(args)))
        for out, r in zip(node.outputs, outs):
            refs[id(out)] = r
            depends.add(id(out))
        if len(stmts) > MAX_STATEMENTS:
            return None
    if id(v) not in depends or v is z:
        return None
    return ScalarProgram(tuple(stmts), (refs[id(v)],), tuple(in_types)), leaves
