"""The in-process backend: the linker of mode FAST_RUN (`compile/mode.py` `LINKERS['cython']`).

`make_thunk(spec, label)` lowers the spec, renders a module holding its kernel (without the
runtime: in process, `aotgraph.runtime.Function` drives it), in C when every step has a C rendering
(codegen/cmodule.py, `config.kernels_in_c`) and else in Cython, builds it through the cache (a hit when
the same source was built before, in any process), imports it and returns the kernel's `run`.
In-process modules run on this machine only: they are compiled for its CPU (-march=native), with
OpenMP and with the C library's vector math functions when available (see aotgraph/toolchain/probe.py). The
thunk receives the live shared values in `values`, so compiled calls read and update the very
containers of the in-process shared variables. The kernel support (templates/kernel_support.pyx.j2, with the C
front of compiled functions) is an extension of its own, built once per build cache, that every in-process
module cimports: a module then compiles its kernels only. Constants, profile labels and error descriptions
go to the kernel object as data: they never change the source, so they never cause a rebuild. Once the support
is loaded, a new module's C compiler runs in the background (`config.background_builds`, toolchain/loader.py): the
kernels wait for it at their first run.
"""

from __future__ import annotations

import logging
import sys

from aotgraph.codegen.cmodule import render_c_module, renderable
from aotgraph.codegen.cython_c import Untranslatable
from aotgraph.codegen.lower import lower
from aotgraph.codegen.render import render_module, render_support, support_declarations
from aotgraph.codegen.scalar import vector_math_functions
from aotgraph.configparser import config
from aotgraph.toolchain.compiler import Companion, prebuild_helpers
from aotgraph.toolchain.loader import PendingModule, build_in_background
from aotgraph.toolchain.options import BuildOptions

log = logging.getLogger(__name__)


def in_process_options() -> BuildOptions:
    """How in-process modules are built (DebugMode builds its per-node kernels the same way): for this CPU, with
    OpenMP, and with vector math. libmvec's vector exp/sin/... round differently (by an ulp or so) from the scalar
    functions; loops calling them send every element through one vectorized compute loop, a chunk of 64 at a
    time (codegen/loops.py `chunked`), so a result does not depend on buffer alignment, on the operands' layout,
    on writing in place or on the number of threads: the same call gives the same bits every time
    (tests/codegen/test_codegen_fusion.py)."""
    return BuildOptions(native=True, openmp=True, vector_math=True, vector_functions=vector_math_functions())


def make_thunk(spec, label: str):
    return build_kernels([spec], label)[0].run


def build_kernels(specs: list, label: str, title: str = "Kernels of one aotgraph function (in-process build).") -> list:
    """The kernel objects of `specs` (optimized FunctionSpecs, or objects with `graph_inputs` and `results`),
    all from one module built through the cache with `in_process_options()`."""
    kernels = [lower(spec, f"k{i}") for i, spec in enumerate(specs)]
    support = Companion(*render_support(), support_declarations())
    source = _c_source(kernels, support.name, title) if config.kernels_in_c and renderable(kernels) else None
    if source is None:
        source = render_module(kernels, runtime=False, title=title, support_module=support.name)
    module = build_in_background(source, in_process_options(), companion=support)
    if isinstance(module, PendingModule):  # its C compiler still runs: kernels that wait for it at their first run
        make = sys.modules[support.name]._pending_kernel
        return [make(module, i, label, k.const_values, k.descriptions, k.labels) for i, k in enumerate(kernels)]
    return [module._make_kernel(i, label, k.const_values, k.descriptions, k.labels) for i, k in enumerate(kernels)]


def _c_source(kernels: list, support: str, title: str) -> str | None:
    """The module in C (codegen/cmodule.py), or None when a loop is outside what cython_c.py translates."""
    try:
        return render_c_module(kernels, support, title)
    except Untranslatable as err:
        log.debug("aotgraph: a module goes through Cython: %s", err)
        return None


def prebuild_support(cache_dir: str) -> list:
    """Build the kernel support and Cython's utility module into the cache `cache_dir` (setup.py does this
    into aotgraph/_prebuilt at install time, so that a user's first function compiles its own kernels only)."""
    support = Companion(*render_support(), support_declarations())
    return prebuild_helpers(support, cache_dir, openmp=in_process_options().openmp)
