"""Bad input: every case of relcases.py gives the right error (naming the input) or numpy's result.

Each case runs in both modes (the `mode` fixture), through the built module in this process, and all
of them once more in a fresh interpreter where aotgraph cannot be imported.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from relcases import CASES, check
from relsupport import HERE, run_python

import aotgraph as ag
import aotgraph.tensor as at

CASE_IDS = [c.id for c in CASES]


def _known_gap(request, case, compiled: bool) -> None:
    if compiled and case.compiled_gap:
        request.applymarker(pytest.mark.xfail(strict=True, reason=case.compiled_gap))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_in_process(case, mode, functions, request):
    _known_gap(request, case, mode != "FAST_COMPILE")
    check(functions[case.function], case)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_in_built_module(case, built, request):
    _known_gap(request, case, True)
    check(built.functions[case.function], case)


def test_all_cases_in_a_process_without_aotgraph(built, compiled):
    """The built modules alone (numpy only) give the same answers; known compiled gaps are xfailed above."""
    printed = run_python(f"""
        import importlib
        import json
        import relcases
        functions = {{}}
        for name in {built.names!r}:
            functions.update(importlib.import_module(name).functions)
        assert 'aotgraph' not in {{m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}}
        print(json.dumps(relcases.run_all(functions, skip_gaps=True)))
    """, block_aotgraph=True, path=(HERE, compiled.out_dir))
    report = json.loads(printed.splitlines()[-1])
    assert len(report) == sum(1 for c in CASES if not c.compiled_gap)
    assert not {k: m for k, m in report.items() if m}, report


QUIET_CASES = [c for c in CASES if c.id in ("nan-inf-through-numpy-calls", "nan-inf-zero-float64",
                                             "int32-division-by-zero", "uint8-division-by-zero")]


@pytest.mark.parametrize("case", QUIET_CASES, ids=[c.id for c in QUIET_CASES])
def test_numpy_error_settings_change_nothing(case, mode, functions):
    """np.seterr(all='raise') in the caller: still numpy's values, no FloatingPointError, nothing changed."""
    function = functions[case.function]

    def call_with_numpy_raising(*args, **kwargs):
        with np.errstate(all="raise"):
            result = function(*args, **kwargs)
            assert set(np.geterr().values()) == {"raise"}  # the caller's setting is back after the call
        return result

    check(call_with_numpy_raising, case)


def test_case_count():
    """The figure for the issue's closing note: cases tried (each in FAST_COMPILE, FAST_RUN and a built module)."""
    print(f"{len(CASES)} bad-input cases")
    assert len(CASES) >= 80


# ---- through ag.function(mode='FAST_RUN') itself (the real linker), a few cases ---------------------------
def test_real_fast_run_linker_checks_inputs_and_names_nodes(needs_fast_run):
    x, y = at.dvectors("x", "y")
    total = x + y  # the line the message names
    line = f"test_bad_input.py:{test_real_fast_run_linker_checks_inputs_and_names_nodes.__code__.co_firstlineno + 2}"
    f = ag.function([x, ag.In(y, mutable=True)], total, mode="FAST_RUN", name="real")
    np.testing.assert_array_equal(f([1, 2], np.arange(2.0)[::-1]), [2.0, 2.0])
    with pytest.raises(TypeError, match="'x'.*complex128"):
        f(np.ones(2, complex), np.ones(2))
    with pytest.raises(TypeError, match="'x'.*NoneType"):
        f(None, np.ones(2))
    readonly = np.ones(2)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="'y'.*read-only"):
        f(np.ones(2), readonly)
    with pytest.raises(ValueError) as err:
        f(np.ones(3), np.ones(4))
    assert "add" in str(err.value) and line in str(err.value)
