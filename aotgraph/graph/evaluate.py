"""Evaluating nodes with their numpy reference (`perform`): one node, or a whole graph.

The numpy reference does three jobs: constant folding (rewrite/fold.py), the FAST_COMPILE executor
(compile/reference.py) and the oracle of the tests. It lives here, in the graph layer, so all three
import it one way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aotgraph.graph.basic import Apply, Constant, Variable, toposort
from aotgraph.graph.rules import rule_of


def run_node(node: Apply, args: list) -> tuple:
    """One node's outputs from its input values, with errors naming the op, shapes and user line."""
    rule = rule_of(node.op)
    try:
        if rule.elemwise is not None:
            check_declared_broadcasting(node, args)
        with np.errstate(all="ignore"):
            outs = rule.perform(node.op, *args)
    except Exception as err:  # noqa: BLE001 - re-raised with context, same type when possible
        shapes = ", ".join(str(getattr(a, "shape", "?")) for a in args)
        message = f"{err}\n  while computing {node.op!r} on inputs of shapes [{shapes}], created at {node.trace}"
        try:
            new = type(err)(message)
        except Exception:  # noqa: BLE001 - exotic exception signatures
            raise err from None
        raise new.with_traceback(err.__traceback__) from None
    return outs


def check_declared_broadcasting(node: Apply, args: list) -> None:
    """Refuse size-1 dims that would broadcast at run time but whose type does not declare them size 1.

    Like Theano: gradients sum over *declared* broadcastable dims only, so letting an
    undeclared dim broadcast would make a gradient (and an update built from it) silently wrong.
    """
    ndim = node.outputs[0].type.ndim
    shapes = [(1,) * (ndim - a.ndim) + a.shape for a in args]
    for axis in range(ndim):
        sizes = {s[axis] for s in shapes}
        if 1 not in sizes or len(sizes) == 1:
            continue
        for i, (v, shape) in enumerate(zip(node.inputs, shapes)):
            dim = axis - (ndim - v.type.ndim)
            if shape[axis] == 1 and dim >= 0 and v.type.shape[dim] != 1:
                raise ValueError(
                    f"input {i} of {node.op!r} has size 1 on axis {dim} where another input has size "
                    f"{max(sizes - {1})}, but its type {v.type} does not declare that axis broadcastable; declare it "
                    "with shape=(..., 1, ...) (at.tensor, ag.shared(..., shape=...)) or use dimshuffle"
                )


def evaluate(outputs: Sequence[Variable], givens: dict[Variable, object]) -> list[np.ndarray]:
    """Values of `outputs` when each variable in `givens` has the given value (a debugging helper)."""
    values: dict[int, object] = {id(k): np.asarray(v) for k, v in givens.items()}
    for node in toposort(outputs):
        args = []
        for v in node.inputs:
            if id(v) not in values:
                if not isinstance(v, Constant):
                    raise ValueError(f"no value given for input {v!r}")
                values[id(v)] = v.data
            args.append(values[id(v)])
        for var, value in zip(node.outputs, run_node(node, args)):
            values[id(var)] = value
    return [v.data if isinstance(v, Constant) and id(v) not in values else values[id(v)] for v in outputs]


def assign_slots(graph_inputs, results, nodes) -> tuple[dict[int, int], list]:
    """Storage slot of every variable: graph inputs first, then constants (with their values), then the rest."""
    slots: dict[int, int] = {id(v): i for i, v in enumerate(graph_inputs)}
    constants: list = []
    for v in [v for node in nodes for v in node.inputs] + list(results):
        if id(v) not in slots and isinstance(v, Constant):
            slots[id(v)] = len(graph_inputs) + len(constants)
            constants.append(v.data)
    for node in nodes:
        for v in node.outputs:
            slots.setdefault(id(v), len(slots))
    return slots, constants
