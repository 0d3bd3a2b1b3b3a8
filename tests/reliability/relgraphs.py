"""Random expression graphs for the differential test: hypothesis strategies for specs, and their builders.

A spec is plain data (tuples of names and numbers), so a failing graph prints as something that can
be pasted into `build_graph` to reproduce it. Building is forgiving: an instruction whose operands do
not fit the op (a TypeError from the DSL, as a user would get) is skipped, so every drawn spec gives a
graph. Runtime values follow the spec too: each input of rank r takes the trailing r sizes of the
spec's base shape (size 1 on its declared-broadcastable axes), has values drawn per dtype and a memory
layout (C, Fortran, strided, negative strides, broadcast with zero strides).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import aotgraph as ag
import aotgraph.tensor as at

DTYPES = ("float64", "float64", "float32", "int64", "int32", "int8", "uint8", "bool")
SIZES = (2, 3, 1, 0, 4, 5)  # shrinks towards 2
LAYOUTS = ("C", "F", "strided", "reversed", "broadcast")

UNARY = ("neg", "abs", "sqr", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "arctan", "sigmoid",
         "softplus", "erf", "sign", "floor", "ceil", "round", "relu", "invert")
BINARY = ("add", "sub", "mul", "true_div", "floor_div", "mod", "pow", "maximum", "minimum", "eq", "neq", "lt", "le",
          "gt", "ge", "and_", "or_", "xor")
TERNARY = ("switch", "clip")
REDUCE = ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean")
AXES = (None, 0, -1, (0, 1))
PYTHON_SCALARS = (2, -1, 0.5, 3.0, True, 0, 1, 1.0, 0.0)
CASTS = ("float64", "float32", "int32", "int8", "uint8", "bool")
INDICES = (
    (slice(None, None, -1),),
    (slice(1, None),),
    (slice(None, None, 2),),
    (0,),
    (-1,),
    (Ellipsis, slice(None, -1)),
    (slice(None), None),
)


@dataclass(frozen=True)
class GraphSpec:
    """Base shape, inputs as (dtype, ndim, broadcastable mask, layout, special values?), instructions, outputs."""

    base: tuple
    inputs: tuple
    program: tuple
    outputs: tuple  # negative indices into the list of values (-1: the last one computed)


# ---- strategies ---------------------------------------------------------------------------------------
def _input():
    return st.tuples(
        st.sampled_from(DTYPES),
        st.integers(0, 3),
        st.tuples(st.booleans(), st.booleans(), st.booleans()).map(lambda b: b if any(b) else (False,) * 3),
        st.sampled_from(LAYOUTS),
        st.booleans(),
    )


def _instruction():
    operand = st.integers(1, 6)  # k: the k-th most recent value (inputs included), so instructions chain
    kinds = {
        "unary": st.tuples(st.sampled_from(UNARY), operand),
        "binary": st.tuples(st.sampled_from(BINARY), operand, operand),
        "scalar": st.tuples(st.sampled_from(BINARY[:9]), operand, st.sampled_from(PYTHON_SCALARS), st.booleans()),
        "ternary": st.tuples(st.sampled_from(TERNARY), operand, operand, operand),
        "reduce": st.tuples(st.sampled_from(REDUCE), operand, st.sampled_from(AXES), st.booleans()),
        "dot": st.tuples(operand, operand),
        "transpose": st.tuples(operand),
        "dimshuffle": st.tuples(operand, st.permutations(range(3)), st.booleans()),
        "index": st.tuples(operand, st.sampled_from(range(len(INDICES)))),
        "softmax": st.tuples(st.sampled_from(("softmax", "log_softmax")), operand),
        "cast": st.tuples(operand, st.sampled_from(CASTS)),
        "flatten": st.tuples(operand),
        "subtensor_update": st.tuples(st.sampled_from(("set_subtensor", "inc_subtensor")), operand, operand,
                                      st.sampled_from(range(len(INDICES)))),
        "concatenate": st.tuples(operand, operand, st.sampled_from((0, -1))),
        "outer": st.tuples(operand, operand),
    }
    # elementwise ops (the compiled loops) three times as often as the others
    weighted = [k for k in kinds for _ in range(3 if k in ("unary", "binary", "scalar", "ternary") else 1)]
    return st.sampled_from(weighted).flatmap(lambda kind: kinds[kind].map(lambda args: (kind, *args)))


@st.composite
def graph_specs(draw) -> GraphSpec:
    base = tuple(draw(st.lists(st.sampled_from(SIZES), min_size=3, max_size=3)))
    inputs = tuple(draw(st.lists(_input(), min_size=1, max_size=3)))
    program = tuple(draw(st.lists(_instruction(), min_size=3, max_size=8)))
    outputs = (-1,) + tuple(draw(st.lists(st.integers(-4, -2), max_size=1)))
    return GraphSpec(base, inputs, program, outputs)


# ---- building ----------------------------------------------------------------------------------------
def _dimshuffle(x, perm, expand):
    pattern = [p for p in perm if p < x.ndim]
    return x.dimshuffle(*pattern, *(("x",) if expand else ()))


def _scalar(name, x, c, left):
    return getattr(at, name)(c, x) if left else getattr(at, name)(x, c)


# kind -> (which arguments are operands, how to build); operands are resolved before the call
BUILDERS = {
    "unary": ((1,), lambda name, x: getattr(at, name)(x)),
    "binary": ((1, 2), lambda name, x, y: getattr(at, name)(x, y)),
    "scalar": ((1,), _scalar),
    "ternary": ((1, 2, 3), lambda name, x, y, z: getattr(at, name)(x, y, z)),
    "reduce": ((1,), lambda name, x, axis, keepdims: getattr(at, name)(x, axis=axis, keepdims=keepdims)),
    "dot": ((0, 1), at.dot),
    "transpose": ((0,), lambda x: x.T),
    "dimshuffle": ((0,), _dimshuffle),
    "index": ((0,), lambda x, index: x[INDICES[index]]),
    "softmax": ((1,), lambda name, x: getattr(at, name)(x)),
    "cast": ((0,), at.cast),
    "flatten": ((0,), at.flatten),
    "subtensor_update": ((1, 2), lambda name, x, y, index: getattr(at, name)(x[INDICES[index]], y)),
    "concatenate": ((0, 1), lambda x, y, axis: at.concatenate([x, y], axis=axis)),
    "outer": ((0, 1), at.outer),
}


def _apply(kind: str, args: tuple, values: list):
    operands, make = BUILDERS[kind]
    resolved = [values[-1 - (a - 1) % len(values)] if k in operands else a for k, a in enumerate(args)]
    return make(*resolved)


def build_graph(spec: GraphSpec):
    """(input variables, output variables) of `spec`; instructions that do not type-check are skipped."""
    variables = []
    for k, (dtype, ndim, mask, _, _) in enumerate(spec.inputs):
        shape = tuple(1 if mask[3 - ndim + a] else None for a in range(ndim))
        variables.append(at.tensor(dtype, shape, name=f"in{k}"))
    values = list(variables)
    for instruction in spec.program:
        try:
            values.append(_apply(instruction[0], instruction[1:], values))
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    outputs = list(dict.fromkeys(values[k % len(values)] for k in spec.outputs))
    return variables, outputs


def compile_reference(spec: GraphSpec, name: str, mode: str = "FAST_COMPILE"):
    inputs, outputs = build_graph(spec)
    return ag.function(inputs, outputs, mode=mode, name=name, on_unused_input="ignore")


def build_module(specs: dict, module_name: str, out_dir: str) -> str:
    """Build {function name: spec} into one module with `ag.build` (run in a worker process: builds in
    threads of one process would take turns in Cython, and ag.build is not thread-safe on CPython 3.11)."""
    from aotgraph.codegen.aot import build

    build({name: compile_reference(spec, name) for name, spec in specs.items()}, module_name, out_dir)
    return module_name


# ---- values ------------------------------------------------------------------------------------------
def input_values(spec: GraphSpec, seed: int) -> list[np.ndarray]:
    """One array per input, in the layout the spec asks for (the values do not depend on the layout)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for dtype, ndim, mask, layout, specials in spec.inputs:
        shape = tuple(1 if mask[3 - ndim + a] else spec.base[3 - ndim + a] for a in range(ndim))
        arrays.append(with_layout(_numbers(rng, dtype, shape, specials), layout))
    return arrays


def _numbers(rng, dtype: str, shape: tuple, specials: bool) -> np.ndarray:
    kind = np.dtype(dtype).kind
    if kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if kind in "iu":
        info = np.iinfo(dtype)
        if specials:  # the whole range: overflow wraps the same way in both backends
            return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)
        return rng.integers(max(info.min, -6), 7, shape).astype(dtype)
    values = np.round(rng.uniform(-3, 3, shape), 2)
    if specials and values.size:
        flat = values.reshape(-1)
        picks = rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf], size=max(1, flat.size // 3))
        flat[rng.choice(flat.size, size=picks.size, replace=False)] = picks
    return values.astype(dtype)


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to `a` (to its first row repeated, for "broadcast") in memory layout `layout`."""
    if layout == "F" or a.ndim == 0:
        return np.asfortranarray(a) if a.ndim else a.copy()
    if layout == "strided":  # every other element of a bigger array along each axis
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "reversed":
        rev = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
        return rev[tuple(slice(None, None, -1) for _ in a.shape)]
    if layout == "broadcast":  # zero strides along axis 0, read-only: the first row repeated
        return np.broadcast_to(a[:1], a.shape)
    return a.copy()


# ---- comparing ---------------------------------------------------------------------------------------
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-4, atol=1e-6)}


def call(f, args):
    """("ok", outputs) or ("error", exception) of f(*args)."""
    try:
        return "ok", f(*args)
    except Exception as err:  # noqa: BLE001 - compared between backends
        return "error", err


def single_precision(function) -> bool:
    """Whether the graph of `function` computes anything in float32 (then float64 results derived from it
    are compared with float32's tolerance: libm and numpy's float32 functions may differ by an ulp)."""
    from aotgraph.graph.basic import toposort

    return any(v.type.dtype == "float32" for n in toposort(function._spec.results) for v in n.inputs + n.outputs)


def difference(compiled, reference, single: bool = False) -> str | None:
    """None when the two calls agree: same exception type, or same dtypes, shapes and values (floats close,
    NaN equal to NaN, infinities equal; with float32's tolerance if `single`); else what differs."""
    (kind_c, got), (kind_r, want) = compiled, reference
    if kind_c != kind_r:
        return f"compiled: {kind_c} {got!r:.300}; reference: {kind_r} {want!r:.300}"
    if kind_c == "error":
        return None if type(got) is type(want) else f"compiled raised {got!r:.300}, reference {want!r:.300}"
    for k, (g, w) in enumerate(zip(got, want)):
        if g.dtype != w.dtype or g.shape != w.shape:
            return f"output {k}: compiled {g.dtype}{g.shape}, reference {w.dtype}{w.shape}"
        if g.dtype.kind == "f":
            same_inf = np.array_equal(np.isinf(g) & (g > 0), np.isinf(w) & (w > 0)) and \
                np.array_equal(np.isinf(g) & (g < 0), np.isinf(w) & (w < 0))
            with np.errstate(all="ignore"):
                close = np.allclose(g, w, equal_nan=True, **TOLERANCE["float32" if single else g.dtype.name])
            if not (same_inf and close):
                return f"output {k}: compiled {g!r:.400}, reference {w!r:.400}"
        elif not np.array_equal(g, w):
            return f"output {k}: compiled {g!r:.400}, reference {w!r:.400}"
    return None
