"""DebugMode: run the compiled function and the numpy reference side by side, node by node, on every call.

`ag.function(..., mode='DebugMode')` (or `mode=ag.DebugMode()`) compiles like FAST_RUN (the fast_run
rewrites, then Cython) and builds, in the same module, one more kernel per node of the optimized
graph: that node alone, compiled the way FAST_RUN compiles it. Every call then

1. runs the compiled function on the caller's values (what FAST_RUN would return);
2. walks the nodes in topological order, feeding each node the reference values of its inputs: its
   compiled kernel (on copies) and its numpy `perform` must give outputs of the node's type and equal
   values, and the kernel may overwrite only the inputs its op's `destroy_map` names. When a fused node
   (one loop for several elementwise ops, made by the `fuse` pass) differs, its statements are compiled
   alone (one more build, on failure only) to name the first statement that differs, or to say that
   each agrees alone and the loop combines them wrongly;
3. checks that the function left its inputs, shared values and constants as they were (except what
   a node may destroy), and that its results equal the reference's: when every node agreed alone,
   a difference here comes from how the compiled function chains them, and the error names the step.

The first disagreement raises `DebugModeError`, naming the node (its op and the line of user code
that created it; for a statement of a fused node, the line of the fused node) and giving both values;
no update is committed then. An exception raised by both
backends alike (a shape error in the user's inputs) propagates as it would in FAST_RUN. Floats
compare with the tolerances of `TOLERANCE`, NaN equal to NaN. Every call does the work several
times over: DebugMode is for finding bugs, not for production.
"""

from __future__ import annotations

import types

import numpy as np

from aotgraph.codegen.linker import build_kernels
from aotgraph.codegen.lower import lower
from aotgraph.compile import reference
from aotgraph.graph.basic import Apply, Constant, toposort
from aotgraph.graph.evaluate import run_node
from aotgraph.graph.rules import rule_of

TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-300), "float32": dict(rtol=1e-4, atol=1e-30)}


class DebugModeError(AssertionError):
    """The compiled function disagreed with the numpy reference, or overwrote what it may not.

    Attributes: `node` (the Apply node, or None), `output` (index of its output, or of the function's
    output), `compiled` and `reference` (the two values; None when not applicable).
    """

    def __init__(self, message: str, node: Apply | None = None, output: int | None = None, compiled=None,
                 reference=None):
        super().__init__(message)
        self.node, self.output, self.compiled, self.reference = node, output, compiled, reference


# ---- compiling: the function and each node alone, in one module ------------------------------------------
def _node_alone(node: Apply):
    """(a spec-like object computing `node` alone from fresh graph inputs, the positions of node.inputs they
    stand for). Constants stay constants, as in the function; an input read twice is one graph input."""
    fresh: dict[int, object] = {}
    inputs, positions = [], []
    for i, v in enumerate(node.inputs):
        if isinstance(v, Constant):
            inputs.append(v)
            continue
        if id(v) not in fresh:
            fresh[id(v)] = v.type.make_variable(name=v.name)
            positions.append(i)
        inputs.append(fresh[id(v)])
    alone = Apply(node.op, inputs, [o.type for o in node.outputs], trace=node.trace)
    return types.SimpleNamespace(graph_inputs=list(fresh.values()), results=alone.outputs), positions


def compile_kernels(specs: list, label: str) -> list:
    """The kernel objects (thunks) of `specs` (optimized FunctionSpecs or spec-like objects with `graph_inputs`
    and `results`), all from ONE module built through the cache with the FAST_RUN linker's build options:
    what the FAST_RUN linker does for one spec, for many at once."""
    return build_kernels(specs, label, title="Kernels of an aotgraph DebugMode function.")


def _statements(node: Apply) -> list[tuple[str, Apply]] | None:
    """The statements of a fused node (`op.expr`, a ScalarProgram) as Apply nodes over the node's inputs, with
    the text of each ("t1 = reltest(exp(i0), i1)"); None for a node that is not fused."""
    program = node.op.params.get("expr")
    if program is None or not hasattr(program, "stmts"):
        return None
    refs = {f"i{k}": v for k, v in enumerate(node.inputs)}
    made = []
    for j, (op, args) in enumerate(program.stmts):
        inputs = [refs[a] for a in args]
        stmt = Apply(op, inputs, rule_of(op).infer(op, [v.type for v in inputs]), trace=node.trace)
        refs[f"t{j}"] = stmt.outputs[0]
        made.append((f"t{j} = {program.text(f't{j}')}", stmt))
    return made


# ---- comparing ---------------------------------------------------------------------------------------------
def _difference(got, want) -> str | None:
    """None if `got` equals `want` (dtype, shape, values: floats within TOLERANCE, NaN == NaN), else why not."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"dtype/shape {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if got.dtype.kind in "fc":
        with np.errstate(all="ignore"):
            same = np.isclose(got, want, equal_nan=True, **TOLERANCE.get(got.dtype.name, {}))
        return None if bool(np.all(same)) else "values differ"
    return None if np.array_equal(got, want) else "values differ"


def _fits_type(value, var) -> str | None:
    """None if `value` is an ndarray of `var`'s dtype, rank and static sizes (type inference as checker)."""
    if not isinstance(value, np.ndarray):
        return f"a {type(value).__name__}, not an ndarray"
    t = var.type
    if value.dtype != np.dtype(t.dtype) or value.ndim != t.ndim:
        return f"{value.dtype} with {value.ndim} dimensions where the type says {t}"
    if any(s is not None and s != n for s, n in zip(t.shape, value.shape)):
        return f"shape {value.shape} where the type says {t}"
    return None


def _same_memory_contents(before: np.ndarray, after) -> bool:
    return isinstance(after, np.ndarray) and _difference(after, before) is None


def _where(node: Apply) -> str:
    return f"{node.op!r} (created at {node.trace})"


def _show(value) -> str:
    return np.array2string(np.asarray(value), threshold=20, edgeitems=3) if value is not None else "-"


# ---- the checking thunk -------------------------------------------------------------------------------------
class Checker:
    """The thunk of a DebugMode function: `checker(values, profile)` -> outputs then update values."""

    def __init__(self, spec, label: str):
        self.spec = spec
        self.graph_inputs = spec.graph_inputs
        self.results = spec.results
        self.nodes = toposort(self.results)
        self.label = label
        alone = [_node_alone(node) for node in self.nodes]
        made = compile_kernels([spec] + [s for s, _ in alone], label)
        self.main = made[0]
        self.node_kernels = [(kernel, positions) for kernel, (_, positions) in zip(made[1:], alone)]
        self.constants = {id(v): (v, np.array(v.data, copy=True)) for n in self.nodes for v in n.inputs
                          if isinstance(v, Constant)}
        self.destroyed = {id(node.inputs[i]) for node in self.nodes for i in rule_of(node.op).destroy_map.values()}

    def __call__(self, values: list, profile=None) -> list:
        before = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in values]
        try:
            results = self.main.run(values, profile)
        except Exception as err:  # noqa: BLE001 - the reference says whether the error is right
            self._check_error(err, before)
            raise
        reference = self._check_nodes(before)
        self._check_unchanged(values, before)
        self._check_results(results, reference)
        return results

    def free(self) -> None:
        free = getattr(self.main, "free", None)
        if free is not None:
            free()

    # every node, alone, on the reference values of its inputs
    def _check_nodes(self, before: list) -> dict[int, object]:
        known: dict[int, object] = {id(v): b for v, b in zip(self.graph_inputs, before)}
        known.update({key: data for key, (_, data) in self.constants.items()})
        for node, (kernel, positions) in zip(self.nodes, self.node_kernels):
            args = [known[id(v)] for v in node.inputs]
            shapes = [np.shape(a) for a in args]
            try:
                expected = run_node(node, [np.array(a, copy=True) for a in args])
            except Exception as err:  # noqa: BLE001 - the compiled function did not raise
                raise DebugModeError(f"DebugMode: the compiled function computed every result, but the numpy "
                                     f"reference of {_where(node)} raises {type(err).__name__}: {err}", node) from err
            given = [np.array(args[i], copy=True) for i in positions]
            try:
                got = kernel.run(list(given), None)
            except Exception as err:  # noqa: BLE001 - the reference did not raise
                raise DebugModeError(
                    f"DebugMode: the compiled {_where(node)} raised {type(err).__name__}: {err}\n"
                    f"  on inputs of shapes {shapes}, which the numpy reference computes", node) from err
            self._check_node_outputs(node, got, expected, shapes, args)
            allowed = set(rule_of(node.op).destroy_map.values())
            for i, value in zip(positions, given):
                if i not in allowed and not _same_memory_contents(np.asarray(args[i]), value):
                    raise DebugModeError(
                        f"DebugMode: the compiled {_where(node)} overwrote its input {i}, which its op's "
                        f"destroy_map does not allow\n  before: {_show(args[i])}\n  after:  {_show(value)}",
                        node, None, value, args[i])
            for var, value in zip(node.outputs, expected):
                known[id(var)] = value
        return known

    def _check_node_outputs(self, node: Apply, got: list, expected, shapes: list, args: list) -> None:
        for k, (var, g, e) in enumerate(zip(node.outputs, got, expected)):
            wrong = _fits_type(e, var)
            if wrong:
                raise DebugModeError(f"DebugMode: the numpy reference of {_where(node)} gives output {k} as {wrong}",
                                     node, k, g, e)
            wrong = _fits_type(g, var) or _difference(g, e)
            if wrong:
                note = self._descend(node, args)  # a fused node: name the statement that differs alone, if one does
                raise DebugModeError(
                    f"DebugMode: node {_where(node)} computes output {k} differently compiled ({wrong}) than the "
                    f"numpy reference, on inputs of shapes {shapes}{note}\n  compiled:  {_show(g)}\n"
                    f"  reference: {_show(e)}", node, k, g, e)

    def _descend(self, node: Apply, args: list) -> str:
        """For a fused node that differs: raise naming its first statement whose compiled code differs alone; else
        return a note saying that each statement agrees alone (the fused loop combines them wrongly)."""
        statements = _statements(node)
        if statements is None:
            return ""
        alone = [_node_alone(stmt) for _, stmt in statements]
        kernels = compile_kernels([s for s, _ in alone], self.label)
        known = {id(v): a for v, a in zip(node.inputs, args)}
        for (text, stmt), kernel, (_, positions) in zip(statements, kernels, alone):
            inputs = [known[id(v)] if id(v) in known else v.data for v in stmt.inputs]
            (expected,) = run_node(stmt, [np.array(a, copy=True) for a in inputs])
            (got,) = kernel.run([np.array(inputs[i], copy=True) for i in positions], None)
            wrong = _fits_type(got, stmt.outputs[0]) or _difference(got, expected)
            if wrong:
                raise DebugModeError(
                    f"DebugMode: statement {text} of node {_where(node)} computes differently compiled ({wrong}) "
                    f"than the numpy reference of {stmt.op!r}, on inputs of shapes {[np.shape(a) for a in inputs]}"
                    f"\n  compiled:  {_show(got)}\n  reference: {_show(expected)}", stmt, 0, got, expected)
            known[id(stmt.outputs[0])] = expected
        return (", although each of its statements alone agrees with the reference: the difference comes from how "
                "its loop combines them")

    # the whole function: nothing overwritten that may not be, results as the reference's
    def _check_unchanged(self, values: list, before: list) -> None:
        for v, now, then in zip(self.graph_inputs, values, before):
            if isinstance(then, np.ndarray) and id(v) not in self.destroyed and not _same_memory_contents(then, now):
                readers = [_where(n) for n in self.nodes if any(i is v for i in n.inputs)]
                raise DebugModeError(f"DebugMode: the compiled function overwrote its input {v!r}, which no node "
                                     f"may destroy; nodes reading it: {'; '.join(readers)}", None, None, now, then)
        for v, data in self.constants.values():
            if not _same_memory_contents(data, v.data):
                raise DebugModeError(f"DebugMode: the compiled function overwrote the constant {v!r}")

    def _check_results(self, results: list, reference: dict) -> None:
        for k, var in enumerate(self.results):
            want = reference[id(var)] if id(var) in reference else var.data
            wrong = _difference(results[k], want)
            if wrong:
                step = self._step_computing(k)
                raise DebugModeError(
                    f"DebugMode: result {k} of the compiled function differs from the numpy reference ({wrong}), "
                    f"although each node alone agrees with it: the difference comes from how the compiled function "
                    f"combines them, in {step}\n  compiled:  {_show(results[k])}\n  reference: {_show(want)}",
                    var.owner, k, results[k], want)

    def _step_computing(self, k: int) -> str:
        kernel = lower(self.spec, "k0")
        name = kernel.results[k]
        for step in kernel.steps:
            if any(b.name == name for b in step.body.outs):
                ops, created_at = step.description
                return f"step {step.label!r}: {ops} (created at {created_at})"
        return "no step (the result is an input or a constant)"

    def _check_error(self, err: Exception, before: list) -> None:
        try:
            reference.make_thunk(self.spec, "reference")(list(before), None)
        except Exception as expected:  # noqa: BLE001 - compared with the compiled error
            if type(expected) is type(err):
                return
            raise DebugModeError(f"DebugMode: the compiled function raised {type(err).__name__}: {err}\n"
                                 f"  where the numpy reference raises {type(expected).__name__}: {expected}") from err
        raise DebugModeError(f"DebugMode: the compiled function raised {type(err).__name__}: {err}\n"
                             "  where the numpy reference computes every result") from err


def make_thunk(spec, label: str) -> Checker:
    """The checking thunk of an optimized FunctionSpec (compile/mode.py `LINKERS['debug']`)."""
    return Checker(spec, label)
