"""Compilation modes: which rewrites run and which backend executes the graph."""

from __future__ import annotations

from collections.abc import Callable

# backend name -> make_thunk(spec, profile_label) -> thunk(values, profile)
LINKERS: dict[str, Callable] = {}


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


PREDEFINED = {
    "FAST_COMPILE": Mode("reference", "fast_compile", "FAST_COMPILE"),
    "FAST_RUN": Mode("cython", "fast_run", "FAST_RUN"),
    "DebugMode": Mode("debug", "fast_run", "DebugMode"),  # equal to ag.DebugMode() (compile/debugmode.py)
}


def get_mode(mode) -> Mode:
    """A Mode from None (the configured default), a name, or a Mode."""
    if mode is None:
        from aotgraph.config import config

        mode = config.mode
    if isinstance(mode, Mode):
        result = mode
    elif isinstance(mode, str) and mode in PREDEFINED:
        result = PREDEFINED[mode]
    else:
        known = ", ".join(repr(k) for k in PREDEFINED)
        raise ValueError(f"unknown mode {mode!r}; use one of {known} or an aotgraph.Mode")
    if result.linker not in LINKERS:
        _load_linker(result.linker)
    return result


def _load_linker(name: str) -> None:
    if name == "reference":
        import aotgraph.compile.reference  # noqa: F401 - registers itself
    elif name == "cython":
        try:
            import aotgraph.codegen.linker  # noqa: F401 - registers itself
        except ImportError as err:
            raise NotImplementedError(f"the compiled backend is not available: {err}") from None
    elif name == "debug":
        import aotgraph.compile.debugmode  # noqa: F401 - registers itself
    if name not in LINKERS:
        raise ValueError(f"mode uses unknown backend {name!r}; known: {', '.join(LINKERS)}")
