"""Lowering: a FunctionSpec (optimized: see aotgraph/rewrite, where the `fuse` pass groups elementwise
regions into fused nodes) becomes a `Kernel` (see ir.py).

The passes, in order:
1. `toposort` the nodes computing the spec's results;
2. `name_values`: every graph input, constant and node output gets an identifier (`v<n>`, `c<n>`) in
   order of appearance, so the same spec lowers to the same text in every process;
3. each node becomes one step: a fused, fused_inplace or elementwise node one loop (`ElemwiseStep`,
   its statements rendered by the scalar rules of scalar.py), a fused_reduce node or a reduce node one
   reduction loop (`ReduceStep`, reduction rules in reduction.py), every other node a step made by its
   rule in ops.py. The keys of `scalar_rules()`, the reduction kinds and `OPS` are what this backend supports;
   fusion itself is the rewrite pass's job, never done here;
4. liveness: after each step, the intermediates nobody reads any more are released.
"""

from __future__ import annotations

import numpy as np

from aotgraph.codegen import matvec_kernel, random_kernel  # noqa: F401 - register OPS['fused_matvec'], ['random_draw']
from aotgraph.codegen import ops as op_rules
from aotgraph.codegen.dtypes import literal
from aotgraph.codegen.ir import (
    ONCE,
    PER_ELEMENT,
    PER_ROW,
    Buffer,
    CallStep,
    ElemwiseStep,
    Kernel,
    Operand,
    ReduceStep,
    ScalarConst,
    ScalarScanStep,
    ScalarStmt,
    ScanStep,
    Step,
    program_statements,
)
from aotgraph.codegen.scalar import scalar_rules, sets_error_flag
from aotgraph.codegen.scanloop import SCAN_HELPERS
from aotgraph.graph.basic import Apply, Constant, Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite import rewrite_graph
from aotgraph.scan_module.op import with_init
from aotgraph.tensor.fused import FUSED_OPS, ScalarProgram, stmt_types
from aotgraph.tensor.reduction import KINDS


def supported_ops() -> list[str]:
    """The op names the Cython backend renders."""
    return sorted(set(scalar_rules()) | set(op_rules.OPS) | FUSED_OPS | {"scan"})


def is_elemwise(node: Apply) -> bool:
    return rule_of(node.op).elemwise is not None


def _op_names(node: Apply) -> list[str]:
    if node.op.name in FUSED_OPS:
        return [node.op.name] + node.op.expr.ops
    return [node.op.name]


def check_supported(nodes: list[Apply]) -> None:
    known = set(scalar_rules()) | set(op_rules.OPS) | FUSED_OPS | {"scan"}
    missing = sorted({name for n in nodes for name in _op_names(n) if name not in known})
    if missing:
        where = next(n for n in nodes if missing[0] in _op_names(n)).trace
        raise NotImplementedError(
            f"the Cython backend (mode FAST_RUN) cannot compile op(s) {', '.join(map(repr, missing))} "
            f"(first created at {where}); use mode='FAST_COMPILE' for this function"
        )


def lower(spec, name: str = "k0") -> Kernel:
    """The kernel computing `spec.results` from `spec.graph_inputs`."""
    results = spec.results
    nodes = toposort(results)
    check_supported(nodes)
    lowering = _Lowering(spec.graph_inputs, nodes, results)
    return lowering.run(name)


def loop_reduce(node: Apply) -> bool:
    """Whether a reduce node becomes a reduction loop (else a numpy call)."""
    return node.op.name == "reduce" and node.op.kind in KINDS and bool(node.op.axis)


class _Lowering:
    def __init__(self, graph_inputs: list[Variable], nodes: list[Apply], results: list[Variable]):
        self.graph_inputs = graph_inputs
        self.input_position = {id(v): i for i, v in enumerate(graph_inputs)}
        self.nodes = nodes
        self.results = results
        self.names: dict[int, Buffer] = {}
        self.consts: list[Buffer] = []
        self.const_values: list = []
        self.helpers: dict[str, str] = {}
        self.mutable_checks: list = []
        self.counter = 0
        self.name = ""
        self.inner_descriptions: list = []
        self.scans: list[ScanStep] = []

    # ---- naming ----------------------------------------------------------------------------------------
    def new_buffer(self, v: Variable, prefix: str = "v") -> Buffer:
        if prefix == "c":
            name = f"c{len(self.consts)}"
        else:
            name = f"v{self.counter}"
            self.counter += 1
        buf = Buffer(name, v.type.dtype, v.type.ndim, tuple(v.type.shape))
        self.names[id(v)] = buf
        return buf

    def buffer(self, v: Variable) -> Buffer:
        """The buffer holding `v` (a constant used as an array becomes a data constant)."""
        if id(v) not in self.names:
            if not isinstance(v, Constant):
                raise AssertionError(f"lowering met {v!r} before it was computed")
            buf = self.new_buffer(v, "c")
            self.consts.append(buf)
            self.const_values.append(np.asarray(v.data))
        return self.names[id(v)]

    # ---- the passes ------------------------------------------------------------------------------------
    def run(self, name: str) -> Kernel:
        self.name = name
        inputs = [self.new_buffer(v) for v in self.graph_inputs]
        steps = []
        for index, node in enumerate(self.nodes):
            body = self.lower_node(node)
            self.helpers.update(getattr(body, "helpers", {}) or {})
            steps.append(Step(body, _label(index, node), _describe(node)))
        result_names = [self.buffer(v).name for v in self.results]
        _liveness(steps, {b.name for b in inputs} | {b.name for b in self.consts} | set(result_names))
        for scan in self.scans:  # the inner kernels' descriptions follow the steps'
            scan.where_offset += len(steps)
        return Kernel(name, inputs, self.consts, self.const_values, steps, result_names, self.helpers,
                      self.mutable_checks, self.inner_descriptions)

    def lower_node(self, node: Apply):
        name = node.op.name
        if name == "scan":
            return self.scan_loop(node)
        if name in ("fused", "fused_inplace"):
            return self.loop(node, node.op.expr)
        if name == "fused_reduce":
            return self.loop(node, node.op.expr, node.op.reduce)
        if is_elemwise(node):
            return self.loop(node, _one_statement(node))
        if loop_reduce(node):
            x = node.inputs[0]
            return self.loop(node, ScalarProgram((), ("i0",), (x.type,)), node.op)
        ins = [self.buffer(v) for v in node.inputs]
        outs = [self.new_buffer(v) for v in node.outputs]
        return op_rules.OPS[name](node, ins, outs)

    def loop(self, node: Apply, program: ScalarProgram, reduce=None):
        """The loop of `program` over `node`'s inputs: an ElemwiseStep, or a ReduceStep for `reduce`."""
        types = stmt_types(program, [v.type for v in node.inputs])
        nd = types[program.outputs[0]].ndim
        scalars: dict[str, tuple[Operand, int]] = {}  # ref -> (operand, level)
        leaves: list[Buffer] = []
        levels: list[int] = []
        for k, v in enumerate(node.inputs):
            inline = _inline(v)
            if inline is not None:
                scalars[f"i{k}"] = (inline, ONCE)
                continue
            scalars[f"i{k}"] = (f"a{len(leaves)}", _leaf_level(v, nd))
            leaves.append(self.buffer(v))
            levels.append(_leaf_level(v, nd))
        stmts = program_statements(program, types, scalars)
        leaf_scalars = [f"a{k}" for k in range(len(leaves))]
        outs = [self.new_buffer(v) for v in node.outputs]
        if reduce is not None:
            ref = program.outputs[0]
            return ReduceStep(outs, leaves, leaf_scalars, stmts, scalars[ref][0], types[ref].dtype, reduce.kind,
                              tuple(reduce.axis), bool(reduce.keepdims), nd, levels)
        results = [scalars[ref][0] for ref in program.outputs]
        return ElemwiseStep(outs, leaves, leaf_scalars, stmts, results, nd, levels, self.inplace(node))

    def scan_loop(self, node: Apply) -> ScanStep:
        """A scan node: its step graph, rewritten like a function's, lowered as an inner kernel of its own."""
        op = node.op
        inner_outputs = rewrite_graph(list(op.inner.outputs), "fast_run")
        nodes = toposort(inner_outputs)
        check_supported(nodes)
        scalar = self.scalar_scan(node, inner_outputs, nodes)
        if scalar is not None:
            return scalar
        inner = _Lowering(list(op.inner.inputs), nodes, inner_outputs).run(f"{self.name}_scan{len(self.scans)}")
        result_steps = _in_place(inner)
        ins = [self.buffer(v) for v in node.inputs]
        consts = []
        for value, b in zip(inner.const_values, inner.consts):  # the inner kernel's constants, held by ours
            outer = Buffer(f"c{len(self.consts)}", b.dtype, b.ndim, b.shape)
            self.consts.append(outer)
            self.const_values.append(value)
            consts.append(outer)
        outs = [self.new_buffer(v) for v in node.outputs]
        step = ScanStep(ins + consts, outs, inner, op.n_seqs, op.taps, op.last_only, op.n_nit, op.until,
                        len(consts), len(self.inner_descriptions), {**inner.helpers, **SCAN_HELPERS}, result_steps,
                        with_init(op))
        self.inner_descriptions += inner.descriptions
        self.scans.append(step)
        return step

    def scalar_scan(self, node: Apply, inner_outputs: list, nodes: list[Apply]) -> ScalarScanStep | None:
        """The scan as one C loop over scalars, when its (rewritten) step is elementwise on rank-0 values."""
        op = node.op
        inner_inputs = list(op.inner.inputs)
        if any(v.type.ndim for v in inner_inputs + inner_outputs) or not all(
                node_.op.name in ("fused", "fused_inplace") or is_elemwise(node_) for node_ in nodes):
            return None
        names: dict[int, str] = {}
        decls: list[tuple[str, str]] = []

        def declare(v: Variable, name: str) -> str:
            names[id(v)] = name
            decls.append((name, v.type.dtype))
            return name

        n_seqs, n_states = op.n_seqs, sum(len(t) for t in op.taps)
        seq_vars = [declare(v, f"x{k}") for k, v in enumerate(inner_inputs[:n_seqs])]
        window_vars, position = [], n_seqs
        for j, taps in enumerate(op.taps):
            span = -min(taps)
            window = [f"w{j}_{p}" for p in range(span)]
            decls.extend((name, inner_inputs[position].type.dtype) for name in window)
            for k, tap in enumerate(taps):
                names[id(inner_inputs[position + k])] = window[span + tap]
            window_vars.append(window)
            position += len(taps)
        nonseq_vars = [declare(v, f"q{k}") for k, v in enumerate(inner_inputs[n_seqs + n_states:])]
        stmts: list[ScalarStmt] = []
        for node_ in nodes:
            program = node_.op.expr if node_.op.name in ("fused", "fused_inplace") else _one_statement(node_)
            types = stmt_types(program, [v.type for v in node_.inputs])
            refs = {}
            for k, v in enumerate(node_.inputs):
                refs[f"i{k}"] = names.get(id(v)) or _inline(v)
                if refs[f"i{k}"] is None:
                    return None
            for j, (scalar_op, args) in enumerate(program.stmts):
                target = f"t{len(stmts)}"
                stmt = ScalarStmt(target, types[f"t{j}"].dtype, scalar_op, tuple(refs[a] for a in args),
                                  tuple(types[a].dtype for a in args))
                if sets_error_flag(stmt):  # the C loop has no error flag to raise from
                    return None
                decls.append((target, stmt.dtype))
                stmts.append(stmt)
                refs[f"t{j}"] = target
            for out, ref in zip(node_.outputs, program.outputs):
                names[id(out)] = refs[ref]
        results = [names.get(id(v)) or _inline(v) for v in inner_outputs]
        if any(r is None for r in results):
            return None
        ins = [self.buffer(v) for v in node.inputs]
        outs = [self.new_buffer(v) for v in node.outputs]
        return ScalarScanStep(ins, outs, n_seqs, op.taps, op.last_only, op.n_nit, op.until, seq_vars, window_vars,
                              nonseq_vars, decls, stmts, results, dict(SCAN_HELPERS), with_init(op))

    def inplace(self, node: Apply) -> tuple | None:
        """(leaf index, run-time flag or None) when `node` may write its output 0 into its input 0."""
        if not rule_of(node.op).destroy_map or _inline(node.inputs[0]) is not None:
            return None
        victim = node.inputs[0]
        if isinstance(victim, Constant):
            return None
        position = self.input_position.get(id(victim))
        if position is None:
            return (0, None)
        flag = f"m{position}"
        if all(f != flag for f, _ in self.mutable_checks):
            self.mutable_checks.append((flag, self.names[id(victim)]))
        return (0, flag)


def _in_place(kernel: Kernel) -> list[int | None]:
    """Let the steps of a scan's inner kernel write into buffers the loop hands them (`scratch`), and say which
    step writes each result (the loop hands that step the result's row of the output: no copy, no allocation).

    Elementwise loops and matrix products take a destination, except a loop that may write into one of the
    kernel's inputs (a state or sequence row: not to be reused as the next step's buffer).
    """
    kernel.scratch = True
    inputs = {b.name for b in kernel.inputs} | {b.name for b in kernel.consts}
    writer: dict[str, int] = {}
    for index, step in enumerate(kernel.steps):
        body = step.body
        if isinstance(body, ElemwiseStep):
            body.dest = body.inplace is None or body.leaves[body.inplace[0]].name not in inputs
        elif isinstance(body, CallStep):
            body.dest = body.dest_lines is not None
        if getattr(body, "dest", False):
            writer.setdefault(body.outs[0].name, index)
    steps: list[int | None] = []
    for name in kernel.results:  # a step writing two results writes the first's row; the other is copied
        index = writer.get(name)
        steps.append(None if index is None or index in steps else index)
    return steps


def _one_statement(node: Apply) -> ScalarProgram:
    return ScalarProgram(((node.op, tuple(f"i{k}" for k in range(len(node.inputs)))),), ("t0",),
                         tuple(v.type for v in node.inputs))


def _leaf_level(v: Variable, nd: int) -> int:
    """ONCE for a rank-0 operand, PER_ROW for one that does not vary along the loop's last axis."""
    if v.type.ndim == 0:
        return ONCE
    return PER_ROW if nd > 0 and v.type.shape[-1] == 1 else PER_ELEMENT


def _inline(v: Variable) -> ScalarConst | None:
    """A constant that a loop can read as a literal (one element, exactly printable), else None."""
    if not isinstance(v, Constant) or np.size(v.data) != 1:
        return None
    value = np.asarray(v.data, dtype=v.type.dtype).reshape(())[()]
    return None if literal(value, v.type.dtype) is None else ScalarConst(value, v.type.dtype)


def _label(index: int, node: Apply) -> str:
    if node.op.name in FUSED_OPS:
        kind = node.op.name if node.op.name != "fused_reduce" else f"fused_reduce {node.op.reduce.kind}"
        return f"{index} {kind}[{' '.join(node.op.expr.ops)}]"
    return f"{index} {node.op!r}"


def _describe(node: Apply) -> tuple[str, str]:
    ops = ", ".join(_op_names(node)[1:]) if node.op.name in FUSED_OPS else repr(node.op)
    if node.op.name == "fused_reduce":
        ops = f"{ops}, reduce {node.op.reduce.kind}" if ops else f"reduce {node.op.reduce.kind}"
    return ops, node.trace


def _liveness(steps: list[Step], keep: set[str]) -> None:
    """Fill each step's `dead`: intermediates whose last reader is that step."""
    last: dict[str, int] = {}
    for i, step in enumerate(steps):
        for b in step.body.ins:
            last[b.name] = i
    for name, i in sorted(last.items()):
        if name not in keep:
            steps[i].dead.append(name)
    for step in steps:
        step.dead.sort(key=lambda n: int(n[1:]))
        for b in step.body.outs:  # an output nobody reads dies at once (unless returned)
            if b.name not in last and b.name not in keep:
                step.dead.append(b.name)
