"""The `window_fuse` pass: a convolution, the max-pooling after it and the elementwise epilogue after that
(bias + activation) become one `conv2d_pool` node, and the gradients that went through the pooling one
`conv2d_pool_grad` node (ops in tensor/conv_pool.py).

Why: the convolution's output is the largest array of a CNN layer (4x the pooled one for 2x2 windows), and
unfused it is written once and read three times (pool, max-pool gradient, filter gradient), each pass out of
cache. Fused, the compiled op pools each cache-sized chunk of it right after its matmul, applies the epilogue
to the pooled value, and records in a byte per window which elements were the max: the gradient rebuilds the
convolution's output gradient per chunk from that mask instead of comparing with the stored output.

It runs after `fuse` (an epilogue is then one fused node) on the optimized graph, after gradients are built,
so gradients are unaffected. It fuses only what keeps every value computed: the convolution's output must
be read by nothing but the pooling and its max-pool gradients, each of those only by the convolution's own
gradient ops. The epilogue is fused when it is the pooled value's only other reader, a single-output
elementwise node over floats of the pooled dtype whose other inputs broadcast to the pooled shape.
A convolution read only by an elementwise epilogue becomes a `conv2d_pool` with 1x1 windows.
The gradient node also absorbs the elementwise node making the pooled gradient (through tanh,
`r * (1 - out**2)`) and the bias gradient's sum over (batch, rows, cols) of it, when nothing else reads that
pooled gradient: its unpooling loop visits every pooled element anyway, so they cost no pass of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aotgraph.graph.basic import Apply, Op, Variable, ancestors, clone_replace, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.merge import merge
from aotgraph.tensor.basic import apply
from aotgraph.tensor.conv_pool import CONV_PARAMS, MAX_MASK_BITS
from aotgraph.tensor.fused import ScalarProgram, stmt_types

_GRAD_OPS = {"conv2d_grad_inputs": "inputs", "conv2d_grad_filters": "filters"}


def window_fuse(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, each conv2d -> max-pool -> epilogue chain one node (see the module)."""
    outputs = list(outputs)
    nodes = toposort(outputs)
    readers: dict[int, list[tuple[Apply, int]]] = {}
    for node in nodes:
        for k, v in enumerate(node.inputs):
            readers.setdefault(id(v), []).append((node, k))
    results = {id(v) for v in outputs}
    replace: dict[Variable, Variable] = {}
    for node in nodes:
        if node.op.name == "conv2d" and node.op.groups == 1 and id(node.outputs[0]) not in results:
            replace.update(_fuse_chain(node, readers, results))
    if not replace:
        return outputs
    # a replacement's inputs are old variables, which may depend on replaced ones (the gradient reads the
    # epilogue's output, the next layer's convolution this layer's): copy again until no replaced variable is
    # left (one copy per chained layer at most); merging then joins the nodes several copies made
    current = clone_replace(outputs, replace)
    for _ in range(len(replace)):
        seen = ancestors(current)
        if not any(id(v) in seen for v in replace):
            break
        current = clone_replace(current, replace)
    return merge(current)


def _fuse_chain(conv: Apply, readers: dict, results: set) -> dict[Variable, Variable]:
    """{old variable: its replacement} for the chain starting at `conv` (empty when it cannot be fused)."""
    z = conv.outputs[0]
    z_readers = readers.get(id(z), [])
    pools = [n for n, k in z_readers if k == 0 and _fusable_pool(n)]
    if len(pools) == 1 and len(z_readers) > 1:
        pool = pools[0]
        grads = [n for n, _ in z_readers if n is not pool]
        if not all(_pool_grad_of(n, pool) for n in grads):
            return {}
        uses = [_grad_uses(conv, m, readers, results) for m in grads]
        if any(u is None for u in uses):
            return {}
        head, ws, stride = pool.outputs[0], pool.op.ws, pool.op.stride
        others = [n for n, _ in readers.get(id(head), []) if all(n is not m for m in grads)]
        masked = bool(grads)
    elif len(z_readers) == 1 and z_readers[0][0].op.name != "pool":
        head, ws, stride, others, uses, masked = z, (1, 1), (1, 1), [z_readers[0][0]], [], False
    elif len(pools) == 1:
        head, ws, stride, uses, masked = pools[0].outputs[0], pools[0].op.ws, pools[0].op.stride, [], False
        others = [n for n, _ in readers.get(id(head), [])]
    else:
        return {}
    epilogue = _epilogue(head, others, results)
    if epilogue is None and ws == (1, 1):
        return {}
    x, w = conv.inputs
    params = {k: conv.op.params[k] for k in CONV_PARAMS}
    program, extras, replaced = epilogue if epilogue is not None else (None, [], head)
    fused = _apply(conv, "conv2d_pool", x, w, *extras, ws=ws, stride=stride, expr=program, masked=masked, **params)
    if fused[0].type != replaced.type:
        return {}
    made = {replaced: fused[0]}
    for grad_nodes in uses:
        wanted = {_GRAD_OPS[n.op.name] for n in grad_nodes}
        wrt = tuple(k for k in ("inputs", "filters") if k in wanted)  # the order the op returns them in
        gz = grad_nodes[0].inputs[1].owner.inputs[2]
        gz_program, gz_inputs, sums = _gradient_epilogue(gz, grad_nodes[0].inputs[1].owner, readers, results)
        grads = _apply(conv, "conv2d_pool_grad", x, w, fused[1], *gz_inputs, ws=ws, stride=stride, wrt=wrt,
                       expr=gz_program, bias=bool(sums), **params)
        if sums and any(n.outputs[0].type != grads[-1].type for n in sums):  # e.g. the sum's dtype differs
            grads = _apply(conv, "conv2d_pool_grad", x, w, fused[1], gz, ws=ws, stride=stride, wrt=wrt,
                           expr=None, bias=False, **params)
            sums = []
        for n in grad_nodes:
            made[n.outputs[0]] = grads[wrt.index(_GRAD_OPS[n.op.name])]
        for n in sums:
            made[n.outputs[0]] = grads[-1]
    return made


def _apply(conv: Apply, name: str, *inputs, **params) -> list[Variable]:
    made = apply(Op(name, **params), *inputs)
    made = made if isinstance(made, list) else [made]
    made[0].owner.trace = conv.trace
    return made


def _fusable_pool(node: Apply) -> bool:
    """Max pooling whose windows do not overlap, without padding or partial windows, at most 8 elements each."""
    op = node.op
    return (node.op.name == "pool" and op.mode == "max" and op.pad == (0, 0) and op.ignore_border
            and node.inputs[0].ndim == 4 and op.stride[0] >= op.ws[0] and op.stride[1] >= op.ws[1]
            and op.ws[0] * op.ws[1] <= MAX_MASK_BITS)


def _pool_grad_of(node: Apply, pool: Apply) -> bool:
    return (node.op.name == "max_pool_grad" and node.op.params == pool.op.params
            and node.inputs[0] is pool.inputs[0] and node.inputs[1] is pool.outputs[0])


def _grad_uses(conv: Apply, grad: Apply, readers: dict, results: set) -> list[Apply] | None:
    """The convolution's gradient ops reading the max-pool gradient `grad` (None if anything else reads it)."""
    g = grad.outputs[0]
    if id(g) in results:
        return None
    uses = readers.get(id(g), [])
    x, w = conv.inputs
    wanted = {("conv2d_grad_inputs", 1): (w, x), ("conv2d_grad_filters", 1): (x, w)}
    for n, k in uses:
        pair = wanted.get((n.op.name, k))
        if pair is None or n.op.params != conv.op.params or (n.inputs[0], n.inputs[2]) != pair:
            return None
    return [n for n, _ in uses] or None


def _epilogue(head: Variable, others: list[Apply], results: set) -> tuple | None:
    """(program over i0 = head and the extras, the extras, the variable it computes) for an elementwise node
    that is head's only other reader, or None."""
    if len(others) != 1 or id(head) in results:
        return None
    node = others[0]
    if len(node.outputs) != 1 or node.outputs[0].type.dtype != head.type.dtype:
        return None
    program = _program_of(node)
    if program is None:
        return None
    out = node.outputs[0].type
    if out.shape != head.type.shape and any(o != h and h is not None for o, h in zip(out.shape, head.type.shape)):
        return None
    extras = [v for v in node.inputs if v is not head]
    if any(v.type.dtype != head.type.dtype or v.type.ndim > head.type.ndim for v in extras):
        return None
    if any(s == 1 for s in head.type.shape):  # a size-1 axis of head could broadcast against an extra: not fused
        return None
    order = {id(head): "i0"} | {id(v): f"i{k + 1}" for k, v in enumerate(extras)}
    new_ref = {f"i{k}": order[id(v)] for k, v in enumerate(node.inputs)}
    stmts = tuple((op, tuple(new_ref.get(a, a) for a in args)) for op, args in program.stmts)
    types = (head.type, *(v.type for v in extras))
    if not _float_statements(node, program):
        return None
    return ScalarProgram(stmts, tuple(new_ref.get(r, r) for r in program.outputs), types), extras, node.outputs[0]


def _program_of(node: Apply) -> ScalarProgram | None:
    """The scalar program of an elementwise node (fused or one op) over its inputs i0, i1, ..., or None."""
    if node.op.name == "fused":
        return node.op.expr
    if rule_of(node.op).elemwise is not None:
        return ScalarProgram(((node.op, tuple(f"i{k}" for k in range(len(node.inputs)))),), ("t0",),
                             tuple(v.type for v in node.inputs))
    return None


def _float_statements(node: Apply, program: ScalarProgram) -> bool:
    """Integer statements may need the loop's error flag (integer power): those are left to the fused loop."""
    return all(np.dtype(t.dtype).kind in "bf" for t in stmt_types(program, [v.type for v in node.inputs]).values())


def _gradient_epilogue(gz: Variable, pool_grad: Apply, readers: dict, results: set) -> tuple:
    """(program, its inputs, the bias-gradient sums absorbed) for the pooled gradient `gz`: when gz is made by
    an elementwise node and read by nothing but the max-pool gradient and sums over (batch, rows, cols) (the
    bias gradient of a layer), the gradient op computes it and those sums in its unpooling loop, so neither is
    a pass over memory of its own; else (None, [gz], [])."""
    keep = (None, [gz], [])
    node = gz.owner
    if node is None or id(gz) in results or len(node.outputs) != 1 or gz.type.ndim != 4:
        return keep
    if any(s == 1 for s in gz.type.shape):  # a size-1 axis could broadcast: the pooled shape is the loop's
        return keep
    program = _program_of(node)
    if program is None or not _float_statements(node, program):
        return keep
    if any(v.type.dtype != gz.type.dtype or v.type.ndim > 4 for v in node.inputs):
        return keep
    sums = []
    for reader, k in readers.get(id(gz), []):
        op = reader.op
        if reader is pool_grad and k == 2:
            continue
        if (op.name == "reduce" and op.kind == "sum" and op.axis == (0, 2, 3) and op.keepdims
                and reader.outputs[0].type.dtype == gz.type.dtype):
            sums.append(reader)
            continue
        return keep
    return program, list(node.inputs), sums
