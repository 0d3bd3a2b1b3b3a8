"""Rendering a scan step: one C loop over scalars (`ScalarScanStep`), or a typed Cython loop over the steps
that calls the step's inner kernel directly (`ScanStep`).

A step that is elementwise arithmetic on scalars (a cumulative sum, a polynomial, a scalar recurrence)
becomes statements inside one C loop: states in C variables, sequences read through their strides, the GIL
released. Any other step:

The inner kernel (the step graph, rewritten and lowered like a function of its own) is a `cdef` runner of
the same module; each step hands it the step's slices, states and non-sequences in a list and stores what it
returns. States live in a small window (the `span` latest values of each recurrent output), so an output
kept only at its end (`last_only`: reduce, the sums of a gradient) costs no per-step array. The checks
(enough steps, shapes that stay the same) are the numpy reference's (aotgraph/scan_module/op.py).
"""

from __future__ import annotations

from aotgraph.codegen.dtypes import CTYPE
from aotgraph.codegen.ir import ScalarScanStep, ScanStep
from aotgraph.codegen.loops import emit_statement, indent, operand_text, tuple_literal, unique_names

SCAN_HELPERS = {
    "_scan_length": '''
def _scan_length(n_steps, seqs):
    """The number of steps: n_steps, or (n_steps -1: none given) the shortest sequence length; refuses short ones."""
    n = int(n_steps)
    if n == -1:
        if not seqs:
            raise ValueError("scan: no sequences and no n_steps: give n_steps")
        return min([len(s) for s in seqs])
    if n < 0:
        raise ValueError(f"scan: n_steps must be >= 0, got {n}")
    for k, s in enumerate(seqs):
        if len(s) < n:
            raise ValueError(f"scan: n_steps is {n}, but sequence {k} (after slicing for its taps) has only "
                             f"{len(s)} elements")
    return n
''',
    "_scan_window": '''
def _scan_window(init, span, j, taps):
    """The `span` states before step 0 of recurrent output j, oldest first."""
    if init.shape[0] < span:
        raise ValueError(f"scan: output {j} reads {span} earlier states (taps {list(taps)}), but its initial "
                         f"value holds {init.shape[0]}")
    return [init[k, ...] for k in range(span)]  # 0-d arrays (not numpy scalars) for a window of scalars
''',
    "_scan_checked": '''
cdef inline object _scan_checked(object value, object like, int j, Py_ssize_t step):
    """`value` when its shape is like's (compared in C: this runs once per step and output)."""
    cdef cnp.ndarray a, b
    cdef int k
    cdef bint same
    if not (cnp.PyArray_Check(value) and cnp.PyArray_Check(like)):
        value, like = np.asarray(value), np.asarray(like)
    a, b = <cnp.ndarray>value, <cnp.ndarray>like
    same = cnp.PyArray_NDIM(a) == cnp.PyArray_NDIM(b)
    k = 0
    while same and k < cnp.PyArray_NDIM(a):
        same = cnp.PyArray_DIMS(a)[k] == cnp.PyArray_DIMS(b)[k]
        k += 1
    if not same:
        raise ValueError(f"scan: step {step} made output {j} of shape {value.shape}, but earlier values (or its "
                         f"initial state) have shape {like.shape}")
    return value
''',
    "_scan_store": '''
cdef inline int _scan_store(cnp.ndarray rows, Py_ssize_t i, object value) except -1:
    """rows[i] = value, a memcpy when value is C-contiguous (rows are: np.empty made them)."""
    cdef cnp.ndarray a
    if not cnp.PyArray_Check(value):
        rows[i] = value
        return 0
    a = <cnp.ndarray>value
    if cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_TYPE(a) == cnp.PyArray_TYPE(rows):
        memcpy(cnp.PyArray_BYTES(rows) + i * cnp.PyArray_STRIDES(rows)[0], cnp.PyArray_BYTES(a), cnp.PyArray_NBYTES(a))
    else:
        rows[i] = value
    return 0
''',
    "_scan_nit": '''
def _scan_nit(values, value, n, step, j):
    """Store the value of non-recurrent output j at `step`, allocating its n rows at the first step."""
    if values is None:
        values = np.empty((n,) + value.shape, value.dtype)
    elif value.shape != values.shape[1:]:
        raise ValueError(f"scan: step {step} made output {j} of shape {value.shape}, but earlier values "
                         f"have shape {values.shape[1:]}")
    _scan_store(values, step, value)
    return values
''',
    "_scan_done": '''
def _scan_done(values, done, ndim, dtype):
    """Non-recurrent output values of the steps done (none: no step ran, so no shape is known but the rank)."""
    if values is None:
        return np.zeros((0,) * (ndim + 1), dtype)
    return values[:done]
''',
}


def render_scan(fname: str, body: ScanStep) -> list[str]:
    """`cdef <ret> fname(<ins>, tuple where)`: the loop of one scan node."""
    names = [b.name for b in body.ins]
    n_rec, n_nit = len(body.taps), body.n_nit
    seqs = names[1:1 + body.n_seqs]
    inits = names[1 + body.n_seqs:1 + body.n_seqs + n_rec]
    nonseqs = names[1 + body.n_seqs + n_rec:len(names) - body.n_consts]
    consts = names[len(names) - body.n_consts:]
    spans = [-min(t) for t in body.taps]
    width = len(body.inner.descriptions)
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.ins))
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    lines = [f"cdef {ret} {fname}({params}, tuple where):"]
    code = [
        "cdef Py_ssize_t n, i, done",
        f"cdef list consts = [{', '.join(consts)}]",
        f"cdef tuple iwhere = where[{body.where_offset}:{body.where_offset + width}]",
        "cdef list res",
        "cdef object value",
    ]
    code += [f"cdef object w{j}" for j in range(n_rec)] + [f"cdef cnp.ndarray r{j}" for j in range(n_rec)]
    code += [f"cdef object m{k} = None" for k in range(n_nit)]
    code.append(f"n = _scan_length({names[0]}, {tuple_literal(seqs)})")
    for j, (init, span, last) in enumerate(zip(inits, spans, body.last_only)):
        code.append(f"w{j} = _scan_window({init}, {span}, {j}, {body.taps[j]!r})")
        code.append(f"r{j} = None" if last else f"r{j} = np.empty((n,) + (<object>{init}).shape[1:], {init}.dtype)")
    values = [f"{b.name}[i, ...]" if b.ndim == 1 else f"{b.name}[i]" for b in body.ins[1:1 + body.n_seqs]]
    for j, (taps, span) in enumerate(zip(body.taps, spans)):
        values += [f"w{j}[{span + t}]" for t in taps]
    values += nonseqs
    loop = [f"res = _{body.inner.name}_run([{', '.join(values)}], consts, iwhere, None, None, ())"]
    for j, last in enumerate(body.last_only):
        loop += [f"value = _scan_checked(res[{j}], w{j}[0], {j}, i)", f"w{j}.append(value)", f"del w{j}[0]"]
        if not last:
            loop.append(f"_scan_store(r{j}, i, value)")
    for k in range(n_nit):
        loop.append(f"m{k} = _scan_nit(m{k}, res[{n_rec + k}], n, i, {n_rec + k})")
    if body.until:  # (the module is compiled with wraparound=False: no negative indices)
        loop += [f"if res[{n_rec + n_nit}]:", "    done = i + 1", "    break"]
    code += ["done = n", "for i in range(n):"] + indent(loop)
    results = [f"np.array(w{j}[{span - 1}])" if last else f"r{j}[:done]"
               for j, (last, span) in enumerate(zip(body.last_only, spans))]
    for k, b in enumerate(body.outs[n_rec:]):
        results.append(f"_scan_done(m{k}, done, {b.ndim - 1}, {b.dtype!r})")
    code.append(f"return {results[0] if len(results) == 1 else tuple_literal(results)}")
    return lines + indent(code)


def render_scalar_scan(fname: str, body: ScalarScanStep, helpers: dict[str, str]) -> list[str]:
    """`cdef <ret> fname(<ins>, tuple where)`: the scan as one C loop over scalars, the GIL released."""
    names = [b.name for b in body.ins]
    n_rec = len(body.taps)
    seqs = body.ins[1:1 + body.n_seqs]
    inits = body.ins[1 + body.n_seqs:1 + body.n_seqs + n_rec]
    nonseqs = body.ins[1 + body.n_seqs + n_rec:]
    step_results = [operand_text(r) for r in body.results]
    stored = [(f"r{j}", body.outs[j], step_results[j]) for j in range(n_rec) if not body.last_only[j]]
    stored += [(f"m{k}", body.outs[n_rec + k], step_results[n_rec + k]) for k in range(body.n_nit)]
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.ins))
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    code = ["cdef Py_ssize_t n, i, done"]
    code += [f"cdef {CTYPE[dtype]} {name}" for name, dtype in body.decls]
    code += [f"cdef {CTYPE[b.dtype]} new{j}" for j, b in enumerate(inits)]
    for k in range(len(seqs)):
        code += [f"cdef char* sp{k}", f"cdef cnp.npy_intp ss{k}"]
    for array, _, _ in stored:
        code += [f"cdef cnp.ndarray {array}", f"cdef char* {array}p"]
    code.append(f"n = _scan_length({names[0]}, {tuple_literal([b.name for b in seqs])})")
    for j, (init, window) in enumerate(zip(inits, body.window_vars)):
        code.append(f"_scan_window({init.name}, {len(window)}, {j}, {body.taps[j]!r})")
        code += [f"{var} = (<{CTYPE[init.dtype]}*>(cnp.PyArray_BYTES({init.name}) + {p} * "
                 f"cnp.PyArray_STRIDES({init.name})[0]))[0]" for p, var in enumerate(window)]
    code += [f"{var} = (<{CTYPE[b.dtype]}*>cnp.PyArray_DATA({b.name}))[0]" for var, b in zip(body.nonseq_vars, nonseqs)]
    for k, b in enumerate(seqs):
        code += [f"sp{k} = cnp.PyArray_BYTES({b.name})", f"ss{k} = cnp.PyArray_STRIDES({b.name})[0]"]
    for array, out, _ in stored:
        code += [f"{array} = np.empty(n, {out.dtype!r})", f"{array}p = cnp.PyArray_BYTES({array})"]
    loop = [f"{var} = (<{CTYPE[b.dtype]}*>(sp{k} + i * ss{k}))[0]" for k, (var, b) in
            enumerate(zip(body.seq_vars, seqs))]
    for stmt in body.stmts:
        ctx = emit_statement(stmt)
        helpers.update(ctx.helpers)
        loop.append(f"{stmt.target} = {ctx.expr}")
    loop += [f"new{j} = {step_results[j]}" for j in range(n_rec)]  # every new state before any window moves
    for array, out, result in stored:
        loop.append(f"(<{CTYPE[out.dtype]}*>{array}p)[i] = {result}")
    for j, window in enumerate(body.window_vars):
        loop += [f"{window[p]} = {window[p + 1]}" for p in range(len(window) - 1)] + [f"{window[-1]} = new{j}"]
    if body.until:
        loop += [f"if {step_results[-1]}:", "    done = i + 1", "    break"]
    code += ["done = n", "with nogil:", "    for i in range(n):"] + indent(loop, 2)
    results = []
    stored_names = iter(array for array, _, _ in stored)
    for j, (last, out) in enumerate(zip(body.last_only, body.outs)):
        final = f"np.array({body.window_vars[j][-1]}, {out.dtype!r})"
        results.append(final if last else f"{next(stored_names)}[:done]")
    results += [f"{next(stored_names)}[:done]" for _ in range(body.n_nit)]
    code.append(f"return {results[0] if len(results) == 1 else tuple_literal(results)}")
    return [f"cdef {ret} {fname}({params}, tuple where):"] + indent(code)
