"""Rendering rules of the non-elementwise ops: op name -> rule(node, ins, outs) -> step body.

Each rule returns a `CallStep`: Python-level statements calling numpy, the same calls as the op's
numpy reference (so results match it exactly), for reductions, BLAS products, shape and indexing
ops, where a hand-written loop brings little. The statements use only the identifiers of `ins` and
`outs`, and op parameters printed with `repr` (ints, tuples, dtype names: aotgraph's own values).
Shared pieces of Python (`_np_fill`, `_np_index`, ...) are helpers, emitted once per module.

The result of each statement list is converted to an ndarray of exactly the dtype and rank of the
graph's type by the renderer (`_result`), like the reference's `np.asarray(out, dtype=...)`.
"""

from __future__ import annotations

from collections.abc import Callable

from aotgraph.codegen import window_fused, window_ops
from aotgraph.codegen.dtypes import TYPENUM
from aotgraph.codegen.ir import Buffer, CallStep
from aotgraph.codegen.loops import tuple_literal
from aotgraph.tensor.reduction import KINDS

OPS: dict[str, Callable] = {}

HELPERS = {
    "_np_fill": '''
def _np_fill(params, sizes):
    """params with each None replaced by the next run-time size (as an int)."""
    sizes = iter(sizes)
    return tuple(int(next(sizes)) if p is None else p for p in params)
''',
    "_np_index": '''
def _np_index(idx, values):
    """The numpy index for the op parameter `idx` given the run-time values of its inputs."""
    values = iter(values)
    index = []
    for e in idx:
        if e[0] == "int":
            index.append(int(next(values)) if e[1] == "sym" else e[1])
        elif e[0] == "slice":
            index.append(slice(*(int(next(values)) if p == "sym" else p for p in e[1:])))
        elif e[0] == "none":
            index.append(None)
        elif e[0] == "ellipsis":
            index.append(Ellipsis)
        else:
            index.append(next(values))
    return tuple(index)
''',
    "_np_dimshuffle": '''
def _np_dimshuffle(x, pattern):
    kept = [p for p in pattern if p != "x"]
    dropped = tuple(axis for axis in range(x.ndim) if axis not in kept)
    y = np.squeeze(x, axis=dropped) if dropped else x
    y = y.transpose([p - sum(1 for d in dropped if d < p) for p in kept])
    return y[(*(None if p == "x" else slice(None) for p in pattern), Ellipsis)]
''',
    "_np_softmax": '''
def _np_softmax(x, axis, dtype, log):
    x = x.astype(dtype, copy=False)
    if x.size == 0:
        return np.empty(x.shape, dtype)
    s = x - np.max(x, axis=axis, keepdims=True)
    if log:
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
    e = np.exp(s)
    return e / np.sum(e, axis=axis, keepdims=True)
''',
}


def rule(name: str):
    def register(fn):
        OPS[name] = fn
        return fn

    return register


def call(ins: list[Buffer], outs: list[Buffer], *lines: str, helpers: tuple = ()) -> CallStep:
    return CallStep(list(ins), list(outs), list(lines), {name: HELPERS[name].strip("\n") for name in helpers})


@rule("reduce")
def _reduce(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    dtype = f", dtype={op.dtype!r}" if op.dtype is not None else ""
    numpy_fn = f"np.{KINDS[op.kind].fn.__name__}"  # the kind's numpy reference, e.g. np.sum
    return call(ins, outs, f"{z.name} = {numpy_fn}({x.name}, axis={op.axis!r}, "
                           f"keepdims={op.keepdims!r}{dtype})")


@rule("argreduce")
def _argreduce(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.{op.kind}({x.name}, axis={op.axis!r}, keepdims={op.keepdims!r})")


@rule("unreduce")
def _unreduce(node, ins, outs):
    op, (g, like), (z,) = node.op, ins, outs
    expand = f"np.expand_dims({g.name}, {op.axis!r})" if not op.keepdims else g.name
    return call(ins, outs, f"{z.name} = np.broadcast_to({expand}, (<object>{like.name}).shape).copy()")


@rule("reduced_count")
def _reduced_count(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    sizes = " * ".join(f"cnp.PyArray_DIMS({x.name})[{a}]" for a in op.axis) or "1"
    return call(ins, outs, f"{z.name} = _count({sizes}, {TYPENUM[z.dtype]})")


@rule("matmul")
def _matmul(node, ins, outs):
    op, (a, b), (z,) = node.op, ins, outs
    left = f"np.swapaxes({a.name}, -1, -2)" if op.trans_a else a.name
    right = f"np.swapaxes({b.name}, -1, -2)" if op.trans_b else b.name
    step = call(ins, outs, f"{z.name} = np.matmul({left}, {right})")
    step.dest_lines = [f"{z.name} = _scan_matmul({left}, {right}, dest)"]  # in a scan's step (scanloop.py)
    return step


@rule("outer")
def _outer(node, ins, outs):
    (a, b), (z,) = ins, outs
    return call(ins, outs, f"{z.name} = np.outer({a.name}, {b.name})")


@rule("shape")
def _shape(node, ins, outs):
    (x,), (z,) = ins, outs
    return call(ins, outs, f"{z.name} = np.array((<object>{x.name}).shape, dtype=np.int64)")


@rule("specify_shape")
def _specify_shape(node, ins, outs):
    op, (x, *sizes), (z,) = node.op, ins, outs
    return call(
        ins, outs,
        f"want = _np_fill({op.shape!r}, {tuple_literal([b.name for b in sizes])})",
        f"if any(w != -1 and w != s for w, s in zip(want, (<object>{x.name}).shape)):",
        "    shown = '(' + ', '.join('?' if w == -1 else str(w) for w in want) + (',' if len(want) == 1 else '') + ')'",
        f"    raise ValueError(f'specify_shape: expected shape {{shown}}, got {{(<object>{x.name}).shape}}')",
        f"{z.name} = {x.name}",
        helpers=("_np_fill",),
    )


@rule("dimshuffle")
def _dimshuffle(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = _np_dimshuffle({x.name}, {op.pattern!r})", helpers=("_np_dimshuffle",))


@rule("reshape")
def _reshape(node, ins, outs):
    op, (x, *sizes), (z,) = node.op, ins, outs
    shape = f"_np_fill({op.shape!r}, {tuple_literal([b.name for b in sizes])})"
    return call(ins, outs, f"{z.name} = np.reshape({x.name}, {shape})", helpers=("_np_fill",))


@rule("join")
def _join(node, ins, outs):
    op, (z,) = node.op, outs
    return call(ins, outs, f"{z.name} = np.concatenate({tuple_literal([b.name for b in ins])}, axis={op.axis!r})")


@rule("alloc")
def _alloc(node, ins, outs):
    op, (v, *sizes), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.broadcast_to({v.name}, _np_fill({op.shape!r}, "
                           f"{tuple_literal([b.name for b in sizes])})).copy()", helpers=("_np_fill",))


@rule("arange")
def _arange(node, ins, outs):
    op, (z,) = node.op, outs
    values = iter(ins)
    bounds = [f"{next(values).name}[()]" if b is None else repr(b) for b in (op.start, op.stop, op.step)]
    return call(ins, outs, f"{z.name} = np.arange({', '.join(bounds)}, dtype={op.dtype!r})")


def _index_call(op, values):
    return f"_np_index({op.idx!r}, {tuple_literal([b.name for b in values])})"


@rule("subtensor")
@rule("advanced_subtensor")
def _getitem(node, ins, outs):
    op, (x, *values), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = (<object>{x.name})[{_index_call(op, values)}]", helpers=("_np_index",))


@rule("set_subtensor")
def _set_subtensor(node, ins, outs):
    op, (x, v, *values), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = {x.name}.copy()", f"{z.name}[{_index_call(op, values)}] = {v.name}",
                helpers=("_np_index",))


@rule("inc_subtensor")
def _inc_subtensor(node, ins, outs):
    op, (x, v, *values), (z,) = node.op, ins, outs
    lines = [f"{z.name} = {x.name}.copy()", f"index = {_index_call(op, values)}"]
    if any(e[0] == "array" for e in op.idx):
        lines.append(f"np.add.at({z.name}, index, {v.name})")  # repeated indices accumulate
    else:
        lines += [f"view = {z.name}[index + (Ellipsis,)]", f"np.add(view, {v.name}, out=view)"]
    return call(ins, outs, *lines, helpers=("_np_index",))


@rule("unbroadcast")
@rule("zero_grad")
@rule("disconnected_grad")
@rule("grad_clip")
@rule("grad_scale")
def _grad_marker(node, ins, outs):
    """The identities of tensor/grad_markers.py (the rewrites drop them; this renders one when none ran)."""
    (x,), (z,) = ins, outs
    return call(ins, outs, f"{z.name} = {x.name}")


@rule("softmax")
@rule("log_softmax")
def _softmax(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    log = op.name == "log_softmax"
    return call(ins, outs, f"{z.name} = _np_softmax({x.name}, {op.axis!r}, {z.dtype!r}, {log!r})",
                helpers=("_np_softmax",))


# ---- theano.tensor's sorting and extra_ops (tensor/sorting.py, tensor/extra_ops.py): the reference's calls --
@rule("cumop")
def _cumop(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.cum{op.kind}({x.name}, axis={op.axis!r})")


@rule("sort")
@rule("argsort")
def _sort(node, ins, outs):
    op, (x,), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.{op.name}({x.name}, axis={op.axis!r}, kind={op.kind!r})")


@rule("nonzero")
def _nonzero(node, ins, outs):
    op, (x,) = node.op, ins
    if op.flat:
        return call(ins, outs, f"{outs[0].name} = np.flatnonzero({x.name})")
    return call(ins, outs, f"{tuple_literal([z.name for z in outs])} = np.nonzero({x.name})")


@rule("repeat")
def _repeat(node, ins, outs):
    op, (x, r), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.repeat({x.name}, {r.name}, axis={op.axis!r})")


@rule("unique")
def _unique(node, ins, outs):
    op, (x,) = node.op, ins
    flags = (f"return_index={op.return_index!r}, return_inverse={op.return_inverse!r}, "
             f"return_counts={op.return_counts!r}")
    if len(outs) == 1:
        return call(ins, outs, f"{outs[0].name} = np.unique({x.name})")
    return call(ins, outs, f"parts = np.unique({x.name}, {flags})",
                *(f"{z.name} = np.asarray(parts[{i}]).reshape(-1)" for i, z in enumerate(outs)))


@rule("searchsorted")
def _searchsorted(node, ins, outs):
    op, (z,) = node.op, outs
    sorter = ins[2].name if len(ins) == 3 else "None"
    return call(ins, outs, f"{z.name} = np.searchsorted({ins[0].name}, {ins[1].name}, side={op.side!r}, "
                           f"sorter={sorter})")


@rule("ravel_multi_index")
def _ravel_multi_index(node, ins, outs):
    op, (*index, dims), (z,) = node.op, ins, outs
    return call(ins, outs, f"{z.name} = np.ravel_multi_index({tuple_literal([b.name for b in index])}, "
                           f"tuple(int(d) for d in {dims.name}), mode={op.mode!r}, order={op.order!r})")


@rule("unravel_index")
def _unravel_index(node, ins, outs):
    op, (i, dims) = node.op, ins
    return call(ins, outs, f"{tuple_literal([z.name for z in outs])} = np.unravel_index({i.name}, "
                           f"tuple(int(d) for d in {dims.name}), order={op.order!r})")


@rule("bartlett")
def _bartlett(node, ins, outs):
    (m,), (z,) = ins, outs
    return call(ins, outs, f"{z.name} = np.bartlett(int({m.name}))")


OPS.update(window_ops.RULES)  # conv2d, pooling and their gradients: see window_ops.py
OPS.update(window_fused.RULES)  # conv2d + max-pool + epilogue, and its gradient: see window_fused.py
