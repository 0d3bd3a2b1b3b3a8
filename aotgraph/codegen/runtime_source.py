"""The runtime's source, inlined into a generated module ("write it once, copy it into each module").

The files of `aotgraph/runtime/` import numpy, the standard library and each other (relative
imports) only. Inlining puts them into the module in dependency order and drops the relative
imports (their names are then module globals) and `from __future__` lines (Cython takes
annotations as plain Python with `annotation_typing=False`). Compiled by Cython, the Function
class then runs as C.
"""

from __future__ import annotations

import ast
import functools
import re
import threading
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
AST_LOCK = threading.Lock()
_RELATIVE = re.compile(r"^from \.(\w+) import ")


@functools.lru_cache(maxsize=1)
def runtime_source() -> str:
    """The runtime modules' source, concatenated in dependency order, ready to paste into a .pyx."""
    sources = {p.stem: p.read_text() for p in sorted(RUNTIME_DIR.glob("*.py")) if p.stem != "__init__"}
    order = _dependency_order({name: _relative_imports(text) for name, text in sources.items()})
    parts = []
    for name in order:
        parts.append(f"# ---- runtime: aotgraph/runtime/{name}.py " + "-" * 60)
        parts.append(_strip(sources[name]))
    return "\n\n".join(parts) + "\n"


@functools.lru_cache(maxsize=1)
def runtime_names() -> frozenset[str]:
    """Top-level names the runtime defines (generated names must not collide with them)."""
    names = set()
    with AST_LOCK:  # CPython 3.11's parser is not safe in two threads at once (gh-106905)
        tree = ast.parse(runtime_source())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _relative_imports(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := _RELATIVE.match(line))]


def _dependency_order(deps: dict[str, list[str]]) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"the runtime modules import each other in a cycle: {' -> '.join(path + (name,))}")
        if name not in deps:
            raise ValueError(f"the runtime imports .{name}, which is not a file of {RUNTIME_DIR}")
        for dep in deps[name]:
            visit(dep, path + (name,))
        order.append(name)

    for name in sorted(deps):
        visit(name, ())
    return order


def _strip(text: str) -> str:
    """Drop `from __future__` and relative imports (single-line or parenthesised)."""
    out, skipping = [], False
    for line in text.splitlines():
        if skipping:
            skipping = ")" not in line
            continue
        if line.startswith("from __future__ import"):
            continue
        if _RELATIVE.match(line):
            skipping = line.rstrip().endswith("(")
            continue
        out.append(line)
    return "\n".join(out).strip("\n")
