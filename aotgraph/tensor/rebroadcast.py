"""unbroadcast: forget that axes have static size 1 (Theano's Rebroadcast towards False).

The value is unchanged (a view: the numpy reference returns the same array); only the type changes, so
that e.g. an expression of static shape (1, n) can stand where any (m, n) is expected. The rewrites keep it
(replacing it by x would narrow the type, which the engine refuses); the compiled backend renders it as
`z = x`.
"""

from __future__ import annotations

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.type import TensorType

__all__ = ["unbroadcast"]


def _infer(op, types):
    (x,) = types
    for a in op.axes:
        if not 0 <= a < x.ndim:
            raise type_error("unbroadcast", f"axis {a} is out of range for a {x.ndim}-d input", x)
    return [TensorType(x.dtype, tuple(None if i in op.axes and s == 1 else s for i, s in enumerate(x.shape)))]


register("unbroadcast", OpRule(
    infer=_infer,
    perform=lambda op, x: (x,),
    grad=lambda op, inputs, outputs, gouts: [gouts[0]],  # gradient.py sums it back over the size-1 axes
    view_map={0: 0},
))


def unbroadcast(x, *axes):
    """x with `axes` no longer declared broadcastable (their static size 1 forgotten); x itself when none is."""
    x = as_tensor_variable(x)
    normalized = tuple(sorted({a + x.ndim if isinstance(a, int) and a < 0 else a for a in axes}))
    if not any(0 <= a < x.ndim and x.type.shape[a] == 1 for a in normalized):
        for a in normalized:
            if not isinstance(a, int) or not 0 <= a < x.ndim:
                raise type_error("unbroadcast", f"axis {a!r} is out of range for a {x.ndim}-d input", x.type)
        return x
    return apply(Op("unbroadcast", axes=normalized), x)
