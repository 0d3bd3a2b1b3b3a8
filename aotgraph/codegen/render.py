"""Rendering: kernel IR -> the prepared lines that the Jinja templates print.

Each step becomes one `cdef` function (loops: with their kernels, see loops.py); each kernel a `cdef`
runner and a small `cdef class` whose `run(values, profile)` is the thunk. Nothing here reads a user
string: labels and error descriptions are data handed to the kernel object when it is made.
"""

from __future__ import annotations

import functools
import hashlib
import re
import textwrap
from pathlib import Path

from aotgraph.codegen.dtypes import TYPENUM
from aotgraph.codegen.ir import CallStep, ElemwiseStep, Kernel, ReduceStep, ScalarScanStep, ScanStep
from aotgraph.codegen.loops import IND, indent, render_elemwise, render_reduce, tuple_literal, unique_names
from aotgraph.codegen.render_cache import cached_render
from aotgraph.codegen.runtime_source import runtime_names, runtime_source
from aotgraph.codegen.scalar import math_cimports, vector_math_declarations
from aotgraph.codegen.scanloop import render_scalar_scan, render_scan
from aotgraph.version import __version__

# ---- numpy calls ----------------------------------------------------------------------------


def render_call(fname: str, body: CallStep) -> list[str]:
    """Python-level statements; each output is checked to be an ndarray of the graph's dtype and rank."""
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.ins))
    if body.dest:
        params += ", object dest"
    returns = [f"_result({b.name}, {TYPENUM[b.dtype]}, {b.ndim})" for b in body.outs]
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    code = list(body.dest_lines if body.dest else body.lines) + [f"return {', '.join(returns)}"]
    return [f"cdef {ret} {fname}({params}):"] + indent(code)


RENDERERS = {
    ElemwiseStep: render_elemwise,
    ReduceStep: render_reduce,
    CallStep: lambda fname, body, helpers: render_call(fname, body),
    ScanStep: lambda fname, body, helpers: render_scan(fname, body),
    ScalarScanStep: render_scalar_scan,
}


# ---- kernels -----------------------------------------------------------------------------------------------


def render_kernel(kernel: Kernel, helpers: dict[str, str]) -> list[str]:
    """The step functions and the runner `_<name>_run` of one kernel (helpers they call go into `helpers`)."""
    lines: list[str] = []
    prefix = f"_{kernel.name}"
    for index, step in enumerate(kernel.steps):
        if isinstance(step.body, ScanStep):  # the step's own kernel first, then the loop calling it
            lines += render_kernel(step.body.inner, helpers) + ["", ""]
        lines += RENDERERS[type(step.body)](f"{prefix}_s{index}", step.body, helpers) + ["", ""]
    lines += _runner(kernel)
    return lines


def _runner(kernel: Kernel) -> list[str]:
    """`values` -> results, timing each step into `profile` when it is not None."""
    prefix = f"_{kernel.name}"
    head = f"cdef list {prefix}_run(list values, list consts, tuple where, object profile, object label, tuple labels"
    head += ", list scratch):" if kernel.scratch else "):"
    names = [b.name for b in kernel.inputs] + [b.name for b in kernel.consts]
    for step in kernel.steps:
        names += [b.name for b in step.body.outs]
    decls = ["cdef int step = -1", "cdef bint timed = profile is not None", "cdef double start = 0"]
    decls += [f"cdef cnp.ndarray {n} = None" for n in dict.fromkeys(names)]  # bound for the error handler
    decls += [f"cdef bint {flag}" for flag, _ in kernel.mutable_checks]
    body = [f"_check_count(values, {len(kernel.inputs)})"]
    for position, b in enumerate(kernel.inputs):
        body.append(f"{b.name} = _arg(values[{position}], {TYPENUM[b.dtype]}, {b.ndim}, {position})")
    body += [f"{b.name} = consts[{j}]" for j, b in enumerate(kernel.consts)]
    quiet = any(isinstance(step.body, CallStep) for step in kernel.steps)  # numpy calls: silence numpy's warnings
    if quiet:
        decls.append("cdef object quiet = None")
        body.append("quiet = _quiet_numpy()")
    arrays = [b.name for b in kernel.inputs] + [b.name for b in kernel.consts]
    for flag, b in kernel.mutable_checks:  # a mutable input sharing memory with another argument stays intact
        others = [name for name in arrays if name != b.name]
        body.append(f"{flag} = _alone({b.name}, ({', '.join(others)}{',' if len(others) == 1 else ''}))")
    for index, step in enumerate(kernel.steps):
        outs = ", ".join(b.name for b in step.body.outs)
        args = unique_names(step.body.ins)
        inplace = getattr(step.body, "inplace", None)
        if inplace is not None:
            args.append(inplace[1] or "True")
        if isinstance(step.body, (ScanStep, ScalarScanStep)):
            args.append("where")
        if getattr(step.body, "dest", False):  # the buffer this step wrote last time (or a scan's row): again
            args.append(f"scratch[{index}]")
        body += [
            f"step = {index}",
            "if timed:",
            IND + "start = _now()",
            f"{outs} = {prefix}_s{index}({', '.join(args)})",
            "_clear_upper()",  # a vzeroupper: module.pyx.j2
            "if timed:",
            IND + f"_record(profile, label, labels, {index}, start)",
        ]
        if getattr(step.body, "dest", False):
            body.append(f"scratch[{index}] = {step.body.outs[0].name}")
        body += [f"{name} = None" for name in step.dead]
    step_args = tuple_literal([tuple_literal([b.name for b in s.body.ins]) for s in kernel.steps])
    handler = [  # the failing step's arguments are still alive: intermediates die only after their last step
        "except:",  # one shared handler (kernel_support.pyx.j2) re-raises it naming the step's node
        IND + "_clear_upper()",  # a failing step may have left the ymm registers dirty too
        IND + f"_node_failed(step, where, {step_args})",
        IND + "raise",
    ]
    if quiet:
        handler += ["finally:", IND + "if quiet is not None:", IND * 2 + "_restore_numpy(quiet)"]
    returned = f"return [{', '.join(kernel.results)}]"  # after a vzeroupper (module.pyx.j2: _clear_upper)
    return [head] + indent(decls + ["try:"] + indent(body) + handler + ["_clear_upper()", returned])


def kernel_table(kernels: list[Kernel]) -> list[str]:
    """Module-level lines filling the runner table and making `_make_kernel(index, label, consts, where, labels)`
    from it (kernel_support.pyx.j2 `_KernelMaker`)."""
    lines = [f"cdef _runner_t _RUNNERS[{max(len(kernels), 1)}]"]
    lines += [f"_RUNNERS[{i}] = _{k.name}_run" for i, k in enumerate(kernels)]
    sizes = [f"({len(k.consts)}, {len(k.descriptions)}, {len(k.steps)})" for k in kernels]  # data, where, labels
    lines.append(f"_make_kernel = _kernel_maker(_RUNNERS, {tuple_literal(sizes)}, __name__)")
    return lines


# ---- the module ----------------------------------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_template(name: str, **values) -> str:
    """Template `name` rendered with `values`; kept in the build cache, so a cache hit imports no Jinja."""
    return cached_render(TEMPLATES, name, values, lambda: _environment().get_template(name).render(**values))


# In-process modules and their support cimport aotgraph's few numpy declarations (templates/kernel_numpy.pxd:
# a third of Cython's time and ~120 KB of C less per module); modules built with ag.build cimport numpy's.
NUMPY_PXD = "_aotgraph_numpy"


@functools.lru_cache(maxsize=1)
def support_declarations() -> tuple[tuple[str, str], ...]:
    """(file name, text) of the .pxd files beside the support's own, which it and the kernel modules cimport."""
    return ((NUMPY_PXD + ".pxd", (TEMPLATES / "kernel_numpy.pxd").read_text(encoding="utf-8")),)


@functools.lru_cache(maxsize=1)
def render_support() -> tuple[str, str, str]:
    """(module name, .pyx, .pxd) of the kernel support as an extension of its own, which in-process kernel
    modules cimport (built once per build cache instead of compiled again into every module). The name
    carries a hash of these texts and the declarations they cimport: a module always cimports the support it
    was generated against."""
    pyx = render_template("support_module.pyx.j2", version=__version__, split=True, numpy_pxd=NUMPY_PXD)
    pxd = render_template("kernel_support.pxd.j2", version=__version__, numpy_pxd=NUMPY_PXD)
    texts = [pyx, pxd, *(text for _, text in support_declarations())]
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    return f"_aotgraph_support_{digest}", pyx, pxd


def render_module(kernels: list[Kernel], *, runtime: bool, api: str = "", title: str = "",
                  compile_python: bool = False, support_module: str | None = None) -> str:
    """The whole .pyx: header, kernel support, scalar helpers, kernels, and (if `runtime`) the runtime + `api`.

    support_module: the name of the support extension (`render_support`) to cimport instead of compiling the
    kernel support into this module (in-process builds; a module built with ag.build stands alone).

    The runtime and the API are Python. By default they are embedded as source text run at import
    (compiling them with Cython costs ~10 s of gcc for little speed: they are dict-and-attribute
    code); `compile_python=True` compiles them into the module instead.
    """
    helpers: dict[str, str] = {}
    for kernel in kernels:
        helpers.update(kernel.helpers)
    kernel_lines: list[str] = []
    for kernel in kernels:
        kernel_lines += ["", ""] + render_kernel(kernel, helpers)
    kernel_lines += ["", ""] + kernel_table(kernels)
    python = ""
    if runtime:
        generated = set(helpers) | _support_names() | {f"_{k.name}_run" for k in kernels}
        clash = sorted(runtime_names() & generated)
        if clash:
            raise AssertionError(f"names of the runtime clash with generated names: {clash}")
        python = runtime_source() + "\n\n" + api
    python_lines = []  # one literal per line, ending in its newline: Cython joins them into one string constant
    if python and not compile_python:
        python_lines = [repr(line + "\n") for line in _PY_HEADER + python.splitlines()]
    return render_template(
        "module.pyx.j2",
        version=__version__,
        title=title or "A module generated by aotgraph.",
        compiled_python=python if compile_python else "",
        python_lines=python_lines,
        math_cimports=_wrapped(", ".join(math_cimports()) + ",", 112),
        vector_math_declarations=vector_math_declarations(),
        helpers=[helpers[name] for name in sorted(helpers)],
        kernel_lines=kernel_lines,
        support_module=support_module,
        numpy_pxd=NUMPY_PXD if support_module else "numpy",
        split=False,
    )


def _wrapped(text: str, width: int) -> list[str]:
    """`text` broken at spaces into lines of at most `width` characters."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


_PY_HEADER = ["from __future__ import annotations", "import numpy as np"]


@functools.lru_cache(maxsize=1)
def _support_names() -> set[str]:
    text = (TEMPLATES / "kernel_support.pyx.j2").read_text()
    return set(re.findall(r"^cdef (?:inline )?\w+(?:\.\w+)?\*? (\w+)\(", text, re.M))
