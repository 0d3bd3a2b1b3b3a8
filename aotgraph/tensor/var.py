"""Tensor variables: Python operators and methods that build graph nodes."""

from __future__ import annotations

from aotgraph.graph.basic import Constant, Variable


def _at():
    import aotgraph.tensor as at

    return at


class TensorOps:
    """Operator overloads shared by tensor variables and constants (numpy's meaning)."""

    __array_priority__ = 1000  # numpy defers to our operators: ndarray + var builds a graph

    # arithmetic
    def __add__(self, other): return _at().add(self, other)
    def __radd__(self, other): return _at().add(other, self)
    def __sub__(self, other): return _at().sub(self, other)
    def __rsub__(self, other): return _at().sub(other, self)
    def __mul__(self, other): return _at().mul(self, other)
    def __rmul__(self, other): return _at().mul(other, self)
    def __truediv__(self, other): return _at().true_div(self, other)
    def __rtruediv__(self, other): return _at().true_div(other, self)
    def __floordiv__(self, other): return _at().floor_div(self, other)
    def __rfloordiv__(self, other): return _at().floor_div(other, self)
    def __mod__(self, other): return _at().mod(self, other)
    def __rmod__(self, other): return _at().mod(other, self)
    def __pow__(self, other): return _at().pow(self, other)
    def __rpow__(self, other): return _at().pow(other, self)
    def __neg__(self): return _at().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _at().abs(self)
    def __invert__(self): return _at().invert(self)
    def __and__(self, other): return _at().and_(self, other)
    def __rand__(self, other): return _at().and_(other, self)
    def __or__(self, other): return _at().or_(self, other)
    def __ror__(self, other): return _at().or_(other, self)
    def __xor__(self, other): return _at().xor(self, other)
    def __rxor__(self, other): return _at().xor(other, self)
    def __matmul__(self, other): return _at().matmul(self, other)
    def __rmatmul__(self, other): return _at().matmul(other, self)

    # comparisons build graphs (like Theano); == and != stay identity so variables work in dicts
    def __lt__(self, other): return _at().lt(self, other)
    def __le__(self, other): return _at().le(self, other)
    def __gt__(self, other): return _at().gt(self, other)
    def __ge__(self, other): return _at().ge(self, other)

    def __bool__(self):
        raise TypeError(
            "a symbolic variable has no truth value; use at.switch/at.where for conditions, "
            "and at.eq/at.neq for element-wise equality"
        )

    def __len__(self):
        raise TypeError("a symbolic variable has no len(); use x.shape[0]")

    def __iter__(self):
        raise TypeError("a symbolic variable is not iterable; index it with x[i]")

    # shape and indexing
    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def shape(self):
        return _at().shape(self)

    @property
    def T(self):
        return _at().transpose(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _at().transpose(self, axes or None)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (tuple, list)):
            pattern = tuple(pattern[0])
        return _at().dimshuffle(self, pattern)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return _at().reshape(self, shape, ndim=ndim)

    def flatten(self, ndim: int = 1):
        return _at().flatten(self, ndim)

    def __getitem__(self, index):
        return _at().getitem(self, index)

    def astype(self, dtype):
        return _at().cast(self, dtype)

    def dot(self, other):
        return _at().dot(self, other)

    # reductions
    def sum(self, axis=None, keepdims=False, dtype=None): return _at().sum(self, axis, keepdims=keepdims, dtype=dtype)
    def prod(self, axis=None, keepdims=False, dtype=None): return _at().prod(self, axis, keepdims=keepdims, dtype=dtype)
    def mean(self, axis=None, keepdims=False): return _at().mean(self, axis, keepdims=keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return _at().var(self, axis, keepdims=keepdims, ddof=ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return _at().std(self, axis, keepdims=keepdims, ddof=ddof)
    def max(self, axis=None, keepdims=False): return _at().max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _at().min(self, axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return _at().argmax(self, axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _at().argmin(self, axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _at().all(self, axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _at().any(self, axis, keepdims=keepdims)

    # elementwise methods Theano users reach for
    def exp(self): return _at().exp(self)
    def log(self): return _at().log(self)
    def sqrt(self): return _at().sqrt(self)
    def clip(self, a_min, a_max): return _at().clip(self, a_min, a_max)
    def round(self): return _at().round(self)


class TensorVariable(TensorOps, Variable):
    """A symbolic array: a function input or the result of an op."""

    __hash__ = Variable.__hash__


class TensorConstant(TensorOps, Constant):
    """A constant array embedded in the graph."""

    __hash__ = Variable.__hash__
