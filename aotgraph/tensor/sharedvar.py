"""Shared variables: symbolic inputs with a persistent value that functions read and update."""

from __future__ import annotations

import numpy as np

from aotgraph.runtime.values import Container, filter_value
from aotgraph.tensor.type import TensorType, normalize_dtype
from aotgraph.tensor.variable import TensorVariable


class SharedVariable(TensorVariable):
    """A variable whose value lives in a one-slot container shared by every function using it."""

    def __init__(self, type: TensorType, value: np.ndarray, name=None, strict=False, allow_downcast=None):
        super().__init__(type, None, None, name)
        self.container = Container(value, name, type.dtype, type.shape, strict, allow_downcast)
        self._default_update = None

    @property
    def default_update(self):
        """An expression every function using this variable commits as its update, unless the function
        updates it itself or excludes it with no_default_updates; None for no default. `del` removes it."""
        return self._default_update

    @default_update.setter
    def default_update(self, expr) -> None:
        self._default_update = expr

    @default_update.deleter
    def default_update(self) -> None:
        self._default_update = None

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value; a copy unless `borrow=True` (then later calls may change it in place)."""
        value = self.container.value
        return value if borrow else value.copy()

    def set_value(self, value, borrow: bool = False) -> None:
        """Replace the value (checked like an input of this type); copied unless `borrow=True`."""
        self.container.set(value, copy=not borrow)

    @property
    def value(self):
        return self.get_value()

    def clone(self) -> SharedVariable:
        """A new variable over the same container (Theano's clone shares the storage)."""
        new = SharedVariable.__new__(SharedVariable)
        TensorVariable.__init__(new, self.type, None, None, self.name)
        new.container = self.container
        new.default_update = self.default_update
        return new

    def __repr__(self) -> str:
        return self.name if self.name is not None else f"<shared {self.type}>"


def shared(value, name: str | None = None, strict: bool = False, allow_downcast: bool | None = None,
           borrow: bool = False, shape=None) -> SharedVariable:
    """A shared variable initialised with `value` (copied unless `borrow=True`).

    strict/allow_downcast govern later `set_value` calls. The dims are not
    broadcastable unless `shape` says so (e.g. shape=(1, None)), so later values may
    have any size.
    """
    if isinstance(value, TensorVariable):
        raise TypeError("shared() takes a value (number or array), not a symbolic variable")
    data = value if isinstance(value, np.ndarray) else np.asarray(value)
    if data.dtype == object or data.dtype.kind in "USVMm":
        raise TypeError(f"shared() needs numbers or a numeric array, got {type(value).__name__}")
    dtype = normalize_dtype(data.dtype)
    type_ = TensorType(dtype, shape if shape is not None else (None,) * data.ndim)
    data = filter_value(data, dtype, type_.shape, what=f"shared value {name!r}")
    if not borrow:
        data = np.array(data, copy=True)
    return SharedVariable(type_, data, name, strict, allow_downcast)
