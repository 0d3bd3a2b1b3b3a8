"""The in-process Cython backend: `LINKERS['cython']`, the linker of mode FAST_RUN.

`make_thunk(spec, label)` lowers the spec, renders a module holding its kernel (without the
runtime: in process, `aotgraph.runtime.Function` drives it), builds it through the cache (a hit when
the same source was built before, in any process), imports it and returns the kernel's `run`.
In-process modules run on this machine only: they are compiled for its CPU (-march=native), with
OpenMP and with the C library's vector math functions when available (see aotgraph/build/toolchain.py). The
thunk receives the live shared values in `values`, so compiled calls read and update the very
containers of the in-process shared variables. Constants, profile labels and error descriptions
go to the kernel object as data: they never change the source, so they never cause a rebuild.
"""

from __future__ import annotations

from aotgraph.codegen.loader import build_and_import
from aotgraph.codegen.lower import lower
from aotgraph.codegen.render import render_module


def render_spec(spec) -> tuple[str, object]:
    """(source of the in-process module, kernel IR) of a FunctionSpec."""
    kernel = lower(spec, "k0")
    return render_module([kernel], runtime=False, title="Kernels of one aotgraph function (in-process build)."), kernel


# How in-process modules are built (DebugMode builds its per-node kernels the same way). vector_math: libmvec's
# vector exp/sin/... round differently (by an ulp or so) from the scalar functions; loops calling them send
# every element through one vectorized compute loop, a chunk of 64 at a time (codegen/loops.py `chunked`), so a
# result does not depend on buffer alignment, on the operands' layout, on writing in place or on the number of
# threads: the same call gives the same bits every time (tests/codegen/test_codegen_fusion.py).
BUILD_OPTIONS = dict(native=True, openmp=True, vector_math=True)


def make_thunk(spec, label: str):
    source, kernel = render_spec(spec)
    module = build_and_import(source, **BUILD_OPTIONS)
    instance = module._make_kernel(0, label, kernel.const_values, kernel.descriptions, kernel.labels)
    return instance.run


def _register() -> None:
    from aotgraph.compile.mode import LINKERS

    LINKERS["cython"] = make_thunk


_register()
