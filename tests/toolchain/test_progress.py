"""Progress through the standard `logging` module: one INFO line per compiled module, a one-time cold note."""

from __future__ import annotations

import logging

from buildcases import ADD_PYX, unique

from aotgraph.toolchain import compile_extension, compiler


def test_one_info_line_per_compile_and_a_single_cold_note(caplog, monkeypatch):
    monkeypatch.setattr(compiler, "_cold", [True])  # as in a fresh process
    caplog.set_level(logging.INFO, logger="aotgraph")
    first, second = unique(ADD_PYX, "progress-1"), unique(ADD_PYX, "progress-2")
    compile_extension("ag_progress_a", first)
    compile_extension("ag_progress_b", second)
    compile_extension("ag_progress_a", first)  # a cache hit: compiles nothing, logs nothing at INFO
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("aotgraph")]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name.startswith("aotgraph"))
    notes = [m for m in messages if "first build takes" in m]
    built = [m for m in messages if m.startswith("aotgraph: built ")]
    assert len(notes) == 1 and "ag_progress_a" in notes[0] and "cached in" in notes[0]
    assert [m.split()[2] for m in built] == ["ag_progress_a", "ag_progress_b"]
    assert all("Cython" in m and "C compiler" in m and " s" in m for m in built)


def test_silent_unless_asked(caplog):
    """Library code adds no handler: nothing reaches stderr unless the application configures logging."""
    assert logging.getLogger("aotgraph").handlers == [] or all(
        isinstance(h, logging.NullHandler) for h in logging.getLogger("aotgraph").handlers)
