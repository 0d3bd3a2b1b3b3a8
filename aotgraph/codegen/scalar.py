"""Cython scalar expressions of the elementwise ops: the rendering rules, one entry per op name.

An elementwise node becomes one scalar statement inside a (possibly fused) loop. Its operands are
first converted to the dtypes of numpy's own inner loop for that op (`loop_dtypes`: the ufunc's
resolved loop, with float16 computed as float32); the rule then returns a Cython expression over
the converted operands. Integer arithmetic wraps like numpy's (it is done in unsigned types, so no
C undefined behaviour), integer division and remainder follow numpy's sign rules and give 0 for a
zero divisor, and float floor division/remainder are ports of numpy's `npy_divmod`.

Rules that need more than an expression ask `ctx.helper(kind, dtype)` for an inline function; the
helper's source is one of the `HELPERS` templates below, specialised to a dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from aotgraph.codegen.dtypes import CTYPE, SHORT, kind, unsigned_wide
from aotgraph.graph.basic import Op

# ---- helper functions (inline Cython), specialised per dtype -------------------------------------------

_FLOAT_FNS = {
    "float64": dict(fmod="fmod", floor="floor", copysign="copysign", exp="exp", log1p="log1p", fabs="fabs"),
    "float32": dict(fmod="fmodf", floor="floorf", copysign="copysignf", exp="expf", log1p="log1pf", fabs="fabsf"),
}

HELPERS: dict[str, str] = {
    "floordiv_i": """
cdef inline {T} _floordiv_{S}({T} a, {T} b) noexcept nogil:
    cdef {T} q
    if b == 0:
        return 0
    if b == -1:
        return <{T}>(-<{U}>a)
    q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q
""",
    "mod_i": """
cdef inline {T} _mod_{S}({T} a, {T} b) noexcept nogil:
    cdef {T} r
    if b == 0 or b == -1:
        return 0
    r = a % b
    if r != 0 and ((r < 0) != (b < 0)):
        r += b
    return r
""",
    "floordiv_u": """
cdef inline {T} _floordiv_{S}({T} a, {T} b) noexcept nogil:
    if b == 0:
        return 0
    return a // b
""",
    "mod_u": """
cdef inline {T} _mod_{S}({T} a, {T} b) noexcept nogil:
    if b == 0:
        return 0
    return a % b
""",
    # numpy's npy_divmod / npy_floor_divide / npy_remainder (npy_math_internal.h.src)
    "floordiv_f": """
cdef inline {T} _floordiv_{S}({T} a, {T} b) noexcept nogil:
    cdef {T} mod, div, floordiv
    if b == 0:
        return a / b
    mod = {fmod}(a, b)
    div = (a - mod) / b
    if mod != 0:
        if (b < 0) != (mod < 0):
            div -= 1
    if div != 0:
        floordiv = {floor}(div)
        if div - floordiv > 0.5:
            floordiv += 1
    else:
        floordiv = {copysign}(0, a / b)
    return floordiv
""",
    "mod_f": """
cdef inline {T} _mod_{S}({T} a, {T} b) noexcept nogil:
    cdef {T} mod = {fmod}(a, b)
    if b == 0:
        return mod
    if mod != 0:
        if (b < 0) != (mod < 0):
            mod += b
    else:
        mod = {copysign}(0, b)
    return mod
""",
    "pow_i": """
cdef inline {T} _pow_{S}({T} a, {T} b, int* err) noexcept nogil:
    cdef {U} base = <{U}>a
    cdef {U} out = 1
    if b < 0:
        err[0] = 1
        return 0
    while b > 0:
        if b & 1:
            out = out * base
        base = base * base
        b >>= 1
    return <{T}>out
""",
    "pow_u": """
cdef inline {T} _pow_{S}({T} a, {T} b, int* err) noexcept nogil:
    cdef {U} base = <{U}>a
    cdef {U} out = 1
    while b > 0:
        if b & 1:
            out = out * base
        base = base * base
        b >>= 1
    return <{T}>out
""",
    # numpy's maximum/minimum: a NaN operand wins, and equal operands give the second (so -0.0 vs 0.0
    # comes out as numpy's)
    "max_f": """
cdef inline {T} _max_{S}({T} a, {T} b) noexcept nogil:
    return a if ((a > b) | (a != a)) else b
""",
    "min_f": """
cdef inline {T} _min_{S}({T} a, {T} b) noexcept nogil:
    return a if ((a < b) | (a != a)) else b
""",
    "max_i": """
cdef inline {T} _max_{S}({T} a, {T} b) noexcept nogil:
    return a if a >= b else b
""",
    "min_i": """
cdef inline {T} _min_{S}({T} a, {T} b) noexcept nogil:
    return a if a <= b else b
""",
    "sign_f": """
cdef inline {T} _sign_{S}({T} a) noexcept nogil:
    if a != a:
        return a
    return <{T}>(a > 0) - <{T}>(a < 0)
""",
    # the reference's formula, without branches (so loops calling it vectorize)
    "sigmoid_f": """
cdef inline {T} _sigmoid_{S}({T} x) noexcept nogil:
    cdef {T} e = {exp}(-{fabs}(x))
    return (e if x < 0 else <{T}>1) / (1 + e)
""",
    # numpy's npy_logaddexp(0, x) without branches: x > 0: x + log1p(exp(-x)); else log1p(exp(x)); log(2) at 0;
    # NaN stays NaN (through fabs)
    "softplus_f": """
cdef inline {T} _softplus_{S}({T} x) noexcept nogil:
    return (x if x > 0 else <{T}>0) + {log1p}({exp}(-{fabs}(x)))
""",
}


def helper_source(key: str, dtype: str) -> tuple[str, str]:
    """(function name, Cython source) of helper template `key` for `dtype`."""
    template = HELPERS[key]
    fns = _FLOAT_FNS.get(dtype, {})
    source = template.format(T=CTYPE[dtype], S=SHORT[dtype], U=unsigned_wide(dtype), **fns).strip("\n")
    name = source.split("(", 1)[0].split()[-1]
    return name, source


# ---- the context a rule renders in ------------------------------------------------------------------------


@dataclass
class ScalarCtx:
    """What a rule sees: operand expressions (already in the loop dtypes), their dtypes, the result dtype."""

    op: Op
    args: list[str]
    types: list[str]
    out: str
    helpers: dict[str, str] = field(default_factory=dict)  # name -> source, filled by helper()
    uses_err: bool = False  # the expression sets the loop's `err` flag (integer power)
    expr: str = ""

    def helper(self, key: str, dtype: str) -> str:
        name, source = helper_source(key, dtype)
        self.helpers[name] = source
        return name

    @property
    def k(self) -> str:
        """Kind of the first operand's loop dtype: 'b', 'i', 'u' or 'f'."""
        return kind(self.types[0])


def _wrap(c: ScalarCtx, symbol: str) -> str:
    """Wrapping integer arithmetic: computed in a wide unsigned type, converted back."""
    a, b = c.args
    u = unsigned_wide(c.out)
    return f"<{CTYPE[c.out]}>(<{u}>{a} {symbol} <{u}>{b})"


def _math(name64: str, name32: str) -> Callable[[ScalarCtx], str]:
    def rule(c: ScalarCtx) -> str:
        fn = name32 if c.out == "float32" else name64
        return f"{fn}({c.args[0]})"

    return rule


def _integral_identity(float_rule: Callable[[ScalarCtx], str]) -> Callable[[ScalarCtx], str]:
    """numpy's floor/ceil/round keep integers (and bools) as they are."""

    def rule(c: ScalarCtx) -> str:
        return float_rule(c) if kind(c.out) == "f" else c.args[0]

    return rule


# ---- arithmetic ---------------------------------------------------------------------------------------------


def _add(c):
    return f"({c.args[0]} | {c.args[1]})" if c.k == "b" else _arith(c, "+")


def _mul(c):
    return f"({c.args[0]} & {c.args[1]})" if c.k == "b" else _arith(c, "*")


def _arith(c, symbol):
    if c.k in "iu":
        return _wrap(c, symbol)
    return f"({c.args[0]} {symbol} {c.args[1]})"


def _true_div(c):
    return f"({c.args[0]} / {c.args[1]})"


def _by_kind(helper_prefix: str):
    def rule(c):
        return f"{c.helper(helper_prefix + '_' + c.k, c.out)}({c.args[0]}, {c.args[1]})"

    return rule


def _pow(c):
    if c.k == "f":
        fn = "powf" if c.out == "float32" else "pow"
        return f"{fn}({c.args[0]}, {c.args[1]})"
    c.uses_err = True
    return f"{c.helper('pow_' + c.k, c.out)}({c.args[0]}, {c.args[1]}, &err)"


def _neg(c):
    if c.k in "iu":
        return f"<{CTYPE[c.out]}>(-<{unsigned_wide(c.out)}>{c.args[0]})"
    return f"(-{c.args[0]})"


def _abs(c):
    a = c.args[0]
    if c.k == "i":
        return f"(<{CTYPE[c.out]}>(-<{unsigned_wide(c.out)}>{a}) if {a} < 0 else {a})"
    if c.k == "f":
        return f"{'fabsf' if c.out == 'float32' else 'fabs'}({a})"
    return a


def _sqr(c):
    a = c.args[0]
    if c.k == "b":
        return a
    if c.k in "iu":
        u = unsigned_wide(c.out)
        return f"<{CTYPE[c.out]}>(<{u}>{a} * <{u}>{a})"
    return f"({a} * {a})"


def _extremum(name):
    def rule(c):
        a, b = c.args
        if c.k == "b":
            return f"({a} | {b})" if name == "max" else f"({a} & {b})"
        return f"{c.helper(name + '_' + ('f' if c.k == 'f' else 'i'), c.out)}({a}, {b})"

    return rule


# ---- comparisons and logic ---------------------------------------------------------------------------------

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _compare(symbol):
    def rule(c):
        a, b = c.args
        ka, kb = kind(c.types[0]), kind(c.types[1])
        if {ka, kb} == {"i", "u"}:  # numpy's exact int64-vs-uint64 loops
            if ka == "u":
                a, b, sym = b, a, _FLIP[symbol]
            else:
                sym = symbol
            return _signed_vs_unsigned(a, b, sym)
        return f"({a} {symbol} {b})"

    return rule


def _signed_vs_unsigned(a: str, b: str, symbol: str) -> str:
    """`a symbol b` for signed int64 a and unsigned uint64 b, exactly."""
    ua = f"<cnp.npy_uint64>{a}"
    if symbol in ("<", "<="):
        return f"(({a} < 0) | ({ua} {symbol} {b}))"
    if symbol in (">", ">="):
        return f"(({a} >= 0) & ({ua} {symbol} {b}))"
    if symbol == "==":
        return f"(({a} >= 0) & ({ua} == {b}))"
    return f"(({a} < 0) | ({ua} != {b}))"


def _bitwise(symbol):
    def rule(c):
        return f"<{CTYPE[c.out]}>({c.args[0]} {symbol} {c.args[1]})"

    return rule


def _invert(c):
    if c.k == "b":
        return f"({c.args[0]} == 0)"
    return f"<{CTYPE[c.out]}>(~{c.args[0]})"


# ---- piecewise ----------------------------------------------------------------------------------------------


def _sign(c):
    a = c.args[0]
    if c.k == "f":
        return f"{c.helper('sign_f', c.out)}({a})"
    if c.k == "i":
        return f"<{CTYPE[c.out]}>(({a} > 0) - ({a} < 0))"
    if c.k == "u":
        return f"<{CTYPE[c.out]}>({a} > 0)"
    return a


def _relu(c):
    a = c.args[0]
    if c.k == "f":
        return f"({a} if (({a} > 0) | ({a} != {a})) else 0)"  # maximum(-0.0, 0) is +0.0, as in numpy
    if c.k == "i":
        return f"({a} if {a} >= 0 else 0)"
    return a


def _switch(c):
    cond, a, b = c.args
    return f"({a} if {cond} != 0 else {b})"


def _clip(c):
    x, lo, hi = c.args
    if c.k == "b":
        return f"(({x} | {lo}) & {hi})"
    suffix = "f" if c.k == "f" else "i"
    mx, mn = c.helper("max_" + suffix, c.out), c.helper("min_" + suffix, c.out)
    return f"{mn}({mx}({x}, {lo}), {hi})"


def _cast(c):
    a = c.args[0]
    if c.out == "bool":
        return f"({a} != 0)"
    return f"<{CTYPE[c.out]}>{a}"


def _float_helper(key):
    def rule(c):
        return f"{c.helper(key, c.out)}({c.args[0]})"

    return rule


ELEMWISE: dict[str, Callable[[ScalarCtx], str]] = {
    "add": _add,
    "sub": lambda c: _arith(c, "-"),
    "mul": _mul,
    "true_div": _true_div,
    "floor_div": _by_kind("floordiv"),
    "mod": _by_kind("mod"),
    "pow": _pow,
    "neg": _neg,
    "abs": _abs,
    "sqr": _sqr,
    "maximum": _extremum("max"),
    "minimum": _extremum("min"),
    "eq": _compare("=="),
    "neq": _compare("!="),
    "lt": _compare("<"),
    "le": _compare("<="),
    "gt": _compare(">"),
    "ge": _compare(">="),
    "and_": _bitwise("&"),
    "or_": _bitwise("|"),
    "xor": _bitwise("^"),
    "invert": _invert,
    "exp": _math("exp", "expf"),
    "log": _math("log", "logf"),
    "log1p": _math("log1p", "log1pf"),
    "expm1": _math("expm1", "expm1f"),
    "sqrt": _math("sqrt", "sqrtf"),
    "sin": _math("sin", "sinf"),
    "cos": _math("cos", "cosf"),
    "tan": _math("tan", "tanf"),
    "tanh": _math("tanh", "tanhf"),
    "arctan": _math("atan", "atanf"),
    "erf": _math("erf", "erff"),
    "erfc": _math("erfc", "erfcf"),
    "log2": _math("log2", "log2f"),
    "log10": _math("log10", "log10f"),
    "exp2": _math("exp2", "exp2f"),
    "cosh": _math("cosh", "coshf"),
    "sinh": _math("sinh", "sinhf"),
    "arcsin": _math("asin", "asinf"),
    "arccos": _math("acos", "acosf"),
    "arcsinh": _math("asinh", "asinhf"),
    "arccosh": _math("acosh", "acoshf"),
    "arctanh": _math("atanh", "atanhf"),
    "arctan2": lambda c: f"{'atan2f' if c.out == 'float32' else 'atan2'}({c.args[0]}, {c.args[1]})",
    "isnan": lambda c: f"({c.args[0]} != {c.args[0]})" if kind(c.types[0]) == "f" else "False",
    # inf - inf is NaN, a finite x - x is 0 (NaN is not inf: x == x fails)
    "isinf": lambda c: (f"(({c.args[0]} == {c.args[0]}) and (({c.args[0]} - {c.args[0]}) != "
                        f"({c.args[0]} - {c.args[0]})))" if kind(c.types[0]) == "f" else "False"),
    "sigmoid": _float_helper("sigmoid_f"),
    "softplus": _float_helper("softplus_f"),
    "sign": _sign,
    "floor": _integral_identity(_math("floor", "floorf")),
    "ceil": _integral_identity(_math("ceil", "ceilf")),
    "round": _integral_identity(_math("rint", "rintf")),  # half to even, like numpy
    "trunc": _integral_identity(_math("trunc", "truncf")),
    "relu": _relu,
    "switch": _switch,
    "clip": _clip,
    "cast": _cast,
    "second": lambda c: c.args[1],  # b broadcast against a: a only gives the shape
}

# ops whose numpy reference is not a ufunc: operand dtypes of the loop, given (input dtypes, output dtype)
_LOOP_RULES: dict[str, Callable[[list[str], str], list[str]]] = {
    "switch": lambda ins, out: [ins[0], out, out],
    "cast": lambda ins, out: [ins[0]],
    "second": lambda ins, out: [ins[0], out],
}


def loop_dtypes(op: Op, fn, in_dtypes: list[str], out_dtype: str) -> list[str]:
    """The dtypes numpy's inner loop computes `op` in (float16 is computed as float32)."""
    if op.name in _LOOP_RULES:
        types = _LOOP_RULES[op.name](in_dtypes, out_dtype)
    elif isinstance(fn, np.ufunc):
        resolved = fn.resolve_dtypes(tuple(np.dtype(d) for d in in_dtypes) + (None,) * fn.nout)
        types = [d.name for d in resolved[: fn.nin]]
    else:
        types = [out_dtype] * len(in_dtypes)
    return ["float32" if t == "float16" else t for t in types]


def render_scalar(op: Op, fn, args: list[str], in_dtypes: list[str], out_dtype: str) -> ScalarCtx:
    """The context of one node, with `ctx.expr` set to its Cython expression."""
    try:
        rule = ELEMWISE[op.name]
    except KeyError:
        raise NotImplementedError(f"the Cython backend has no rule for elementwise op {op.name!r}") from None
    types = loop_dtypes(op, fn, in_dtypes, out_dtype)
    converted = [a if t == d else f"(<{CTYPE[t]}>{a})" for a, d, t in zip(args, in_dtypes, types)]
    ctx = ScalarCtx(op, converted, types, out_dtype)
    ctx.expr = rule(ctx)
    return ctx


