"""FunctionSpec: what `function()` was asked for, checked and with givens applied.

This is the one data structure that crosses from the user API to the rewrites
and backends: explicit inputs, shared variables (implicit inputs), output
expressions and update expressions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from aotgraph.compile.io import In, Out
from aotgraph.compile.sharedvalue import SharedVariable
from aotgraph.diagnostics import warn_user
from aotgraph.graph.basic import Constant, Variable, clone_replace, graph_inputs, toposort
from aotgraph.graph.rules import make_node, rule_of
from aotgraph.runtime.values import Container
from aotgraph.tensor.basic import as_tensor_variable
from aotgraph.tensor.elemwise_rule import promote_python_scalars


class MissingInputError(ValueError):
    """A graph needs a variable that is neither an input, a shared variable nor a constant."""


class UnusedInputError(ValueError):
    """An explicit input is not used by any output or update (see on_unused_input)."""


@dataclass
class FunctionSpec:
    inputs: list[In]
    shared: list[SharedVariable]
    outputs: list[Variable]
    borrow: list[bool]
    updates: list[tuple[tuple[str, int], Variable]]  # (('shared', j) | ('input', i), expression)
    unpack_single: bool
    name: str | None
    allow_input_downcast: bool | None

    @property
    def graph_inputs(self) -> list[Variable]:
        """The variables a thunk receives values for, in order: explicit inputs, then shared."""
        return [i.variable for i in self.inputs] + list(self.shared)

    @property
    def results(self) -> list[Variable]:
        """Everything a thunk returns, in order: outputs, then update values."""
        return list(self.outputs) + [expr for _, expr in self.updates]


def _pairs(value, what: str) -> list[tuple]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        pairs = list(value)
        if len(pairs) == 2 and isinstance(pairs[0], Variable) and not isinstance(pairs[0], tuple):
            if not isinstance(pairs[1], (tuple, list)):
                pairs = [tuple(pairs)]
        for p in pairs:
            if not (isinstance(p, (tuple, list)) and len(p) == 2):
                raise TypeError(f"{what} must be pairs (variable, expression); got {p!r:.80}")
        return [tuple(p) for p in pairs]
    raise TypeError(f"{what} must be a list, tuple or dict of pairs, got {type(value).__name__}")


def normalize_inputs(inputs) -> list[In]:
    if inputs is None:
        inputs = []
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function() inputs must be a list of variables or In/Param, got {type(inputs).__name__}")
    result, seen = [], set()
    for position, item in enumerate(inputs):
        spec = item if isinstance(item, In) else In(item) if isinstance(item, Variable) else None
        if spec is None:
            raise TypeError(f"input {position} must be a variable or In/Param, got {type(item).__name__} {item!r:.60}")
        v = spec.variable
        if isinstance(v, SharedVariable):
            raise TypeError(
                f"input {position} ({v!r}) is a shared variable: shared variables are implicit inputs of every "
                "function that uses them and cannot be listed as explicit inputs; to feed a value instead, use "
                "givens=[(shared_var, new_input)]"
            )
        if isinstance(v, Constant):
            raise TypeError(f"input {position} ({v!r}) is a constant; inputs must be free variables")
        if isinstance(spec.value, Container):
            _check_container(position, v, spec.value)
        if id(v) in seen:
            raise ValueError(f"input {position} ({v!r}) appears more than once in the inputs")
        seen.add(id(v))
        result.append(spec)
    return result


def _check_container(position: int, v: Variable, container: Container) -> None:
    if container.dtype != v.type.dtype or len(container.shape) != v.type.ndim:
        raise TypeError(
            f"input {position} ({v!r}, {v.type}): its value is a container of {container.dtype} with "
            f"{len(container.shape)} dimension(s) ({container.name!r}); a shared state needs the same type"
        )


def cut_at_computed_inputs(ins: list[In]) -> tuple[list[In], dict]:
    """Inputs computed from other variables become free variables of the function (Theano cuts the graph
    there): each such In gets a fresh variable of the same type, and {computed: fresh} replaces it in the
    graph. The fresh In keeps the computed variable as its key (f[h], f.finder[h])."""
    cut, replace = [], {}
    for spec in ins:
        v = spec.variable
        if v.owner is not None:
            fresh = v.type.make_variable(name=v.name)
            replace[v] = fresh
            spec = copy.copy(spec)
            spec.variable, spec.key = fresh, v
        cut.append(spec)
    return cut, replace


def normalize_outputs(outputs) -> tuple[list[Variable], list[bool], bool]:
    if outputs is None:
        return [], [], False
    single = not isinstance(outputs, (list, tuple))
    items = [outputs] if single else list(outputs)
    variables, borrow = [], []
    for item in items:
        if isinstance(item, Out):
            variables.append(as_tensor_variable(item.variable))
            borrow.append(item.borrow)
        else:
            try:
                variables.append(as_tensor_variable(item))
            except TypeError as err:
                raise TypeError(f"function() outputs must be variables or Out instances: {err}") from None
            borrow.append(False)
    return variables, borrow, single


def _check_update_type(target, expr: Variable) -> Variable:
    t, e = target.type, expr.type
    compatible = t.dtype == e.dtype and t.ndim == e.ndim and all(
        ts is None or ts == es for ts, es in zip(t.shape, e.shape)
    )
    if not compatible:
        hint = f"; cast it with at.cast(expr, {t.dtype!r})" if t.dtype != e.dtype and t.ndim == e.ndim else ""
        raise TypeError(
            f"the update of {target!r} must have its type {t}, but the expression {expr!r} has type {e}{hint}"
        )
    return expr


def _rebuild_with_inference(op, inputs, node):
    """Re-type a node over new inputs; Python numbers in elementwise ops are promoted afresh."""
    if rule_of(op).elemwise is not None:
        inputs = promote_python_scalars(op.name, [getattr(v, "python_scalar", v) for v in inputs])
    return make_node(op, inputs, trace=node.trace).outputs


def build_spec(inputs, outputs, updates, givens, no_default_updates, rebuild_strict, name,
               allow_input_downcast, on_unused_input, accept_inplace) -> FunctionSpec:
    """Check everything function() was given and return the spec with givens applied."""
    if on_unused_input not in ("raise", "warn", "ignore", None):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    if not isinstance(no_default_updates, (bool, list)):
        raise TypeError(f"no_default_updates must be a bool or a list of shared variables, got "
                        f"{type(no_default_updates).__name__} {no_default_updates!r:.60}")
    ins, cuts = cut_at_computed_inputs(normalize_inputs(inputs))
    outs, borrow, single = normalize_outputs(outputs)

    update_pairs, targets = [], set()
    for target, expr in _pairs(updates, "updates"):
        if not isinstance(target, SharedVariable):
            raise TypeError(f"updates: {target!r} is not a shared variable; only shared variables can be updated")
        if id(target.container) in targets:
            raise ValueError(f"updates: {target!r} has two update expressions")
        targets.add(id(target.container))
        update_pairs.append((target, _check_update_type(target, as_tensor_variable(expr))))

    replace = {**_givens(givens, rebuild_strict), **cuts}
    rebuild = None if rebuild_strict else _rebuild_with_inference

    input_updates = [(i, _check_update_type(spec.variable, as_tensor_variable(spec.update)))
                     for i, spec in enumerate(ins) if spec.update is not None]
    exprs = outs + [e for _, e in update_pairs] + [e for _, e in input_updates]
    exprs = clone_replace(exprs, replace, rebuild) if replace else exprs

    n_out, n_up = len(outs), len(update_pairs)
    outs = exprs[:n_out]
    update_pairs = [(t, e) for (t, _), e in zip(update_pairs, exprs[n_out:n_out + n_up])]
    input_updates = [(i, e) for (i, _), e in zip(input_updates, exprs[n_out + n_up:])]
    if not rebuild_strict:
        update_pairs = [(t, _check_update_type(t, e)) for t, e in update_pairs]
        input_updates = [(i, _check_update_type(ins[i].variable, e)) for i, e in input_updates]

    update_pairs = _add_default_updates(outs, update_pairs, input_updates, no_default_updates, replace, rebuild)
    all_exprs = outs + [e for _, e in update_pairs] + [e for _, e in input_updates]

    shared, shared_ids, used, all_exprs = _collect_inputs(ins, all_exprs, update_pairs, name)
    _check_unused(ins, used, on_unused_input, name)
    if not accept_inplace:
        _refuse_inplace(all_exprs)

    outs = all_exprs[:n_out]
    update_exprs = all_exprs[n_out:n_out + len(update_pairs)]
    input_update_exprs = all_exprs[n_out + len(update_pairs):]
    updates_spec = [(("shared", shared_ids[id(t.container)]), e) for (t, _), e in zip(update_pairs, update_exprs)]
    updates_spec += [(("input", i), e) for (i, _), e in zip(input_updates, input_update_exprs)]
    return FunctionSpec(ins, shared, outs, borrow, updates_spec, single, name, allow_input_downcast)


def _givens(givens, rebuild_strict: bool) -> dict:
    """{old: new} from the givens pairs, type-checked when rebuild_strict."""
    replace = {}
    for old, new in _pairs(givens, "givens"):
        if not isinstance(old, Variable):
            raise TypeError(f"givens: {old!r:.60} is not a variable")
        new = as_tensor_variable(new)
        if rebuild_strict and not old.type.is_super(new.type):
            raise TypeError(
                f"givens: {new!r} has type {new.type} but replaces {old!r} of type {old.type}; with "
                "rebuild_strict=True the types must match (cast the replacement, or pass rebuild_strict=False)"
            )
        replace[old] = new
    return replace


def _add_default_updates(outs, update_pairs, input_updates, no_default_updates, replace, rebuild):
    """Add each reachable shared variable's default_update unless disabled (until no new one appears)."""
    if no_default_updates is True:
        return update_pairs
    excluded = {id(v.container) for v in (no_default_updates or []) if isinstance(v, SharedVariable)}
    updated = {id(t.container) for t, _ in update_pairs}
    while True:
        exprs = outs + [e for _, e in update_pairs] + [e for _, e in input_updates]
        added = False
        for v in graph_inputs(exprs):
            if (isinstance(v, SharedVariable) and v.default_update is not None
                    and id(v.container) not in updated and id(v.container) not in excluded):
                expr = as_tensor_variable(v.default_update)
                if replace:
                    expr = clone_replace([expr], replace, rebuild)[0]
                update_pairs.append((v, _check_update_type(v, expr)))
                updated.add(id(v.container))
                added = True
        if not added:
            return update_pairs


def _collect_inputs(ins, all_exprs, update_pairs, name):
    """Shared variables in order of first use, and which explicit inputs are used; refuses missing inputs."""
    explicit = {id(spec.variable): i for i, spec in enumerate(ins)}
    shared, shared_ids = [], {}
    used = set()
    for v in graph_inputs(all_exprs):
        if id(v) in explicit:
            used.add(id(v))
        elif isinstance(v, SharedVariable):
            if id(v.container) not in shared_ids:
                shared_ids[id(v.container)] = len(shared)
                shared.append(v)
            else:  # a clone of a shared variable: one container, one implicit input
                all_exprs = clone_replace(all_exprs, {v: shared[shared_ids[id(v.container)]]})
        elif not isinstance(v, Constant):
            raise MissingInputError(
                f"the graph needs {v!r} ({v.type}), which is not among the inputs of function {name!r}, "
                "nor a shared variable or constant: add it to the inputs or substitute it with givens"
            )
    for node in toposort(all_exprs):  # a gradient counts the cost's inputs as used (gradient.py grad_sources)
        for v in node.outputs:
            used.update(id(s) for s in getattr(v, "grad_sources", ()))
    for v in all_exprs:
        used.update(id(s) for s in getattr(v, "grad_sources", ()))
    for t, _ in update_pairs:
        if id(t.container) not in shared_ids:
            shared_ids[id(t.container)] = len(shared)
            shared.append(t)

    return shared, shared_ids, used, all_exprs


def _check_unused(ins, used, on_unused_input, name) -> None:
    unused = [(i, spec) for i, spec in enumerate(ins) if id(spec.variable) not in used]
    if not unused or on_unused_input == "ignore":
        return
    listed = ", ".join(f"{getattr(spec, 'key', spec.variable)!r} (position {i})" for i, spec in unused)
    message = (
        f"function {name!r}: input(s) {listed} are not used to compute any output or update; "
        "pass on_unused_input='warn' or 'ignore' to allow this"
    )
    if on_unused_input == "warn":
        warn_user(message)
    else:
        raise UnusedInputError(message)


def _refuse_inplace(exprs) -> None:
    for node in toposort(exprs):
        if rule_of(node.op).destroy_map:
            raise TypeError(
                f"the graph contains the in-place op {node.op!r} (created at {node.trace}); "
                "pass accept_inplace=True to compile it"
            )
