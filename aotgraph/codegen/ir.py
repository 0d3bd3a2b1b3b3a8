"""The kernel IR: what lowering produces and rendering prints.

A `Kernel` is one function of a module: typed input buffers, a list of steps, the buffers it
returns. A step is a loop (an elementwise or fused node, or a reduction with the elementwise region
feeding it) or a call into numpy. Every name in the IR is made by aotgraph (`v3`, `c0`, `t7`); user
strings only travel in `Kernel.labels` / `Kernel.descriptions`, which are data, never code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aotgraph.graph.basic import Op


@dataclass(frozen=True)
class Buffer:
    """An array value of the kernel: its identifier, dtype, rank and static shape (None: any size)."""

    name: str
    dtype: str
    ndim: int
    shape: tuple = ()

    @property
    def undeclared_ones(self) -> int:
        """Bit mask of the axes not declared broadcastable (a size 1 there must not broadcast)."""
        return sum(1 << k for k, s in enumerate(self.shape) if s != 1)


# how often a scalar is computed in a loop nest: once per call, once per row (it does not vary along the
# innermost axis), or once per element
ONCE, PER_ROW, PER_ELEMENT = 0, 1, 2


@dataclass(frozen=True)
class ScalarConst:
    """A one-element constant that a loop reads as a literal (the emitter prints it)."""

    value: object  # a numpy scalar
    dtype: str

    def __str__(self) -> str:
        return repr(self.value.item())


# an operand of a statement: the name of a scalar (`a<k>`: leaf k's current element, `t<j>`: statement j's
# value) or a constant
Operand = str | ScalarConst


@dataclass
class ScalarStmt:
    """One elementwise statement inside a loop: `target` (a scalar of `dtype`) = `op(*args)`, the operands of
    dtypes `arg_dtypes`, computed at `level`. Symbolic: the loop emitter renders it with the op's scalar rule."""

    target: str
    dtype: str
    op: Op
    args: tuple[Operand, ...]
    arg_dtypes: tuple[str, ...]
    level: int = PER_ELEMENT


def program_statements(program, types: dict, scalars: dict[str, tuple[Operand, int]]) -> list[ScalarStmt]:
    """The statements of a fused op's `program`, each computed at the most frequent level of its operands.

    `scalars` maps the program's input names (`i<k>`) to (operand, level) and receives each `t<j>`."""
    stmts = []
    for j, (op, args) in enumerate(program.stmts):
        level = max([scalars[a][1] for a in args], default=ONCE)
        stmts.append(ScalarStmt(f"t{j}", types[f"t{j}"].dtype, op, tuple(scalars[a][0] for a in args),
                                tuple(types[a].dtype for a in args), level))
        scalars[f"t{j}"] = (f"t{j}", level)
    return stmts


@dataclass
class ElemwiseStep:
    """One loop over the broadcast shape of `leaves` (rank `nd`), computing `stmts` per element.

    Scalar `results[m]` is stored to `outs[m]` (sibling regions over the same operands share one loop
    with several outputs). `leaf_scalars[k]` names the scalar holding leaf k's current element;
    `leaf_levels[k]` says how often it changes (rank-0 leaves are read once). `inplace`: the loop may
    write `outs[0]` into the buffer of leaf `inplace[0]` (a fused_inplace node); `inplace[1]` names the
    kernel's run-time flag that allows it (for a mutable input), or is None (an intermediate).
    `dest`: the step takes a destination array (a scan step's buffer) and writes `outs[0]` into it when it
    has the result's shape and dtype.
    """

    outs: list[Buffer]
    leaves: list[Buffer]
    leaf_scalars: list[str]
    stmts: list[ScalarStmt]
    results: list[Operand]
    nd: int = 0
    leaf_levels: list[int] = field(default_factory=list)
    inplace: tuple | None = None
    dest: bool = False

    @property
    def ins(self) -> list[Buffer]:
        return self.leaves


@dataclass
class ReduceStep:
    """A loop over the broadcast shape of `leaves` (rank `nd`) whose per-element value `result` (after
    `stmts`, of dtype `value_dtype`) is reduced by `kind` over the loop axes `axis` into `outs[0]`
    (dtype = accumulator dtype; `keepdims` as numpy's). The value is never stored as an array."""

    outs: list[Buffer]
    leaves: list[Buffer]
    leaf_scalars: list[str]
    stmts: list[ScalarStmt]
    result: Operand
    value_dtype: str
    kind: str
    axis: tuple
    keepdims: bool
    nd: int = 0
    leaf_levels: list[int] = field(default_factory=list)

    @property
    def ins(self) -> list[Buffer]:
        return self.leaves


@dataclass
class CallStep:
    """Python-level statements (calls into numpy) computing `outs` from `ins`.

    `dest_lines`: the same computation writing `outs[0]` into an array `dest` when it fits (a matmul's
    `out=`), used instead of `lines` when `dest` is set (a scan step's buffer is passed in).
    """

    ins: list[Buffer]
    outs: list[Buffer]
    lines: list[str]
    helpers: dict = field(default_factory=dict)  # name -> Python source of module-level helpers it calls
    dest_lines: list[str] | None = None
    dest: bool = False
    native: object = None  # what a C rendering of the step needs (fused_matvec: matvec_kernel.MatvecCall), or None


@dataclass
class ScanStep:
    """A scan node: a loop over steps, each running `inner` (the step graph lowered as a kernel of its own).

    `ins`: n_steps, the sequences (one per tap), the initial buffers, the non-sequences, then `consts` (the
    outer kernel's copies of the inner kernel's constants, handed to it as its `consts`). `where_offset`: where
    the inner kernel's error descriptions start in the outer kernel's `descriptions`. The other fields are the
    scan op's: see aotgraph/scan_module/op.py.
    """

    ins: list[Buffer]
    outs: list[Buffer]
    inner: Kernel
    n_seqs: int
    taps: tuple
    last_only: tuple
    n_nit: int
    until: bool
    n_consts: int
    where_offset: int = 0
    helpers: dict = field(default_factory=dict)
    result_steps: list = field(default_factory=list)  # per inner result: the inner step writing it in place, or None
    with_init: tuple = ()  # per recurrent output: returned with its initial states in front (the op's with_init)


@dataclass
class ScalarScanStep:
    """A scan whose step is elementwise arithmetic on scalars: one C loop over the steps, without the GIL.

    Each step loads element i of every sequence into `seq_vars[k]`; the states live in C scalars
    (`window_vars[j]`: the `span` latest states of recurrent output j, oldest first); `nonseq_vars[k]` are
    loaded once. `stmts` (symbolic, like a loop's) compute the step; `results` name the inner outputs (the new
    state of each recurrent output, each non-recurrent output, then the until condition). `decls`: (name,
    dtype) of every scalar. The other fields are the scan op's (aotgraph/scan_module/op.py).
    """

    ins: list[Buffer]
    outs: list[Buffer]
    n_seqs: int
    taps: tuple
    last_only: tuple
    n_nit: int
    until: bool
    seq_vars: list[str]
    window_vars: list[list[str]]
    nonseq_vars: list[str]
    decls: list[tuple[str, str]]
    stmts: list[ScalarStmt]
    results: list[Operand]
    helpers: dict = field(default_factory=dict)
    with_init: tuple = ()  # as ScanStep's


@dataclass
class Step:
    """One step of a kernel: what it computes, and which intermediates die after it."""

    body: ElemwiseStep | ReduceStep | CallStep | ScanStep | ScalarScanStep
    label: str  # profile label, e.g. "3 mul" (aotgraph's text, passed as data)
    description: tuple[str, str]  # for errors: the ops, and the user line that created them (passed as data)
    dead: list[str] = field(default_factory=list)


@dataclass
class Kernel:
    """One compiled function: `inputs` (explicit inputs then shared values), `consts`, steps, results."""

    name: str
    inputs: list[Buffer]
    consts: list[Buffer]
    const_values: list  # numpy arrays, parallel to consts (data, not code)
    steps: list[Step]
    results: list[str]
    helpers: dict[str, str] = field(default_factory=dict)
    mutable_checks: list = field(default_factory=list)  # (flag name, input buffer): may it be overwritten?
    inner_descriptions: list = field(default_factory=list)  # the steps of scan steps' inner kernels, after ours
    scratch: bool = False  # a scan's step: the runner takes `list scratch`, one destination per step (see scanloop)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.steps]

    @property
    def descriptions(self) -> list[tuple[str, str]]:
        return [s.description for s in self.steps] + list(self.inner_descriptions)


def format_kernel(kernel: Kernel) -> str:
    """One line per step: the printer that makes the IR debuggable."""
    lines = [f"kernel {kernel.name}({', '.join(f'{b.name}: {b.dtype}[{b.ndim}]' for b in kernel.inputs)})"]
    for b in kernel.consts:
        lines.append(f"  const {b.name}: {b.dtype}[{b.ndim}]")
    for step in kernel.steps:
        body = step.body
        outs = ", ".join(f"{b.name}: {b.dtype}[{b.ndim}]" for b in body.outs)
        ins = ", ".join(b.name for b in body.ins)
        kind = type(body).__name__.replace("Step", "").lower()
        lines.append(f"  {outs} = {kind}({ins})  # {step.label}")
        if isinstance(body, ReduceStep):
            lines.append(f"      {body.kind} over axes {body.axis} (keepdims={body.keepdims}) of {body.result}")
        if isinstance(body, (ElemwiseStep, ReduceStep)):
            for s in body.stmts:
                call = f"{s.op!r}({', '.join(map(str, s.args))})"
                lines.append(f"      {s.target}: {s.dtype} = {call}{'' if s.level == PER_ELEMENT else '  # hoisted'}")
            if getattr(body, "inplace", None):
                lines.append(f"      (may write {body.outs[0].name} into {body.leaves[body.inplace[0]].name})")
        if isinstance(body, ScanStep):
            lines += ["      " + line for line in format_kernel(body.inner).splitlines()]
        if step.dead:
            lines.append(f"      del {', '.join(step.dead)}")
    lines.append(f"  return {', '.join(kernel.results)}")
    return "\n".join(lines)
