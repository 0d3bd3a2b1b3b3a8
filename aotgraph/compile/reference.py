"""The numpy reference backend: evaluate an ordered list of Apply nodes with each op's `perform`.

It is the FAST_COMPILE executor, the constant folder and the test oracle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aotgraph.graph.basic import Apply, Constant, Variable, toposort
from aotgraph.graph.rules import rule_of


class NodeError(Exception):
    """Marks an exception raised while a node ran; re-raised with the node named."""


def run_node(node: Apply, args: list) -> tuple:
    """One node's outputs from its input values, with errors naming the op, shapes and user line."""
    try:
        with np.errstate(all="ignore"):
            outs = rule_of(node.op).perform(node.op, *args)
    except Exception as err:  # noqa: BLE001 - re-raised with context, same type when possible
        shapes = ", ".join(str(getattr(a, "shape", "?")) for a in args)
        message = f"{err}\n  while computing {node.op!r} on inputs of shapes [{shapes}], created at {node.trace}"
        try:
            new = type(err)(message)
        except Exception:  # noqa: BLE001 - exotic exception signatures
            raise err from None
        raise new.with_traceback(err.__traceback__) from None
    return outs


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
