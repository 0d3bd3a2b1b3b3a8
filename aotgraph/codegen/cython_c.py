"""Translating the `nogil` Cython that aotgraph's emitters print (loop kernels, scalar helpers) into plain C.

Why: a direct-C backend skips Cython's per-process set-up and its boilerplate C, and the kernels already have
pure C semantics (cdivision, no bounds checks, no Python objects). This is not a Cython compiler: it accepts
the subset the emitters print (loops.py, reduction.py, scalar.py, matvec_kernel.py) and raises `Untranslatable`,
naming the line, for anything else, so a change in an emitter fails loudly instead of changing a result.

Expressions go through a tokenizer and Python's `ast`: a Cython cast `<T>x` (or an address `&x`) is first
rewritten into a call of its unary operand (`__ag_cast0(x)`), then the tree is printed fully parenthesised,
so the C means what Cython meant. Where C differs from Cython the output says what Cython meant: `//` is `/`
between integers (cdivision) and floors a float quotient (declared types tell which; else C11 `_Generic`),
`and`/`or` are `&&`/`||` only where both agree (a condition, 0/1 operands), `range`'s bound is evaluated
once, `a = b = e` evaluates e once, nested declarations are hoisted (Cython's locals are function-wide), and
prototypes of every function precede the definitions (Cython needs no order). `min`/`max` and the
temporaries use GNU C (`({ ... })`, `__typeof__`: gcc and clang); no prelude is needed.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import NamedTuple

from aotgraph.codegen.scalar import math_cimports

IND = "    "
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "/", ast.Mod: "%",
           ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~", ast.Not: "!"}
_AUGMENTED = {"+=", "-=", "*=", "/=", "//=", "%=", "|=", "&=", "^=", "<<=", ">>="}
_KEYWORDS = {"if", "else", "and", "or", "not", "return", "in", "elif", "while"}
_TYPE = re.compile(r"^(const\s+)?[A-Za-z_][\w.]*(\s+[A-Za-z_][\w.]*)*\s*\**$")
_INTEGRAL = re.compile(r"^(const )?(npy_u?int\d*|npy_u?intp|npy_bool|bint|int|long|short|char|unsigned|signed)( \w+)*$")
_FLOATS = ("float", "double", "npy_float32", "npy_float64")
# Python builtins Cython compiles its own way (abs of a long is labs, int() converts...): never C calls (pow is
# libc's: the modules cimport it from libc.math, as every C math function a rule calls)
_BUILTINS = {"abs", "int", "float", "bool", "round", "len", "sum", "divmod", "range", "print", "any", "all"}
_C_KEYWORDS = {"auto", "case", "char", "default", "do", "double", "enum", "extern", "float", "goto", "int", "long",
               "register", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
               "void", "volatile", "restrict", "inline", "const", "_Bool", "_Generic"}
_LIBM = set(math_cimports()) - {"INFINITY"} | {"floor", "floorf", "fmod", "fmodf", "copysign", "copysignf"}
_FUNCTION = re.compile(r"^cdef\s+(?:(inline)\s+)?(.*?[\w*])\s*\b(\w+)\s*\((.*)\)\s*([\w\s]*?)\s*:$")


_TOKEN = re.compile(r"(?P<NUMBER>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<NAME>[A-Za-z_]\w*)"
                    r"|(?P<OP>\*\*=?|//=?|<<=?|>>=?|[-+*/%&|^<>=!]=|[-+*/%&|^~<>=()\[\]{},.:])|(?P<BAD>\S)")


class _Token(NamedTuple):
    """A token of the subset: kind NAME, NUMBER or OP, its text and where it lies in the line."""

    type: str
    string: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token] | None:
    """The tokens of `text` (a regular expression: several times quicker than Python's tokenize); None: a
    character outside the subset (a string, a comment)."""
    out = [_Token(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    return None if any(t.type == "BAD" for t in out) else out


class Untranslatable(ValueError):
    """A construct outside the supported subset (message names the line)."""


def _fail(line: int, text: str, why: str) -> Untranslatable:
    return Untranslatable(f"line {line}: {text.strip()!r}: {why}")


def ctype(text: str) -> str:
    """The C spelling of a Cython type: numpy's `cnp.` prefix dropped (its headers define the names), bint -> int."""
    text = " ".join(text.replace("cnp.", "").split())
    text = re.sub(r"\s*\*", "*", text)
    return re.sub(r"\bbint\b", "int", text)


class _Expr:
    """One expression's translation (casts found on tokens, the rest printed from Python's ast)."""

    def __init__(self, text: str, line: int, counter: list[int], types: dict[str, str] | None = None):
        self.text, self.line, self.counter = text.strip(), line, counter
        self.types = types or {}  # C type of each name in scope (arrays as pointers): integer `//` is C's `/`
        self.casts: dict[str, str] = {}
        toks = _tokens(self.text)
        if toks is None:
            raise self.fail("a character outside the supported subset")
        self.toks = toks

    def fail(self, why: str) -> Untranslatable:
        return _fail(self.line, self.text, why)

    def c(self, truth: bool = False) -> str:
        """The C expression (truth: only its truth value is used, as in an if's condition)."""
        source = self.rewrite(0, len(self.toks))
        try:
            tree = ast.parse(source, mode="eval").body
        except SyntaxError:
            raise self.fail("not an expression of the supported subset") from None
        return self.emit(tree, truth)

    # ---- tokens: casts and addresses into calls of their operand ----
    def rewrite(self, i: int, end: int) -> str:
        out, prefix = [], True  # prefix: a `<` or `&` here starts a unary expression (a cast, an address)
        while i < end:
            tok = self.toks[i]
            if prefix and tok.string in ("<", "&"):
                text, i = self.unary(i, end)
                out.append(text)
                prefix = False
                continue
            out.append(tok.string)
            prefix = tok.type == "OP" and tok.string not in (")", "]") or tok.string in _KEYWORDS
            i += 1
        return " ".join(out)

    def match(self, i: int, end: int) -> int:
        """Index of the bracket closing the one at i."""
        depth = 0
        for j in range(i, end):
            s = self.toks[j].string
            depth += s in ("(", "[", "{")
            depth -= s in (")", "]", "}")
            if depth == 0:
                return j
        raise self.fail("unbalanced brackets")

    def unary(self, i: int, end: int) -> tuple[str, int]:
        """(Python text, index after it) of the unary expression at i: a cast binds like C's unary operators."""
        if i >= end:
            raise self.fail("an operator without an operand")
        s = self.toks[i].string
        if s in ("-", "+", "~"):
            text, j = self.unary(i + 1, end)
            return f"{s} {text}", j
        if s == "&":
            text, j = self.unary(i + 1, end)
            return f"__ag_addr({text})", j
        if s == "<":
            close = next((j for j in range(i + 1, end) if self.toks[j].string == ">"), None)
            if close is None:
                raise self.fail("a cast without its closing '>'")
            type_text = re.sub(r"\s*\.\s*", ".", " ".join(t.string for t in self.toks[i + 1:close]))
            if not _TYPE.match(type_text):
                raise self.fail(f"cast to an unsupported type {type_text!r}")
            name = f"__ag_cast{len(self.casts)}"
            self.casts[name] = ctype(type_text)
            text, j = self.unary(close + 1, end)
            return f"{name}({text})", j
        if s in ("(", "["):
            j = self.match(i, end)
            text = s + self.rewrite(i + 1, j) + self.toks[j].string
            i = j + 1
        elif self.toks[i].type in ("NAME", "NUMBER"):
            text, i = s, i + 1
        else:
            raise self.fail(f"unexpected {s!r} after a cast or '&'")
        while i < end and self.toks[i].string in ("(", "[", "."):  # postfix: calls, indexing, attributes
            if self.toks[i].string == ".":
                text, i = text + "." + self.toks[i + 1].string, i + 2
                continue
            j = self.match(i, end)
            text, i = text + self.toks[i].string + self.rewrite(i + 1, j) + self.toks[j].string, j + 1
        return text, i

    # ---- the tree, printed as C ----
    def emit(self, node: ast.expr, truth: bool = False) -> str:
        e = self.emit
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cnp":
            return node.attr
        if isinstance(node, ast.UnaryOp):
            return f"({_UNARY[type(node.op)]}{e(node.operand, isinstance(node.op, ast.Not))})"
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.BoolOp):
            if not truth and not all(map(_boolean, node.values)):
                raise self.fail("'and'/'or' of values that are not 0/1 (Python's result is an operand, C's 0 or 1)")
            joined = (" && " if isinstance(node.op, ast.And) else " || ").join(e(v, True) for v in node.values)
            return f"({joined})"
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
                raise self.fail("a chained comparison (or 'is'/'in') has no C equivalent")
            return f"({e(node.left)} {_CMPOPS[type(node.ops[0])]} {e(node.comparators[0])})"
        if isinstance(node, ast.IfExp):
            return self.choice(e(node.test, True), e(node.body), e(node.orelse), self.common(node.body, node.orelse))
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
            return f"{e(node.value)}[{e(node.slice)}]"
        if isinstance(node, ast.Call) and not node.keywords:
            return self.call(node)
        raise self.fail(f"unsupported expression {type(node).__name__}")

    def binop(self, node: ast.BinOp) -> str:
        left, right = self.emit(node.left), self.emit(node.right)
        if type(node.op) not in _BINOPS:
            raise self.fail(f"unsupported operator {type(node.op).__name__} (Cython's '**' has no C operator)")
        if isinstance(node.op, ast.FloorDiv) and not (self.integral(node.left) and self.integral(node.right)):
            # Cython floors a float quotient (by C's usual conversions: double if either is, else float)
            quotient = f"({left} / {right})"
            types = {self.type_of(node.left), self.type_of(node.right)}
            if types <= set(_FLOATS) | {t for t in types if t and _INTEGRAL.match(t)}:
                return f"{'floor' if types & {'double', 'npy_float64'} else 'floorf'}{quotient}"
            # types not plain to see: C11's _Generic picks
            return (f"_Generic({quotient}, float: floorf({quotient}), double: floor({quotient}), "
                    f"long double: floorl({quotient}), default: {quotient})")
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod)):
            # Cython writes an integer literal that meets a C float as a double literal (`1 + e` is `1.0 + e`): the
            # arithmetic is then double, also for a float e (a float32 sigmoid rounds once, from double)
            if _int_literal(node.left) and self.floating(node.right):
                left = f"({_literal_value(node.left)}.0)"
            if _int_literal(node.right) and self.floating(node.left):
                right = f"({_literal_value(node.right)}.0)"
        return f"({left} {_BINOPS[type(node.op)]} {right})"  # a float % is a C error: never silently wrong

    def floating(self, node: ast.expr) -> bool:
        """Whether `node` is plainly of a C floating type (then an integer literal it meets is a double in Cython)."""
        t = self.type_of(node)
        if t is not None:
            return t.removeprefix("const ") in _FLOATS
        parts = {ast.UnaryOp: lambda: [node.operand], ast.BinOp: lambda: [node.left, node.right],
                 ast.IfExp: lambda: [node.body, node.orelse]}.get(type(node), lambda: [])()
        return any(map(self.floating, parts))

    def type_of(self, node: ast.expr) -> str | None:
        """The C type of `node` where it is plain to see (None: not known)."""
        if isinstance(node, ast.Constant):
            return "double" if isinstance(node.value, float) else "int"
        if isinstance(node, ast.Name):
            return self.types.get(node.id)
        if isinstance(node, ast.Subscript):
            t = self.type_of(node.value)
            return t[:-1].strip() if t and t.endswith("*") else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.casts:
            return self.casts[node.func.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.types.get(node.func.id + "()") or _libm_type(node.func.id)
        if _boolean(node):
            return "int"
        parts = {ast.UnaryOp: lambda: [node.operand], ast.BinOp: lambda: [node.left, node.right],
                 ast.IfExp: lambda: [node.body, node.orelse]}.get(type(node), lambda: [])()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            parts = node.args
        return "npy_intp" if parts and all(map(self.integral, parts)) else None

    def integral(self, node: ast.expr) -> bool:
        t = self.type_of(node)
        return t is not None and bool(_INTEGRAL.match(t))

    def constant(self, value) -> str:
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, int):
            return str(value) + ("ULL" if value > 2**63 - 1 else "")
        if isinstance(value, float):
            return repr(value)  # the shortest text that reads back as the same double
        raise self.fail(f"unsupported constant {value!r}")

    def choice(self, test: str, yes: str, no: str, type_: str | None) -> str:
        """`yes` if `test` else `no`, as Cython writes it: an if/else into a temporary of the branches' type (`type_`,
        else C's type of `?:`, which promotes two int8 to int). gcc -O1 if-converts that in a loop it vectorizes,
        not always a `?:` inside an expression (a float32 sigmoid's chunk loop was left scalar), nor a temporary of
        another width than the loop's (an int8 abs among float32 math left a whole fused loop scalar)."""
        self.counter[0] += 1
        r = f"__ag_c{self.counter[0]}"
        declared = type_ or f"__typeof__({test} ? {yes} : {no})"
        return f"({{ {declared} {r}; if ({test}) {r} = {yes}; else {r} = {no}; {r}; }})"

    def common(self, a: ast.expr, b: ast.expr) -> str | None:
        """Cython's type of a choice between `a` and `b` where it is plain to see: theirs when they agree, the
        other's when one is an integer literal (Cython makes it of that type)."""
        ta, tb = (None if t is None else t.removeprefix("const ") for t in (self.type_of(a), self.type_of(b)))
        if _int_literal(a) and tb is not None:  # the temporary is assigned: never const
            return tb
        if _int_literal(b) and ta is not None:
            return ta
        return ta if ta is not None and ta == tb else None

    def call(self, node: ast.Call) -> str:
        args = [self.emit(a) for a in node.args]
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in self.casts:
            return f"(({self.casts[name]}){args[0]})"
        if name == "__ag_addr":
            return f"(&{args[0]})"
        if name in ("min", "max"):
            if len(args) != 2:
                raise self.fail(f"{name} of {len(args)} arguments")
            # as Cython: min(a, b) is b < a ? b : a, max(a, b) is b > a ? b : a (each argument evaluated once)
            self.counter[0] += 1
            a, b = f"__ag_a{self.counter[0]}", f"__ag_b{self.counter[0]}"
            op = "<" if name == "min" else ">"
            choice = self.choice(f"({b} {op} {a})", b, a, self.common(node.args[1], node.args[0]))
            return f"({{ __typeof__({args[0]}) {a} = {args[0]}; __typeof__({args[1]}) {b} = {args[1]}; {choice}; }})"
        if name in _BUILTINS:
            raise self.fail(f"Python's {name}() is compiled by Cython, not a C function")
        if isinstance(node.func, ast.Starred) or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("unsupported call")
        return f"{self.emit(node.func)}({', '.join(args)})"


def _int_literal(node: ast.expr) -> bool:
    """An integer literal, negative ones included (`-3`: a minus applied to 3 in Python's tree)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _libm_type(name: str) -> str | None:
    """The return type of a C math function the modules call (`expf`: float; `exp`: double), else None."""
    if name not in _LIBM:
        return None
    return "float" if name.endswith("f") and name[:-1] in _LIBM else "double"


def _literal_value(node: ast.expr) -> int:
    return -node.operand.value if isinstance(node, ast.UnaryOp) else node.value


# ---- statements ---------------------------------------------------------------------------------------------

class _Line:
    """A logical line (brackets may continue it) and the lines indented under it."""

    def __init__(self, number: int, indent: int, text: str):
        self.number, self.indent, self.text = number, indent, text
        self.children: list[_Line] = []


def _logical_lines(lines: list[str], first: int) -> list[_Line]:
    """Comments dropped, bracketed continuations joined; `first` is the number of lines[0]."""
    out: list[_Line] = []
    depth = 0
    for k, raw in enumerate(lines):
        code = raw.split("#", 1)[0].rstrip()  # no strings in the subset: a '#' starts a comment
        if "'" in code or '"' in code:
            raise _fail(first + k, raw, "strings are not in the supported subset")
        if not code.strip():
            continue
        if depth > 0:
            out[-1].text += " " + code.strip()
        else:
            out.append(_Line(first + k, len(code) - len(code.lstrip()), code.strip()))
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    return out


def _nest(lines: list[_Line]) -> list[_Line]:
    """The lines as a tree by indentation."""
    roots: list[_Line] = []
    stack: list[_Line] = []
    for line in lines:
        while stack and line.indent <= stack[-1].indent:
            stack.pop()
        siblings = stack[-1].children if stack else roots
        if siblings and line.indent != siblings[0].indent:
            raise _fail(line.number, line.text, "inconsistent indentation")
        siblings.append(line)
        stack.append(line)
    return roots


def _split_top(toks: list[_Token], text: str, seps: set[str]) -> list[tuple[str, str]]:
    """(text, separator before it) of the parts of `text` between top-level tokens in `seps`."""
    parts, depth, start, sep = [], 0, 0, ""
    for t in toks:
        depth += t.string in ("(", "[", "{")
        depth -= t.string in (")", "]", "}")
        if depth == 0 and t.string in seps:
            parts.append((text[start:t.start].strip(), sep))
            start, sep = t.end, t.string
    return parts + [(text[start:].strip(), sep)]


class _Function:
    """The C body of one function: declarations in nested blocks are hoisted (Cython's locals are function-wide)."""

    def __init__(self, types: dict[str, str], params: dict[str, str], counter: list[int], addressed: set[str]):
        self.types = {**types, **params}  # module-level names, then the function's
        self.locals = set(params)
        self.counter = counter
        self.addressed = addressed  # names that may be changed through a pointer (after a '&')
        self.hoisted: list[str] = []
        self.assigned: list[set[str]] = [set()]  # names assigned in each enclosing for loop's body
        self.depth = 0  # of the block being translated (0: the function's body)

    def expr(self, text: str, line: _Line, truth: bool = False) -> str:
        return _Expr(text, line.number, self.counter, self.types).c(truth)

    def integral(self, text: str, line: _Line) -> bool:
        parsed = _Expr(text, line.number, [0], self.types)
        return parsed.integral(ast.parse(parsed.rewrite(0, len(parsed.toks)), mode="eval").body)

    def floating(self, text: str, line: _Line) -> bool:
        parsed = _Expr(text, line.number, [0], self.types)
        return parsed.floating(ast.parse(parsed.rewrite(0, len(parsed.toks)), mode="eval").body)

    def block(self, lines: list[_Line]) -> list[str]:
        """C lines of a block's statements (indented relative to the block)."""
        out: list[str] = []
        previous = ""
        for line in lines:
            keyword = line.text.split(None, 1)[0].rstrip(":")
            if keyword in ("elif", "else") and previous not in ("if", "elif"):
                raise _fail(line.number, line.text, f"'{keyword}' must follow an if (Python's for/while-else is not C)")
            out += self.statement(line, keyword)
            previous = keyword
        return out

    def body(self, line: _Line) -> list[str]:
        """The indented block under a compound statement, then the closing brace."""
        if not line.children:
            raise _fail(line.number, line.text, "a compound statement needs an indented block on the next lines")
        self.depth += 1
        inner = self.block(line.children)
        self.depth -= 1
        return [IND + c for c in inner] + ["}"]

    def statement(self, line: _Line, keyword: str) -> list[str]:
        text = line.text
        if line.children and not text.endswith(":"):
            raise _fail(line.number, text, "unexpected indented lines")
        if keyword in ("if", "elif", "while"):
            if not text.endswith(":"):
                raise _fail(line.number, text, "a compound statement on one line")
            head = {"if": "if", "elif": "else if", "while": "while"}[keyword]
            return [f"{head} ({self.expr(text[len(keyword):-1], line, True)}) {{"] + self.body(line)
        if text == "else:":
            return ["else {"] + self.body(line)
        if keyword == "for":
            return self.for_range(line)
        if text in ("break", "continue"):
            return [text + ";"]
        if text == "pass":
            return [";"]
        if keyword == "return":
            value = text[len("return"):].strip()
            return [f"return {self.expr(value, line)};" if value else "return;"]
        if keyword == "cdef":
            return self.declaration(line)
        if keyword in ("with", "try", "raise", "def", "cpdef", "del", "global", "import", "from", "lambda"):
            raise _fail(line.number, text, f"'{keyword}' needs Python (the glue's part)")
        return self.assignment(line)

    def declaration(self, line: _Line) -> list[str]:
        decls = _declarations(line.text[len("cdef"):].strip(), line, self.expr)
        out = []
        for type_, name, dims, init in decls:
            self.locals.add(name)
            self.types[name] = type_ + "*" * dims.count("[")
            if self.depth == 0:
                out.append(f"{type_} {name}{dims}" + (f" = {init};" if init else ";"))
            else:
                self.hoisted.append(f"{type_} {name}{dims};")
                out += [f"{name} = {init};"] if init else []
        return out

    def assignment(self, line: _Line) -> list[str]:
        text = line.text
        parts = _split_top(_Expr(text, line.number, self.counter).toks, text, {"="} | _AUGMENTED)
        if len(parts) == 1:
            return [self.expr(text, line) + ";"]
        if any(sep in _AUGMENTED for _, sep in parts) and len(parts) != 2:
            raise _fail(line.number, text, "an augmented assignment with more than one target")
        targets = [self.expr(t, line) for t, _ in parts[:-1]]
        for t, _ in parts[:-1]:
            for names in self.assigned:
                names.add(t.split("[")[0].strip("() "))
        value, op = self.expr(parts[-1][0], line), parts[-1][1]
        if op == "//=" and not (self.integral(parts[0][0], line) and self.integral(parts[1][0], line)):
            raise _fail(line.number, text, "'//=' of operands not plainly integers (Cython floors a float quotient)")
        if op in _AUGMENTED:
            literal = re.fullmatch(r"-?\d+", parts[1][0].replace(" ", ""))
            if op in ("+=", "-=", "*=", "/=") and literal and self.floating(parts[0][0], line):
                value = f"({parts[1][0].replace(' ', '')}.0)"  # as in an expression: `x -= 1` on a float is x - 1.0
            return [f"{targets[0]} {op.replace('//=', '/=')} {value};"]
        if len(targets) == 1:
            return [f"{targets[0]} = {value};"]
        # r0 = r1 = e: e once, converted to each target's type (as Cython), left to right
        self.counter[0] += 1
        tmp = f"__ag_t{self.counter[0]}"
        return ["{", IND + f"__typeof__({value}) {tmp} = {value};"] + [IND + f"{t} = {tmp};" for t in targets] + ["}"]

    def for_range(self, line: _Line) -> list[str]:
        """A C for loop; Python evaluates range's bounds once, so a bound the body may change goes in a temporary."""
        m = re.match(r"^for\s+(\w+)\s+in\s+(range\s*\(.*\))\s*:$", line.text)
        if not m:
            raise _fail(line.number, line.text, "only 'for NAME in range(...):' loops are supported")
        var = m.group(1)
        parsed = _Expr(m.group(2), line.number, self.counter, self.types)
        call = ast.parse(parsed.rewrite(0, len(parsed.toks)), mode="eval").body
        if not 1 <= len(call.args) <= 3 or call.keywords:
            raise _fail(line.number, line.text, "range of 1 to 3 arguments")
        args = [parsed.emit(a) for a in call.args]
        start, stop = ("0", args[0]) if len(args) == 1 else (args[0], args[1])
        step = 1
        if len(call.args) == 3:
            step = ast.literal_eval(call.args[2]) if _is_int(call.args[2]) else 0
            if step == 0:
                raise _fail(line.number, line.text, "the step of range must be a non-zero integer literal")
        self.assigned.append(set())
        body = self.body(line)
        assigned = self.assigned.pop()
        for names in self.assigned:
            names |= assigned | {var}
        if var in assigned:
            raise _fail(line.number, line.text, "the loop's body assigns its loop variable")
        compare = "<" if step > 0 else ">"
        increment = f"{var} += {step}" if step != 1 else f"{var}++"
        stop_node = call.args[0] if len(args) == 1 else call.args[1]
        stable = _is_int(stop_node) or (stop in self.locals and stop not in assigned | self.addressed)
        if stable:  # a literal, or a local the body never assigns: the same value at every test
            return [f"for ({var} = {start}; {var} {compare} {stop}; {increment}) {{"] + body
        self.counter[0] += 1
        bound = f"__ag_e{self.counter[0]}"
        loop = [f"for ({var} = {start}; {var} {compare} {bound}; {increment}) {{"] + body
        return ["{", IND + f"__typeof__({stop}) {bound} = {stop};"] + [IND + c for c in loop] + ["}"]


def _boolean(node: ast.expr) -> bool:
    """Whether `node` is 0 or 1 in C and False or True in Cython (then `and`/`or` are C's)."""
    if isinstance(node, ast.BoolOp):
        return all(map(_boolean, node.values))
    return (isinstance(node, ast.Compare) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
            or isinstance(node, ast.Constant) and isinstance(node.value, bool))


def _is_int(node: ast.expr) -> bool:
    """Whether `node` is an integer literal, possibly negated."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _declarations(text: str, line: _Line, expr) -> list[tuple[str, str, str, str]]:
    """(C type, name, array dims, C initializer) of `cdef T a, b = e, c[n]`: every name gets the full type T."""
    toks = _Expr(text, line.number, [0]).toks
    items = [t for t, _ in _split_top(toks, text, {","})]
    first = re.match(r"^(.*?[\w*])\s*\b(\w+)\s*((?:\[[^\]]*\])*)\s*(?:=(.*))?$", items[0])
    if not first or not _TYPE.match(first.group(1).strip()):
        raise _fail(line.number, line.text, "not a declaration 'cdef TYPE NAME[, NAME]'")
    type_ = ctype(first.group(1))
    out = []
    for k, item in enumerate(items):
        m = first if k == 0 else re.match(r"^()(\w+)\s*((?:\[[^\]]*\])*)\s*(?:=(.*))?$", item)
        if not m or m.group(2) in _C_KEYWORDS:
            raise _fail(line.number, line.text, f"cannot read the declarator {item!r} (or it names a C keyword)")
        dims = "".join(f"[{expr(d, line)}]" for d in re.findall(r"\[([^\]]*)\]", m.group(3)))
        init = expr(m.group(4), line) if m.group(4) else ""
        out.append((type_, m.group(2), dims, init))
    return out


# ---- top-level items ----------------------------------------------------------------------------------------

def _function(lines: list[str], first: int, counter: list[int], types: dict[str, str]) -> list[str]:
    head = lines[0].split("#", 1)[0].strip()
    m = _FUNCTION.match(head)
    if not m:
        raise _fail(first, lines[0], "not a function header 'cdef [inline] RET NAME(PARAMS) noexcept nogil:'")
    inline, ret, name, params, quals = m.groups()
    if "nogil" not in quals.split() or not set(quals.split()) <= {"noexcept", "nogil"}:
        raise _fail(first, lines[0], "a cdef function without 'nogil' (or with 'except') needs Python: the glue's part")
    if not _TYPE.match(ret):
        raise _fail(first, lines[0], f"unsupported return type {ret!r}")
    names = {}
    for p in filter(None, (p.strip() for p in params.split(","))):
        pm = re.match(r"^(.*?[\w*])\s*\b(\w+)$", p)
        if not pm or not _TYPE.match(pm.group(1)) or pm.group(2) in _C_KEYWORDS:
            raise _fail(first, lines[0], f"unsupported parameter {p!r}")
        names[pm.group(2)] = ctype(pm.group(1))
    c_params = [f"{t} {n}" for n, t in names.items()]
    # conservative: every name after an '&' anywhere in the body (a binary '&' too)
    addressed = set(re.findall(r"&\s*(\w+)", "\n".join(line.split("#", 1)[0] for line in lines[1:])))
    fn = _Function(types, names, counter, addressed)
    body = [IND + c for c in fn.block(_nest(_logical_lines(lines[1:], first + 1)))]
    if not body:
        raise _fail(first, lines[0], "a function without a body")
    header = f"static {'inline ' if inline else ''}{ctype(ret)} {name}({', '.join(c_params) or 'void'}) {{"
    return [header] + [IND + h for h in fn.hoisted] + body + ["}"]


def _enum(lines: list[str], first: int, counter: list[int]) -> list[str]:
    members = []
    for line in _logical_lines(lines[1:], first + 1):
        m = re.match(r"^(\w+)\s*(?:=(.*))?$", line.text)
        if not m:
            raise _fail(line.number, line.text, "an enum member is 'NAME [= VALUE]'")
        value = f" = {_Expr(m.group(2), line.number, counter).c()}" if m.group(2) else ""
        members.append(f"{IND}{m.group(1)}{value},")
    return ["enum {"] + members + ["};"]


def _extern(lines: list[str], first: int) -> list[str]:
    """`cdef extern from *:` with a verbatim C block: the block (a Python string: its escapes apply)."""
    rest = "\n".join(lines[1:])
    m = re.match(r'^\s*"""(.*?)"""', rest, re.S)
    if not m:
        if '"""' in rest:
            raise _fail(first, lines[0], "the C block must come first in 'cdef extern from *:'")
        return []
    block = ast.literal_eval('"""' + m.group(1) + '"""')
    return textwrap.dedent(block).strip("\n").split("\n")


def _items(source: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each top-level item; a triple-quoted string may leave column 0."""
    lines = source.split("\n")
    items: list[tuple[int, list[str]]] = []
    in_string = False
    for k, line in enumerate(lines, start=1):
        following = next((lines[j] for j in range(k, len(lines)) if lines[j].strip()), "")
        inside = line.startswith("#") and items and following[:1].isspace()  # a comment at column 0 in a body
        starts = line.strip() and not line[0].isspace() and not in_string and not inside
        if starts:
            items.append((k, [line]))
        elif items:
            items[-1][1].append(line)
        elif line.strip():
            raise _fail(k, line, "unexpected indentation at the top level")
        in_string ^= line.count('"""') % 2 == 1
    return items


def translate(source: str) -> str:
    """C text for Cython `source` (the subset the module docstring names). Cython needs no order where C does:
    the C blocks come first, then enums and module variables, then a prototype of every function, then the
    functions (so each sees every name, as in Cython)."""
    blocks: list[str] = []
    decls: list[str] = []
    functions: list[tuple[list[str], int, list[str]]] = []
    counter = [0]  # numbers the temporaries of the whole translation
    types: dict[str, str] = {}  # of module-level names
    comments: list[str] = []  # top-level comments, kept before the next item
    for first, lines in _items(source):
        head = lines[0].strip()
        if head.startswith("#"):
            comments.append("/* " + head[1:].strip().replace("*/", "* /") + " */")
            continue
        if re.match(r"^cdef\s+extern\s+from\s+\*\s*:$", head):
            blocks += comments + _extern(lines, first) + [""]
        elif re.match(r"^cdef\s+enum(\s+\w+)?\s*:$", head):
            c = _enum(lines, first, counter)
            types.update((line.split("=")[0].strip(" ,"), "int") for line in c[1:-1])
            decls += comments + c + [""]
        elif head.startswith("cdef") and head.split("#", 1)[0].rstrip().endswith(":"):
            functions.append((comments, first, lines))
        elif head.startswith("cdef ") and len(_logical_lines(lines, first)) == 1:
            line = _logical_lines(lines, first)[0]
            parsed = _declarations(line.text[len("cdef"):].strip(), line,
                                   lambda text, at: _Expr(text, at.number, counter, types).c())
            decls += comments + [f"static {t} {n}{d}" + (f" = {i};" if i else ";") for t, n, d, i in parsed] + [""]
            types.update((n, t + "*" * d.count("[")) for t, n, d, _ in parsed)
        else:
            raise _fail(first, lines[0], "not a nogil cdef function, extern C block, enum or module variable")
        comments = []
    for _, _, lines in functions:  # each function's return type, for `1 + f(x)` (Cython knows it)
        m = _FUNCTION.match(lines[0].strip())
        if m:
            types[m.group(3) + "()"] = ctype(m.group(2))
    prototypes, bodies = [], []
    for before, first, lines in functions:
        c = _function(lines, first, counter, types)
        prototypes.append(c[0][: -len(" {")] + ";")
        bodies += before + c + [""]
    return "\n".join(blocks + decls + prototypes + ([""] if prototypes else []) + bodies + comments)
