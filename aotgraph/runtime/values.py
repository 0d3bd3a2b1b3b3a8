"""Value containers and input conversion (numpy only: copied into every generated module)."""

from __future__ import annotations

import threading

import numpy as np

# Calls that read or update state hold this lock from reading shared values to committing updates, and
# Container.set takes it too, so concurrent calls and set_value behave as if serialized and nobody sees
# half of a call's updates. Calls without shared state never take it. One lock per runtime copy: each
# built module has its own containers.
STATE_LOCK = threading.RLock()


class Container:
    """One slot holding a numpy value: a shared variable's storage or an input's default.

    The type facts (dtype, static shape, strict, allow_downcast) say what
    `set` accepts, so a container checks values the same way an input does.
    """

    __slots__ = ("value", "name", "dtype", "shape", "strict", "allow_downcast")

    def __init__(self, value, name, dtype, shape, strict=False, allow_downcast=None):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.shape = static_shape(shape)
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.value = value

    def set(self, value, copy: bool = True) -> None:
        """Store `value` after the checks an input of this type gets; copies unless `copy` is False."""
        converted = filter_value(
            value, self.dtype, self.shape, self.strict, self.allow_downcast, f"value for {self.name!r}"
        )
        # Python numbers and lists always convert into a new array, and so does an ndarray of another dtype;
        # anything else (an ndarray, a memoryview, an object with __array__) may still share the caller's memory
        fresh = isinstance(value, (int, float, complex, list, tuple)) or (
            isinstance(value, np.ndarray) and converted is not value)
        if copy and not fresh:
            converted = np.array(converted, copy=True)
        with STATE_LOCK:
            self.value = converted

    def __repr__(self) -> str:
        return f"<Container {self.name!r}: {self.value!r}>"


def static_shape(spec) -> tuple:
    """A static shape: None for any size, an int for a fixed one (a broadcastable flag True means 1)."""
    return tuple(None if s is None or s is False else 1 if s is True else int(s) for s in spec)


def filter_value(value, dtype, shape, strict=False, allow_downcast=None, what="input", floatX="float64"):
    """`value` as an ndarray of `dtype` whose shape fits the static `shape`, following Theano's casting rules.

    strict: only an ndarray of exactly `dtype` is accepted.
    allow_downcast True: any cast; False: only casts that lose nothing; None: like
    False but a Python float may become floatX.
    Raises TypeError naming `what` and both dtypes; returns `value` itself when no
    conversion is needed.
    """
    dtype = np.dtype(dtype)
    if isinstance(value, np.ndarray) and value.dtype == dtype:
        data = value
    elif strict:
        got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise TypeError(f"{what} is strict: it needs a numpy.ndarray of dtype {dtype}, got {got}")
    else:
        data = _convert(value, dtype, allow_downcast, what, floatX)
    if data.ndim != len(shape):
        raise TypeError(
            f"{what}: wrong number of dimensions: expected {len(shape)}, got {data.ndim} with shape {data.shape}"
        )
    for axis, (fixed, size) in enumerate(zip(shape, data.shape)):
        if fixed is not None and size != fixed:
            kind = "declared broadcastable (size 1)" if fixed == 1 else f"declared of size {fixed}"
            raise TypeError(f"{what}: axis {axis} is {kind}, got shape {data.shape}")
    return data


def _convert(value, dtype, allow_downcast, what, floatX):
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{what} must be a number or an array of {dtype}, got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        source = value
    else:
        try:
            source = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise TypeError(f"{what} cannot be converted to an array of {dtype}: {err}") from None
        if source.dtype == object or source.dtype.kind in "USVMm":
            raise TypeError(f"{what} must be numbers of dtype {dtype}, got {type(value).__name__} {value!r:.80}")
    if source.dtype == dtype:
        return source
    if allow_downcast:
        return source.astype(dtype)
    if np.can_cast(source.dtype, dtype, "safe"):
        return source.astype(dtype)
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"{what}: an array of dtype {source.dtype} cannot become {dtype} without risking loss of precision; "
            f"cast it to {dtype} yourself or pass allow_input_downcast=True"
        )
    if allow_downcast is None and type(value) is float and dtype.name == floatX:
        return source.astype(dtype)
    with np.errstate(all="ignore"):
        converted = source.astype(dtype)
        same = converted.shape == source.shape and bool(np.all((converted == source) | (source != source)))
    if not same:
        raise TypeError(
            f"{what}: the value {value!r:.80} ({source.dtype}) cannot be stored as {dtype} without loss of "
            f"precision; cast it to {dtype} yourself or pass allow_input_downcast=True"
        )
    return converted
