"""The operators and methods of tensor variables (x + y, x.sum(), x[i], x.T, ...), installed on them.

This module sits at the top of the tensor package: it needs every op, while
`aotgraph.tensor.variable` needs none, so the dependency runs one way (the
package's `__init__` imports this module, so any use of aotgraph.tensor installs them).
"""

from __future__ import annotations

from aotgraph.tensor import blas, math, reduction, shape_ops, subtensor
from aotgraph.tensor.variable import TensorOps

_COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "neq"})


class TensorMethods:
    """Operator overloads and methods of tensor variables and constants (numpy's meaning)."""

    # arithmetic
    def __add__(self, other): return math.add(self, other)
    def __radd__(self, other): return math.add(other, self)
    def __sub__(self, other): return math.sub(self, other)
    def __rsub__(self, other): return math.sub(other, self)
    def __mul__(self, other): return math.mul(self, other)
    def __rmul__(self, other): return math.mul(other, self)
    def __truediv__(self, other): return math.true_div(self, other)
    def __rtruediv__(self, other): return math.true_div(other, self)
    def __floordiv__(self, other): return math.floor_div(self, other)
    def __rfloordiv__(self, other): return math.floor_div(other, self)
    def __mod__(self, other): return math.mod(self, other)
    def __rmod__(self, other): return math.mod(other, self)
    def __pow__(self, other): return math.pow(self, other)
    def __rpow__(self, other): return math.pow(other, self)
    def __neg__(self): return math.neg(self)
    def __pos__(self): return self
    def __abs__(self): return math.abs(self)
    def __invert__(self): return math.invert(self)
    def __and__(self, other): return math.and_(self, other)
    def __rand__(self, other): return math.and_(other, self)
    def __or__(self, other): return math.or_(self, other)
    def __ror__(self, other): return math.or_(other, self)
    def __xor__(self, other): return math.xor(self, other)
    def __rxor__(self, other): return math.xor(other, self)
    def __matmul__(self, other): return blas.matmul(self, other)
    def __rmatmul__(self, other): return blas.matmul(other, self)

    # comparisons build graphs (like Theano); == and != stay identity so variables work in dicts
    def __lt__(self, other): return math.lt(self, other)
    def __le__(self, other): return math.le(self, other)
    def __gt__(self, other): return math.gt(self, other)
    def __ge__(self, other): return math.ge(self, other)

    def __bool__(self):
        """True, as in Theano (`if not W: W = shared(...)`), except for a comparison's result: `if x > 0:`
        cannot be decided while building the graph, so it raises."""
        if self.owner is not None and self.owner.op.name in _COMPARISONS:
            raise TypeError(
                f"the result of a symbolic comparison ({self.owner.op.name}) has no truth value while the graph "
                "is built; use at.switch/at.where for conditions, and at.eq/at.neq for element-wise equality"
            )
        return True

    def __len__(self):
        raise TypeError("a symbolic variable has no len(); use x.shape[0]")

    def __iter__(self):
        raise TypeError("a symbolic variable is not iterable; index it with x[i]")

    # shape and indexing
    @property
    def shape(self):
        return shape_ops.shape(self)

    @property
    def T(self):
        return shape_ops.transpose(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return shape_ops.transpose(self, axes or None)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (tuple, list)):
            pattern = tuple(pattern[0])
        return shape_ops.dimshuffle(self, pattern)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return shape_ops.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim: int = 1):
        return shape_ops.flatten(self, ndim)

    def __getitem__(self, index):
        return subtensor.getitem(self, index)

    def astype(self, dtype):
        return math.cast(self, dtype)

    def dot(self, other):
        return blas.dot(self, other)

    # reductions
    def sum(self, axis=None, keepdims=False, dtype=None):
        return reduction.sum(self, axis, keepdims=keepdims, dtype=dtype)

    def prod(self, axis=None, keepdims=False, dtype=None):
        return reduction.prod(self, axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis=None, keepdims=False): return reduction.mean(self, axis, keepdims=keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return reduction.var(self, axis, keepdims=keepdims, ddof=ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return reduction.std(self, axis, keepdims=keepdims, ddof=ddof)
    def max(self, axis=None, keepdims=False): return reduction.max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return reduction.min(self, axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return reduction.argmax(self, axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return reduction.argmin(self, axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return reduction.all(self, axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return reduction.any(self, axis, keepdims=keepdims)

    # elementwise methods Theano users reach for
    def exp(self): return math.exp(self)
    def log(self): return math.log(self)
    def sqrt(self): return math.sqrt(self)
    def clip(self, a_min, a_max): return math.clip(self, a_min, a_max)
    def round(self): return math.round(self)


def _install() -> None:
    for name, value in vars(TensorMethods).items():
        if name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"):
            setattr(TensorOps, name, value)


_install()
