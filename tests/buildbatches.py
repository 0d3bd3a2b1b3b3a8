"""Test builds split by a size budget: no test module over ~2 MB of C (MAX_C_MB).

gcc's time and memory grow with a module's C, and one test module of 25 MB of C outlived the compiler
timeout (issue 15). Every module also has a fixed cost: a module made by ag.build ~1.3 MB of C and ~6 s of
gcc (the kernel support, the runtime, Cython's utility code), an in-process module ~0.5 MB and ~1.5 s (it
cimports the support, built once per cache). So tests that check kernels (not ag.build's module) build
them in process (`in_process`), and a test's functions go into as few modules as fit the budget, packed
in order (`by_size`). A function's size is estimated from its rendered kernel (~10 bytes of C per byte of
.pyx, measured on tests/codegen's modules) before anything is compiled; the session's summary
(tests/conftest.py) lists any module that still came out over the budget.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

MAX_C_MB = 2.0  # the budget of a test module (tests/conftest.py lists the modules over it)
BUILT_FIXED_MB = 1.3  # the C of a module made by ag.build, without kernels
IN_PROCESS_FIXED_MB = 0.5  # the C of an in-process module without kernels
C_PER_PYX_BYTE = 10.5  # C bytes (Cython's comments included) per byte of a kernel's .pyx
PACKED = 0.9  # batches are packed to this share of the budget: the estimate runs ~10% low for numpy-call steps


@functools.cache
def fast_run_available() -> bool:
    """Whether mode FAST_RUN (the compiled backend) can be used here: the one check the test packages share."""
    from aotgraph.compile.mode import get_mode

    try:
        get_mode("FAST_RUN")
    except (NotImplementedError, ValueError):
        return False
    return True


def kernel_megabytes(spec) -> float:
    """The estimated C of the kernel of `spec` (an optimized FunctionSpec): steps, runner, scalar helpers."""
    from aotgraph.codegen.lower import lower
    from aotgraph.codegen.render import render_kernel

    kernel = lower(spec, "f0")
    helpers = dict(kernel.helpers)
    lines = render_kernel(kernel, helpers)
    pyx_bytes = sum(len(line) + 1 for line in lines) + sum(len(text) for text in helpers.values())
    return pyx_bytes * C_PER_PYX_BYTE / 1e6


def _packed(sizes: dict[str, float], fixed_mb: float, budget_mb: float) -> list[list[str]]:
    """The names of `sizes` ({name: MB}) in order, cut into batches whose fixed + summed size fits the budget
    (a function larger than the budget gets a batch of its own)."""
    batches: list[list[str]] = [[]]
    size = fixed_mb
    for name, megabytes in sizes.items():
        if batches[-1] and size + megabytes > budget_mb * PACKED:
            batches.append([])
            size = fixed_mb
        batches[-1].append(name)
        size += megabytes
    return batches


def _names(name: str, count: int) -> list[str]:
    return [name] if count == 1 else [f"{name}_{k}" for k in range(count)]


def by_size(functions: dict, name: str, budget_mb: float = MAX_C_MB) -> dict[str, dict]:
    """{module name: functions} for ag.build: `functions` ({public name: Function}) in modules of at most
    `budget_mb` of C each (estimated), in order; `name` itself when they fit one module, else `name_0`, ..."""
    from aotgraph.rewrite import optimize_spec

    if not functions:
        raise ValueError(f"by_size({name!r}): no functions to build")
    sizes = {public: kernel_megabytes(optimize_spec(fn._spec, "fast_run")) for public, fn in functions.items()}
    batches = _packed(sizes, BUILT_FIXED_MB, budget_mb)
    return {module: {public: functions[public] for public in batch}
            for module, batch in zip(_names(name, len(batches)), batches)}


def compile_batched(specs: dict, label: str, budget_mb: float = MAX_C_MB) -> dict:
    """{name: kernel} for `specs` ({name: optimized FunctionSpec}), built in process as ag.function's FAST_RUN
    does (DebugMode's `compile_kernels`: many kernels per module), in modules of at most `budget_mb` of C each
    (estimated), two modules at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from aotgraph.compile.debugmode import compile_kernels

    if not specs:
        raise ValueError(f"compile_batched({label!r}): no specs to build")
    batches = _packed({name: kernel_megabytes(spec) for name, spec in specs.items()}, IN_PROCESS_FIXED_MB,
                      budget_mb)
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = [pool.submit(compile_kernels, [specs[name] for name in batch], module)
                 for module, batch in zip(_names(label, len(batches)), batches)]
        kernels = [future.result() for future in built]
    return {name: kernel for batch, made in zip(batches, kernels) for name, kernel in zip(batch, made)}


def in_process(functions: dict, label: str, budget_mb: float = MAX_C_MB) -> SimpleNamespace:
    """FAST_RUN versions of `functions` ({public name: Function}, compiled in any mode, without shared
    variables or defaults) as attributes of one namespace, from `compile_batched`."""
    from aotgraph.compile.function import bind
    from aotgraph.rewrite import optimize_spec

    for public, fn in functions.items():
        if fn._shared or any(slot.has_default for slot in fn._inputs):
            raise ValueError(f"in_process({label!r}): {public!r} has shared variables or defaults; use ag.build")
    specs = {public: optimize_spec(fn._spec, "fast_run") for public, fn in functions.items()}
    kernels = compile_batched(specs, label, budget_mb)
    return SimpleNamespace(**{public: bind(spec, kernels[public].run) for public, spec in specs.items()})
