"""Compilation modes: which rewrites run and which backend executes the graph.

The backends are a fixed table, imported one way: the numpy reference (FAST_COMPILE), the in-process
Cython linker (FAST_RUN) and DebugMode's checker, which runs both.
"""

from __future__ import annotations

from collections.abc import Callable

from aotgraph.codegen import linker
from aotgraph.compile import debugmode, reference
from aotgraph.configparser import config

# backend name -> make_thunk(spec, profile_label) -> thunk(values, profile)
LINKERS: dict[str, Callable] = {
    "reference": reference.make_thunk,
    "cython": linker.make_thunk,
    "debug": debugmode.make_thunk,
}


class Mode:
    """A pairing of a rewrite pipeline ('fast_compile' or 'fast_run') and a backend ('reference', 'cython')."""

    def __init__(self, linker: str = "reference", optimizer: str = "fast_compile", name: str | None = None):
        self.linker = linker
        self.optimizer = optimizer
        self.name = name or f"Mode(linker={linker!r}, optimizer={optimizer!r})"

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other):
        return isinstance(other, Mode) and (self.linker, self.optimizer) == (other.linker, other.optimizer)

    def __hash__(self):
        return hash((self.linker, self.optimizer))


class DebugMode(Mode):
    """FAST_RUN with every call checked against the numpy reference (see aotgraph/compile/debugmode.py)."""

    def __init__(self, optimizer: str = "fast_run"):
        name = "DebugMode" if optimizer == "fast_run" else f"DebugMode(optimizer={optimizer!r})"
        super().__init__("debug", optimizer, name)


PREDEFINED = {
    "FAST_COMPILE": Mode("reference", "fast_compile", "FAST_COMPILE"),
    "FAST_RUN": Mode("cython", "fast_run", "FAST_RUN"),
    "DebugMode": DebugMode(),
}


def get_mode(mode) -> Mode:
    """A Mode from None (the configured default), a name, or a Mode."""
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        result = mode
    elif isinstance(mode, str) and mode in PREDEFINED:
        result = PREDEFINED[mode]
    else:
        known = ", ".join(repr(k) for k in PREDEFINED)
        raise ValueError(f"unknown mode {mode!r}; use one of {known} or an aotgraph.Mode")
    if result.linker not in LINKERS:
        raise ValueError(f"mode uses unknown backend {result.linker!r}; known: {', '.join(LINKERS)}")
    return result
