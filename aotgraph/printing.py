"""Seeing a graph: `debugprint` (text, the everyday tool) and `pydotprint` (a Graphviz drawing).

    >>> ag.printing.debugprint(f)          # f a Function: its optimized graph, as compiled
    add [id A] <Tensor{f64, (?,)}> 'y'  # output 0
     ├─ x [id B] <Tensor{f64, (?,)}>
     └─ exp [id C] <Tensor{f64, (?,)}>
        └─ x [id B] <Tensor{f64, (?,)}>

One line per variable: the op that computes it (with its params), `[id X]`, its type and its name. A
sub-expression used twice is expanded once; later uses print its line with `···` and no children.
The step graph of each scan follows, under "Inner graphs:" (as Theano prints them): the node's line, then
a tree per inner output, reading the step's inputs (placeholders such as `x[t]`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

from aotgraph.graph.basic import Apply, Constant, Variable, toposort

__all__ = ["debugprint", "dot_source", "pydotprint", "source"]


def source(fn) -> str:
    """The generated Cython (.pyx) that the compiled Function `fn` runs (`fn.source`): what to read when a
    result or a timing surprises. TypeError for a FAST_COMPILE function, which runs numpy directly."""
    if not hasattr(type(fn), "source"):
        raise TypeError(f"source() takes a Function from ag.function, got {type(fn).__name__}")
    return fn.source


def debugprint(obj, file=None, print_type: bool = True, ids: bool = True) -> str:
    """The graph of `obj` (a variable, a list of variables, or a Function) as an indented tree.

    Returns the text; also writes it to `file` (sys.stdout when None; nowhere when file='str').
    For a Function, the graph printed is the optimized one it runs, outputs and updates labelled.
    """
    printer = _TreePrinter(print_type, ids)
    roots = graph_roots(obj)
    lines = [line for label, var in roots for line in printer.tree(var, label)]
    lines += _inner_graphs(printer, [var for _, var in roots])
    text = "".join(line + "\n" for line in lines)
    if file is None:
        sys.stdout.write(text)
    elif file != "str":
        file.write(text)
    return text


def graph_roots(obj) -> list[tuple[str | None, Variable]]:
    """(label, variable) for each root of `obj`'s graph: outputs, then updates for a Function."""
    spec = getattr(obj, "_spec", None)
    if spec is not None:
        roots = [(f"output {i}", v) for i, v in enumerate(spec.outputs)]
        return roots + [(f"update of {_update_target(spec, target)}", e) for target, e in spec.updates]
    if isinstance(obj, Variable):
        return [(None, obj)]
    if isinstance(obj, Apply):
        return [(None, v) for v in obj.outputs]
    if isinstance(obj, (list, tuple)) and all(isinstance(v, Variable) for v in obj):
        return [(f"output {i}", v) for i, v in enumerate(obj)]
    if hasattr(obj, "_thunk"):
        raise TypeError("this Function carries no graph (it was loaded from a built module); print the graph "
                        "in the process that built it")
    raise TypeError(f"debugprint takes a variable, a list of variables or a Function, got {type(obj).__name__}")


def _inner_graphs(printer: _TreePrinter, roots: list[Variable]) -> list[str]:
    """The lines of the step graphs of the scans in the graph of `roots` (and of scans inside those)."""
    pending = [node for node in toposort(roots) if _inner(node) is not None]
    if not pending:
        return []
    lines, done = ["", "Inner graphs:"], set()
    while pending:
        node = pending.pop(0)
        if id(node) in done:
            continue
        done.add(id(node))
        inner = _inner(node)
        lines += ["", f"{node.op!r} [id {printer.ident(node.outputs[0])}]" if printer.ids else repr(node.op)]
        for k, out in enumerate(inner.outputs):
            lines += [" " + line for line in printer.tree(out, f"inner output {k}")]
        pending += [n for n in toposort(list(inner.outputs)) if _inner(n) is not None]
    return lines


def _inner(node: Apply):
    """The step graph a node's op carries (a scan's `inner`), or None."""
    inner = node.op.params.get("inner")
    return inner if hasattr(inner, "outputs") and hasattr(inner, "inputs") else None


def _update_target(spec, target) -> str:
    kind, index = target
    var = spec.shared[index] if kind == "shared" else spec.inputs[index].variable
    return repr(var) if var.name is not None else f"{kind} {index}"


def leaf_label(v: Variable) -> str:
    """How a graph input shows: its name, else its kind (a small constant shows its value)."""
    if v.name is not None:
        return v.name
    if isinstance(v, Constant):
        data = v.data
        return repr(data.tolist()) if data.size <= 4 else f"constant{{shape={data.shape}}}"
    return "shared" if hasattr(v, "container") else "input"


def node_label(v: Variable) -> str:
    """The op computing `v` (and which of its outputs v is, for an op with several)."""
    node = v.owner
    return repr(node.op) if len(node.outputs) == 1 else f"{node.op!r}.{v.index}"


class _TreePrinter:
    """Prints trees one root at a time; ids and already-expanded nodes carry over from root to root."""

    _BRANCH, _LAST, _PIPE, _SPACE = " ├─ ", " └─ ", " │ ", "   "

    def __init__(self, print_type: bool, ids: bool):
        self.print_type = print_type
        self.ids = ids
        self.names: dict[int, str] = {}
        self.expanded: set[int] = set()

    def tree(self, root: Variable, label: str | None) -> Iterator[str]:
        stack = [(root, "", "", label)]  # (variable, this line's prefix, its children's prefix, label)
        while stack:
            var, prefix, child_prefix, note = stack.pop()
            repeat = var.owner is not None and id(var.owner) in self.expanded
            yield prefix + self.line(var, repeat) + (f"  # {note}" if note else "")
            if var.owner is None or repeat:
                continue
            self.expanded.add(id(var.owner))
            inputs = var.owner.inputs
            for i in reversed(range(len(inputs))):
                last = i == len(inputs) - 1
                branch, extend = (self._LAST, self._SPACE) if last else (self._BRANCH, self._PIPE)
                stack.append((inputs[i], child_prefix + branch, child_prefix + extend, None))

    def line(self, var: Variable, repeat: bool) -> str:
        parts = [leaf_label(var) if var.owner is None else node_label(var)]
        if self.ids:
            parts.append(f"[id {self.ident(var)}]")
        if repeat:
            parts.append("···")
            return " ".join(parts)
        if self.print_type:
            parts.append(f"<{var.type}>")
        if var.owner is not None and var.name is not None:
            parts.append(repr(var.name))
        return " ".join(parts)

    def ident(self, var: Variable) -> str:
        key = id(var)
        if key not in self.names:
            self.names[key] = _letters(len(self.names))
        return self.names[key]


def _letters(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> BA, ... (PyTensor's ids)."""
    digits = ""
    while True:
        n, r = divmod(n, 26)
        digits = chr(ord("A") + r) + digits
        if n == 0:
            return digits


# ---- Graphviz ---------------------------------------------------------------------------------------


def dot_source(obj, print_type: bool = True) -> str:
    """The graph of `obj` (as for debugprint) in Graphviz's DOT language."""
    roots = graph_roots(obj)
    nodes = toposort([v for _, v in roots])
    ids: dict[int, str] = {}
    lines = ["digraph aotgraph {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']

    def ref(v: Variable) -> str:
        if v.owner is not None:
            return ids[id(v.owner)]
        if id(v) not in ids:
            ids[id(v)] = f"v{len(ids)}"
            kind = "constant" if isinstance(v, Constant) else "shared" if hasattr(v, "container") else "input"
            label = leaf_label(v) + (f"\n{v.type}" if print_type else "")
            lines.append(f"  {ids[id(v)]} [label={_quote(label)}, shape=ellipse, style=filled, "
                         f"fillcolor={_LEAF_COLOURS[kind]}];")
        return ids[id(v)]

    for node in nodes:
        ids[id(node)] = f"n{len(ids)}"
        lines.append(f"  {ids[id(node)]} [label={_quote(repr(node.op))}, shape=box];")
        for i, v in enumerate(node.inputs):
            edge = (f"{v.type}" if print_type else "") + (f" (input {i})" if len(node.inputs) > 1 else "")
            lines.append(f"  {ref(v)} -> {ids[id(node)]} [label={_quote(edge.strip())}];")
    for k, (label, v) in enumerate(roots):
        lines.append(f"  r{k} [label={_quote(label or 'output')}, shape=plaintext];")
        lines.append(f"  {ref(v)} -> r{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_LEAF_COLOURS = {"input": "palegreen", "shared": "lightblue", "constant": "lightgrey"}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def pydotprint(obj, outfile: str = "graph.png", print_type: bool = True) -> str:
    """Draw the graph of `obj` (as for debugprint) with Graphviz into `outfile`; the format is its extension
    (png, svg, pdf, ...). Needs the `graphviz` Python package and Graphviz's `dot` program. Returns outfile."""
    fmt = os.path.splitext(outfile)[1].lstrip(".").lower() or "png"
    source = dot_source(obj, print_type)
    graphviz = _require_graphviz()
    data = graphviz.Source(source).pipe(format=fmt)
    with open(outfile, "wb") as f:
        f.write(data)
    return outfile


def _require_graphviz():
    """The graphviz module, or a RuntimeError saying exactly what to install."""
    missing = []
    try:
        import graphviz
    except ImportError:
        graphviz = None
        missing.append("the Python package 'graphviz' (pip install graphviz)")
    if shutil.which("dot") is None:
        missing.append("Graphviz's 'dot' program on PATH (apt-get install graphviz, brew install graphviz, "
                       "or conda install graphviz)")
    if missing:
        raise RuntimeError("pydotprint draws with Graphviz, which is not available: install "
                           + " and ".join(missing) + ". ag.printing.debugprint(f) prints the same graph as text.")
    return graphviz
