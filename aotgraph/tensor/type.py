"""TensorType: a dtype and a static shape (None = any size; 1 = broadcastable)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aotgraph.configparser import config
from aotgraph.graph.basic import Type
from aotgraph.tensor.variable import TensorVariable

DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
)
_SHORT = {
    "bool": "b1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8",
    "uint16": "u16", "uint32": "u32", "uint64": "u64", "float32": "f32", "float64": "f64",
}


def normalize_dtype(dtype) -> str:
    """Canonical dtype name; refuses dtypes aotgraph does not support."""
    if dtype == "floatX":
        dtype = config.floatX
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"dtype {name!r} is not supported; use one of {', '.join(DTYPES)}")
    return name


def _is_bool(s) -> bool:
    return isinstance(s, (bool, np.bool_))


class TensorType(Type):
    """An n-dimensional array type. Immutable and hashable."""

    __slots__ = ("dtype", "shape", "_hash")

    def __init__(self, dtype, shape: Sequence[int | None] = ()):
        """shape: per axis None (any size) or a size; a bool is Theano's broadcastable flag (True: 1, False:
        any size), so `TensorType('float64', (False, True))` means what it means in Theano."""
        shape = tuple(None if s is None or _is_bool(s) and not s else 1 if _is_bool(s) else int(s) for s in shape)
        if any(s is not None and s < 0 for s in shape):
            raise ValueError(f"static shape entries must be None or >= 0, got {shape}")
        object.__setattr__(self, "dtype", normalize_dtype(dtype))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_hash", hash((self.dtype, shape)))

    def __setattr__(self, key, value):
        raise AttributeError("TensorType is immutable")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(s == 1 for s in self.shape)

    def clone(self, dtype=None, shape=None) -> TensorType:
        return TensorType(self.dtype if dtype is None else dtype, self.shape if shape is None else shape)

    def is_super(self, other: TensorType) -> bool:
        """True when every value of `other` is also a value of this type."""
        return (
            self.dtype == other.dtype
            and self.ndim == other.ndim
            and all(s is None or s == o for s, o in zip(self.shape, other.shape))
        )

    def make_variable(self, owner=None, index=None, name=None):
        return TensorVariable(self, owner, index, name)

    def __call__(self, name: str | None = None) -> TensorVariable:
        """A new input of this type (Theano's `T.TensorType('float64', (False, True))('x')`)."""
        return self.make_variable(name=name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorType) and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        dims = ", ".join("?" if s is None else str(s) for s in self.shape)
        return f"Tensor{{{_SHORT[self.dtype]}, ({dims}{',' if self.ndim == 1 else ''})}}"

    __str__ = __repr__

    def __reduce__(self):
        return (TensorType, (self.dtype, self.shape))
