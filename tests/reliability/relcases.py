"""The bad-input cases as data: which function, which arguments, and the result or the error expected.

numpy and the standard library only: a subprocess where aotgraph cannot be imported runs these same
cases against the built module (`run_all`). Each case is either `ok` (the result must equal numpy's,
the arguments must be left unchanged and no result may share memory with them) or `raises` (that
exception type, with a message containing the given words). The functions are in relfunctions.py.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def line_of(tag: str) -> str:
    """'relfunctions.py:<line>' of the line marked `# node: <tag>` (what error messages must name)."""
    for number, line in enumerate((HERE / "relfunctions.py").read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# node: {tag}"):
            return f"relfunctions.py:{number}"
    raise LookupError(tag)


@dataclass
class Case:
    id: str
    function: str
    args: Callable[[], tuple]
    expect: Callable[..., object] | None = None  # numpy's result from the (fresh) arguments
    raises: type | None = None
    words: tuple = ()  # words the error message must contain
    kwargs: Callable[[], dict] = field(default=dict)
    quiet: bool = True  # the call must not warn
    mutable: tuple = ()  # positions of arguments declared mutable=True: the call may overwrite them (in place)
    compiled_gap: str = ""  # a known shortfall of the compiled backend (see the xfail in test_bad_input.py)


CASES: list[Case] = []


def ok(id, function, args, expect, **kw):
    CASES.append(Case(id, function, args, expect=expect, **kw))


def raises(id, function, args, exc, *words, **kw):
    CASES.append(Case(id, function, args, raises=exc, words=words, **kw))


def _np(fn):
    """fn evaluated with numpy's floating-point warnings off (numpy's values, none of its noise)."""

    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)

    return run


def v(*values, dtype="float64"):
    return np.array(values, dtype=dtype)


ONES3 = v(1, 1, 1)
F8 = "float64"


def _unaligned(a: np.ndarray) -> np.ndarray:
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _big(shape=(3, 4), offset=0.0) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=F8).reshape(shape) / 7 + offset


def _layout_expect(m, n, x):
    m, n, x = (np.asarray(a, F8) for a in (m, n, x))
    return [m * n + x, m.T * 2, m.sum(0), m @ n.T, m[::-1, 1:] - n[:, :-1]]


# ---- wrong dtype, strict, allow_input_downcast --------------------------------------------------------
ok("int64-into-dvector", "add", lambda: (np.arange(3), ONES3), lambda a, b: a + b)
ok("float32-into-dvector", "add", lambda: (np.ones(3, "f4") / 3, ONES3), lambda a, b: a.astype(F8) + b)
ok("int8-bool-into-dvector", "add", lambda: (v(-1, 2, 3, dtype="i1"), v(1, 0, 1, dtype=bool)),
   lambda a, b: a.astype(F8) + b)
raises("complex-into-dvector", "add", lambda: (np.ones(3, complex), ONES3), TypeError, "'x'", "complex128", "float64")
raises("datetime-into-dvector", "add", lambda: (np.zeros(3, "M8[D]"), ONES3), TypeError, "'x'", "datetime64")
raises("uint64-into-int64", "intdiv64", lambda: (np.arange(3, dtype="u8"), np.ones(3, "i8")), TypeError, "'p'",
       "uint64", "int64")
raises("float64-into-fvector", "halve32", lambda: (v(1, 2),), TypeError, "'f'", "float64", "float32",
       "allow_input_downcast")
ok("float64-into-fvector-downcast", "halve32_down", lambda: (v(0.1, 3),), lambda a: a.astype("f4") / np.float32(2))
ok("float64-overflow-into-fvector-downcast", "halve32_down", lambda: (v(1e300, -1e300),),
   lambda a: v(np.inf, -np.inf, dtype="f4"), quiet=False)  # numpy's cast warns about the overflow
ok("exact-python-floats-into-fvector", "halve32", lambda: ([1.5, 2.0],), lambda a: v(0.75, 1, dtype="f4"))
raises("inexact-python-floats-into-fvector", "halve32", lambda: ([0.1],), TypeError, "'f'", "float32")
raises("int64-into-ivector", "twice_int", lambda: (np.arange(3),), TypeError, "'i'", "int64", "int32")
ok("small-python-ints-into-ivector", "twice_int", lambda: ([1, -2, 3],), lambda a: v(2, -4, 6, dtype="i4"))
raises("huge-python-int-into-ivector", "twice_int", lambda: ([1, 2**40],), TypeError, "'i'", "int32")
raises("fractional-floats-into-ivector", "twice_int", lambda: ([1.0, 2.5],), TypeError, "'i'", "int32")
ok("integral-floats-into-ivector", "twice_int", lambda: ([1.0, 2.0],), lambda a: v(2, 4, dtype="i4"))
raises("strict-refuses-float32", "strict", lambda: (np.ones(2, "f4"), v(1, 2)), TypeError, "'x'", "strict", "float32")
raises("strict-refuses-list", "strict", lambda: ([1.0, 2.0], v(1, 2)), TypeError, "'x'", "strict", "list")
ok("strict-accepts-float64", "strict", lambda: (v(1, 2), [3, 4]), lambda a, b: a + b)

# ---- wrong rank -------------------------------------------------------------------------------------
raises("matrix-into-vector", "add", lambda: (np.ones((2, 3)), ONES3), TypeError, "'x'", "dimensions", "(2, 3)")
raises("python-scalar-into-vector", "add", lambda: (ONES3, 3.0), TypeError, "'y'", "dimensions")
raises("0d-array-into-vector", "add", lambda: (np.array(1.0), ONES3), TypeError, "'x'", "dimensions")
raises("vector-into-scalar", "scale", lambda: (ONES3, ONES3), TypeError, "'s'", "dimensions")
raises("3d-into-matrix", "bcast", lambda: (np.ones((2, 2, 2)), np.ones((2, 2))), TypeError, "'m'", "dimensions")

# ---- Python scalars, lists, nested lists ----------------------------------------------------------------
ok("python-int-scalar", "scale", lambda: (2, [1, 2, 3]), lambda s, x: v(2, 4, 6))
ok("python-float-and-tuple", "scale", lambda: (2.5, (1.0, 2.0)), lambda s, x: v(2.5, 5))
ok("numpy-scalar", "scale", lambda: (np.float32(2), ONES3), lambda s, x: v(2, 2, 2))
ok("python-bool-scalar", "scale", lambda: (True, ONES3), lambda s, x: ONES3)
ok("nested-lists", "bcast", lambda: ([[1, 2], [3, 4]], [[0.5, 0.5], [1, 1]]),
   lambda a, b: v(1.5, 2.5, 4, 5).reshape(2, 2))
ok("list-of-numpy-scalars", "add", lambda: ([np.float64(1), np.int8(2)], [np.float32(0.5), 1]), lambda a, b: v(1.5, 3))
raises("ragged-nested-list", "bcast", lambda: ([[1, 2], [3]], np.ones((2, 2))), TypeError, "'m'")
raises("huge-python-int-scalar", "scale", lambda: (2**70, ONES3), TypeError, "'s'")

# ---- strings, None, objects -------------------------------------------------------------------------
raises("string", "add", lambda: ("abc", ONES3), TypeError, "'x'", "str")
raises("numeric-string", "scale", lambda: ("2", ONES3), TypeError, "'s'", "str")
raises("bytes", "add", lambda: (b"123", ONES3), TypeError, "'x'", "bytes")
raises("None", "add", lambda: (ONES3, None), TypeError, "'y'", "NoneType")
raises("object", "add", lambda: (object(), ONES3), TypeError, "'x'", "object")
raises("dict", "add", lambda: ({0: 1.0}, ONES3), TypeError, "'x'", "dict")
raises("list-with-string", "add", lambda: ([1, "a", 3], ONES3), TypeError, "'x'")
raises("list-with-None", "add", lambda: ([1.0, None, 3.0], ONES3), TypeError, "'x'")
raises("string-array", "add", lambda: (np.array(["1", "2", "3"]), ONES3), TypeError, "'x'")
raises("object-array", "add", lambda: (np.array([1.0, 2.0, 3.0], dtype=object), ONES3), TypeError, "'x'")

# ---- size 0 -----------------------------------------------------------------------------------------
ok("empty-vectors", "add", lambda: (np.ones(0), np.ones(0)), lambda a, b: a + b)
ok("empty-rows", "empty", lambda: (np.ones((0, 3)),),
   lambda m: [m.sum(0), m.sum(), m * 2, m @ m.T, m.copy(), m.prod(1)])
ok("empty-columns", "empty", lambda: (np.ones((3, 0)),),
   lambda m: [m.sum(0), m.sum(), m * 2, m @ m.T, m.copy(), m.prod(1)])
raises("max-of-empty", "floats", lambda: (np.ones(0),), ValueError, "zero-size")
raises("empty-meets-undeclared-size-1", "add", lambda: (np.ones(0), np.ones(1)), ValueError, "broadcast")

# ---- memory layouts and read-only inputs ----------------------------------------------------------
ok("layout-c", "layout", lambda: (_big(), _big(offset=1), _big((4,))), _layout_expect)
ok("layout-fortran", "layout", lambda: (np.asfortranarray(_big()), np.asfortranarray(_big(offset=1)), _big((4,))),
   _layout_expect)
ok("layout-strided", "layout", lambda: (_big((6, 8))[::2, ::2], _big((6, 8), 1)[1::2, 1::2], _big((8,))[::2]),
   _layout_expect)
ok("layout-negative-strides", "layout", lambda: (_big()[::-1, ::-1], _big(offset=1)[:, ::-1], _big((4,))[::-1]),
   _layout_expect)
ok("layout-transposed-view", "layout", lambda: (_big((4, 3)).T, _big((4, 3), 1).T, _big((4,))), _layout_expect)
ok("layout-zero-strides", "layout",
   lambda: (np.broadcast_to(_big((4,)), (3, 4)), np.broadcast_to(_big((3, 1)), (3, 4)), np.broadcast_to(2.0, (4,))),
   _layout_expect)
ok("layout-read-only", "layout", lambda: (_readonly(_big()), _readonly(_big(offset=1)), _readonly(_big((4,)))),
   _layout_expect)
ok("layout-unaligned", "layout", lambda: (_unaligned(_big()), _unaligned(_big(offset=1)), _unaligned(_big((4,)))),
   _layout_expect)
ok("layout-big-endian", "layout", lambda: (_big().astype(">f8"), _big(offset=1).astype(">f8"), _big((4,))),
   _layout_expect)
ok("layout-mixed", "layout", lambda: (np.asfortranarray(_big()), _big(offset=1)[::-1], _big((8,))[1::2]),
   _layout_expect)
ok("layout-size-1-axes", "layout", lambda: (_big((1, 1)), _big((1, 1), 2), _big((1,))), _layout_expect)
raises("read-only-into-mutable", "mutate", lambda: (_readonly(ONES3), ONES3), ValueError, "'x'", "mutable",
       "read-only")
raises("broadcast-view-into-mutable", "mutate", lambda: (np.broadcast_to(1.0, (3,)), ONES3), ValueError, "'x'",
       "read-only")
raises("read-only-into-mutable-by-keyword", "mutate", lambda: (), ValueError, "'x'", "read-only",
       kwargs=lambda: {"x": _readonly(ONES3), "y": ONES3})
ok("writable-into-mutable", "mutate", lambda: (v(1, 2, 3), ONES3), lambda a, b: a + b, mutable=(0,))
ok("list-into-mutable", "mutate", lambda: ([1.0, 2.0], [1, 1]), lambda a, b: v(2, 3), mutable=(0,))
ok("read-only-into-the-other-argument-of-mutable", "mutate", lambda: (v(1, 2, 3), _readonly(ONES3)),
   lambda a, b: a + b, mutable=(0,))
ok("non-contiguous-into-mutable", "mutate", lambda: (_big((8,))[::2], _big((4,), 1)), lambda a, b: a + b, mutable=(0,))
ok("read-only-into-plain", "add", lambda: (_readonly(ONES3), _readonly(v(1, 2, 3))), lambda a, b: a + b)

# ---- the same array twice ---------------------------------------------------------------------------
_SAME = v(1, 2, 3)
ok("same-array-twice", "add", lambda: (_SAME, _SAME), lambda a, b: a + b)
ok("same-array-into-mutable-and-plain", "mutate", lambda: (v(1, 2, 3),) * 2, lambda a, b: a + b, mutable=(0, 1))
_R = v(1, 2, 3, 4, 5)
ok("mutable-and-its-reversed-view", "mutate", lambda: (lambda a: (a, a[::-1]))(_R.copy()), lambda a, b: a + b,
   mutable=(0, 1))
ok("mutable-and-an-overlapping-slice", "mutate", lambda: (lambda a: (a[1:], a[:-1]))(_R.copy()), lambda a, b: a + b,
   mutable=(0, 1))
ok("overlapping-views", "add", lambda: (_SAME, _SAME[::-1]), lambda a, b: a + b)
_SQUARE = _big((3, 3))
ok("same-matrix-three-ways", "layout", lambda: (_SQUARE, _SQUARE, _SQUARE[0]), _layout_expect)

# ---- NaN and inf flow like numpy --------------------------------------------------------------------
_SPECIAL = v(np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1e308, 5e-324, 2.0)
_floats = _np(lambda x: [np.log(x), np.sqrt(x), 1 / x, np.exp(x), np.tanh(x), 1 / (1 + np.exp(-x)), x * 0, x.max(),
                         x.sum()])
ok("nan-inf-zero-float64", "floats", lambda: (_SPECIAL,), _floats)
ok("all-nan", "floats", lambda: (v(np.nan, np.nan),), _floats)
ok("inf-minus-inf", "add", lambda: (v(np.inf, -np.inf, np.nan), v(-np.inf, np.inf, 1)), lambda a, b: v(*[np.nan] * 3))
ok("nan-inf-zero-float32", "floats32", lambda: (v(np.nan, np.inf, -np.inf, 0, -0.0, -1, 3e38, 1e-45, 2, dtype="f4"),),
   _np(lambda f: [np.log(f), 1 / f, f * np.float32(0), f.max()]))
ok("nan-inf-through-numpy-calls", "nan_calls", lambda: (v(np.inf, 1.0), v(0.0, 1.0)),
   _np(lambda x, y: [x @ y, v(np.nan, np.nan), v(np.nan, np.nan), np.float64(np.nan)]))
ok("signed-zeros-like-numpy", "signed_zeros",
   lambda: (v(-0.0, 0.0, -0.0, 0.0, 1, np.nan), v(0.0, -0.0, -0.0, 0.0, np.nan, 2)),
   _np(lambda x, y: [np.minimum(x, y), np.maximum(x, y), np.maximum(x, 0.0), np.minimum(np.maximum(x, y), 1.0)]))
ok("min-max-propagate-nan", "signed_zeros", lambda: (v(np.nan, 1, np.nan), v(1, np.nan, np.nan)),
   _np(lambda x, y: [np.minimum(x, y), np.maximum(x, y), np.maximum(x, 0.0), np.minimum(np.maximum(x, y), 1.0)]))

# ---- integer division by zero -----------------------------------------------------------------------
_I4 = "int32"
ok("int32-division-by-zero", "intdiv", lambda: (v(7, -7, 0, 5, -2**31, -2**31, dtype=_I4),
                                                v(0, 0, 0, 2, -1, 1, dtype=_I4)),
   _np(lambda a, b: [a // b, a % b, a / b]))
ok("int64-division-by-zero", "intdiv64", lambda: (v(7, -7, 0, -2**63, dtype="i8"), v(0, 0, 0, -1, dtype="i8")),
   _np(lambda a, b: [a // b, a % b]))
ok("uint8-division-by-zero", "uintdiv", lambda: (v(7, 0, 255, dtype="u1"), v(0, 0, 2, dtype="u1")),
   _np(lambda a, b: [a // b, a % b]))
raises("int-to-negative-power", "ipow", lambda: (v(2, 3, dtype=_I4), v(1, -1, dtype=_I4)), ValueError,
       "negative integer powers")

# ---- shapes that cannot broadcast or multiply: the node, its op, the shapes, the user's line ------------
raises("broadcast-error-names-op-shapes-line", "bcast", lambda: (np.ones((2, 3)), np.ones((2, 4))), ValueError,
       "add", "(2, 3)", "(2, 4)", line_of("bcast"))
raises("dot-error-names-op-shapes-line", "dot", lambda: (np.ones((2, 3)), np.ones((4, 5))), ValueError,
       "matmul", "(2, 3)", "(4, 5)", line_of("dot"))
raises("deep-error-names-the-failing-node", "deep", lambda: (ONES3, np.ones(4)), ValueError,
       "mul", "(3,)", "(4,)", line_of("deep"))
raises("vector-lengths-differ", "add", lambda: (ONES3, np.ones(4)), ValueError, "add")
raises("undeclared-broadcast", "bcast", lambda: (np.ones((2, 3)), np.ones((1, 3))), ValueError, "broadcastable")

# ---- arity and keywords -----------------------------------------------------------------------------
raises("missing-argument", "add", lambda: (ONES3,), TypeError, "'add'", "missing", "'y'")
raises("too-many-arguments", "add", lambda: (ONES3, ONES3, ONES3), TypeError, "'add'", "at most 2")
raises("unknown-keyword", "add", lambda: (ONES3, ONES3), TypeError, "'add'", "'z'", kwargs=lambda: {"z": 1})
raises("argument-given-twice", "add", lambda: (ONES3, ONES3), TypeError, "'add'", "multiple values",
       kwargs=lambda: {"x": ONES3})


# ---- running a case ---------------------------------------------------------------------------------------
def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _same_value(a, b) -> bool:
    if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
        return False
    if not isinstance(a, np.ndarray):
        return a == b or a is b
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def compare(got, expected, what: str) -> None:
    """Exact dtype and shape; exact values for integers and bools, close for floats (NaN == NaN, signed inf)."""
    expected = np.asarray(expected)
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"{what}: got {type(got).__name__}, not an ndarray")
    if got.dtype != expected.dtype or got.shape != expected.shape:
        raise AssertionError(f"{what}: got {got.dtype}{got.shape}, numpy gives {expected.dtype}{expected.shape}")
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6 if got.dtype == np.float32 else 1e-13, atol=0,
                                   equal_nan=True, err_msg=what)
        same_zero_sign = np.signbit(got[got == 0]) == np.signbit(expected[got == 0])
        if not np.all(same_zero_sign):
            raise AssertionError(f"{what}: the signs of zeros differ: {got} vs {expected}")
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def check(function, case: Case) -> None:
    """Run `case` against `function`; raise AssertionError saying what went wrong."""
    args, kwargs = case.args(), case.kwargs()
    before = [_copy(a) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("error" if case.quiet else "ignore")
        try:
            result = function(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the case says which exception is right
            if case.raises is None or not isinstance(err, case.raises):
                raise AssertionError(f"{case.id}: unexpected {type(err).__name__}: {err}") from err
            missing = [w for w in case.words if w not in str(err)]
            if missing:
                raise AssertionError(f"{case.id}: the message lacks {missing}: {err}") from None
            return
    if case.raises is not None:
        raise AssertionError(f"{case.id}: expected {case.raises.__name__}, got the result {result!r}")
    expected = case.expect(*[np.array(a) if isinstance(a, np.ndarray) else a for a in before])
    results, wanted = (result, expected) if isinstance(expected, list) else ([result], [expected])
    if len(results) != len(wanted):
        raise AssertionError(f"{case.id}: {len(results)} outputs, expected {len(wanted)}")
    for k, (got, want) in enumerate(zip(results, wanted)):
        compare(got, want, f"{case.id}: output {k}")
        for j, a in enumerate(args):
            if j not in case.mutable and isinstance(a, np.ndarray) and np.shares_memory(got, a):
                raise AssertionError(f"{case.id}: output {k} shares memory with argument {j}")
    for k, (a, b) in enumerate(zip(args, before)):
        if k not in case.mutable and not _same_value(a, b):
            raise AssertionError(f"{case.id}: argument {k} was changed by the call")


def run_all(functions, skip_gaps: bool = False) -> dict[str, str]:
    """{case id: '' if it passed, else the failure} for every case (the subprocess entry point)."""
    report = {}
    for case in CASES:
        if skip_gaps and case.compiled_gap:
            continue
        try:
            check(functions[case.function], case)
            report[case.id] = ""
        except AssertionError as err:
            report[case.id] = str(err) or repr(err)
    return report


def summary(report: dict[str, str]) -> str:
    failed = {k: m for k, m in report.items() if m}
    return "\n".join(f"{k}: {re.sub(chr(10), ' | ', m)}" for k, m in failed.items()) or "all passed"


if __name__ == "__main__":  # pragma: no cover - python relcases.py prints the case ids
    print("\n".join(c.id for c in CASES), file=sys.stdout)
