"""Test builds split by a size budget: no test module over ~2 MB of C (MAX_C_MB).

gcc's time and memory grow with a module's C, and one test module of 25 MB of C outlived the compiler
timeout (issue 15). Every module also has a fixed cost: a module made by ag.build ~0.9 MB of C and ~1.6 s of
gcc (the kernel support, the runtime's source, Cython's utility code), an in-process module ~0.4 MB (it
cimports the support, built once per cache). So tests that check kernels (not ag.build's module) build
them in process (`in_process`), and a test's functions go into as few modules as fit the budget, packed
in order (`by_size`, `build_by_size`). A function's size is estimated from its rendered kernel (~6 bytes of C
per byte of .pyx for loops, ~40 for numpy-call steps; the helpers that modules share, such as conv's drivers, ~45
and once per module: measured on tests/codegen's modules) before anything is compiled; the session's summary
(tests/conftest.py) lists any module that still came out over the budget.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

MAX_C_MB = 2.0  # the budget of a test module (tests/conftest.py lists the modules over it)
# measured without Cython's code comments (templates/module.pyx.j2 turns them off: a quarter to a third of the C,
# no gcc time) on tests/codegen's conv modules
BUILT_FIXED_MB = 1.05  # the C of a module made by ag.build, without kernels (a trivial one: 1.05 MB)
IN_PROCESS_FIXED_MB = 0.4  # the C of an in-process module without kernels
C_PER_PYX_BYTE = 6.0  # C bytes per byte of a kernel's loops and runner (.pyx): 3.3-3.8 elementwise, 4.4-5.9 conv
CALL_C_PER_BYTE = 40.0  # C bytes per byte of a numpy-call step (Python-level code): ~30-55 (tests/codegen's ops)
HELPER_C_PER_BYTE = 45.0  # C bytes per byte of a helper (conv's and pooling's drivers, fused-type loops): ~47
PACKED = 0.9  # batches are packed to this share of the budget: the estimate is off by up to ~10% either way


@functools.cache
def fast_run_available() -> bool:
    """Whether mode FAST_RUN (the compiled backend) can be used here: the one check the test packages share."""
    from aotgraph.compile.mode import get_mode

    try:
        get_mode("FAST_RUN")
    except (NotImplementedError, ValueError):
        return False
    return True


def kernel_megabytes(spec) -> tuple[float, dict[str, float]]:
    """The estimated C of the kernel of `spec` (an optimized FunctionSpec): (its steps and runner, {helper name:
    C of the helper}). Helpers (window drivers, fused-type loops, scalar functions) are counted once per module."""
    from aotgraph.codegen.lower import lower
    from aotgraph.codegen.render import render_kernel

    kernel = lower(spec, "f0")
    helpers = dict(kernel.helpers)
    lines = render_kernel(kernel, helpers)
    calls = _call_bytes(kernel)
    steps = ((sum(len(line) + 1 for line in lines) - calls) * C_PER_PYX_BYTE + calls * CALL_C_PER_BYTE) / 1e6
    return steps, {name: len(text) * HELPER_C_PER_BYTE / 1e6 for name, text in helpers.items()}


def _call_bytes(kernel) -> int:
    """The .pyx bytes of the numpy-call steps of `kernel` and of its scans' inner kernels (Python-level code)."""
    from aotgraph.codegen.ir import CallStep, ScanStep
    from aotgraph.codegen.render import render_call

    total = 0
    for step in kernel.steps:
        if isinstance(step.body, CallStep):
            total += sum(len(line) + 1 for line in render_call("_f", step.body))
        elif isinstance(step.body, ScanStep):
            total += _call_bytes(step.body.inner)
    return total


def _packed(sizes: dict[str, tuple[float, dict[str, float]]], fixed_mb: float, budget_mb: float) -> list[list[str]]:
    """The names of `sizes` ({name: kernel_megabytes}) in order, cut into batches whose fixed size, kernels and
    helpers (each once) fit the budget (a function larger than the budget gets a batch of its own)."""
    batches: list[list[str]] = [[]]
    size, helpers = fixed_mb, set()
    for name, (steps, needs) in sizes.items():
        more = steps + sum(megabytes for helper, megabytes in needs.items() if helper not in helpers)
        if batches[-1] and size + more > budget_mb * PACKED:
            batches.append([])
            size, helpers = fixed_mb, set()
            more = steps + sum(needs.values())
        batches[-1].append(name)
        size += more
        helpers.update(needs)
    return batches


def _names(name: str, count: int) -> list[str]:
    return [name] if count == 1 else [f"{name}_{k}" for k in range(count)]


def by_size(functions: dict, name: str, budget_mb: float = MAX_C_MB) -> dict[str, dict]:
    """{module name: functions} for ag.build: `functions` ({public name: Function}) in modules of at most
    `budget_mb` of C each (estimated), in order; `name` itself when they fit one module, else `name_0`, ...
    Functions that share a shared variable stay in one module (a built module has its own containers)."""
    from aotgraph.rewrite import optimize_spec

    if not functions:
        raise ValueError(f"by_size({name!r}): no functions to build")
    sizes = {public: kernel_megabytes(optimize_spec(fn._spec, "fast_run")) for public, fn in functions.items()}
    groups = _state_groups(functions)
    batches = _packed({first: (sum(sizes[public][0] for public in group),
                               {h: mb for public in group for h, mb in sizes[public][1].items()})
                       for first, group in groups.items()}, BUILT_FIXED_MB, budget_mb)
    return {module: {public: functions[public] for first in batch for public in groups[first]}
            for module, batch in zip(_names(name, len(batches)), batches)}


def _state_groups(functions: dict) -> dict[str, list[str]]:
    """{first name: names, in order} of `functions`, joined when they use a shared variable in common."""
    order = {public: k for k, public in enumerate(functions)}
    root = {public: public for public in functions}

    def find(public: str) -> str:
        while root[public] != public:
            public = root[public]
        return public

    user: dict[int, str] = {}  # id(container) -> a function using it
    for public, fn in functions.items():
        for container in fn._shared:
            other = user.setdefault(id(container), public)
            a, b = sorted((find(other), find(public)), key=order.get)
            root[b] = a  # the group's first function is its root
    groups: dict[str, list[str]] = {}
    for public in functions:
        groups.setdefault(find(public), []).append(public)
    return groups


class BuiltModules:
    """The modules `build_by_size` made from one dict of functions, read as one module: each function as an
    attribute and in `functions`, `get_value`/`set_value` by shared variable name (each is in one module),
    `module_of[public name]` the module holding a function, `names` the module names in order."""

    def __init__(self, modules: dict):
        self.names = list(modules)
        self.modules = list(modules.values())
        self.functions = {public: fn for module in self.modules for public, fn in module.functions.items()}
        self.module_of = {public: module for module in self.modules for public in module.functions}

    def __getattr__(self, public: str):
        try:
            return self.__dict__["functions"][public]
        except KeyError:
            raise AttributeError(f"no built function {public!r} (modules {self.__dict__.get('names')})") from None

    def _owner(self, key: str):
        owners = [module for module in self.modules if key in module.shared_names()]
        if len(owners) != 1:
            raise KeyError(f"{key!r} is a shared variable of {len(owners)} of the modules {self.names}, not one")
        return owners[0]

    def get_value(self, key: str, borrow: bool = False):
        return self._owner(key).get_value(key, borrow=borrow)

    def set_value(self, key: str, value, borrow: bool = False) -> None:
        self._owner(key).set_value(key, value, borrow=borrow)


def build_by_size(functions: dict, name: str, out_dir, budget_mb: float = MAX_C_MB, **options) -> BuiltModules:
    """`functions` ({public name: Function}) built with ag.build (`options`: its keywords) into the modules
    `by_size` plans, in `out_dir`, two builds at a time, imported."""
    import importlib
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from aotgraph.codegen.aot import build

    plan = by_size(functions, name, budget_mb)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in [pool.submit(build, batch, module, out_dir, **options) for module, batch in plan.items()]:
            job.result()
    sys.path.insert(0, str(out_dir))
    try:
        return BuiltModules({module: importlib.import_module(module) for module in plan})
    finally:
        sys.path.remove(str(out_dir))


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
