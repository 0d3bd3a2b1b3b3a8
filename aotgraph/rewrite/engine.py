"""The engine every pass runs on: rebuild a graph bottom-up, interning each node, and offer each node to a
local rewrite until none applies.

A pass never changes the graph it is given. It walks the old graph in topological order and builds a new
one: every node is copied over its inputs' new variables, equal constants (by `Constant.signature()`) and
equal nodes (same op, same inputs, same output types) are built once, and every new node is offered to the
pass's `local` rewrite, a function `local(node) -> replacement variables | None`. A replacement is built
over the new graph's variables by the ordinary DSL functions; its fresh nodes are interned and offered to
`local` in turn, so a pass leaves no node that one of its rules would still rewrite. Graph inputs (explicit
inputs and shared variables) stay the same objects.

A replacement must have the type of what it replaces, or a more precise one (`same_or_finer`): that is the
guard that keeps dtypes and broadcast shapes exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aotgraph.graph.basic import Apply, Constant, Variable, toposort, toposort_with_stops

LocalRewrite = Callable[[Apply], Sequence[Variable] | None]

# A rule that rewrites its own result again and again is a bug in the rules; this many rewrites of one
# position in a row stops it with an error instead of recursing without end.
MAX_CHAINED_REWRITES = 50


class RewriteLoopError(RuntimeError):
    """The rules of a pass keep rewriting the same expression."""


def same_or_finer(old: Variable, new: Variable) -> bool:
    """True when `new` may replace `old`: the same type, or a more precise static shape of the same dtype.

    A size known to be 1 where `old` has any size is *not* more precise: broadcasting can make old's
    size larger at run time (switch(c, x, x) with x of shape (1, 2) is as large as c).
    """
    if old.type == new.type:
        return True
    return old.type.dtype == new.type.dtype and old.type.ndim == new.type.ndim and all(
        o == n or (o is None and n is not None and n != 1) for o, n in zip(old.type.shape, new.type.shape)
    )


def run_pass(outputs: Sequence[Variable], local: LocalRewrite | None = None) -> list[Variable]:
    """New output variables computing `outputs`, merged, with `local` applied everywhere it applies."""
    return _Builder(local).run(list(outputs))


class _Builder:
    """The state of one pass: the new graph built so far, and the old graph's variables mapped into it."""

    def __init__(self, local: LocalRewrite | None):
        self.local = local
        self.done: dict[int, Variable] = {}  # id -> variable of the new graph (the value keeps it alive)
        self.nodes: dict[tuple, list[Variable]] = {}  # (op, input ids, output types) -> its new variables
        self.consts: dict[tuple, Constant] = {}  # Constant.signature() -> the new graph's constant
        self.made: set[int] = set()  # ids of the nodes this pass built or adopted (only those are renamed)

    def run(self, outputs: list[Variable]) -> list[Variable]:
        memo: dict[int, Variable] = {}
        for node in toposort(outputs):
            inputs = [self._get(v, memo) for v in node.inputs]
            new = self._add(node, inputs, copy=True, trace=node.trace, depth=0)
            memo.update(zip(map(id, node.outputs), new))
        return [self._get(v, memo) for v in outputs]

    def _get(self, v: Variable, memo: dict[int, Variable]) -> Variable:
        """`v`'s variable in the new graph (`v` is a graph input, or computed by a node already visited)."""
        new = memo.get(id(v))
        if new is not None:
            return new
        if id(v) in self.done:
            return v
        if v.owner is not None:
            raise AssertionError(f"rewrite engine: {v!r} was reached before the node computing it")
        new = self.consts.setdefault(v.signature(), v) if isinstance(v, Constant) else v
        self.done[id(new)] = new
        memo[id(v)] = new
        return new

    def _add(self, node: Apply, inputs: list[Variable], copy: bool, trace: str, depth: int) -> list[Variable]:
        """The new graph's variables for `node` over `inputs` (new-graph variables): interned, then rewritten."""
        types = tuple(o.type for o in node.outputs)
        key = (node.op, tuple(map(id, inputs)), types)
        found = self.nodes.get(key)
        if found is not None:
            return found
        if copy or any(a is not b for a, b in zip(inputs, node.inputs)):
            old, node = node, Apply(node.op, inputs, types, trace=trace)
            for a, b in zip(old.outputs, node.outputs):
                b.name = a.name
        else:  # a node a rule has just made over the new graph: adopt it, it stands for the node it replaces
            node.trace = trace
        self.made.add(id(node))
        result = self._rewrite(node, depth)
        self.nodes[key] = result
        return result

    def _rewrite(self, node: Apply, depth: int) -> list[Variable]:
        replacement = self.local(node) if self.local is not None else None
        if replacement is None:
            for o in node.outputs:
                self.done[id(o)] = o
            return node.outputs
        if depth >= MAX_CHAINED_REWRITES:
            raise RewriteLoopError(
                f"the rewrite rules replaced {node.op!r} (created at {node.trace}) {depth} times in a row; "
                "two rules probably undo each other"
            )
        result = self._import(list(replacement), node.trace, depth + 1)
        for old, new in zip(node.outputs, result):  # a new node computing a named value keeps its name
            if new.name is None and new.owner is not None and id(new.owner) in self.made:
                new.name = old.name
        return result

    def _import(self, roots: list[Variable], trace: str, depth: int) -> list[Variable]:
        """Intern the fresh nodes a rule built (over new-graph variables) and rewrite them in turn."""
        memo: dict[int, Variable] = {}
        for node in toposort_with_stops(roots, self.done):
            inputs = [self._get(v, memo) for v in node.inputs]
            new = self._add(node, inputs, copy=False, trace=trace, depth=depth)
            memo.update(zip(map(id, node.outputs), new))
        return [self._get(v, memo) for v in roots]
