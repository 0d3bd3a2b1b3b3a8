"""The kernel IR stays symbolic until the loop emitter prints it, and what the emitter prints about an op comes
from the op's registration (no compiler needed here)."""

from __future__ import annotations

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.codegen.ir import ElemwiseStep, ReduceStep, ScalarConst, format_kernel
from aotgraph.codegen.loops import emit_statement
from aotgraph.codegen.lower import lower
from aotgraph.codegen.render import render_module
from aotgraph.codegen.scalar import math_cimports, scalar_rules, vector_math_declarations, vector_math_functions
from aotgraph.graph.rules import RULES
from aotgraph.rewrite import optimize_spec


def _kernel(inputs, outputs):
    f = ag.function(inputs, outputs, mode="FAST_COMPILE")
    return lower(optimize_spec(f._spec, "fast_run"))


def test_statements_hold_ops_and_operands_not_text():
    x, v = at.dmatrix("x"), at.dvector("v")
    kernel = _kernel([x, v], [at.sum(at.exp(x) * v + 2.5, axis=1), at.arcsin(x) ** 2])
    reduce_step, loop = (step.body for step in kernel.steps)
    assert isinstance(reduce_step, ReduceStep) and isinstance(loop, ElemwiseStep)
    exp, mul, add = reduce_step.stmts
    assert (exp.op.name, exp.args, exp.arg_dtypes) == ("exp", ("a0",), ("float64",))
    assert (mul.op.name, mul.args) == ("mul", ("t0", "a1"))
    assert add.op.name == "add" and add.args[0] == "t1" and add.args[1] == ScalarConst(2.5, "float64")
    assert reduce_step.result == "t2" and [s.op.name for s in loop.stmts] == ["arcsin", "sqr"]
    text = format_kernel(kernel)
    assert "t0: float64 = exp(a0)" in text and "t2: float64 = add(t1, 2.5)" in text
    assert "t0: float64 = arcsin(a0)" in text


def test_the_emitter_renders_a_statement_with_renamed_operands():
    x, n = at.lvector("x"), at.lvector("n")
    kernel = _kernel([x, n], [x**n + 3])
    (step,) = kernel.steps
    power, plus = step.body.stmts
    ctx = emit_statement(power)
    assert ctx.uses_err and ctx.expr == "_pow_i64(a0, a1, &err)" and "_pow_i64" in ctx.helpers
    assert emit_statement(power, lambda name: name + "_3").expr == "_pow_i64(a0_3, a1_3, &err)"
    renamed = emit_statement(plus, lambda name: name + "_3").expr
    assert "t0_3" in renamed and "<cnp.npy_int64>3" in renamed  # constants are printed, never renamed


def test_every_op_with_a_c_function_is_rendered_declared_and_probed():
    """An op registered with c_function needs no codegen entry: its scalar rule, its cimport and (with
    vector_math) its vector-variant declaration and the toolchain probe's list all come from the registration."""
    declared = "\n".join(vector_math_declarations())
    for name, rule in RULES.items():
        info = rule.elemwise
        if info is None or not info.c_function:
            continue
        assert name in scalar_rules()
        assert {info.c_function, info.c_function + "f"} <= set(math_cimports())
        if info.vector_math:
            assert (info.c_function, info.nin) in vector_math_functions()
            assert f"extern float {info.c_function}f(" in declared
    x = at.fvector("x")
    source = render_module([_kernel([x], [at.log10(x)])], runtime=False)
    assert "log10f(a0)" in source and "extern float log10f(float);" in source
