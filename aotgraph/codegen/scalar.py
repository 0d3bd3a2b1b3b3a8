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
from aotgraph.graph.rules import RULES

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
    def operand_kind(self) -> str:
        """Kind of the first operand's loop dtype: 'b', 'i', 'u' or 'f'."""
        return kind(self.types[0])


def _wrap(c: ScalarCtx, symbol: str) -> str:
    """Wrapping integer arithmetic: computed in a wide unsigned type, converted back."""
    a, b = c.args
    u = unsigned_wide(c.out)
    return f"<{CTYPE[c.out]}>(<{u}>{a} {symbol} <{u}>{b})"


def c_function(op_name: str, dtype: str) -> str:
    """The C math library function an op's registration names, in its float32 variant for float32."""
    name = RULES[op_name].elemwise.c_function
    return name + "f" if dtype == "float32" else name


def _call_c_function(c: ScalarCtx) -> str:
    """The rule of every op computed by a C math function (its registration's `c_function`)."""
    return f"{c_function(c.op.name, c.out)}({', '.join(c.args)})"


def _integral_identity(float_rule: Callable[[ScalarCtx], str]) -> Callable[[ScalarCtx], str]:
    """numpy's floor/ceil/round keep integers (and bools) as they are."""

    def rule(c: ScalarCtx) -> str:
        return float_rule(c) if kind(c.out) == "f" else c.args[0]

    return rule


# ---- arithmetic ---------------------------------------------------------------------------------------------


def _add(c):
    return f"({c.args[0]} | {c.args[1]})" if c.operand_kind == "b" else _arith(c, "+")


def _mul(c):
    return f"({c.args[0]} & {c.args[1]})" if c.operand_kind == "b" else _arith(c, "*")


def _arith(c, symbol):
    if c.operand_kind in "iu":
        return _wrap(c, symbol)
    return f"({c.args[0]} {symbol} {c.args[1]})"


def _true_div(c):
    return f"({c.args[0]} / {c.args[1]})"


def _by_kind(helper_prefix: str):
    def rule(c):
        return f"{c.helper(helper_prefix + '_' + c.operand_kind, c.out)}({c.args[0]}, {c.args[1]})"

    return rule


def sets_error_flag(stmt) -> bool:
    """Whether the loop code of `stmt` (a ScalarStmt) sets the loop's `err` flag: an integer power (`_pow`
    below), whose negative exponent must raise after the loop."""
    types = loop_dtypes(stmt.op, RULES[stmt.op.name].elemwise.fn, list(stmt.arg_dtypes), stmt.dtype)
    return stmt.op.name == "pow" and kind(types[0]) != "f"


def _pow(c):
    if c.operand_kind == "f":
        return _call_c_function(c)
    c.uses_err = True
    return f"{c.helper('pow_' + c.operand_kind, c.out)}({c.args[0]}, {c.args[1]}, &err)"


def _neg(c):
    if c.operand_kind in "iu":
        return f"<{CTYPE[c.out]}>(-<{unsigned_wide(c.out)}>{c.args[0]})"
    return f"(-{c.args[0]})"


def _abs(c):
    a = c.args[0]
    if c.operand_kind == "i":
        return f"(<{CTYPE[c.out]}>(-<{unsigned_wide(c.out)}>{a}) if {a} < 0 else {a})"
    if c.operand_kind == "f":
        return _call_c_function(c)
    return a


def _sqr(c):
    a = c.args[0]
    if c.operand_kind == "b":
        return a
    if c.operand_kind in "iu":
        u = unsigned_wide(c.out)
        return f"<{CTYPE[c.out]}>(<{u}>{a} * <{u}>{a})"
    return f"({a} * {a})"


def _extremum(name):
    def rule(c):
        a, b = c.args
        if c.operand_kind == "b":
            return f"({a} | {b})" if name == "max" else f"({a} & {b})"
        return f"{c.helper(name + '_' + ('f' if c.operand_kind == 'f' else 'i'), c.out)}({a}, {b})"

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
    if c.operand_kind == "b":
        return f"({c.args[0]} == 0)"
    return f"<{CTYPE[c.out]}>(~{c.args[0]})"


# ---- piecewise ----------------------------------------------------------------------------------------------


def _sign(c):
    a = c.args[0]
    if c.operand_kind == "f":
        return f"{c.helper('sign_f', c.out)}({a})"
    if c.operand_kind == "i":
        return f"<{CTYPE[c.out]}>(({a} > 0) - ({a} < 0))"
    if c.operand_kind == "u":
        return f"<{CTYPE[c.out]}>({a} > 0)"
    return a


def _relu(c):
    a = c.args[0]
    if c.operand_kind == "f":
        return f"({a} if (({a} > 0) | ({a} != {a})) else 0)"  # maximum(-0.0, 0) is +0.0, as in numpy
    if c.operand_kind == "i":
        return f"({a} if {a} >= 0 else 0)"
    return a


def _switch(c):
    cond, a, b = c.args
    return f"({a} if {cond} != 0 else {b})"


def _clip(c):
    x, lo, hi = c.args
    if c.operand_kind == "b":
        return f"(({x} | {lo}) & {hi})"
    suffix = "f" if c.operand_kind == "f" else "i"
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


# the ops whose rule is more than a call of their registration's C function
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
    "sigmoid": _float_helper("sigmoid_f"),
    "softplus": _float_helper("softplus_f"),
    "sign": _sign,
    "floor": _integral_identity(_call_c_function),
    "ceil": _integral_identity(_call_c_function),
    "round": _integral_identity(_call_c_function),
    "trunc": _integral_identity(_call_c_function),
    "isnan": lambda c: f"({c.args[0]} != {c.args[0]})" if kind(c.types[0]) == "f" else "False",
    # inf - inf is NaN, a finite x - x is 0 (NaN is not inf: x == x fails)
    "isinf": lambda c: (f"(({c.args[0]} == {c.args[0]}) and (({c.args[0]} - {c.args[0]}) != "
                        f"({c.args[0]} - {c.args[0]})))" if kind(c.types[0]) == "f" else "False"),
    "relu": _relu,
    "switch": _switch,
    "clip": _clip,
    "cast": _cast,
    "second": lambda c: c.args[1],  # b broadcast against a: a only gives the shape
}



def scalar_rules() -> dict[str, Callable[[ScalarCtx], str]]:
    """Every elementwise op this backend renders: ELEMWISE, and each op registered with a C function."""
    rules = {name: _call_c_function for name, r in RULES.items() if r.elemwise is not None and r.elemwise.c_function}
    rules.update(ELEMWISE)
    return rules


def calls_vector_math(op_name: str) -> bool:
    """Whether a loop computing op `op_name` calls vectorizable math functions (its registration says so)."""
    return RULES[op_name].elemwise.vector_math


def math_cimports() -> list[str]:
    """The names the module cimports from libc.math: every C function a rule or a helper calls."""
    names = {"INFINITY"} | {name for fns in _FLOAT_FNS.values() for name in fns.values()}
    for r in RULES.values():
        if r.elemwise is not None and r.elemwise.c_function:
            names |= {r.elemwise.c_function, r.elemwise.c_function + "f"}
    return sorted(names)


def vector_math_functions() -> tuple[tuple[str, int], ...]:
    """(float64 name, arity) of every C function an op's registration names as vectorizable, unary ones first:
    what modules declare with vector variants (and the toolchain's probe checks the C library has)."""
    infos = [r.elemwise for r in RULES.values() if r.elemwise is not None and r.elemwise.vector_math]
    return tuple(sorted(((info.c_function, info.nin) for info in infos if info.c_function), key=lambda f: f[1]))


def vector_math_declarations() -> list[str]:
    """C declarations of the vector variants of the vectorizable C functions (glibc's libmvec: with them gcc
    vectorizes the loops calling them)."""
    lines = []
    for function, nin in vector_math_functions():
        for ctype, name in (("double", function), ("float", function + "f")):
            params = ", ".join([ctype] * nin)
            lines += ["#pragma omp declare simd notinbranch", f"extern {ctype} {name}({params});"]
    return lines


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
        rule = scalar_rules()[op.name]
    except KeyError:
        raise NotImplementedError(f"the Cython backend has no rule for elementwise op {op.name!r}") from None
    types = loop_dtypes(op, fn, in_dtypes, out_dtype)
    converted = [a if t == d else f"(<{CTYPE[t]}>{a})" for a, d, t in zip(args, in_dtypes, types)]
    ctx = ScalarCtx(op, converted, types, out_dtype)
    ctx.expr = rule(ctx)
    return ctx


