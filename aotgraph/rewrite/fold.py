"""fold: a node whose inputs are all constants becomes a constant, computed by the op's numpy reference.

Not folded: nodes reading a shared variable (it is a graph input, not a Constant: its value can change),
in-place ops, nodes whose evaluation raises (the error stays where the user will see it, at call time),
and results of more than MAX_FOLDED_ELEMENTS elements (a constant that size costs memory in every
function; alloc and arange are sized before anything is computed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from aotgraph.graph.basic import Apply, Constant, Variable
from aotgraph.graph.evaluate import run_node
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.engine import run_pass, same_or_finer
from aotgraph.tensor.type import TensorType
from aotgraph.tensor.variable import TensorConstant

MAX_FOLDED_ELEMENTS = 1_000_000


def fold(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, with every foldable node replaced by its constant value."""
    return run_pass(outputs, fold_node)


def fold_node(node: Apply) -> list[Variable] | None:
    """The constant outputs of `node` when it can be folded, else None."""
    if not all(isinstance(v, Constant) for v in node.inputs) or rule_of(node.op).destroy_map:
        return None
    size = predicted_size(node)
    if size is not None and size > MAX_FOLDED_ELEMENTS:
        return None
    try:
        values = run_node(node, [v.data for v in node.inputs])
    except Exception:  # noqa: BLE001 - any failure: leave the node, it raises at call time as written
        return None
    folded = []
    for out, value in zip(node.outputs, values):
        value = np.asarray(value)
        if value.size > MAX_FOLDED_ELEMENTS or value.dtype.name != out.type.dtype:
            return None
        data = np.array(value, order="C")  # its own memory, not a view of an input constant
        data.setflags(write=False)
        const = TensorConstant(TensorType(data.dtype, data.shape), data)
        if not same_or_finer(out, const):
            return None
        folded.append(const)
    return folded


def predicted_size(node: Apply) -> int | None:
    """The number of elements `node` (with constant inputs) will produce, when it can be told beforehand."""
    shapes = [o.type.shape for o in node.outputs]
    if all(None not in s for s in shapes):
        return max((math.prod(s) for s in shapes), default=0)
    values = [v.data for v in node.inputs]
    if node.op.name == "alloc":
        sizes = iter(values[1:])
        return math.prod(int(next(sizes)) if p is None else p for p in node.op.shape)
    if node.op.name == "arange":
        bounds = iter(values)
        start, stop, step = (next(bounds)[()] if b is None else b for b in (node.op.start, node.op.stop, node.op.step))
        try:
            with np.errstate(all="ignore"):
                return max(0, math.ceil((stop - start) / step))
        except (ArithmeticError, ValueError):  # a zero step, infinite or nan bounds: evaluation will refuse
            return None
    return None
