"""A call that raises leaves every shared value, every default and every borrowed output as it was.

`atomic` (relfunctions.py) has three updates, an input whose default it updates (k), a borrowed output,
and fails at several points: a bad argument (before anything runs), a shape error in an update
computed after the outputs `first` and `second`, a negative integer power in its last output.
Checked in both modes and in the built module.
"""

from __future__ import annotations

import numpy as np
import pytest


class InProcess:
    def __init__(self, functions, shared):
        self.functions, self.shared = functions, shared

    def get(self, name):
        return self.shared[name].get_value()

    def set(self, name, value):
        self.shared[name].set_value(value)


class Module:
    def __init__(self, module):
        self.functions, self.module = module.functions, module

    def get(self, name):
        return self.module.get_value(name)

    def set(self, name, value):
        self.module.set_value(name, value)


@pytest.fixture
def in_process(compiled, mode):
    return InProcess(*compiled.functions(mode))


@pytest.fixture
def in_module(built):
    return Module(built)


X, Y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5])
FAILURES = {
    "bad second argument": ((X, "abc", 1), {}, TypeError),
    "wrong dtype of the third argument": ((X, Y, 1.5), {}, TypeError),
    "bad default passed by keyword": ((X, Y, 1), {"k": [1.0, 2.0]}, TypeError),
    "too many arguments": ((X, Y, 1, 2.0, 3), {}, TypeError),
    "shape error in an update, after the outputs": ((X, np.ones(4), 1), {}, ValueError),
    "error in the last output": ((X, Y, -1), {}, ValueError),
    "shape error in the first input": ((np.ones(4), Y, 1), {}, ValueError),
}


def _snapshot(state) -> dict:
    f = state.functions["atomic"]
    return {"a": state.get("a"), "b": state.get("b"), "calls": state.get("calls"), "k": np.copy(f["k"])}


def _check_atomic(state) -> None:
    f, peek = state.functions["atomic"], state.functions["peek_state"]
    state.set("a", np.array([1.0, 2.0, 3.0]))
    state.set("b", np.zeros(3))
    state.set("calls", 0)
    f["k"] = 2.0
    first, second, late = f(X, Y, 1)
    np.testing.assert_array_equal(first, X * 2)
    np.testing.assert_allclose(second, np.exp(X) + [1, 2, 3])
    borrowed_output, borrowed_copy = second, second.copy()
    shared_a = peek()  # borrowed: the shared value itself
    shared_a_copy = shared_a.copy()
    before = _snapshot(state)
    assert before["calls"] == 1 and before["k"] == 3.0
    np.testing.assert_array_equal(before["a"], [2.0, 4.0, 6.0])

    for what, (args, kwargs, error) in FAILURES.items():
        with pytest.raises(error):
            f(*args, **kwargs)
        after = _snapshot(state)
        for key in before:
            np.testing.assert_array_equal(after[key], before[key], err_msg=f"{what}: {key} changed")
        np.testing.assert_array_equal(borrowed_output, borrowed_copy, err_msg=f"{what}: the borrowed output changed")
        np.testing.assert_array_equal(shared_a, shared_a_copy, err_msg=f"{what}: the borrowed shared value changed")

    f(X, Y, 1)  # the failed calls left nothing half-done: the next call commits exactly once
    assert state.get("calls") == 2 and f["k"] == 4.0
    np.testing.assert_array_equal(state.get("a"), [3.0, 6.0, 9.0])
    np.testing.assert_allclose(state.get("b"), X * 2 * Y + X * 3 * Y)
    np.testing.assert_array_equal(shared_a, shared_a_copy)  # updates replace values, never write into them


def test_failed_calls_change_nothing_in_process(in_process):
    _check_atomic(in_process)


def test_failed_calls_change_nothing_in_built_module(in_module):
    _check_atomic(in_module)


def test_failed_accumulator_calls_change_nothing(in_process):
    f = in_process.functions["count_default"]
    f["total"] = 5
    assert f(2) == 5 and f["total"] == 7
    for bad in ("2", None, 2.5, [1, 2]):
        with pytest.raises(TypeError):
            f(bad)
        assert f["total"] == 7
    with pytest.raises(TypeError):
        f(1, total="x")
    assert f(1) == 7 and f["total"] == 8
