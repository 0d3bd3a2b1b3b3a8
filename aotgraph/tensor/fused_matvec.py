"""The fused matrix-vector pair: `X @ w` and `X.T @ v` in one pass over X, v a function of `X @ w` row by row.

    fused_matvec{expr}(X, w, l1, l2, ...) -> (z, v, g)      z = X @ w
                                                              v = expr(z, l1, l2, ...)   (elementwise, per row)
                                                              g = X.T @ v                (= v @ X)

A gradient step of a linear model (logistic or linear regression) computes both products, each reading X once;
when v depends on z row by row (and on vectors indexed by the row, or scalars), both can be computed while a
block of rows is in cache: the `matvec` rewrite (aotgraph/rewrite/matvec.py) makes this op, and the compiled
backend renders it as one loop (aotgraph/codegen/matvec_kernel.py). `expr` is a ScalarProgram (see fused.py)
whose input i0 is z and i<k> (k >= 1) the node's input k + 1; its one output is v. The numpy reference below is
the two products and the program, evaluated as FAST_COMPILE would: the oracle for the compiled loop.
"""

from __future__ import annotations

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.fused import ScalarProgram, evaluate_program, stmt_types
from aotgraph.tensor.type import TensorType

FLOATS = ("float32", "float64")


def _infer(op: Op, types: list) -> list:
    if len(types) < 2:
        raise TypeError(f"fused_matvec: takes a matrix, a vector and the program's inputs, got {len(types)} inputs")
    x, w, leaves = types[0], types[1], list(types[2:])
    if x.ndim != 2 or w.ndim != 1 or x.dtype != w.dtype or x.dtype not in FLOATS:
        raise TypeError(f"fused_matvec: needs a float matrix and a vector of its dtype, got {x} and {w}")
    if None not in (x.shape[1], w.shape[0]) and x.shape[1] != w.shape[0]:
        raise TypeError(f"fused_matvec: the matrix has {x.shape[1]} columns but the vector {w.shape[0]} elements")
    program = op.expr
    if not isinstance(program, ScalarProgram) or len(program.outputs) != 1:
        raise TypeError("fused_matvec: expr must be a ScalarProgram with one output")
    z = TensorType(x.dtype, (x.shape[0],))
    if len(program.in_types) != 1 + len(leaves):
        raise TypeError(f"fused_matvec: the program takes {len(program.in_types) - 1} inputs besides z, "
                        f"got {len(leaves)}")
    v = stmt_types(program, [z, *leaves])[program.outputs[0]]
    if v.dtype != x.dtype or v.ndim != 1:
        raise TypeError(f"fused_matvec: the program must give a vector of {x.dtype}, got {v}")
    return [z, v, TensorType(x.dtype, (x.shape[1],))]


def _perform(op: Op, x, w, *leaves):
    dtype = x.dtype
    z = np.asarray(np.matmul(x, w), dtype=dtype)
    v = np.asarray(evaluate_program(op.expr, [z, *leaves])[op.expr.outputs[0]], dtype=dtype)
    return z, v, np.asarray(np.matmul(v, x), dtype=dtype)


register("fused_matvec", OpRule(infer=_infer, perform=_perform))


def fused_matvec_op(program: ScalarProgram) -> Op:
    """The op of a fused_matvec node running `program` (input i0: X @ w; its output: v)."""
    return Op("fused_matvec", expr=program)
