"""The fused ops: a connected region of elementwise ops as ONE node (what the `fuse` pass makes).

    fused{expr}(i0, i1, ...)            the region's elementwise nodes as one scalar program; one output per
                                        root (sibling regions over the same operands share one node)
    fused_inplace{expr}(i0, i1, ...)    the same, and output 0 may be written into input 0's buffer
                                        (destroy_map {0: 0}; the `inplace` pass makes it)
    fused_reduce{expr, reduce}(...)     a region feeding a reduction: the program's one result is reduced by
                                        `reduce` (a reduce{kind, axis, keepdims, dtype} op) without ever
                                        being stored as an array

`expr` is a `ScalarProgram`: statements `t<j> = op(args)` over the node's inputs `i<k>` and earlier
statements, and the statements the node outputs. Each statement is an ordinary elementwise op, so the rules
of the fused ops are loops over the rules of their statements: type inference runs each statement's
`infer`, and the numpy reference runs each statement's `perform` (FAST_COMPILE-style evaluation of the fused
graph, used by tests as the oracle). The Cython backend renders one loop per fused node (codegen/lower.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.evaluate import check_declared_broadcasting
from aotgraph.graph.rules import OpRule, register, rule_of

INFIX = {"add": "+", "sub": "-", "mul": "*", "true_div": "/"}


@dataclass(frozen=True)
class ScalarProgram:
    """Statements ((op, (ref, ...)), ...) defining t0, t1, ...; refs are 'i<k>' (node input k) or 't<j>'.

    `outputs` are the refs the node returns (statements, or an input for a reduction of an input).
    `in_types` are the types of the node's inputs when it was made: the numpy reference checks declared
    broadcasting with them, as the reference backend does for each elementwise op.
    """

    stmts: tuple
    outputs: tuple
    in_types: tuple

    def __hash__(self) -> int:  # computed once: programs of hundreds of statements key caches and node tables
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.stmts, self.outputs, self.in_types))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:  # the cached hash is not pickled: string hashes differ between processes
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    def __repr__(self) -> str:
        texts = [self.text(ref) for ref in self.outputs]
        return texts[0] if len(texts) == 1 else "(" + ", ".join(texts) + ")"

    def text(self, ref: str) -> str:
        """`ref` as an expression over the inputs: infix for + - * / and unary minus, calls for the rest."""
        if ref[0] == "i":
            return ref
        op, args = self.stmts[int(ref[1:])]
        inner = [self.text(a) for a in args]
        if op.name in INFIX and len(args) == 2:
            return f"({inner[0]} {INFIX[op.name]} {inner[1]})"
        if op.name == "neg":
            return f"-{inner[0]}"
        params = "".join(f", {k}={v!r}" for k, v in op.params.items())
        return f"{op.name}({', '.join(inner)}{params})"

    @property
    def ops(self) -> list[str]:
        return [op.name for op, _ in self.stmts]


def stmt_types(program: ScalarProgram, in_types: list) -> dict[str, object]:
    """The type of every ref of `program` given its inputs' types (each statement's own inference)."""
    types = {f"i{k}": t for k, t in enumerate(in_types)}
    for j, (op, args) in enumerate(program.stmts):
        (types[f"t{j}"],) = rule_of(op).infer(op, [types[a] for a in args])
    return types


def _check_expr(name: str, op: Op, types: list) -> ScalarProgram:
    program = op.expr
    if not isinstance(program, ScalarProgram):
        raise TypeError(f"{name}: expr must be a ScalarProgram, got {type(program).__name__}")
    n = len(types)
    if len(program.in_types) != n or not all(r.is_super(t) for r, t in zip(program.in_types, types)):
        raise TypeError(f"{name}: the program was made for inputs of types {program.in_types}, got {tuple(types)}")
    for j, (stmt_op, args) in enumerate(program.stmts):
        if rule_of(stmt_op).elemwise is None:
            raise TypeError(f"{name}: statement t{j} applies {stmt_op!r}, which is not an elementwise op")
        for a in args:
            if not ((a[0] == "i" and int(a[1:]) < n) or (a[0] == "t" and int(a[1:]) < j)):
                raise TypeError(f"{name}: statement t{j} reads {a!r}, which is not an input or an earlier statement")
    return program


def _fused_infer(op: Op, types: list) -> list:
    program = _check_expr(op.name, op, types)
    if not program.outputs:
        raise TypeError(f"{op.name}: the program has no outputs")
    refs = stmt_types(program, types)
    return [refs[r] for r in program.outputs]


def _reduce_infer(op: Op, types: list) -> list:
    program = _check_expr(op.name, op, types)
    if len(program.outputs) != 1 or op.reduce.name != "reduce":
        raise TypeError(f"{op.name}: needs one program output and a reduce op")
    value = stmt_types(program, types)[program.outputs[0]]
    return rule_of(op.reduce).infer(op.reduce, [value])


# ---- the numpy reference: each statement's own perform, with the reference backend's checks -------------


@functools.lru_cache(maxsize=256)
def _stub_nodes(program: ScalarProgram) -> list:
    """Per statement, what evaluate.check_declared_broadcasting read from a node: op, input and output types, trace."""
    refs = stmt_types(program, list(program.in_types))
    stubs = []
    for j, (op, args) in enumerate(program.stmts):
        inputs = [SimpleNamespace(type=refs[a]) for a in args]
        stubs.append(SimpleNamespace(op=op, inputs=inputs, outputs=[SimpleNamespace(type=refs[f"t{j}"])],
                                     trace="<fused>"))
    return stubs


def evaluate_program(program: ScalarProgram, arrays) -> dict[str, np.ndarray]:
    """Values of every ref of `program`, each statement computed by its op's numpy reference."""
    values = {f"i{k}": a for k, a in enumerate(arrays)}
    for j, ((op, args), stub) in enumerate(zip(program.stmts, _stub_nodes(program))):
        operands = [values[a] for a in args]
        check_declared_broadcasting(stub, operands)
        with np.errstate(all="ignore"):
            (values[f"t{j}"],) = rule_of(op).perform(op, *operands)
    return values


def _fused_perform(op: Op, *arrays):
    values = evaluate_program(op.expr, arrays)
    return tuple(np.asarray(values[r]) for r in op.expr.outputs)


def _reduce_perform(op: Op, *arrays):
    values = evaluate_program(op.expr, arrays)
    return rule_of(op.reduce).perform(op.reduce, np.asarray(values[op.expr.outputs[0]]))


register("fused", OpRule(infer=_fused_infer, perform=_fused_perform))
register("fused_inplace", OpRule(infer=_fused_infer, perform=_fused_perform, destroy_map={0: 0}))
register("fused_reduce", OpRule(infer=_reduce_infer, perform=_reduce_perform))

FUSED_OPS = frozenset({"fused", "fused_inplace", "fused_reduce"})


def fused_op(program: ScalarProgram, *, inplace: bool = False, reduce: Op | None = None) -> Op:
    """The op of a fused node running `program` (reduced by `reduce` when given)."""
    if reduce is not None:
        return Op("fused_reduce", expr=program, reduce=reduce)
    return Op("fused_inplace" if inplace else "fused", expr=program)
