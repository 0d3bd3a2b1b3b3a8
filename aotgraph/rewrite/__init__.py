"""Graph rewrites: the optimizer. One readable list of named passes per pipeline (STYLE lesson 4).

    merge -> fold -> scan -> canonicalize -> stabilize -> fuse -> matvec -> window_fuse -> inplace
                                                                ('fast_run'; 'fast_compile': merge only)

Each pass is a function `pass(outputs) -> new outputs` over lists of variables; it never changes the graph it is
given and keeps graph inputs (explicit inputs, shared variables) the same objects. `fuse` makes each elementwise
region (and a region feeding a reduction) one node, the form the compiled backend renders as one loop; `matvec`
makes `X.T @ f(X @ w)` one node reading X once (matvec.py); `window_fuse` makes a convolution, its max-pooling
and their elementwise epilogue one node (and their gradients another); `inplace` lets such nodes overwrite inputs
nobody reads afterwards. A pass that needs more than the outputs gets it as a keyword argument from
`optimize_spec`, where the spec is, not as state on the graph: `inplace` takes `mutable`, the inputs declared
In(..., mutable=True), and `updates_from`, the index of the first result that is an update (a shared variable's
next value never lives in a buffer the caller owns).

Debug switches: AOTGRAPH_CHECK_REWRITES=1 re-runs type inference over the whole graph after every pass
(like `check=True`); AOTGRAPH_PRINT_PASSES=1 prints the graph after every pass (debugprint) to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
from collections.abc import Callable, Sequence

from aotgraph.graph.basic import Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.printing import debugprint
from aotgraph.rewrite import (  # the pass modules
    canonicalize,
    fold,
    fuse,
    inplace,
    matvec,
    merge,
    scan_rules,
    stabilize,
    window_fuse,
)
from aotgraph.rewrite.check import RewriteCheckError, check_graph
from aotgraph.rewrite.engine import RewriteLoopError

__all__ = ["PASSES", "PIPELINES", "RewriteCheckError", "RewriteLoopError", "optimize_spec", "rewrite_graph"]

Pass = Callable[[list[Variable]], list[Variable]]

PASSES: dict[str, Pass] = {
    "merge": merge.merge,
    "fold": fold.fold,
    "scan": scan_rules.simplify_scans,
    "canonicalize": canonicalize.canonicalize,
    "stabilize": stabilize.stabilize,
    "fuse": fuse.fuse,
    "matvec": matvec.fuse_matvec,
    "window_fuse": window_fuse.window_fuse,
    "inplace": inplace.inplace,
}
CONTEXT = {"inplace": ("mutable", "updates_from")}  # pass -> the keyword arguments it takes from the caller

# Passes that know nothing of ops overwriting their inputs (destroy_map): merging two nodes, or replacing
# x * 1 by x, could hand an in-place op a value that something else still reads. They leave a graph that
# already holds an in-place op (compiled with accept_inplace=True) as it is.
UNAWARE_OF_INPLACE = frozenset({"merge", "fold", "scan", "canonicalize", "stabilize", "fuse", "matvec", "window_fuse",
                                "inplace"})

PIPELINES: dict[str, tuple[str, ...]] = {
    "fast_compile": ("merge",),
    "fast_run": ("merge", "fold", "scan", "canonicalize", "stabilize", "fuse", "matvec", "window_fuse", "inplace"),
}


def rewrite_graph(outputs: Sequence[Variable], pipeline: str | Sequence[str] | None = "fast_run", *,
                  check: bool = False, trace: Callable[[str, list[Variable]], None] | None = None,
                  mutable: Sequence[Variable] = (), updates_from: int | None = None) -> list[Variable]:
    """New output variables computing the values of `outputs`, rewritten by the passes of `pipeline`.

    pipeline: 'fast_compile', 'fast_run', a sequence of names from PASSES, or None (no pass). A graph that
        holds an in-place op is left to the passes not in UNAWARE_OF_INPLACE.
    check: re-run type inference over the graph after each pass (also with AOTGRAPH_CHECK_REWRITES=1).
    trace: called as trace(pass_name, outputs) after each pass (AOTGRAPH_PRINT_PASSES=1 prints them).
    mutable: graph inputs the function may overwrite (for the `inplace` pass); none by default.
    updates_from: outputs[updates_from:] are update values (for the `inplace` pass; None: no updates).
    """
    names = _pass_names(pipeline)
    check = check or _env_flag("AOTGRAPH_CHECK_REWRITES")
    if trace is None and _env_flag("AOTGRAPH_PRINT_PASSES"):
        trace = print_pass
    current = list(outputs)
    if any(rule_of(node.op).destroy_map for node in toposort(current)):
        names = tuple(n for n in names if n not in UNAWARE_OF_INPLACE)
    with _no_cyclic_gc():
        context = {"mutable": tuple(mutable), "updates_from": updates_from}
        for name in names:
            new = PASSES[name](current, **{key: context[key] for key in CONTEXT.get(name, ())})
            if check:
                check_graph(name, current, new)
            if trace is not None:
                trace(name, new)
            current = new
    return current


@contextlib.contextmanager
def _no_cyclic_gc():
    """Pause the cyclic garbage collector while passes allocate: every node is a reference cycle (node <->
    outputs), so its full collections, each walking the whole heap, would otherwise make a pass over a
    large graph cost about twice as much. What the passes drop is collected after they finish."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def optimize_spec(spec, pipeline: str | Sequence[str] | None):
    """A FunctionSpec like `spec` whose outputs and update expressions are rewritten by `pipeline`.

    Inputs, shared variables, borrow flags and update targets are kept; so are the graph inputs'
    variables themselves (the runtime binds them by identity).
    """
    mutable = [item.variable for item in spec.inputs if item.mutable]
    results = rewrite_graph(spec.results, pipeline, mutable=mutable, updates_from=len(spec.outputs))
    n = len(spec.outputs)
    updates = [(target, expr) for (target, _), expr in zip(spec.updates, results[n:])]
    return dataclasses.replace(spec, outputs=results[:n], updates=updates)


def print_pass(name: str, outputs: list[Variable], file=None) -> None:
    """The AOTGRAPH_PRINT_PASSES tracer: the graph after pass `name`, as debugprint shows it."""
    file = sys.stderr if file is None else file
    file.write(f"=== after pass {name!r}: {len(toposort(outputs))} nodes ===\n")
    debugprint(outputs, file=file)


def _pass_names(pipeline: str | Sequence[str] | None) -> tuple[str, ...]:
    if pipeline is None:  # Theano's Mode(optimizer=None): the graph as written
        return ()
    if isinstance(pipeline, str):
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown rewrite pipeline {pipeline!r}; use one of {', '.join(map(repr, PIPELINES))}")
        return PIPELINES[pipeline]
    names = tuple(pipeline)
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise ValueError(f"unknown rewrite pass(es) {unknown}; known: {', '.join(PASSES)}")
    return names


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")
