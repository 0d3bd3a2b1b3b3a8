"""Rendering: kernel IR -> the prepared lines that the Jinja templates print.

Each step becomes one `cdef` function; each kernel a plain and a profiled `cdef` runner and a small
`cdef class` whose `run(values, profile)` is the thunk. Nothing here reads a user string: labels
and error descriptions are data handed to the kernel object when it is made.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from aotgraph.codegen.dtypes import CTYPE, TYPENUM
from aotgraph.codegen.ir import Buffer, CallStep, ElemwiseStep, Kernel

IND = "    "


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return [IND * depth + line if line else line for line in lines]


# ---- elementwise loops -------------------------------------------------------------------------------------


def render_elemwise(fname: str, body: ElemwiseStep) -> list[str]:
    """A cdef function computing one (fused) elementwise loop; correct for any strides and broadcasting."""
    nd = body.outs[0].ndim
    arrays = [k for k, b in enumerate(body.leaves) if b.ndim > 0]
    scalars = [k for k, b in enumerate(body.leaves) if b.ndim == 0]
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.leaves))
    decls = [f"cdef cnp.npy_intp dims[{max(nd, 1)}]", "cdef cnp.npy_intp n, i", "cdef int err = 0"]
    for m, b in enumerate(body.outs):
        decls += [f"cdef cnp.ndarray out{m}", f"cdef {CTYPE[b.dtype]}* po{m}"]
    decls += [f"cdef {CTYPE[b.dtype]} {body.leaf_scalars[k]}" for k, b in enumerate(body.leaves)]
    decls += [f"cdef {CTYPE[s.dtype]} {s.target}" for s in body.stmts]
    for k in arrays:
        decls.append(f"cdef {CTYPE[body.leaves[k].dtype]}* p{k}")
        decls.append(f"cdef cnp.npy_intp st{k}[{nd}]")
        decls += [f"cdef char* q{k}_{d}" for d in range(nd)]
    decls += [f"cdef cnp.npy_intp j{d}" for d in range(nd)]

    returned = ", ".join(f"out{m}" for m in range(len(body.outs)))
    code = [f"dims[{d}] = 1" for d in range(nd)]
    code += [f"_bcast({body.leaves[k].name}, dims, {nd})" for k in arrays]
    code += [f"_declared({body.leaves[k].name}, dims, {nd}, {body.leaves[k].undeclared_ones})"
             for k in arrays if body.leaves[k].undeclared_ones]
    for m, b in enumerate(body.outs):
        code.append(f"out{m} = cnp.PyArray_EMPTY({nd}, dims, {TYPENUM[b.dtype]}, 0)")
        code.append(f"po{m} = <{CTYPE[b.dtype]}*>cnp.PyArray_DATA(out{m})")
    code += ["n = cnp.PyArray_SIZE(out0)", "if n == 0:", IND + f"return {returned}"]
    for k in scalars:
        b = body.leaves[k]
        code.append(f"{body.leaf_scalars[k]} = (<{CTYPE[b.dtype]}*>cnp.PyArray_DATA({b.name}))[0]")
    compute = [f"{s.target} = {s.expr}" for s in body.stmts]
    compute += [f"po{m}[i] = {r}" for m, r in enumerate(body.results)]

    fast_ok = all(body.leaves[k].ndim == nd for k in arrays)
    fast = [f"p{k} = <{CTYPE[body.leaves[k].dtype]}*>cnp.PyArray_DATA({body.leaves[k].name})" for k in arrays]
    fast += ["for i in range(n):"]
    fast += _indent([f"{body.leaf_scalars[k]} = p{k}[i]" for k in arrays] + compute)
    if not arrays:
        code += fast
    elif fast_ok:
        condition = " and ".join(f"_contig({body.leaves[k].name}, dims, {nd})" for k in arrays)
        code += [f"if {condition}:"] + _indent(fast) + ["else:"] + _indent(_strided(body, arrays, nd, compute))
    else:
        code += _strided(body, arrays, nd, compute)
    if body.uses_err:
        code += ["if err:", IND + 'raise ValueError("Integers to negative integer powers are not allowed.")']
    code.append(f"return {returned}")
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    return [f"cdef {ret} {fname}({params}):"] + _indent(decls + code)


def _strided(body: ElemwiseStep, arrays: list[int], nd: int, compute: list[str]) -> list[str]:
    """Nested loops over byte pointers: any strides, negative steps, 0 strides for broadcast axes."""
    lines = [f"_bstrides({body.leaves[k].name}, dims, {nd}, st{k})" for k in arrays]
    lines += [f"q{k}_0 = cnp.PyArray_BYTES({body.leaves[k].name})" for k in arrays]
    lines.append("i = 0")

    def level(d: int) -> list[str]:
        inner: list[str] = []
        if d == nd - 1:
            inner += [f"{body.leaf_scalars[k]} = (<{CTYPE[body.leaves[k].dtype]}*>q{k}_{d})[0]" for k in arrays]
            inner += compute + ["i += 1"]
        else:
            inner += [f"q{k}_{d + 1} = q{k}_{d}" for k in arrays]
            inner += level(d + 1)
        inner += [f"q{k}_{d} += st{k}[{d}]" for k in arrays]
        return [f"for j{d} in range(dims[{d}]):"] + _indent(inner)

    return lines + level(0)


# ---- numpy calls ----------------------------------------------------------------------------


def render_call(fname: str, body: CallStep) -> list[str]:
    """Python-level statements; each output is checked to be an ndarray of the graph's dtype and rank."""
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.ins))
    returns = [f"_result({b.name}, {TYPENUM[b.dtype]}, {b.ndim})" for b in body.outs]
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    code = list(body.lines) + [f"return {', '.join(returns)}"]
    return [f"cdef {ret} {fname}({params}):"] + _indent(code)


def unique_names(buffers: list[Buffer]) -> list[str]:
    """Names of `buffers` in order, each once (a node may read one value twice)."""
    return list(dict.fromkeys(b.name for b in buffers))


RENDERERS = {ElemwiseStep: render_elemwise, CallStep: render_call}


# ---- kernels -----------------------------------------------------------------------------------------------


def render_kernel(kernel: Kernel) -> list[str]:
    """The step functions and the runner `_<name>_run` of one kernel."""
    lines: list[str] = []
    prefix = f"_{kernel.name}"
    for index, step in enumerate(kernel.steps):
        lines += RENDERERS[type(step.body)](f"{prefix}_s{index}", step.body) + ["", ""]
    lines += _runner(kernel)
    return lines


def _runner(kernel: Kernel) -> list[str]:
    """`values` -> results, timing each step into `profile` when it is not None."""
    prefix = f"_{kernel.name}"
    head = f"cdef list {prefix}_run(list values, list consts, tuple where, object profile, object label, tuple labels):"
    names = [b.name for b in kernel.inputs] + [b.name for b in kernel.consts]
    for step in kernel.steps:
        names += [b.name for b in step.body.outs]
    decls = ["cdef int step = -1", "cdef bint timed = profile is not None", "cdef double start = 0"]
    decls += [f"cdef cnp.ndarray {n}" for n in dict.fromkeys(names)]
    body = [f"_check_count(values, {len(kernel.inputs)})"]
    for position, b in enumerate(kernel.inputs):
        body.append(f"{b.name} = _arg(values[{position}], {TYPENUM[b.dtype]}, {b.ndim}, {position})")
    body += [f"{b.name} = consts[{j}]" for j, b in enumerate(kernel.consts)]
    for index, step in enumerate(kernel.steps):
        outs = ", ".join(b.name for b in step.body.outs)
        body += [
            f"step = {index}",
            "if timed:",
            IND + "start = _now()",
            f"{outs} = {prefix}_s{index}({', '.join(unique_names(step.body.ins))})",
            "if timed:",
            IND + f"_record(profile, label, labels, {index}, start)",
        ]
        body += [f"{name} = None" for name in step.dead]
    handler = [
        "except Exception as exc:",
        IND + "if step < 0:",
        IND * 2 + "raise",
        IND + "raise _node_error(exc, where[step]) from None",
    ]
    returned = f"return [{', '.join(kernel.results)}]"
    return [head] + _indent(decls + ["try:"] + _indent(body) + handler + [returned])


def kernel_table(kernels: list[Kernel]) -> list[str]:
    """Module-level lines filling the runner table that `_make_kernel(index, ...)` reads."""
    lines = [f"cdef _runner_t _RUNNERS[{max(len(kernels), 1)}]"]
    lines += [f"_RUNNERS[{i}] = _{k.name}_run" for i, k in enumerate(kernels)]
    sizes = ", ".join(f"({len(k.consts)}, {len(k.steps)})" for k in kernels)
    lines.append(f"_KERNEL_SIZES = ({sizes}{',' if len(kernels) == 1 else ''})")
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
    return _environment().get_template(name).render(**values)


def render_module(kernels: list[Kernel], *, runtime: bool, api: str = "", title: str = "",
                  compile_python: bool = False) -> str:
    """The whole .pyx: header, kernel support, scalar helpers, kernels, and (if `runtime`) the runtime + `api`.

    The runtime and the API are Python. By default they are embedded as source text run at import
    (compiling them with Cython costs ~10 s of gcc for little speed: they are dict-and-attribute
    code); `compile_python=True` compiles them into the module instead.
    """
    from aotgraph import __version__
    from aotgraph.codegen.runtime_source import runtime_names, runtime_source

    helpers: dict[str, str] = {}
    for kernel in kernels:
        helpers.update(kernel.helpers)
    kernel_lines: list[str] = []
    for kernel in kernels:
        kernel_lines += ["", ""] + render_kernel(kernel)
    kernel_lines += ["", ""] + kernel_table(kernels)
    python = ""
    if runtime:
        generated = set(helpers) | _support_names() | {f"_{k.name}_run" for k in kernels}
        clash = sorted(runtime_names() & generated)
        if clash:
            raise AssertionError(f"names of the runtime clash with generated names: {clash}")
        python = runtime_source() + "\n\n" + api
    python_lines = [] if compile_python or not python else [repr(line) for line in _PY_HEADER + python.splitlines()]
    return render_template(
        "module.pyx.j2",
        version=__version__,
        title=title or "A module generated by aotgraph.",
        compiled_python=python if compile_python else "",
        python_lines=python_lines,
        helpers=[helpers[name] for name in sorted(helpers)],
        kernel_lines=kernel_lines,
    )


_PY_HEADER = ["from __future__ import annotations", "import numpy as np"]


@functools.lru_cache(maxsize=1)
def _support_names() -> set[str]:
    text = (TEMPLATES / "kernel_support.pyx.j2").read_text()
    return set(re.findall(r"^cdef (?:inline )?\w+(?:\.\w+)?\*? (\w+)\(", text, re.M))
