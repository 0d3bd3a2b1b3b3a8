"""merge: identical sub-expressions become one node, equal constants one constant.

Two nodes are identical when they apply the same op (same name and params) to the same input variables
and have the same output types; two constants are equal when `Constant.signature()` (type and bytes) is.
The engine interns every node it builds, so this pass is the engine with no rule: it is also what gives
every pipeline a fresh graph (the user's graph is never changed). Shared variables are never merged with
each other or with constants: they are graph inputs, and each may change.
"""

from __future__ import annotations

from collections.abc import Sequence

from aotgraph.graph.basic import Variable
from aotgraph.rewrite.engine import run_pass


def merge(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, with each sub-expression and each constant built once."""
    return run_pass(outputs)
