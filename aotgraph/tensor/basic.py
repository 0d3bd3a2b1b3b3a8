"""Variable constructors (dscalar, fmatrix, tensor, ...) and conversion of Python values to graph nodes."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from aotgraph.configparser import config
from aotgraph.graph.basic import Apply, Op, Variable
from aotgraph.graph.rules import make_node
from aotgraph.tensor.type import TensorType, normalize_dtype
from aotgraph.tensor.variable import TensorConstant, TensorVariable


def tensor(dtype="floatX", shape: Sequence[int | None] = (), name: str | None = None, broadcastable=None):
    """A symbolic input of `dtype` whose static shape is `shape` (None: any size; 1: broadcastable)."""
    if broadcastable is not None:
        shape = tuple(1 if b else None for b in broadcastable)
    return TensorVariable(TensorType(dtype, shape), name=name)


def _maker(dtype: str | None, shape: tuple, doc: str):
    def make(name: str | None = None, dtype: str | None = dtype):
        return tensor(dtype or "floatX", shape, name=name)

    make.__doc__ = doc
    return make


def _plural(single):
    def make(*names):
        """Theano's rule: an int n gives n unnamed variables; one string gives a variable per character
        ('xy' -> x, y; 'x' alone -> the bare variable, not a list); several strings a variable per string.
        Ours too: a string with commas is split at the commas ('x, y' -> x, y)."""
        if len(names) == 1 and isinstance(names[0], int) and not isinstance(names[0], bool):
            return [single() for _ in range(names[0])]
        if len(names) == 1 and isinstance(names[0], str):
            text = names[0]
            if "," in text:
                return [single(n.strip()) for n in text.split(",")]
            return single(text) if len(text) == 1 else [single(c) for c in text]
        for n in names:
            if not isinstance(n, str):
                raise TypeError(f"{single.__name__}s() takes a count or names (strings), got {n!r:.60}")
        return [single(n) for n in names]

    make.__doc__ = (f"Several variables like `{single.__name__}(name)` at once: give their names (`'x, y'` or "
                    "`'x', 'y'`) or how many unnamed ones (an int); returns a list.")
    return make


# Theano's kinds: static shapes (a row is a 1 x n matrix, a col an n x 1 one)
_RANKS = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None), "col": (None, 1),
          **{f"tensor{n}": (None,) * n for n in range(3, 8)}}
_PREFIX = {"d": "float64", "f": "float32", "i": "int32", "l": "int64", "b": "int8", "w": "int16", "c": None}

_constructors = {}
for _kind, _shape in _RANKS.items():
    _constructors[_kind] = _maker(None, _shape, f"A floatX {_kind}.")
    for _p, _dt in _PREFIX.items():
        if _dt is not None:
            _constructors[_p + _kind] = _maker(_dt, _shape, f"A {_dt} {_kind}.")
for _name, _fn in list(_constructors.items()):
    _fn.__name__ = _name
    _plural_name = _name[:-1] + "ces" if _name.endswith("x") else _name + "s"
    _constructors[_plural_name] = _plural(_fn)
    _constructors[_plural_name].__name__ = _plural_name
globals().update(_constructors)
__all__ = ["tensor", "constant", "as_tensor_variable", "as_tensor", *_constructors]


def constant(value, dtype=None, name: str | None = None) -> TensorConstant:
    """A constant node holding a copy of `value` (numpy's dtype for it unless `dtype` is given)."""
    if isinstance(value, Variable):
        raise TypeError(f"constant() takes a value, not a symbolic variable ({value!r})")
    data = np.array(value, dtype=None if dtype is None else normalize_dtype(dtype))
    if data.dtype == object or data.dtype.kind in "USV":
        raise TypeError(f"cannot make a tensor constant from {type(value).__name__} {value!r}")
    if dtype is None and data.dtype.name not in ("bool",) and data.dtype.kind == "f" and isinstance(value, float):
        data = data.astype(config.floatX)
    data.setflags(write=False)
    return TensorConstant(TensorType(data.dtype, data.shape if data.ndim else ()), data, name=name)


def as_tensor_variable(x, name: str | None = None, ndim: int | None = None) -> TensorVariable:
    """`x` itself if it is a tensor variable, else a constant made from it."""
    if isinstance(x, Apply):
        if len(x.outputs) != 1:
            raise TypeError(f"{x.op!r} has several outputs; pick one")
        x = x.outputs[0]
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(f"expected a tensor variable, got {x!r} of type {x.type}")
        result = x
    elif isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten(x)):
        result = _stack([as_tensor_variable(e) for e in x])
    else:
        result = constant(x, name=name)
    if ndim is not None and result.ndim != ndim:
        raise TypeError(f"expected a {ndim}-d tensor, got {result!r} of type {result.type}")
    return result


as_tensor = as_tensor_variable


def _stack(parts: list[TensorVariable]) -> TensorVariable:
    """numpy's array([a, b, ...]) of symbolic parts: join(0) of each part given a leading axis (ops by name,
    registered in shape_ops, so that this module stays below it)."""
    return apply(Op("join", axis=0), *[apply(Op("dimshuffle", pattern=("x", *range(p.ndim))), p) for p in parts])


def _flatten(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flatten(e)
        else:
            yield e


def is_python_scalar(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, np.generic)


def weak_result_type(dtypes, scalars) -> np.dtype:
    """NEP 50's result type of `dtypes` next to the Python numbers `scalars`, on any numpy: a Python number's
    kind counts, never its value. numpy < 2 promotes by value (int8 + 1000 -> int16, float32 + 1e300 ->
    float64); a zero of the same Python type gets the same answer from both rules."""
    zeros = [False if isinstance(x, bool) else 0 if isinstance(x, int) else 0.0 if isinstance(x, float) else 0j
             for x in scalars]
    return np.result_type(*dtypes, *zeros)


def python_scalar_array(x, dtype, what: str) -> np.ndarray:
    """np.array(x, dtype) for a Python number `x`: an int out of dtype's range raises OverflowError on any numpy
    (numpy 2 raises it itself; numpy < 2 wraps the value around with a DeprecationWarning)."""
    if isinstance(x, int) and not isinstance(x, bool) and dtype is not None and np.dtype(dtype).kind in "iu":
        bounds = np.iinfo(dtype)
        if not bounds.min <= x <= bounds.max:
            raise OverflowError(f"{what}: Python integer {x} is out of bounds for {np.dtype(dtype).name}")
    return np.array(x, dtype=dtype)


def apply(op: Op, *inputs) -> TensorVariable | list[TensorVariable]:
    """Build a node of `op` over `inputs` (converted to tensors); one output bare, several as a list."""
    node = make_node(op, [as_tensor_variable(i) for i in inputs])
    return node.outputs[0] if len(node.outputs) == 1 else node.outputs


def type_error(op_name: str, message: str, *types) -> TypeError:
    """A graph-construction error naming the op and its operands' types."""
    listed = ", ".join(str(t) for t in types)
    return TypeError(f"{op_name}: {message} (operand types: {listed})")
