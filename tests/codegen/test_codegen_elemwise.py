"""Compiled elementwise ops against the reference backend: every op, every dtype, mixed dtypes, layouts.

Every function below is compiled in process into as few modules as fit ~2 MB of C each (compiling costs
seconds per module: tests/buildbatches.py); each test then calls the compiled function and the same function
under FAST_COMPILE and compares: exactly for
bools, integers, comparisons and min/max, within a few ULPs for floats.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from buildbatches import in_process
from cgcases import DTYPES, assert_same, values
from opspecs import SPECS

import aotgraph as ag
import aotgraph.tensor as at

# from tests/opspecs.py: unary ops exact in every dtype, unary float functions, binary ops (pow has its own inputs)
UNARY_EXACT = [s.name for s in SPECS if s.arity == 1 and not s.float_function]
UNARY_FLOAT = [s.name for s in SPECS if s.arity == 1 and s.float_function]
BINARY = [s.name for s in SPECS if s.arity == 2 and s.name != "pow"]
# every pair of distinct dtypes: the ops where promotion or numpy's special loops matter most (the slow test
# test_binary_exhaustive runs every binary op on every pair)
MIXED = ["add", "true_div", "floor_div", "maximum", "lt", "eq"]
HALF = ("bool", "int8", "uint8")  # numpy computes float functions of these in float16


def _try(op_name, *args):
    """The op applied to args, or None when numpy's dtype rules refuse these dtypes."""
    try:
        return getattr(at, op_name)(*args)
    except TypeError:
        return None


def _function(name, inputs, pairs):
    """A FAST_COMPILE function with one output per (label, expression); returns (function, labels)."""
    pairs = [(label, expr) for label, expr in pairs if expr is not None]
    f = ag.function(inputs, [expr for _, expr in pairs], mode="FAST_COMPILE", name=name, on_unused_input="ignore")
    return f, [label for label, _ in pairs]


def _binary_case(d1, d2, ops):
    x, y, p = at.tensor(d1, (None,)), at.tensor(d2, (None,)), at.tensor(d2, (None,))
    pairs = [(op, _try(op, x, y)) for op in ops] + [("pow", _try("pow", x, p))]
    f, labels = _function(f"bin_{d1}_{d2}", [x, y, p], pairs)
    exponent = values(d2, seed=5, small=True)
    if np.dtype(d2).kind in "iub":
        exponent = np.abs(exponent.astype(np.int64)).astype(d2)
    rtol = {"pow": 3e-3, "true_div": 3e-3} if {d1, d2} <= set(HALF) else {}
    return f, labels, [values(d1, seed=3), values(d2, seed=4), exponent], rtol


def _cases():
    """name -> (function, output labels, argument values, rtol override per label)."""
    cases = {}
    for d in DTYPES:
        x, xs = at.tensor(d, (None,), name="x"), at.tensor(d, (None,), name="xs")
        float_ops = [op for op in UNARY_FLOAT if not (op == "sigmoid" and d.startswith("uint"))]  # see below
        pairs = [(op, _try(op, x)) for op in UNARY_EXACT] + [(op, _try(op, xs)) for op in float_ops]
        f, labels = _function(f"unary_{d}", [x, xs], pairs)
        rtol = {op: 3e-3 for op in UNARY_FLOAT} if d in HALF else {}
        cases[f"unary_{d}"] = (f, labels, [values(d, seed=1), values(d, seed=2, small=True)], rtol)
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        cases[f"bin_{d1}_{d2}"] = _binary_case(d1, d2, BINARY if d1 == d2 else MIXED)
    for d in DTYPES:
        x = at.tensor(d, (None,))
        f, labels = _function(f"cast_{d}", [x], [(t, at.cast(x, t)) for t in DTYPES if t != d])
        v = values(d, seed=6)
        if np.dtype(d).kind == "f":  # float -> int of NaN, inf or out of range is undefined in C and numpy
            v = np.random.default_rng(6).uniform(0, 100, 64).astype(d)
        cases[f"cast_{d}"] = (f, labels, [v], {})
    for d in ("float32", "float64"):
        x = at.tensor(d, (None,))
        f, labels = _function(f"cast_signed_{d}", [x], [(t, at.cast(x, t)) for t in ("int8", "int16", "int32",
                                                                                   "int64", "bool")])
        v = np.concatenate([np.random.default_rng(7).uniform(-100, 100, 60), [0.25, -0.0, 0.0, -0.5]]).astype(d)
        cases[f"cast_signed_{d}"] = (f, labels, [v], {})
    for c, a, b in [("bool", "float32", "int16"), ("int8", "uint64", "int64"), ("float64", "bool", "bool"),
                    ("uint8", "float64", "float64")]:
        vc, va, vb = at.tensor(c, (None,)), at.tensor(a, (None,)), at.tensor(b, (None,))
        f, labels = _function(f"switch_{c}_{a}_{b}", [vc, va, vb], [("switch", at.switch(vc, va, vb))])
        cases[f"switch_{c}_{a}_{b}"] = (f, labels, [values(c, seed=8), values(a, seed=9), values(b, seed=10)], {})
    for a, lo, hi in [("float64", "float64", "float64"), ("int32", "int8", "int16"), ("uint8", "uint8", "uint8"),
                      ("float32", "float32", "float32"), ("bool", "bool", "bool"), ("int64", "uint64", "int64")]:
        va, vl, vh = at.tensor(a, (None,)), at.tensor(lo, (None,)), at.tensor(hi, (None,))
        pairs = [("clip", _try("clip", va, vl, vh))]
        f, labels = _function(f"clip_{a}_{lo}_{hi}", [va, vl, vh], pairs)
        cases[f"clip_{a}_{lo}_{hi}"] = (f, labels, [values(a, seed=11), values(lo, seed=12), values(hi, seed=13)], {})
    for a, b in [("int8", "float32"), ("float64", "bool"), ("uint16", "int64")]:
        va, vb = at.tensor(a, (None, None)), at.tensor(b, (1, None))
        f, labels = _function(f"second_{a}_{b}", [va, vb], [("second", at.second(va, vb))])
        args = [values(a, n=12, seed=14).reshape(3, 4), values(b, n=4, seed=15).reshape(1, 4)]
        cases[f"second_{a}_{b}"] = (f, labels, args, {})
    return cases


def _layout_cases():
    """Functions whose arguments the layout tests slice, transpose and broadcast."""
    cases = {}
    for d in ("float64", "int32", "uint8", "bool"):
        x = at.tensor(d, (None, None), name="x")
        row = at.tensor(d, (1, None), name="row")
        vec = at.tensor(d, (None,), name="vec")
        s = at.tensor(d, (), name="s")
        pairs = [("x+row", x + row), ("x*vec", x * vec), ("max(x,s)", at.maximum(x, s)), ("x<vec", at.lt(x, vec)),
                 ("fused", at.maximum(x * 2 + vec, row) - s)]
        f, labels = _function(f"layout_{d}", [x, row, vec, s], pairs)
        cases[f"layout_{d}"] = (f, labels)
    x = at.tensor("uint8", (None,))
    cases["sigmoid_uint8"] = (ag.function([x], at.sigmoid(x), mode="FAST_COMPILE", name="s"), ["sigmoid"])
    x3 = at.tensor("float64", (None, None, None), name="x3")
    y3 = at.tensor("float64", (None, 1, None), name="y3")
    f, labels = _function("layout3", [x3, y3], [("x3*y3", x3 * y3), ("exp", at.exp(x3) + 1)])
    cases["layout3"] = (f, labels)
    return cases


CASES = _cases()
LAYOUT = _layout_cases()


@pytest.fixture(scope="module")
def mod():
    """Every case's function compiled (FAST_RUN kernels, built in process in modules of <= ~2 MB of C)."""
    return in_process({name: case[0] for name, case in {**CASES, **LAYOUT}.items()}, "cg_elemwise")


@pytest.mark.slow
def test_binary_exhaustive():
    """Every binary op on every pair of dtypes numpy accepts (~1500 loops), in modules of <= ~2 MB of C each:
    one module of them all was 25 MB of C, which gcc took over 10 minutes on."""
    cases = {f"bin_{d1}_{d2}": _binary_case(d1, d2, BINARY) for d1, d2 in itertools.product(DTYPES, DTYPES)}
    built = in_process({name: case[0] for name, case in cases.items()}, "cg_exhaustive")
    for name, (f, labels, args, rtol) in cases.items():
        _check(built, name, f, labels, args, rtol)


def _check(mod, name, f, labels, args, rtol=None):
    got = getattr(mod, name)(*args)
    expected = f(*args)
    assert len(got) == len(expected) == len(labels)
    for label, g, e in zip(labels, got, expected):
        dtypes = "/".join(np.asarray(a).dtype.name for a in args)
        assert_same(g, e, f"{name}: {label} on {dtypes}", (rtol or {}).get(label))


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("unary_")])
def test_unary(mod, name):
    f, labels, args, rtol = CASES[name]
    _check(mod, name, f, labels, args, rtol)


@pytest.mark.parametrize("d1", DTYPES)
def test_binary(mod, d1):
    for d2 in DTYPES:
        name = f"bin_{d1}_{d2}"
        f, labels, args, rtol = CASES[name]
        _check(mod, name, f, labels, args, rtol)


@pytest.mark.parametrize("name", [n for n in CASES if n.split("_")[0] in ("cast", "switch", "clip", "second")])
def test_cast_switch_clip(mod, name):
    f, labels, args, rtol = CASES[name]
    _check(mod, name, f, labels, args, rtol)


def test_every_op_is_covered():
    from aotgraph.codegen.scalar import scalar_rules

    covered = set(UNARY_EXACT) | set(UNARY_FLOAT) | set(BINARY) | {"pow", "cast", "switch", "clip", "second"}
    assert covered == set(scalar_rules())


def test_sigmoid_of_unsigned(mod):
    """The reference computes exp(-abs(x)) in the unsigned dtype, where -x wraps (sigmoid(1) = 0 for
    uint8): a bug of the reference, not followed by the compiled code, which gives 1 / (1 + exp(-x))."""
    x = at.tensor("uint8", (None,))
    compiled = ag.function([x], at.sigmoid(x), mode="FAST_COMPILE")
    v = np.arange(10, dtype="uint8")
    expected = (1 / (1 + np.exp(-v.astype("float64")))).astype("float32")
    assert compiled(v).dtype == np.float32
    np.testing.assert_allclose(mod.sigmoid_uint8(v), expected, rtol=1e-6)


def test_integer_power_with_negative_exponent_raises(mod):
    f, labels, args, _ = CASES["bin_int32_int32"]
    x, y, p = args
    p = p.copy()
    p[3] = -1
    with pytest.raises(ValueError, match="negative integer powers"):
        f(x, y, p)
    with pytest.raises(ValueError, match="negative integer powers"):
        mod.bin_int32_int32(x, y, p)


def _layouts(d):
    base = values(d, n=6 * 10, seed=21).reshape(6, 10)
    vec = values(d, n=20, seed=22)
    row = values(d, n=10, seed=23).reshape(1, 10)
    s = values(d, n=1, seed=24).reshape(())
    yield "contiguous", (base, row, vec[:10], s)
    yield "negative strides", (base[::-1, ::-1], row[:, ::-1], vec[::-2], s)
    yield "steps", (values(d, n=12 * 20, seed=25).reshape(12, 20)[::2, ::2], row, vec[:10], s)
    yield "transposed", (values(d, n=60, seed=26).reshape(10, 6).T, row, vec[::2], s)
    yield "broadcast views", (np.broadcast_to(vec[:10], (6, 10)), row, np.broadcast_to(s, (10,)), s)
    yield "size 0 rows", (base[:0], row, vec[:10], s)
    yield "size 0 cols", (base[:, :0], row[:, :0], vec[:0], s)


@pytest.mark.parametrize("d", ["float64", "int32", "uint8", "bool"])
def test_layouts(mod, d):
    f, labels = LAYOUT[f"layout_{d}"]
    for what, args in _layouts(d):
        for label, g, e in zip(labels, getattr(mod, f"layout_{d}")(*args), f(*args)):
            assert_same(g, e, f"layout_{d} {label} with {what}")


def test_layout_rank3(mod):
    f, labels = LAYOUT["layout3"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 6))
    y = rng.standard_normal((4, 1, 6))
    for what, args in [("contiguous", (x, y)), ("reversed", (x[::-1, :, ::-1], y[:, :, ::-1])),
                       ("transposed", (np.ascontiguousarray(x.transpose(2, 1, 0)).transpose(2, 1, 0), y)),
                       ("empty", (x[:, :0], y)), ("fortran", (np.asfortranarray(x), np.asfortranarray(y)))]:
        for label, g, e in zip(labels, mod.layout3(*args), f(*args)):
            assert_same(g, e, f"layout3 {label} with {what}")


def test_undeclared_broadcast_is_refused_like_the_reference(mod):
    f, _ = LAYOUT["layout_float64"]
    args = (np.zeros((6, 1)), np.zeros((1, 10)), np.zeros(10), 1.0)
    with pytest.raises(ValueError, match="broadcastable"):
        f(*args)
    with pytest.raises(ValueError, match="broadcastable"):
        mod.layout_float64(*args)
    ok = (np.zeros((6, 1)), np.zeros((1, 1)), np.zeros(1), 1.0)  # size 1 everywhere: nothing broadcasts
    for label, g, e in zip(LAYOUT["layout_float64"][1], mod.layout_float64(*ok), f(*ok)):
        assert_same(g, e, label)


def test_broadcast_error_names_the_op(mod):
    f, _ = LAYOUT["layout_float64"]
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="broadcast") as compiled:
        mod.layout_float64(x, np.zeros((1, 4)), np.zeros(5), 1.0)
    assert "while computing" in str(compiled.value) and __file__ in str(compiled.value)
