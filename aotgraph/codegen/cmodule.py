"""In-process kernel modules written in C directly: no Cython runs for them.

Why: a cold first use spent most of its time in Cython (its set-up, ~0.5 s once per process, then 0.2-0.9 s per
module) and in gcc compiling Cython's boilerplate (a 100-line .pyx became 0.28 MB of C and 0.35 s of gcc; the same
module in C is a few hundred lines and compiles in ~0.1 s). The loops stay the Cython backend's, one source of truth:
loops.py, reduction.py and scalar.py print them as `noexcept nogil` Cython with C semantics, translated to C by
cython_c.py. The glue around them (what loops.py's and render.py's step functions and runners do with Python
objects) is written here in C, statement for statement, and calls the kernel support (kernel_support.pyx.j2) through
the C functions that extension exports. Steps that call numpy (ops.py) run as Python functions made when the module
starts, from the same statements (a random draw's `_rng_uniforms`, Cython there, is a C function they call:
`PYTHON_NATIVES`); fused_matvec steps have a C step of their own (`_matvec_step`).

A kernel takes this path when every step has a rendering here (`renderable`); a scan, a convolution or pooling, or
a Cython-only helper keeps the whole module on the Cython backend (render.py), as do ag.build modules.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable

from aotgraph.codegen.cython_c import Untranslatable, translate
from aotgraph.codegen.dtypes import CTYPE, TYPENUM
from aotgraph.codegen.ir import PER_ROW, CallStep, ElemwiseStep, Kernel, ReduceStep
from aotgraph.codegen.loops import BLOCK, CHUNK, elemwise_loop, reduce_loop, unique_names
from aotgraph.codegen.matvec_kernel import (
    BLOCK_BYTES,
    MAX_UNITS,
    MIN_ROWS,
    PAR_MIN,
    MatvecCall,
    matvec_c_source,
)
from aotgraph.codegen.random_kernel import C_UNIFORMS
from aotgraph.codegen.render import render_template
from aotgraph.codegen.scalar import vector_math_declarations
from aotgraph.tensor.reduction import KINDS
from aotgraph.version import __version__

IND = "    "
POW_ERROR = 'PyErr_SetString(PyExc_ValueError, "Integers to negative integer powers are not allowed.");'

# The kernel support's functions the C glue calls: (name, C return type, C parameters). Cython names each exported
# function's capsule by this signature (its typedefs mangled with the support's name), and PyCapsule_GetPointer
# checks it, so a support that changed a signature fails the import instead of crashing.
CAPI = (
    ("_coerce", "PyArrayObject *", "PyObject *, int, int, int"),
    ("_result", "PyArrayObject *", "PyObject *, int, int"),
    ("_bcast", "int", "PyArrayObject *, npy_intp *, int"),
    ("_declared", "int", "PyArrayObject *, npy_intp *, int, long"),
    ("_bstrides", "void", "PyArrayObject *, npy_intp *, int, npy_intp *"),
    ("_reversed", "void", "npy_intp *, npy_intp *, int"),
    ("_reverse_loop", "void", "npy_intp *, npy_intp *, int, int"),
    ("_coalesce", "void", "npy_intp *, npy_intp *, int, int, long"),
    ("_reusable", "int", "PyArrayObject *, npy_intp *, int, int"),
    ("_alone", "int", "PyArrayObject *, PyObject *"),
    ("_loop", "int", "{kernel_t}, npy_intp, npy_intp *, char **, npy_intp *, char **, npy_intp"),
    ("_quiet_numpy", "PyObject *", "void"),
    ("_restore_numpy", "int", "PyObject *"),
    ("_node_failed", "int", "int, PyObject *, PyObject *"),
    ("_check_count", "int", "PyObject *, Py_ssize_t"),
    ("_num_threads", "int", "void"),
    ("_now", "double", "void"),
    ("_record", "int", "PyObject *, PyObject *, PyObject *, int, double"),
    ("_kernel_maker", "PyObject *", "{runner_t} *, PyObject *, PyObject *"),
)

# What the Python functions of numpy-call steps see besides numpy and ops.py's helpers: the few Cython names their
# statements use (cnp.PyArray_DIMS, the type numbers, the support's _count).
_PYTHON_PRELUDE = '''import numpy as np
from types import SimpleNamespace as _Namespace

_DTYPES = {np.dtype(_n).num: np.dtype(_n) for _n in DTYPE_NAMES}
cnp = _Namespace(PyArray_DIMS=lambda a: a.shape, **{"NPY_" + d.name.upper(): n for n, d in _DTYPES.items()})


def _count(n, typenum):
    """A 0-d array of `typenum` holding the element count `n` (the support's _count)."""
    return np.asarray(n, dtype=np.int64).astype(_DTYPES[typenum])
'''.replace("DTYPE_NAMES", repr(tuple(CTYPE)))
_PYTHON_GLOBALS = {"np", "cnp", "_count"}
# Helpers of numpy-call steps that are Cython there and C here: a Python-callable C function each (its C, which
# defines `ag_def<name>`, its PyMethodDef), handed to the steps' Python by name when the module starts
PYTHON_NATIVES = {"_rng_uniforms": C_UNIFORMS}


def python_helper(text: str) -> str | None:
    """A helper's Python source without its Cython decorators (random_transforms' `@cython.boundscheck(True)`: plain
    Python's behaviour), or None when it is not plain Python."""
    lines = [line for line in text.strip("\n").split("\n") if not line.startswith("@cython.")]
    return "\n".join(lines) if lines and lines[0].startswith("def ") else None


def c_type(dtype: str) -> str:
    return CTYPE[dtype].removeprefix("cnp.")


def c_typenum(dtype: str) -> str:
    return TYPENUM[dtype].removeprefix("cnp.")


def c_expression(cython: str) -> str:
    """A Cython literal of reduction.py or dtypes.py in C: `(<cnp.npy_float64>INFINITY)`, `(<cnp.npy_int8>-1)`."""
    return re.sub(r"<(?:cnp\.)?([\w ]+\**)>", r"(\1)", cython)


# ---- which kernels ----------------------------------------------------------------------------------------------

def renderable(kernels: list[Kernel]) -> bool:
    """Whether every step of `kernels` has a rendering here (else the module is Cython's)."""
    return all(not k.scratch and all(_step_renderable(s.body) for s in k.steps) for k in kernels)


def _step_renderable(body) -> bool:
    if isinstance(body, ElemwiseStep):
        return not body.dest
    if isinstance(body, ReduceStep):
        return True
    if isinstance(body, CallStep) and not body.dest:
        return isinstance(body.native, MatvecCall) or _python_function("_probe", body) is not None
    return False


def _python_function(fname: str, body: CallStep) -> str | None:
    """The Python source of a numpy-call step as a function, or None when its statements are not plain Python
    over numpy, ops.py's helpers and the prelude's names."""
    helpers = {name: python_helper(text) for name, text in body.helpers.items() if name not in PYTHON_NATIVES}
    if None in helpers.values():
        return None
    params = ", ".join(unique_names(body.ins))
    outs = [b.name for b in body.outs]
    lines = [line.replace("<object>", "") for line in body.lines]  # Cython casts to object: no-ops in Python
    source = "\n".join([f"def {fname}({params}):"] + [IND + line for line in lines]
                       + [IND + f"return {', '.join(outs)}{',' if len(outs) > 1 else ''}"])
    allowed = _PYTHON_GLOBALS | set(body.helpers) | set(dir(builtins))
    sources = [source] + list(helpers.values())
    return source if all(_plain_python(text, allowed) for text in sources) else None


def _plain_python(source: str, allowed: set[str]) -> bool:
    """Whether `source` compiles as Python and reads no global name outside `allowed` (in any scope: comprehensions
    are scopes of their own) and no attribute of `cnp` but those the prelude's shim has."""
    try:
        tree = ast.parse(source)
        scopes = [symtable.symtable(source, "<step>", "exec")]
    except SyntaxError:
        return False
    names: set[str] = set()
    while scopes:
        scope = scopes.pop()
        module = scope.get_type() == "module"  # its names are globals: those it reads without defining them count
        names |= {s.get_name() for s in scope.get_symbols()
                  if ((s.is_referenced() and not s.is_assigned() and not s.is_imported()) if module else s.is_global())}
        scopes += scope.get_children()
    shim = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "cnp"}
    return names <= allowed and all(a == "PyArray_DIMS" or a.startswith("NPY_") for a in shim)


# ---- the module -------------------------------------------------------------------------------------------------

def render_c_module(kernels: list[Kernel], support: str, title: str = "") -> str:
    """The C source of an in-process module holding `kernels`, calling the kernel support extension `support`.
    The build defines AOTGRAPH_MODULE, the module's name (toolchain/compiler.py): the name is the source's hash.

    Raises Untranslatable when a loop or helper is outside what cython_c.py translates (the caller then renders
    the Cython module)."""
    module = _Module()
    for kernel in kernels:
        module.add_kernel(kernel)
    sizes = [value for k in kernels for value in (len(k.consts), len(k.descriptions), len(k.steps))]
    mangled = {"kernel_t": f"__pyx_t_{len(support)}{support}__kernel_t",
               "runner_t": f"__pyx_t_{len(support)}{support}__runner_t"}
    local = {"kernel_t": "ag_kernel_t", "runner_t": "ag_runner_t"}
    capi = [(n, ret, params.format(**local), f"{ret}{'' if ret.endswith('*') else ' '}({params.format(**mangled)})")
            for n, ret, params in CAPI]
    return render_template(
        "module.c.j2",
        version=__version__,
        title=title,
        support=support,
        capi=capi,
        vector_math_declarations=vector_math_declarations(),
        c_blocks=module.c_blocks(),
        glue=module.glue,
        runners=[f"ag_{k.name}_run" for k in kernels],
        python_steps=module.python_steps,
        python_natives=sorted(module.python_natives),
        python_source=_c_string(module.python) if module.python_steps else "",
        sizes_format="(" + "(iii)" * len(kernels) + ")",
        sizes=sizes,
    )


def _c_string(text: str) -> str:
    """`text` as a C string literal, one source line per literal (C joins adjacent literals)."""
    def quoted(line: str) -> str:  # printable ASCII as it is, every other byte of its UTF-8 in octal
        return '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '\\"?' else f"\\{b:03o}"
                             for b in line.encode("utf-8")) + '\\n"'

    return "\n    ".join(quoted(line) for line in text.split("\n"))


class _Module:
    """What the module's parts collect: translated loops and helpers, glue, Python step functions."""

    def __init__(self):
        self.helpers: dict[str, str] = {}  # name -> Cython source (loops' and kernels' helpers)
        self.kernels: list[str] = []  # Cython source of the loop kernels
        self.glue: list[str] = []  # C
        self.python_helpers: dict[str, str] = {}  # name -> Python source (ops.py's helpers)
        self.python_steps: dict[str, str] = {}  # step function name -> its Python source
        self.python_natives: set[str] = set()  # PYTHON_NATIVES the steps call
        self.matvec: dict[str, MatvecCall] = {}

    @property
    def python(self) -> str:
        """The Python source the module runs when it starts: the prelude, helpers, step functions."""
        parts = [_PYTHON_PRELUDE] + [self.python_helpers[n] for n in sorted(self.python_helpers)]
        return "\n\n".join(parts + list(self.python_steps.values()))

    def c_blocks(self) -> list[str]:
        blocks = [matvec_c_source()] if self.matvec else []
        blocks += [PYTHON_NATIVES[name] for name in sorted(self.python_natives)]
        cython = [self.helpers[name] for name in sorted(self.helpers)] + self.kernels
        cython += ["\n".join(call.units_lines) for call in self.matvec.values()]
        return blocks + [translate("\n\n\n".join(cython))]

    def add_kernel(self, kernel: Kernel) -> None:
        prefix = f"_{kernel.name}"
        for name, text in kernel.helpers.items():
            if name in PYTHON_NATIVES:
                self.python_natives.add(name)
            elif python_helper(text) is not None:
                self.python_helpers[name] = python_helper(text)
            elif not name.startswith("_fmv"):  # a fused_matvec's Cython: its C comes with the step (MatvecCall)
                self.helpers[name] = text
        for index, step in enumerate(kernel.steps):
            fname = f"{prefix}_s{index}"
            body = step.body
            if isinstance(body, ElemwiseStep):
                lines, loop = elemwise_loop(fname, body, self.helpers)
                self.kernels.append("\n".join(lines))
                self.glue.append(_elemwise_step(fname, loop))
            elif isinstance(body, ReduceStep):
                lines, loop = reduce_loop(fname, body, self.helpers)
                self.kernels.append("\n".join(lines))
                self.glue.append(_reduce_step(fname, loop))
            elif isinstance(body.native, MatvecCall):
                call = body.native
                if call.fname not in self.matvec:  # equal nodes share one
                    if not self.matvec:
                        self.glue.append(_MATMUL)
                    self.matvec[call.fname] = call
                    self.helpers.update(call.helpers)
                    self.glue.append(_matvec_step(call))
            else:
                source = _python_function(fname, body)
                if source is None:
                    raise Untranslatable(f"step {fname}: its numpy calls are not plain Python")
                self.python_steps[fname] = source
        self.glue.append(_runner(kernel))


# ---- elementwise and reduction steps: loops.py's step functions, in C ------------------------------------------

def _step_head(fname: str, names: list[str], extra: list[str]) -> str:
    params = [f"PyArrayObject *{n}" for n in names] + extra + ["PyObject **result"]
    return f"static int {fname}({', '.join(params)}) {{"


def _shape_checks(loop) -> list[str]:
    body, nd = loop.body, loop.nd
    code = [f"dims[{d}] = 1;" for d in range(nd)]
    code += [f"if (ag_bcast({body.leaves[k].name}, dims, {nd}) < 0) goto fail;" for k in loop.arrays]
    code += [f"if (ag_declared({body.leaves[k].name}, dims, {nd}, {body.leaves[k].undeclared_ones}) < 0) goto fail;"
             for k in loop.arrays if body.leaves[k].undeclared_ones]
    return code


def _tables(loop, reduced_mask: int = 0, before_merge: tuple = ()) -> list[str]:
    body, nd = loop.body, loop.nd
    code = [f"base[{k}] = PyArray_BYTES({b.name});" for k, b in enumerate(body.leaves)]
    code += [f"ag_bstrides({b.name}, dims, {nd}, &st[{k * nd}]);" for k, b in enumerate(body.leaves)]
    code += list(before_merge)
    if nd > 1 and body.leaves:
        code.append(f"ag_coalesce(dims, st, {len(body.leaves)}, {nd}, {reduced_mask});")
    return code


def _step_decls(loop) -> list[str]:
    body, nd = loop.body, loop.nd
    return [f"npy_intp dims[{nd}];", f"char *base[{max(len(body.leaves), 1)}];",
            f"npy_intp st[{max(len(body.leaves) * nd, 1)}];", f"char *outs[{max(len(body.outs), 1)}];",
            "npy_intp n;", "int err = 0;"]


def _units(loop) -> str:
    nd = loop.nd
    return f"(n / dims[{nd - 1}]) * ((dims[{nd - 1}] + {BLOCK - 1}) / {BLOCK})"


def _function(head: str, decls: list[str], code: list[str], outs: list[str]) -> str:
    """A step function: `code` jumps to `done` with its outputs set or to `fail`; outputs go to `result`."""
    done = ["done:"] + [IND + f"result[{m}] = (PyObject *){o};" for m, o in enumerate(outs)] + [IND + "return 0;"]
    fail = ["fail:"] + [IND + f"Py_XDECREF({o});" for o in outs] + [IND + "return -1;"]
    return "\n".join([head] + [IND + line for line in decls + code] + [IND + "goto done;"]
                     + done + fail + ["}"])


def _elemwise_step(fname: str, loop) -> str:
    body, nd, L = loop.body, loop.body.nd, loop.nd
    names = unique_names(body.leaves)
    extra = ["int may_inplace"] if body.inplace is not None else []
    outs = [f"out{m}" for m in range(len(body.outs))]
    decls = _step_decls(loop) + [f"PyArrayObject *{o} = NULL;" for o in outs]
    per_row = any(body.leaf_levels[k] == PER_ROW for k in loop.arrays)
    full = []
    if nd > 1 and not per_row:
        full = unique_names([body.leaves[k] for k in loop.varying if body.leaves[k].ndim == nd])
    code = _shape_checks(loop)
    if full:
        decls += ["int rev;", f"npy_intp rdims[{L}];", f"PyArrayObject *leaders[{len(full)}] = {{{', '.join(full)}}};"]
        code += [f"rev = ag_fortran_of(leaders, {len(full)}, dims, {L});", f"ag_reversed(dims, rdims, {L});"]
    for m, b in enumerate(body.outs):
        new = f"out{m} = (PyArrayObject *)PyArray_EMPTY({nd}, dims, {c_typenum(b.dtype)}, 0);"
        alloc = [new]
        if m == 0 and body.inplace is not None:
            victim = body.leaves[body.inplace[0]].name
            alloc = [f"if (may_inplace && ag_reusable({victim}, dims, {nd}, {c_typenum(b.dtype)})) {{",
                     IND + f"Py_INCREF({victim});", IND + f"out0 = {victim};", "} else {", IND + new, "}"]
        if full:
            rev = f"out{m} = (PyArrayObject *)PyArray_EMPTY({nd}, rdims, {c_typenum(b.dtype)}, 0);"
            alloc = ["if (rev) {", IND + rev, "} else {"] + [IND + line for line in alloc] + ["}"]
        code += alloc + [f"if (out{m} == NULL) goto fail;"]
    code += ["n = PyArray_SIZE(out0);", "if (n == 0) goto done;"]
    reverse = (f"if (rev) ag_reverse_loop(dims, st, {len(body.leaves)}, {L});",) if full else ()
    code += _tables(loop, before_merge=reverse)
    code += [f"outs[{m}] = PyArray_BYTES(out{m});" for m in range(len(body.outs))]
    code.append(f"err = ag_loop({fname}_rows, {_units(loop)}, dims, base, st, outs, n);")
    if loop.uses_err:
        code += ["if (err) {", IND + POW_ERROR, IND + "goto fail;", "}"]
    if full:
        decls.append("PyArrayObject *transposed;")
        code.append("if (rev) {")
        for o in outs:
            code += [IND + f"transposed = (PyArrayObject *)PyArray_Transpose({o}, NULL);",
                     IND + "if (transposed == NULL) goto fail;", IND + f"Py_DECREF({o});", IND + f"{o} = transposed;"]
        code.append("}")
    return _function(_step_head(fname, names, extra), decls, code, outs)


def _reduce_step(fname: str, loop) -> str:
    body, nd = loop.body, loop.nd
    acc = c_type(loop.acc)
    odims, rank = [], 0
    for d in range(body.nd):
        if d not in body.axis:
            odims.append(f"odims[{rank}] = dims[{d}];")
            rank += 1
        elif body.keepdims:
            odims.append(f"odims[{rank}] = 1;")
            rank += 1
    decls = _step_decls(loop) + [f"npy_intp odims[{max(rank, 1)}];", "npy_intp count, osize, i;",
                                 "PyArrayObject *out0 = NULL;", f"{acc} *po;"]
    code = _shape_checks(loop)
    code.append("count = 1" + "".join(f" * dims[{d}]" for d in body.axis) + ";")
    if not KINDS[body.kind].has_identity:
        message = f"zero-size array to reduction operation {KINDS[body.kind].ufunc.__name__} which has no identity"
        code += ["if (count == 0) {", IND + f'PyErr_SetString(PyExc_ValueError, "{message}");', IND + "goto fail;",
                 "}"]
    code += odims + [f"out0 = (PyArrayObject *)PyArray_EMPTY({rank}, odims, {c_typenum(body.outs[0].dtype)}, 0);",
                     "if (out0 == NULL) goto fail;", "osize = PyArray_SIZE(out0);",
                     f"po = ({acc} *)PyArray_DATA(out0);",
                     "n = 1" + "".join(f" * dims[{d}]" for d in range(nd)) + ";", "if (osize == 0) goto done;",
                     "if (n == 0) {", IND + f"for (i = 0; i < osize; i++) po[i] = {c_expression(loop.identity())};",
                     IND + "goto done;", "}"]
    code += _tables(loop, sum(1 << d for d in loop.axis))
    if loop.full:
        decls += ["npy_intp units;", f"{acc} local[64];", f"{acc} *parts = local;"]
        code += [f"units = {_units(loop)};",
                 "if (units > 64) {", IND + f"parts = ({acc} *)PyMem_Malloc(units * sizeof({acc}));",
                 IND + "if (parts == NULL) {", IND * 2 + "PyErr_NoMemory();", IND * 2 + "goto fail;", IND + "}", "}",
                 "outs[0] = (char *)parts;", f"err = ag_loop({fname}_rows, units, dims, base, st, outs, n);",
                 f"po[0] = {loop.reduce_array}(parts, units);", "if (parts != local) PyMem_Free(parts);"]
    else:
        kept_rows = " * ".join(f"dims[{d}]" for d in loop.kept_outer) or "1"
        units = kept_rows if loop.inner_reduced else f"({kept_rows}) * ((dims[{nd - 1}] + {BLOCK - 1}) / {BLOCK})"
        code += ["outs[0] = PyArray_BYTES(out0);", f"err = ag_loop({fname}_rows, {units}, dims, base, st, outs, n);"]
    if loop.uses_err:
        code += ["if (err) {", IND + POW_ERROR, IND + "goto fail;", "}"]
    return _function(_step_head(fname, unique_names(body.leaves), []), decls, code, ["out0"])


# ---- fused_matvec: matvec_kernel.py's step function, in C -------------------------------------------------------

# np.matmul(a, b, out=out), as matvec_kernel.py's `_fmv_matmul` (np.dot, which C offers, can sum in another order)
_MATMUL = """static int ag_matmul(PyArrayObject *a, PyArrayObject *b, PyArrayObject *out) {
    PyObject *numpy = PyImport_ImportModule("numpy"), *matmul = NULL, *args = NULL, *keywords = NULL, *r = NULL;
    if (numpy != NULL) matmul = PyObject_GetAttrString(numpy, "matmul");
    if (matmul != NULL) args = PyTuple_Pack(2, (PyObject *)a, (PyObject *)b);
    if (args != NULL) keywords = Py_BuildValue("{sO}", "out", (PyObject *)out);
    if (keywords != NULL) r = PyObject_Call(matmul, args, keywords);
    Py_XDECREF(numpy);
    Py_XDECREF(matmul);
    Py_XDECREF(args);
    Py_XDECREF(keywords);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}"""

def _matvec_step(call: MatvecCall) -> str:
    t, num, size = c_type(call.dtype), c_typenum(call.dtype), call.itemsize
    x, w = call.names[0], call.names[1]
    leaves = call.leaves
    decls = [f"npy_intp n = PyArray_DIMS({x})[0];", f"npy_intp m = PyArray_DIMS({x})[1];",
             "npy_intp units = 0, per_unit = 1, blk, t;", "npy_intp pdims[2];", "int nt, err = 0;",
             f"int fused = m <= 1 || PyArray_STRIDES({x})[1] == {size};", f"npy_intp rs = PyArray_STRIDES({x})[0];",
             f"char *xb = PyArray_BYTES({x});",
             "PyArrayObject *z = NULL, *v = NULL, *g = NULL, *wc = NULL, *parts = NULL;",
             f"{t} *pp = NULL, *wp, *zp, *vp;"]
    decls += [f"{c_type(leaves.buffers[k].dtype)} a{k};" for k in leaves.scalars]
    for k in leaves.vectors:
        decls += [f"char *q{k} = PyArray_BYTES({call.names[k + 1]});",
                  f"npy_intp s{k} = PyArray_STRIDES({call.names[k + 1]})[0];"]
    prefix = "fused_matvec (X @ w and X.T @ v in one pass)"
    code = [f"if (PyArray_DIMS({w})[0] != m) {{",
            IND + f'PyErr_Format(PyExc_ValueError, "{prefix}: X has %zd columns but w has %zd elements", '
                  f"(Py_ssize_t)m, (Py_ssize_t)PyArray_DIMS({w})[0]);", IND + "goto fail;", "}"]
    for k in leaves.vectors:
        name = call.names[k + 1]
        code += [f"if (PyArray_DIMS({name})[0] != n) {{",
                 IND + f'PyErr_Format(PyExc_ValueError, "{prefix}: input {k + 1} of the elementwise part has %zd '
                       f'elements where X has %zd rows", (Py_ssize_t)PyArray_DIMS({name})[0], (Py_ssize_t)n);',
                 IND + "goto fail;", "}"]
    code += [f"a{k} = (({c_type(leaves.buffers[k].dtype)} *)PyArray_DATA({call.names[k + 1]}))[0];"
             for k in leaves.scalars]
    code += [f"z = (PyArrayObject *)PyArray_EMPTY(1, &n, {num}, 0);",
             f"v = (PyArrayObject *)PyArray_EMPTY(1, &n, {num}, 0);",
             f"g = (PyArrayObject *)PyArray_EMPTY(1, &m, {num}, 0);",
             f"wc = (PyArrayObject *)PyArray_GETCONTIGUOUS({w});",
             "if (z == NULL || v == NULL || g == NULL || wc == NULL) goto fail;",
             f"wp = ({t} *)PyArray_DATA(wc);", f"zp = ({t} *)PyArray_DATA(z);", f"vp = ({t} *)PyArray_DATA(v);",
             "if (!fused && n > 0) {",  # X's rows are not contiguous: numpy's products, the loop computes v only
             IND + f"if (ag_matmul({x}, {w}, z) < 0) goto fail;", "}",
             f"blk = {BLOCK_BYTES} / (m * {size} > 1 ? m * {size} : 1);",
             f"blk = blk < {MIN_ROWS} ? {MIN_ROWS} : (blk > {CHUNK} ? {CHUNK} : blk);",
             "if (n > 0) {",
             IND + f"per_unit = blk * ((((n + blk - 1) / blk) + {MAX_UNITS - 1}) / {MAX_UNITS});",
             IND + "units = (n + per_unit - 1) / per_unit;", "}",
             "if (fused && units > 0) {", IND + "pdims[0] = units;", IND + "pdims[1] = m;",
             IND + f"parts = (PyArrayObject *)PyArray_EMPTY(2, pdims, {num}, 0);",
             IND + "if (parts == NULL) goto fail;",
             IND + f"pp = ({t} *)PyArray_DATA(parts);", "}",
             "nt = ag_num_threads();", "if (nt > units) nt = (int)units;"]
    args = ["xb", "rs", "wp", "n", "m", "per_unit", "blk", "zp", "vp", "pp", "fused"]
    args += [f"a{k}" for k in leaves.scalars] + [f"q{k}, s{k}" for k in leaves.vectors]
    units = f"{call.fname}_units({{}}, {', '.join(args)})"
    code += [f"if (fused && nt > 1 && n * m >= {PAR_MIN}) {{",
             IND + "Py_BEGIN_ALLOW_THREADS",
             IND + "#pragma omp parallel for num_threads(nt) schedule(static) reduction(|:err)",
             IND + "for (t = 0; t < nt; t++) err |= " + units.format("units * t / nt, units * (t + 1) / nt") + ";",
             IND + "Py_END_ALLOW_THREADS",
             "} else if (n * m >= AG_NOGIL_MIN) {",
             IND + "Py_BEGIN_ALLOW_THREADS",
             IND + "err = " + units.format("0, units") + ";",
             IND + "Py_END_ALLOW_THREADS",
             "} else {",
             IND + "err = " + units.format("0, units") + ";", "}"]
    if call.uses_err:
        code += ["if (err) {", IND + POW_ERROR, IND + "goto fail;", "}"]
    code += ["if (fused) {", IND + f"ag_fmv_sum_{call.suffix}(pp, units, m, ({t} *)PyArray_DATA(g));", "} else {",
             IND + f"if (ag_matmul(v, {x}, g) < 0) goto fail;", "}",
             "Py_DECREF(wc);", "Py_XDECREF(parts);", "wc = parts = NULL;"]
    names = list(dict.fromkeys(call.names))
    head = _step_head(call.fname, names, [])
    body = [IND + line for line in decls + code]
    done = ["done:", IND + "result[0] = (PyObject *)z;", IND + "result[1] = (PyObject *)v;",
            IND + "result[2] = (PyObject *)g;", IND + "return 0;"]
    fail = ["fail:"] + [IND + f"Py_XDECREF({o});" for o in ("z", "v", "g", "wc", "parts")] + [IND + "return -1;"]
    return "\n".join([head] + body + [IND + "goto done;"] + done + fail + ["}"])


# ---- runners: render.py's `_runner`, in C ----------------------------------------------------------------------

def _runner(kernel: Kernel) -> str:
    """`values` -> results, timing each step into `profile` when it is not None; a failing step's error names its
    node (the support's _node_failed)."""
    prefix = f"_{kernel.name}"
    inputs = [b.name for b in kernel.inputs] + [b.name for b in kernel.consts]
    names = list(dict.fromkeys(inputs + [b.name for s in kernel.steps for b in s.body.outs]))
    quiet = any(isinstance(s.body, CallStep) for s in kernel.steps)
    decls = ["int step = -1;", "int timed = profile != Py_None;", "double start = 0;", "PyObject *result = NULL;"]
    decls += [f"PyObject *{n} = NULL;" for n in names] + [f"int {flag};" for flag, _ in kernel.mutable_checks]
    decls += ["PyObject *quiet = NULL;"] if quiet else []
    code = [f"if (ag_check_count(values, {len(kernel.inputs)}) < 0) goto fail;"]
    for position, b in enumerate(kernel.inputs):
        code += [f"{b.name} = ag_arg(PyList_GET_ITEM(values, {position}), {c_typenum(b.dtype)}, {b.ndim}, {position});",
                 f"if ({b.name} == NULL) goto fail;"]
    for j, b in enumerate(kernel.consts):
        code += [f"{b.name} = PyList_GET_ITEM(consts, {j});", f"Py_INCREF({b.name});"]
    if quiet:  # numpy calls: silence numpy's warnings, as the Cython runner does
        code += ["quiet = ag_quiet_numpy();", "if (quiet == NULL) goto fail;"]
    for flag, b in kernel.mutable_checks:  # a mutable input sharing memory with another argument stays intact
        others = [n for n in inputs if n != b.name]
        code += ["{", IND + f"PyObject *others = PyTuple_Pack({', '.join([str(len(others))] + others)});",
                 IND + "if (others == NULL) goto fail;", IND + f"{flag} = ag_alone((PyArrayObject *){b.name}, others);",
                 IND + "Py_DECREF(others);", IND + f"if ({flag} == -1 && PyErr_Occurred()) goto fail;", "}"]
    for index, step in enumerate(kernel.steps):
        code += [f"step = {index};", "if (timed) {", IND + "start = ag_now();",
                 IND + "if (start == -1 && PyErr_Occurred()) goto fail;", "}"]
        code += ["{"] + [IND + line for line in _step_call(f"{prefix}_s{index}", step.body)] + ["}"]
        code += ["ag_clear_upper();",
                 f"if (timed && ag_record(profile, label, labels, {index}, start) < 0) goto fail;"]
        code += [f"Py_CLEAR({name});" for name in step.dead]
    code += [f"result = PyList_New({len(kernel.results)});", "if (result == NULL) goto fail;"]
    for i, name in enumerate(kernel.results):
        code += [f"Py_INCREF({name});", f"PyList_SET_ITEM(result, {i}, {name});"]
    code.append("goto done;")
    failing = ["switch (step) {"]
    for index, step in enumerate(kernel.steps):
        args = [b.name for b in step.body.ins]
        failing += [f"case {index}: {{",
                    IND + f"PyObject *args[{max(len(args), 1)}] = {{{', '.join(args) or 'NULL'}}};",
                    IND + f"failed = ag_pack({len(args)}, args);", IND + "break;", "}"]
    failing += ["default:", IND + "break;", "}"]
    fail = ["fail:", IND + "ag_clear_upper();", IND + "{", IND * 2 + "PyObject *failed = NULL;"]
    fail += [IND * 2 + line for line in failing]
    fail += [IND * 2 + f"ag_failed(step, where, ag_at(step, {len(kernel.steps)}, failed));", IND + "}"]
    done = ["done:"] + ([IND + "if (ag_restore(quiet) < 0) Py_CLEAR(result);"] if quiet else [])
    done.append(IND + "ag_clear_upper();")
    done += [IND + f"Py_XDECREF({n});" for n in names] + [IND + "return result;"]
    head = (f"static PyObject *ag{prefix}_run(PyObject *values, PyObject *consts, PyObject *where, PyObject *profile, "
            "PyObject *label, PyObject *labels) {")
    return "\n".join([head] + [IND + line for line in decls + code] + fail + done + ["}"])


def _step_call(fname: str, body) -> list[str]:
    """Lines calling step `fname` and setting its outputs (owned references) in the runner's variables."""
    outs = [b.name for b in body.outs]
    if isinstance(body, CallStep) and not isinstance(body.native, MatvecCall):
        args = unique_names(body.ins)
        code = [f"PyObject *r = PyObject_CallFunctionObjArgs({', '.join([f'ag_py{fname}'] + args + ['NULL'])});"]
        if len(outs) == 1:
            b = body.outs[0]
            return code + [f"r = ag_checked(r, {c_typenum(b.dtype)}, {b.ndim});", "if (r == NULL) goto fail;",
                           f"Py_XSETREF({b.name}, r);"]
        code += ["if (r == NULL) goto fail;", f"if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != {len(outs)}) {{",
                 IND + "Py_DECREF(r);",
                 IND + 'PyErr_SetString(PyExc_ValueError, "internal error: a step returned the wrong number of '
                       'results");', IND + "goto fail;", "}"]
        for m, b in enumerate(body.outs):
            code += [f"Py_INCREF(PyTuple_GET_ITEM(r, {m}));", f"Py_XSETREF({b.name}, "
                     f"ag_checked(PyTuple_GET_ITEM(r, {m}), {c_typenum(b.dtype)}, {b.ndim}));",
                     f"if ({b.name} == NULL) {{", IND + "Py_DECREF(r);", IND + "goto fail;", "}"]
        return code + ["Py_DECREF(r);"]
    if isinstance(body, CallStep):  # fused_matvec: every input, in order, to its own parameter
        fname, names = body.native.fname, [b.name for b in body.ins]
    else:
        names = unique_names(body.ins)
    args = [f"(PyArrayObject *){n}" for n in names]
    inplace = getattr(body, "inplace", None)
    if inplace is not None:
        args.append(inplace[1] or "1")
    code = [f"PyObject *r[{len(outs)}];", f"if ({fname}({', '.join(args + ['r'])}) < 0) goto fail;"]
    return code + [f"Py_XSETREF({o}, r[{m}]);" for m, o in enumerate(outs)]
