"""The compat tests' functions in each mode, compiled as few times as possible.

FAST_COMPILE functions come from compatfunctions.py directly. Their FAST_RUN versions are compiled into ONE
in-process module (what the FAST_RUN linker does for one spec, for all specs at once) and bound by the same
`bind` that `ag.function` uses, so calls go through the compiled C front. An input whose value is another
function's container (In(value=f.container[s])) is bound to the FAST_RUN twin of that container. The module
built with `ag.build` (split by size) holds the functions a built module can hold.
"""

from __future__ import annotations

import copy
import functools

import pytest
from buildbatches import fast_run_available


def fast_run_batch(functions: dict) -> dict:
    """FAST_RUN versions of `functions` (FAST_COMPILE Functions), from few builds of <= ~2 MB of C each."""
    from buildbatches import compile_batched

    from aotgraph.compile.function import bind
    from aotgraph.rewrite import optimize_spec

    specs = {name: optimize_spec(fn._spec, "fast_run") for name, fn in functions.items()}
    kernels = compile_batched(specs, "compat")  # modules of <= ~2 MB of C (tests/buildbatches.py)
    twins: dict[int, object] = {}  # id(FAST_COMPILE input container) -> the FAST_RUN function's container
    compiled = {}
    for name, spec in specs.items():
        kernel = kernels[name]
        spec = copy.copy(spec)
        spec.inputs = [_with_twin(item, twins) for item in spec.inputs]
        fn = bind(spec, kernel.run)
        for old, new in zip(functions[name]._inputs, fn._inputs):
            twins.setdefault(id(old.container), new.container)
        compiled[name] = fn
    return compiled


def _with_twin(item, twins):
    if id(item.value) in twins:
        item = copy.copy(item)
        item.value = twins[id(item.value)]
    return item


class Compiled:
    """compatfunctions.all_functions() per mode (fresh state each), and the built module; each made once."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    @functools.cache  # noqa: B019 - one instance per session
    def functions(self, mode: str) -> tuple[dict, dict]:
        from compatfunctions import all_functions

        functions, state = all_functions()
        if mode == "FAST_RUN":
            if not fast_run_available():
                pytest.skip("the compiled backend is not available")
            functions = fast_run_batch(functions)
        return functions, state

    @functools.cache  # noqa: B019
    def module(self):
        """The modules ag.build makes from the buildable functions (<= ~2 MB of C each, imported, read as one:
        buildbatches.BuiltModules), with their state."""
        from buildbatches import build_by_size
        from compatfunctions import BUILT, all_functions

        if not fast_run_available():
            pytest.skip("the compiled backend is not available")
        functions, state = all_functions()
        return build_by_size({name: functions[name] for name in BUILT}, "compatmod", self.out_dir), state
