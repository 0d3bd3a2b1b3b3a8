"""The checker: type inference run again over a rewritten graph (STYLE lesson 6).

After a pass, every node's recorded output types must still be what its op's `infer` gives for its
inputs' types, or less precise (a rewrite may make an input's static shape more precise); and each output
of the pass must have the type of the output it replaces, or a more precise one.
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.engine import same_or_finer


class RewriteCheckError(AssertionError):
    """A pass produced a graph whose types do not check (a bug in a rewrite rule)."""


def check_graph(pass_name: str, before: Sequence[Variable], after: Sequence[Variable]) -> None:
    """Raise RewriteCheckError naming `pass_name` when `after` is not a well-typed replacement of `before`."""
    if len(before) != len(after):
        raise RewriteCheckError(f"pass {pass_name!r} returned {len(after)} outputs for {len(before)}")
    for i, (old, new) in enumerate(zip(before, after)):
        if not same_or_finer(old, new):  # the engine's own rule
            raise RewriteCheckError(
                f"pass {pass_name!r} changed the type of output {i} ({old!r}) from {old.type} to {new.type}"
            )
    for node in toposort(after):
        in_types = [v.type for v in node.inputs]
        try:
            inferred = rule_of(node.op).infer(node.op, in_types)
        except Exception as err:  # noqa: BLE001 - reported as the checker's finding
            raise RewriteCheckError(
                f"after pass {pass_name!r}, {node.op!r} (created at {node.trace}) no longer type-checks on "
                f"inputs of types {', '.join(map(str, in_types))}: {err}"
            ) from err
        for out, t in zip(node.outputs, inferred):
            if not out.type.is_super(t):
                raise RewriteCheckError(
                    f"after pass {pass_name!r}, {node.op!r} (created at {node.trace}) records output type "
                    f"{out.type} but its inputs ({', '.join(map(str, in_types))}) give {t}"
                )
