"""Tensor variables and constants: symbolic arrays typed by a TensorType."""

from __future__ import annotations

from aotgraph.graph.basic import Constant, Variable


class TensorOps:
    """What tensor variables and constants share: their type's facts, and the operators and methods
    (x + y, x.sum(), x[i], ...) that `aotgraph.tensor.methods`, the top of the tensor package, installs
    here, so that this module depends on no op."""

    __array_priority__ = 1000  # numpy defers to our operators: ndarray + var builds a graph

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable


class TensorVariable(TensorOps, Variable):
    """A symbolic array: a function input or the result of an op."""

    __hash__ = Variable.__hash__


class TensorConstant(TensorOps, Constant):
    """A constant array embedded in the graph."""

    __hash__ = Variable.__hash__
