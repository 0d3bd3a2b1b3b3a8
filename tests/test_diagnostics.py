"""Warnings name the user's line, however deep inside aotgraph they were raised."""

from __future__ import annotations

import inspect
import warnings

import aotgraph as ag
import aotgraph.tensor as at


def _line_of(marker: str) -> int:
    source, start = inspect.getsourcelines(_warn_twice)
    return start + next(i for i, line in enumerate(source) if marker in line)


def _warn_twice():
    x, y = at.dscalar("x"), at.dscalar("y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ag.function([x, y], x + 1, on_unused_input="warn", mode="FAST_COMPILE")  # marker: unused
        ag.grad(x * 2, [x, y], disconnected_inputs="warn")  # marker: disconnected
    return caught


def test_warnings_point_at_the_callers_line():
    caught = _warn_twice()
    assert len(caught) == 2, [str(w.message) for w in caught]
    unused, disconnected = caught
    assert "not used" in str(unused.message) and "does not depend" in str(disconnected.message)
    assert unused.filename == __file__ and unused.lineno == _line_of("marker: unused")
    assert disconnected.filename == __file__ and disconnected.lineno == _line_of("marker: disconnected")
