"""Rendering a scan step: one C loop over scalars (`ScalarScanStep`), or a typed Cython loop over the steps
that calls the step's inner kernel directly (`ScanStep`).

A step that is elementwise arithmetic on scalars (a cumulative sum, a polynomial, a scalar recurrence)
becomes statements inside one C loop: states in C variables, sequences read through their strides, the GIL
released. Any other step:

The inner kernel (the step graph, rewritten and lowered like a function of its own) is a `cdef` runner of
the same module; each step hands it the step's slices, states and non-sequences in a list. Nothing is
allocated or copied per step: each recurrent output has one buffer (its initial states, then a row per step;
an output kept only at its end, `last_only`, `span + 1` rows used in turn), the step that computes a result
writes it straight into its row (its elementwise loop or matrix product is handed the row as its
destination), taps read the rows before it, and the step's intermediates are written into the arrays they
had the step before (`scratch`, one per inner step; see lower._in_place). A result the step cannot write in
place (a view, a reduction) is copied into its row; `_scan_counts()` in each module counts both, for tests.
The checks (enough steps, shapes that stay the same) are the numpy reference's (aotgraph/scan_module/op.py).
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
    "_scan_buffer": '''
def _scan_buffer(init, Py_ssize_t span, Py_ssize_t rows, int j, taps):
    """The `rows` rows of recurrent output j, its first `span` initial states in front (steps write the rest)."""
    if init.shape[0] < span:
        raise ValueError(f"scan: output {j} reads {span} earlier states (taps {list(taps)}), but its initial "
                         f"value holds {init.shape[0]}")
    buffer = np.empty((rows,) + init.shape[1:], init.dtype)
    buffer[:span] = init[:span]
    return buffer
''',
    "_scan_rows": '''
def _scan_rows(value, n):
    """The n rows of a non-recurrent output, once its first step's value gave their shape and dtype."""
    value = np.asarray(value)
    return np.empty((n,) + value.shape, value.dtype)
''',
    "_scan_put": '''
cdef Py_ssize_t _scan_written = 0  # step results the inner step wrote into their row itself
cdef Py_ssize_t _scan_copied = 0  # step results copied into their row


def _scan_counts():
    """(written in place, copied): how the scans of this module stored their step results so far (for tests)."""
    return _scan_written, _scan_copied


cdef inline int _scan_put(cnp.ndarray row, object value, int j, Py_ssize_t step) except -1:
    """row[...] = value: nothing when the step wrote its result into the row itself, else a checked copy."""
    global _scan_written, _scan_copied
    cdef cnp.ndarray a
    if value is row:
        _scan_written += 1
        return 0
    _scan_copied += 1
    a = <cnp.ndarray>_scan_checked(value, row, j, step)
    if (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(row)
            and cnp.PyArray_TYPE(a) == cnp.PyArray_TYPE(row)):
        if cnp.PyArray_BYTES(a) != cnp.PyArray_BYTES(row):  # (a view of the row itself: already there)
            memcpy(cnp.PyArray_BYTES(row), cnp.PyArray_BYTES(a), cnp.PyArray_NBYTES(a))
    else:
        row[...] = a
    return 0
''',
    "_scan_matmul": '''
cdef object _scan_matmul(object a, object b, object dest):
    """np.matmul(a, b), written into `dest` (a scan step's buffer) when it has the product's shape and dtype
    (matrices and vectors; any other product is np.matmul's own)."""
    cdef cnp.ndarray x, y, z
    cdef int nx, ny
    cdef bint fits
    if dest is None or not (cnp.PyArray_Check(a) and cnp.PyArray_Check(b)):
        return np.matmul(a, b)
    x, y, z = <cnp.ndarray>a, <cnp.ndarray>b, <cnp.ndarray>dest
    nx, ny = cnp.PyArray_NDIM(x), cnp.PyArray_NDIM(y)
    fits = (1 <= nx <= 2 and 1 <= ny <= 2 and nx + ny >= 3 and cnp.PyArray_NDIM(z) == nx + ny - 2
            and cnp.PyArray_TYPE(x) == cnp.PyArray_TYPE(z) and cnp.PyArray_TYPE(y) == cnp.PyArray_TYPE(z)
            and cnp.PyArray_DIMS(x)[nx - 1] == cnp.PyArray_DIMS(y)[0] and cnp.PyArray_ISWRITEABLE(z))
    if fits and nx == 2:  # rows of x: the first axis of the product
        fits = cnp.PyArray_DIMS(z)[0] == cnp.PyArray_DIMS(x)[0]
    if fits and ny == 2:  # columns of y: its last axis
        fits = cnp.PyArray_DIMS(z)[cnp.PyArray_NDIM(z) - 1] == cnp.PyArray_DIMS(y)[1]
    return np.matmul(x, y, out=z) if fits else np.matmul(a, b)
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
    """`cdef <ret> fname(<ins>, tuple where)`: the loop of one scan node.

    Recurrent output j lives in one buffer `b{j}`: its `span` initial states, then one row per step (`L{j}` rows;
    an output kept only at its end: `span + 1` rows used in turn). Step i writes row `(i + span) % L{j}`, handed
    to the inner step that computes it (`scratch[result step]`), and reads its taps from the rows before it:
    no copy and no allocation per step. Non-recurrent outputs get their rows once the first step gave their shape.
    """
    names = [b.name for b in body.ins]
    n_rec, n_nit = len(body.taps), body.n_nit
    seqs = names[1:1 + body.n_seqs]
    inits = names[1 + body.n_seqs:1 + body.n_seqs + n_rec]
    nonseqs = names[1 + body.n_seqs + n_rec:len(names) - body.n_consts]
    consts = names[len(names) - body.n_consts:]
    spans = [-min(t) for t in body.taps]
    width = len(body.inner.descriptions)
    slots = list(body.result_steps) or [None] * (n_rec + n_nit + body.until)
    params = ", ".join(f"cnp.ndarray {name}" for name in unique_names(body.ins))
    ret = "cnp.ndarray" if len(body.outs) == 1 else "tuple"
    lines = [f"cdef {ret} {fname}({params}, tuple where):"]
    code = [
        "cdef Py_ssize_t n, i, done",
        f"cdef list consts = [{', '.join(consts)}]",
        f"cdef tuple iwhere = where[{body.where_offset}:{body.where_offset + width}]",
        f"cdef list scratch = [None] * {len(body.inner.steps)}",
        "cdef list res",
    ]
    code += [f"cdef list w{j}" for j in range(n_rec)]
    code += [f"cdef cnp.ndarray {v}{j}" for j in range(n_rec) for v in "bd"]
    code += [f"cdef Py_ssize_t L{j}" for j in range(n_rec)]
    code += [f"cdef cnp.ndarray m{k} = None" for k in range(n_nit)] + [f"cdef cnp.ndarray e{k}" for k in range(n_nit)]
    code.append(f"n = _scan_length({names[0]}, {tuple_literal(seqs)})")
    for j, (init, span, last) in enumerate(zip(inits, spans, body.last_only)):
        code += [f"L{j} = {span + 1}" if last else f"L{j} = n + {span}",
                 f"b{j} = _scan_buffer({init}, {span}, L{j}, {j}, {body.taps[j]!r})",
                 f"w{j} = [{_row(f'b{j}', 'k', body.outs[j].ndim - (not last))} for k in range({span})]"]
    values = [_row(b.name, "i", b.ndim - 1) for b in body.ins[1:1 + body.n_seqs]]
    for j, (taps, span) in enumerate(zip(body.taps, spans)):
        values += [f"w{j}[{span + t}]" for t in taps]
    values += nonseqs
    loop = []
    for j, (span, last) in enumerate(zip(spans, body.last_only)):
        index = f"(i + {span}) % L{j}" if last else f"i + {span}"
        loop.append(f"d{j} = {_row(f'b{j}', index, body.outs[j].ndim - (not last))}")
        if slots[j] is not None:
            loop.append(f"scratch[{slots[j]}] = d{j}")
    for k in range(n_nit):
        row = _row(f"m{k}", "i", body.outs[n_rec + k].ndim - 1)
        loop.append(f"e{k} = None if m{k} is None else {row}")
        if slots[n_rec + k] is not None:
            loop.append(f"scratch[{slots[n_rec + k]}] = e{k}")
    loop.append(f"res = _{body.inner.name}_run([{', '.join(values)}], consts, iwhere, None, None, (), scratch)")
    for j in range(n_rec):
        loop += [f"_scan_put(d{j}, res[{j}], {j}, i)", f"w{j}.append(d{j})", f"del w{j}[0]"]
    for k in range(n_nit):
        row = _row(f"m{k}", "0", body.outs[n_rec + k].ndim - 1)
        loop += [f"if m{k} is None:", f"    m{k} = _scan_rows(res[{n_rec + k}], n)", f"    e{k} = {row}",
                 f"_scan_put(e{k}, res[{n_rec + k}], {n_rec + k}, i)"]
    if body.until:  # (the module is compiled with wraparound=False: no negative indices)
        loop += [f"if res[{n_rec + n_nit}]:", "    done = i + 1", "    break"]
    code += ["done = n", "for i in range(n):"] + indent(loop)
    keep = body.with_init or (False,) * n_rec
    results = [_row(f"b{j}", f"(done + {span - 1}) % L{j}", body.outs[j].ndim) if last
               else f"b{j}[{0 if keep[j] else span}:{span} + done]"
               for j, (last, span) in enumerate(zip(body.last_only, spans))]
    for k, b in enumerate(body.outs[n_rec:]):
        results.append(f"_scan_done(m{k}, done, {b.ndim - 1}, {b.dtype!r})")
    code.append(f"return {results[0] if len(results) == 1 else tuple_literal(results)}")
    return lines + indent(code)


def _row(array: str, index: str, row_ndim: int) -> str:
    """`array[index]` as an array view (a 0-d array, not a numpy scalar, for a row of scalars)."""
    return f"{array}[{index}, ...]" if row_ndim == 0 else f"{array}[{index}]"


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
    keep = body.with_init or (False,) * n_rec
    for j, (last, out) in enumerate(zip(body.last_only, body.outs)):
        final = f"np.array({body.window_vars[j][-1]}, {out.dtype!r})"
        states = f"{next(stored_names)}[:done]" if not last else final
        if keep[j] and not last:  # (a copy: this loop keeps its states in C variables, not in one buffer)
            states = f"np.concatenate(({inits[j].name}[:{len(body.window_vars[j])}], {states}))"
        results.append(states)
    results += [f"{next(stored_names)}[:done]" for _ in range(body.n_nit)]
    code.append(f"return {results[0] if len(results) == 1 else tuple_literal(results)}")
    return [f"cdef {ret} {fname}({params}, tuple where):"] + indent(code)
