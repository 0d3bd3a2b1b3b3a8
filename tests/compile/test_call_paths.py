"""One call path contract: the C front of a compiled function and the Python runtime behave alike.

A compiled Function takes most calls in C (`_FastCall` in templates/kernel_support.pyx.j2: positional,
keyword and default calls, state, updates, copies) and the rest in Python (`Function._call`). Both are
driven here with the same cases: keywords and defaults, defaults the call updates, a failure midway
through the computation, outputs that alias an input, a shared value or each other, and borrowed outputs.
Each case runs three ways from the same state: through the C front, through `Function._call` of the same
compiled function, and through the numpy reference (FAST_COMPILE). Results, errors (type and message),
aliasing and the state afterwards must agree. All compiled functions come from ONE build.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at


def _fast_run_available() -> bool:
    from aotgraph.compile.mode import get_mode

    try:
        get_mode("FAST_RUN")
    except (NotImplementedError, ValueError):
        return False
    return True


pytestmark = pytest.mark.skipif(not _fast_run_available(), reason="no compiled backend")


def _functions() -> tuple[dict, dict]:
    """({name: FAST_COMPILE Function}, {name: SharedVariable}): every function of the contract."""
    x, y, c = at.dscalar("x"), at.dscalar("y"), at.dscalar("c")
    a, b = at.dvector("a"), at.dvector("b")
    m = at.dmatrix("m")
    total = ag.shared(0.0, name="total")
    v = ag.shared(np.arange(3.0), name="v")
    mode = "FAST_COMPILE"
    functions = {
        # keywords and defaults
        "keywords": ag.function([x, ag.Param(y, default=1.0, name="y")], x * y + 2, mode=mode),
        # a default the call updates (read under the state lock) and a shared update
        "counter": ag.function([x, ag.In(c, value=2.0, update=c + x, name="c")], [x * c, c],
                               updates=[(total, total + c)], mode=mode),
        # a failure midway: the first output computes, the second fails on shapes; two updates pending
        "midway": ag.function([a, m], [a * 2, at.dot(m, a)], updates=[(v, v + a), (total, total + 1)], mode=mode),
        # aliasing: an output that is an input, one that is a shared value, two equal outputs
        "aliases": ag.function([a], [a, v, a + 1, a + 1], updates=[(v, v * 2)], mode=mode),
        # borrowed outputs may share storage, unborrowed ones never do
        "borrowed": ag.function([a], [ag.Out(a, borrow=True), ag.Out(v, borrow=True), a], mode=mode),
        # state without updates: read the shared value
        "reader": ag.function([b], b + v, mode=mode),
        # a keyword of several letters: a call may name it with an equal string that is not the same object
        "named": ag.function([a, ag.Param(c, default=2.0, name="scale_factor")], a * c, mode=mode),
    }
    return functions, {"total": total, "v": v}


@pytest.fixture(scope="module")
def paths():
    """(reference functions, compiled functions, shared variables): the compiled ones from one module."""
    from aotgraph.codegen.linker import build_kernels
    from aotgraph.compile.function import bind
    from aotgraph.rewrite import optimize_spec

    reference, shared = _functions()
    specs = {name: optimize_spec(fn._spec, "fast_run") for name, fn in reference.items()}
    kernels = build_kernels(list(specs.values()), "call paths")
    compiled = {name: bind(spec, kernel.run) for (name, spec), kernel in zip(specs.items(), kernels)}
    return reference, compiled, shared


VEC = np.array([1.0, 2.0, 3.0])
# (function, positional arguments, keyword arguments, whether the C front takes the call)
CASES = [
    ("keywords", (4.0, 3.0), {}, True),
    ("keywords", (4.0,), {"y": 3.0}, True),
    ("keywords", (), {"x": 4.0, "y": 3.0}, True),
    ("keywords", (4.0,), {}, True),
    ("keywords", (np.array(4.0),), {"y": np.array(0.5)}, True),
    ("keywords", (4,), {}, False),  # an int to convert: the general way
    ("keywords", (4.0,), {"z": 1.0}, False),  # unknown keyword
    ("keywords", (4.0, 3.0), {"y": 3.0}, False),  # given twice
    ("keywords", (), {"y": 3.0}, False),  # missing x
    ("keywords", (1.0, 2.0, 3.0), {}, False),  # too many
    ("keywords", ("four",), {}, False),  # wrong type
    ("counter", (1.0,), {}, True),
    ("counter", (1.0, 5.0), {}, True),
    ("counter", (), {"x": 1.5}, True),
    ("counter", (1.0,), {"c": -1.0}, True),
    ("midway", (VEC, np.ones((2, 3))), {}, True),
    ("midway", (VEC, np.ones((2, 4))), {}, True),  # fails in dot: nothing may change
    ("midway", (VEC[:2], np.ones((2, 2))), {}, True),  # fails in the update v + a
    ("aliases", (VEC,), {}, True),
    ("aliases", (), {"a": VEC}, True),
    ("borrowed", (VEC,), {}, True),
    ("reader", (VEC,), {}, True),
    ("reader", (VEC[::-1],), {}, True),
    ("reader", ([1, 2, 3],), {}, False),
    ("named", (VEC,), {"scale_factor": 3.0}, True),
    ("named", (VEC,), {"_".join(["scale", "factor"]): 3.0}, True),  # not the interned name: compared as strings
    ("named", (), {"a": VEC, "scale": 3.0}, False),  # unknown keyword
    ("named", (VEC, 3.0), {"_".join(["scale", "factor"]): 3.0}, False),  # given twice
]


def _state(fn, shared: dict) -> dict:
    """Every value a call may change: the shared values and the function's input defaults."""
    state = {name: np.array(var.get_value()) for name, var in shared.items()}
    for slot in fn._inputs:
        if slot.has_default:
            state[f"default {slot.name}"] = np.array(slot.container.value)
    return state


def _reset(functions: list, shared: dict) -> None:
    shared["total"].set_value(10.0)
    shared["v"].set_value(np.arange(3.0))
    for fn in functions:
        if "c" in fn.finder:
            fn["c"] = 2.0


def _outcome(call, fn, args, kwargs, shared: dict) -> dict:
    """What one call did: its results (or error), how its outputs alias its inputs, shared values and each
    other, and the state afterwards."""
    arrays = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
    shared_values = [var.get_value(borrow=True) for var in shared.values()]
    try:
        out = call(*args, **kwargs)
    except Exception as exc:  # the contract: the same error, whichever path raises it
        return {"error": (type(exc), str(exc).split("\n")[0]), "state": _state(fn, shared)}
    outs = out if isinstance(out, list) else [out]
    alias = [
        [any(o is a for a in arrays), any(np.shares_memory(o, s) for s in shared_values),
         [j for j, p in enumerate(outs) if j != i and np.shares_memory(o, p)]]
        for i, o in enumerate(outs)
    ]
    return {"values": [np.array(o) for o in outs], "alias": alias, "state": _state(fn, shared)}


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys() or a["state"].keys() != b["state"].keys():
        return False
    if any(not np.array_equal(a["state"][k], b["state"][k]) for k in a["state"]):
        return False
    if "error" in a:
        return a["error"] == b["error"]
    same_values = len(a["values"]) == len(b["values"]) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a["values"], b["values"]))
    return same_values and a["alias"] == b["alias"]


@pytest.mark.parametrize(("name", "args", "kwargs", "in_c"), CASES)
def test_c_front_python_runtime_and_reference_agree(paths, name, args, kwargs, in_c):
    reference, compiled, shared = paths
    fn, ref = compiled[name], reference[name]
    taken = []
    general = fn._call
    fn._call = lambda a, k: taken.append("python") or general(a, k)  # noqa: B023 - one call below
    try:
        _reset([fn, ref], shared)
        c_front = _outcome(fn, fn, args, kwargs, shared)
    finally:
        del fn._call
    _reset([fn, ref], shared)
    python = _outcome(lambda *a, **k: fn._call(a, k), fn, args, kwargs, shared)
    _reset([fn, ref], shared)
    numpy_reference = _outcome(ref, ref, args, kwargs, shared)
    assert (not taken) == in_c, f"expected the {'C front' if in_c else 'Python runtime'} to take the call"
    assert _same(c_front, python), (c_front, python)
    if "error" in c_front:  # the reference backend words node errors its own way; the type must agree
        assert "error" in numpy_reference and numpy_reference["error"][0] == c_front["error"][0]
        assert _same({**numpy_reference, "error": None}, {**c_front, "error": None})
    else:
        assert _same(c_front, numpy_reference), (c_front, numpy_reference)


def test_borrowed_output_may_share_but_unborrowed_never(paths):
    """Out(borrow=True) on both paths may hand out the input itself; the unborrowed copy of it never."""
    _, compiled, shared = paths
    _reset([], shared)
    for call in (compiled["borrowed"], lambda a: compiled["borrowed"]._call((a,), {})):
        borrowed_input, _, copied = call(VEC)
        assert not np.shares_memory(copied, VEC)
        assert np.array_equal(borrowed_input, VEC)


def test_repeated_default_updates_accumulate_alike(paths):
    """Three calls of a function whose default the call updates: the same defaults and totals on each path."""
    reference, compiled, shared = paths
    seen = []
    for call in (compiled["counter"], lambda *a, **k: compiled["counter"]._call(a, k), reference["counter"]):
        fn = compiled["counter"] if call is not reference["counter"] else reference["counter"]
        _reset([fn], shared)
        outs = [call(1.0), call(x=2.0), call(0.5, c=1.0), call(3.0)]
        seen.append(([[float(o) for o in out] for out in outs], _state(fn, shared)))
    for other in seen[1:]:
        assert other[0] == seen[0][0]
        assert all(np.array_equal(other[1][k], seen[0][1][k]) for k in seen[0][1])


def _taken_in_c(fn, call):
    """(call(), whether the C front took it): the runtime's `_call` was not reached."""
    taken = []
    general = fn._call
    fn._call = lambda a, k: taken.append(a) or general(a, k)
    try:
        return call(), not taken
    finally:
        del fn._call


def test_every_way_of_calling_reaches_the_c_front(paths):
    """Calls arrive by vectorcall (the class's flag: Python 3.11 does not pass it on to the Python subclass by
    itself), or by tp_call (`type(f).__call__`), which binds the same way; errors are the same either way."""
    _, compiled, _ = paths
    fn = compiled["keywords"]
    assert type(fn).__flags__ & (1 << 11), "Py_TPFLAGS_HAVE_VECTORCALL is not set on the Function class"
    calls = {
        "vectorcall": lambda: fn(4.0, y=3.0),
        "tp_call": lambda: type(fn).__call__(fn, 4.0, y=3.0),
        "partial": lambda: functools.partial(fn, y=3.0)(4.0),
        "unpacked": lambda: fn(*[4.0], **{"y": 3.0}),
        "tp_call, all keywords": lambda: type(fn).__call__(fn, y=3.0, x=4.0),
    }
    for how, call in calls.items():
        result, in_c = _taken_in_c(fn, call)
        assert in_c and result == 14.0, how
    assert _taken_in_c(fn, lambda: type(fn).__call__(fn, 4.0)) == (6.0, True)
    for args, kwargs, message in [((4.0,), {"z": 1.0}, "unexpected keyword argument 'z'"),
                                  ((4.0, 3.0), {"y": 3.0}, "multiple values for argument 'y'"),
                                  ((1.0, 2.0, 3.0), {}, "takes at most 2 arguments \\(3 given\\)")]:
        with pytest.raises(TypeError, match=message):
            fn(*args, **kwargs)
        with pytest.raises(TypeError, match=message):
            type(fn).__call__(fn, *args, **kwargs)


def test_a_call_method_assigned_to_the_class_later_takes_the_calls(paths):
    """Python 3.12 drops the vectorcall flag of a class whose __call__ is assigned; on 3.11 the C front's entry
    sees that the class's tp_call changed and calls it instead."""
    _, compiled, _ = paths
    fn = compiled["keywords"]
    cls = type(fn)
    cls.__call__ = lambda self, *args, **kwargs: ("assigned", args, kwargs)
    try:
        assert fn(4.0, y=3.0) == ("assigned", (4.0,), {"y": 3.0})
        assert fn() == ("assigned", (), {})
    finally:
        del cls.__call__
    assert _taken_in_c(fn, lambda: fn(4.0, y=3.0)) == (14.0, True)
