"""Threads: one Function called from 8 threads x 1,000 calls gives the sequential results; calls with
updates act as if serialized; set_value during calls never exposes half of a call's updates.

The interpreter switches threads every 10 us during these tests (instead of 5 ms) so calls interleave.
Both modes, and the built module (which has its own runtime, lock and containers).
"""

from __future__ import annotations

import gc
import sys
import threading

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at

THREADS, CALLS = 8, 1000


@pytest.fixture(autouse=True)
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def run_threads(work, n: int = THREADS) -> list:
    """Run work(index) in n threads started together; return their results, re-raising the first error."""
    start = threading.Barrier(n)
    results, errors = [None] * n, []

    def body(index):
        start.wait()
        try:
            results[index] = work(index)
        except BaseException as err:  # noqa: BLE001 - reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _pure_matches_sequential(pure) -> None:
    rng = np.random.default_rng(0)
    inputs = [(rng.standard_normal(n), rng.standard_normal(n)) for n in (1, 5, 17, 64, 0, 300, 2, 33) * 2]
    expected = [pure(x, y) for x, y in inputs]

    def work(t):
        wrong = 0
        for i in range(CALLS):
            k = (t * 7 + i) % len(inputs)
            out = pure(*inputs[k])
            wrong += not all(np.array_equal(o, e) for o, e in zip(out, expected[k]))
        return wrong

    assert run_threads(work) == [0] * THREADS


def _accumulator_is_serialized(accumulate, get_acc, set_acc) -> None:
    set_acc(0)

    def work(t):
        return [int(accumulate(1)) for _ in range(CALLS)]

    seen = sorted(v for values in run_threads(work) for v in values)
    assert int(get_acc()) == THREADS * CALLS
    assert seen == list(range(THREADS * CALLS))  # every call saw a distinct total: the calls were serialized


def _default_accumulator_is_serialized(count) -> None:
    count["total"] = 0
    seen = run_threads(lambda t: [int(count(2)) for _ in range(CALLS)])
    assert int(count["total"]) == 2 * THREADS * CALLS
    assert sorted(v for values in seen for v in values) == list(range(0, 2 * THREADS * CALLS, 2))


def _set_value_during_calls(pair_step, pair_gap, set_step, get) -> None:
    set_step(1.0)
    stop = threading.Event()

    def work(t):
        if t == 0:  # the setter
            for k in range(CALLS):
                set_step(float(k % 7))
            stop.set()
            return 0
        gaps = 0
        for _ in range(CALLS):
            if t % 2:
                pair_step()
            else:
                gap, _ = pair_gap()
                gaps += gap != 0
        return gaps

    assert run_threads(work) == [0] * THREADS
    assert get("left") == get("right")


# ---- in process, both modes ------------------------------------------------------------------------------
def test_threads_give_the_sequential_results(functions):
    _pure_matches_sequential(functions["pure"])


def test_updates_behave_as_if_serialized(compiled, mode):
    functions, shared = compiled.functions(mode)
    acc = shared["acc"]
    _accumulator_is_serialized(functions["accumulate"], acc.get_value, acc.set_value)


def test_updated_defaults_behave_as_if_serialized(functions):
    _default_accumulator_is_serialized(functions["count_default"])


def test_set_value_during_calls_stays_consistent(compiled, mode):
    functions, shared = compiled.functions(mode)
    _set_value_during_calls(functions["pair_step"], functions["pair_gap"], shared["step"].set_value,
                            lambda name: shared[name].get_value())


# ---- the built module ---------------------------------------------------------------------------------------
def test_built_module_threads(built):
    fns = built.functions
    _pure_matches_sequential(fns["pure"])
    _accumulator_is_serialized(fns["accumulate"], lambda: built.get_value("acc"),
                               lambda v: built.set_value("acc", v))
    _default_accumulator_is_serialized(fns["count_default"])
    _set_value_during_calls(fns["pair_step"], fns["pair_gap"], lambda v: built.set_value("step", v),
                            built.get_value)


# ---- building from several threads ----------------------------------------------------------------------------
class _SwitchInsideAstParse:
    """Garbage whose finalizer, when the collector runs it inside `ast.parse` in thread `owner` (it allocates
    the tree's objects), lets another thread run `other` to completion there: a deterministic thread switch
    in the middle of parsing (the collector is made to run at every allocation)."""

    def __init__(self, owner, other):
        self.owner, self.other, self.fired = owner, other, False
        self.threshold = gc.get_threshold()
        self._arm()

    def _arm(self):
        trap = _Finalizer(self)
        trap.cycle = trap
        gc.set_threshold(1)

    def finalize(self):
        if self.fired:
            return
        frame = sys._getframe(2)
        while frame is not None and not _is_ast_parse(frame.f_code):
            frame = frame.f_back
        if frame is None or threading.current_thread() is not self.owner:
            self._arm()  # not inside ast.parse in the owner thread yet
            return
        self.fired = True
        gc.set_threshold(*self.threshold)
        thread = threading.Thread(target=self.other)
        thread.start()
        thread.join(timeout=2)  # a fixed build may wait for a lock this thread holds: then go on

    def disarm(self):
        self.fired = True
        gc.set_threshold(*self.threshold)


def _is_ast_parse(code) -> bool:
    return code.co_name == "parse" and code.co_filename.endswith("ast.py")


class _Finalizer:
    def __init__(self, switch):
        self.switch = switch

    def __del__(self):
        self.switch.finalize()


def test_two_threads_can_render_builds_at_once():
    from aotgraph.codegen.aot import render_build

    x = at.dvector("x")
    functions = {"double": ag.function([x], 2 * x, mode="FAST_COMPILE")}
    errors = []

    def other():
        def deeper(n):  # another stack depth than the first thread's
            return deeper(n - 1) if n else render_build(functions, "reltest_other")

        try:
            deeper(25)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    switch = _SwitchInsideAstParse(threading.current_thread(), other)
    try:
        render_build(functions, "reltest_first")
    except Exception as err:  # noqa: BLE001 - reported below
        errors.append(err)
    finally:
        switch.disarm()
    assert not errors, errors
