"""Symbolic differentiation: `grad` (reverse mode), `jacobian`, `hessian`, `Lop`, `Rop` and `verify_grad`.

`grad` walks the graph from the cost back to the variables asked for, calling each
op's gradient rule from the rule table (`aotgraph.graph.rules`). A rule returns one
gradient per input shaped like the op's *output*; this module sums each term back
over the dimensions numpy broadcasting added (`sum_to`), adds the terms of a
variable used several times, and casts each gradient to its variable's dtype.

Conventions, following Theano:

- Only floating-point variables carry gradients. The gradient of an integer or
  bool variable is zero, and `grad` with respect to an integer/bool variable
  returns zeros of `config.floatX` shaped like it (Theano's "zero or undefined";
  we choose zero, never an error).
- A rule returning None for an input means "zero gradient" (comparisons, round,
  argmax, ...): that input still counts as connected to the cost, so it gets
  zeros and no disconnected-input error. A rule returning `DISCONNECTED` means
  the output does not depend on that input at all (like Theano's DisconnectedType).
- An input is *disconnected* when no path of the graph leads from it to the cost
  (paths through `consider_constant` variables do not count).
"""

from __future__ import annotations

import numpy as np

import aotgraph.tensor as at
from aotgraph.compile.function import function
from aotgraph.configparser import config
from aotgraph.diagnostics import warn_user
from aotgraph.graph.basic import Constant, Variable, clone_replace, graph_inputs, toposort_with_stops
from aotgraph.graph.evaluate import evaluate
from aotgraph.graph.rules import DISCONNECTED, Disconnected, rule_of  # noqa: F401 - Disconnected is public here
from aotgraph.scan_module import scan_grad
from aotgraph.tensor import reduction
from aotgraph.tensor.grad_markers import disconnected_grad, grad_clip, grad_scale, zero_grad

__all__ = [
    "grad", "jacobian", "hessian", "Lop", "Rop", "verify_grad", "GradientError", "DisconnectedInputError",
    "Disconnected", "DISCONNECTED", "zero_grad", "disconnected_grad", "grad_clip", "grad_scale", "consider_constant",
    "subgraph_grad",
]


class DisconnectedInputError(ValueError):
    """`grad` was asked for the gradient of a variable the cost does not depend on."""


class GradientError(Exception):
    """`verify_grad` found a symbolic gradient that differs from the finite-difference one.

    Attributes: `arg` (index of the input), `val1` (symbolic gradient), `val2` (numeric
    gradient), `abs_err` / `rel_err` (elementwise errors), `abs_tol` / `rel_tol`.
    """

    def __init__(self, arg: int, val1, val2, abs_err, rel_err, abs_tol: float, rel_tol: float, name: str = ""):
        self.arg, self.val1, self.val2 = arg, val1, val2
        self.abs_err, self.rel_err = abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol
        self.name = name
        super().__init__(self._message())

    def _message(self) -> str:
        where = np.unravel_index(int(np.argmax(self.abs_err)), np.shape(self.abs_err)) if np.size(self.abs_err) else ()
        with np.printoptions(precision=6, threshold=60, linewidth=110):
            return (
                f"the symbolic gradient of input {self.arg}{self.name} differs from the finite-difference gradient\n"
                f"  max abs error {np.max(self.abs_err):.3e} at index {tuple(int(i) for i in where)} "
                f"(abs_tol {self.abs_tol:g})\n"
                f"  max rel error {np.max(self.rel_err):.3e} (rel_tol {self.rel_tol:g}); an element passes when "
                "either error is within its tolerance\n"
                f"  symbolic gradient:\n{np.asarray(self.val1)}\n"
                f"  finite-difference gradient:\n{np.asarray(self.val2)}"
            )

    def __reduce__(self):
        return (GradientError, (self.arg, self.val1, self.val2, self.abs_err, self.rel_err, self.abs_tol,
                                self.rel_tol, self.name))


# ---- grad ---------------------------------------------------------------------------------------------


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero", add_names=True):
    """Symbolic gradient of the scalar `cost` with respect to `wrt` (a variable, or a list: a list is returned).

    consider_constant: variables treated as constants (no gradient flows through them).
    disconnected_inputs: 'raise' (DisconnectedInputError, a ValueError), 'warn' or 'ignore' when `cost`
        does not depend on a variable of `wrt`.
    known_grads: {variable: gradient} of the cost with respect to intermediate variables; with
        known_grads, `cost` may be None (the gradient is then the sum of what flows from those).
    return_disconnected: what a disconnected variable gets: 'zero' (zeros like it), 'None', or
        'Disconnected' (a `Disconnected` marker).
    add_names: name each unnamed gradient "(d<cost>/d<wrt>)" when both are named (for printing).

    Integer and bool variables have zero gradients; see the module docstring.
    """
    _check_choice("disconnected_inputs", disconnected_inputs, ("raise", "warn", "ignore"))
    _check_choice("return_disconnected", return_disconnected, ("zero", "None", "Disconnected"))
    wrt_list, single = _as_variable_list(wrt, "wrt")
    constants = _as_variable_list(consider_constant or [], "consider_constant")[0]
    seeds = _seeds(cost, known_grads)
    stops = {id(v): v for v in constants}
    nodes = toposort_with_stops([v for v, _ in seeds], stops)
    needed = _depends_on(nodes, wrt_list, stops)
    acc = _Accumulator()
    for var, g in seeds:
        acc.add(var, g)
    for node in reversed(nodes):
        _backprop(node, acc, needed)
    results = [
        _result(v, i, acc, disconnected_inputs, return_disconnected, bool(constants)) for i, v in enumerate(wrt_list)
    ]
    if add_names and cost is not None and cost.name is not None:
        _add_names(cost, wrt_list, results)
    results = _remember_sources(results, [v for v, _ in seeds])
    return results[0] if single else results


def _remember_sources(results: list, seeds: list[Variable]) -> list:
    """Each gradient records the free variables of the cost it no longer reaches (`grad_sources`), so that
    `function` counts them as used: `function([x], grad(2 * x, x))` is a function of x, as in Theano, though
    the gradient folded to 2. A constant gradient is copied first (constants may be shared)."""
    sources = [v for v in graph_inputs(seeds) if not isinstance(v, Constant)]
    marked = []
    for g in results:
        if isinstance(g, Variable) and sources:
            reached = {id(v) for v in graph_inputs([g])}
            missing = tuple(v for v in sources if id(v) not in reached)
            if missing:
                g = g.clone() if isinstance(g, Constant) else g
                g.grad_sources = getattr(g, "grad_sources", ()) + missing
        marked.append(g)
    return marked


def consider_constant(x):
    """x, treated as a constant by `grad` (Theano's `consider_constant` op): the same as `zero_grad`."""
    return zero_grad(x)


def subgraph_grad(wrt, end, start=None, cost=None, details=False):
    """Theano's `subgraph_grad`: backpropagate through one piece of a graph at a time.

    The gradients of `cost` (if given) and of the known gradients `start` ({variable: gradient}) with respect
    to the variables `wrt` and `end`, where the graph is cut at `end` (no gradient flows above them). Returns
    (wrt_grads, end_grads): pass {end[k]: end_grads[k]} as `start` of the next piece. With details=True also
    the gradients from `start` and from `cost` apart (None where not given).
    """
    if cost is None and start is None:
        raise TypeError("subgraph_grad: give cost, start, or both")
    if not isinstance(wrt, list) or not isinstance(end, list):
        raise TypeError("subgraph_grad: wrt and end must be lists of variables")
    if start is not None and not isinstance(start, dict):
        raise TypeError(f"subgraph_grad: start must be a dict {{variable: gradient}}, got {type(start).__name__}")
    params = list({id(v): v for v in wrt + end}.values())
    start_grads = cost_grads = None
    if start is not None:
        start_grads = grad(None, params, known_grads=start, consider_constant=end, disconnected_inputs="ignore")
    if cost is not None:
        cost_grads = grad(cost, params, consider_constant=end, disconnected_inputs="ignore")
    grads = start_grads if start_grads is not None else cost_grads
    if start_grads is not None and cost_grads is not None:
        grads = [a + b for a, b in zip(start_grads, cost_grads)]
    by_id = {id(p): g for p, g in zip(params, grads)}
    wrt_grads, end_grads = [by_id[id(v)] for v in wrt], [by_id[id(v)] for v in end]
    if details:
        return wrt_grads, end_grads, start_grads, cost_grads
    return wrt_grads, end_grads


def _add_names(cost, wrt_list, results) -> None:
    """Name each gradient "(d<cost>/d<wrt>)" unless it has a name or is also another variable's gradient."""
    for g, v in zip(results, wrt_list):
        unique = sum(1 for other in results if other is g) == 1
        if isinstance(g, Variable) and not isinstance(g, Constant) and g.name is None and v.name and unique:
            g.name = f"(d{cost.name}/d{v.name})"


def _check_choice(what: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"grad: {what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _as_variable_list(value, what: str) -> tuple[list[Variable], bool]:
    single = not isinstance(value, (list, tuple))
    items = [value] if single else list(value)
    for i, v in enumerate(items):
        if not isinstance(v, Variable):
            where = "" if single else f"[{i}]"
            raise TypeError(f"grad: {what}{where} must be a symbolic variable, got {type(v).__name__} {v!r:.60}")
    return items, single


def _seeds(cost, known_grads) -> list[tuple[Variable, Variable]]:
    """(variable, gradient) pairs the backward pass starts from: d cost/d cost = 1 and the known gradients."""
    known = dict(known_grads or {})
    if cost is None and not known:
        raise TypeError("grad: cost is None, so known_grads must give the gradients to start from")
    seeds = []
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: cost must be a symbolic variable, got {type(cost).__name__} {cost!r:.60}")
        if cost.type.ndim != 0:
            raise TypeError(
                f"grad: cost must be a scalar (0-d tensor), but {cost!r} has type {cost.type} ({cost.type.ndim}-d); "
                "reduce it first, e.g. cost.sum() or cost.mean(), or use jacobian() for a vector"
            )
        if not any(k is cost for k in known):
            seeds.append((cost, at.constant(np.ones((), _float_dtype(cost.dtype)))))
    for var, g in known.items():
        if not isinstance(var, Variable):
            raise TypeError(f"grad: known_grads keys must be symbolic variables, got {type(var).__name__}")
        g = at.as_tensor_variable(g)
        if g.ndim > var.type.ndim:
            raise ValueError(f"grad: known_grads[{var!r}] has {g.ndim} dimensions, but {var!r} has {var.type.ndim}")
        seeds.append((var, g))
    return seeds


def _float_dtype(dtype: str) -> str:
    if np.dtype(dtype).kind == "f":
        return dtype
    return config.floatX


def _depends_on(nodes, wrt_list, stops) -> set[int]:
    """ids of the variables through which a gradient can reach some variable of `wrt_list`."""
    needed = {id(v) for v in wrt_list}
    for node in nodes:  # in topological order; a stopped variable is needed only when it is itself in wrt
        if any(id(i) in needed for i in node.inputs):
            needed.update(id(o) for o in node.outputs if id(o) not in stops)
    return needed


class _Accumulator:
    """Gradient terms per variable; `total(v)` is their sum, summed over broadcast dims and cast to v's dtype.

    A variable present with no terms is connected to the cost with a zero gradient; `total` is then None.
    """

    def __init__(self):
        self.terms: dict[int, list] = {}
        self.totals: dict[int, Variable | None] = {}

    def connect(self, var: Variable) -> None:
        self.terms.setdefault(id(var), [])

    def connected(self, var: Variable) -> bool:
        return id(var) in self.terms

    def add(self, var: Variable, g: Variable) -> None:
        if id(var) in self.totals:
            raise AssertionError(f"gradient of {var!r} requested before all its terms were added")
        self.connect(var)
        if np.dtype(var.type.dtype).kind == "f":  # integer and bool variables have zero gradients
            self.terms[id(var)].append(_match_type(g, var))

    def total(self, var: Variable) -> Variable | None:
        if id(var) not in self.totals:
            terms = self.terms.get(id(var), [])
            result = None
            for term in terms:
                result = term if result is None else at.add(result, term)
            self.totals[id(var)] = result
        return self.totals[id(var)]


def _match_type(g, var: Variable) -> Variable:
    """Gradient term `g` summed over the dims broadcasting added to `var`, with var's dtype."""
    g = at.as_tensor_variable(g)
    if np.dtype(g.dtype).kind not in "f":
        g = at.cast(g, var.type.dtype)
    if g.ndim < var.type.ndim:
        g = at.add(g, _zeros_like(var, g.dtype))
    g = reduction.sum_to(g, var.type.shape)
    if g.dtype != var.type.dtype:
        g = at.cast(g, var.type.dtype)
    return g


def _zeros_like(var: Variable, dtype: str) -> Variable:
    """Zeros of `dtype` with var's shape."""
    if var.type.ndim == 0:
        return at.constant(np.zeros((), dtype))
    return at.zeros_like(var, dtype=dtype)


def _backprop(node, acc: _Accumulator, needed: set[int]) -> None:
    """Add the gradient terms of `node`'s inputs, from the totals of its outputs."""
    wanted = [id(i) in needed for i in node.inputs]
    if not any(wanted) or not any(acc.connected(o) for o in node.outputs):
        return
    out_grads = [acc.total(o) for o in node.outputs]
    zero = all(g is None for g in out_grads)  # connected, but every output gradient is zero
    out_grads = [g if g is not None else _zeros_like(o, _float_dtype(o.type.dtype))
                 for g, o in zip(out_grads, node.outputs)]
    if zero:
        _connect_zero(node, out_grads, acc, wanted)
        return
    in_grads = _call_rule(node, out_grads)
    for inp, g, w in zip(node.inputs, in_grads, wanted):
        if not w or isinstance(g, Disconnected):
            continue
        if g is None:
            acc.connect(inp)
        else:
            acc.add(inp, g)


# Gradient rules that differentiate a graph of their own (a scan's step): they take `grad` itself as their
# last argument, since this module sits above the layer that defines them.
DIFFERENTIATING_RULES = {"scan": scan_grad}


def _grad_rule(op):
    """The op's gradient rule as rule(op, inputs, outputs, output_grads), or None."""
    if op.name in DIFFERENTIATING_RULES:
        rule = DIFFERENTIATING_RULES[op.name]
        return lambda *args: rule(*args, grad)
    return rule_of(op).grad


def _connect_zero(node, zero_grads, acc: _Accumulator, wanted: list[bool]) -> None:
    """Mark the wanted inputs of a node whose output gradients are all zero as connected (zero gradient).

    The rule is still asked, with zero output gradients, which inputs it leaves DISCONNECTED (like
    Theano's connection pattern: `x.shape` does not depend on x's values); the gradients it builds are
    dropped. A rule that cannot handle the probe leaves every input connected.
    """
    rule = _grad_rule(node.op) if node.op.name not in DIFFERENTIATING_RULES else None
    try:
        in_grads = list(rule(node.op, node.inputs, node.outputs, zero_grads)) if rule is not None else []
    except Exception:  # noqa: BLE001 - a probe only; zero gradients are right either way
        in_grads = []
    if len(in_grads) != len(node.inputs):
        in_grads = [None] * len(node.inputs)
    for inp, g, w in zip(node.inputs, in_grads, wanted):
        if w and not isinstance(g, Disconnected):
            acc.connect(inp)


def _call_rule(node, out_grads) -> list:
    rule = _grad_rule(node.op)
    if rule is None:
        raise NotImplementedError(
            f"grad: op {node.op!r} has no gradient rule, and the cost depends on its inputs through it "
            f"(node created at {node.trace}); use consider_constant to treat its output as a constant"
        )
    in_grads = list(rule(node.op, node.inputs, node.outputs, out_grads))
    if len(in_grads) != len(node.inputs):
        raise ValueError(
            f"grad: the gradient rule of {node.op!r} returned {len(in_grads)} gradients for {len(node.inputs)} inputs"
        )
    return in_grads


def _result(var, position, acc, disconnected_inputs, return_disconnected, has_constants):
    """The gradient returned for `var` (wrt[position])."""
    if not acc.connected(var):
        _report_disconnected(var, position, disconnected_inputs, has_constants)
        if return_disconnected == "None":
            return None
        if return_disconnected == "Disconnected":
            return Disconnected(var)
        return _zeros_like(var, _float_dtype(var.type.dtype))
    total = acc.total(var)
    if total is None:  # connected with a zero gradient, or an integer variable
        return _zeros_like(var, _float_dtype(var.type.dtype))
    return total


def _report_disconnected(var, position, disconnected_inputs, has_constants) -> None:
    if disconnected_inputs == "ignore":
        return
    through = " (paths through consider_constant variables do not count)" if has_constants else ""
    message = (
        f"grad: the cost does not depend on wrt[{position}] = {var!r} (type {var.type}): no path of the graph "
        f"leads from it to the cost{through}, so its gradient is undefined. Pass disconnected_inputs='ignore' "
        "or 'warn' to get a zero gradient for it instead (see return_disconnected)."
    )
    if disconnected_inputs == "raise":
        raise DisconnectedInputError(message)
    warn_user(message)


# ---- Lop, Rop ------------------------------------------------------------------------------------------


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):  # noqa: N802 - Theano's name
    """Vector-Jacobian product: sum over outputs of eval_points[k]^T (d f[k] / d wrt).

    `f` and `eval_points` are a variable or matching lists; the result has the shape of each `wrt`
    (a list when `wrt` is a list). This is `grad` with `known_grads` {f[k]: eval_points[k]}.
    """
    fs, _ = _as_variable_list(f, "f")
    points = list(eval_points) if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(points) != len(fs):
        raise ValueError(f"Lop: got {len(points)} eval_points for {len(fs)} outputs f")
    known = dict(zip(fs, points))
    return grad(None, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs,
                known_grads=known)


def Rop(f, wrt, eval_points):  # noqa: N802 - Theano's name
    """Jacobian-vector product: sum over k of (d f / d wrt[k]) eval_points[k], shaped like each `f`.

    Computed as the gradient of a Lop with respect to its seed u: u -> J^T u is linear, so
    d (v . J^T u) / du = J v (the "double Lop" trick; it needs no forward-mode rules).
    """
    fs, single_f = _as_variable_list(f, "f")
    wrts, _ = _as_variable_list(wrt, "wrt")
    points = [at.as_tensor_variable(v)
              for v in (list(eval_points) if isinstance(eval_points, (list, tuple)) else [eval_points])]
    if len(points) != len(wrts):
        raise ValueError(f"Rop: got {len(points)} eval_points for {len(wrts)} variables wrt")
    results = []
    for out in fs:
        seed = out.type.make_variable(name=f"Rop_seed_{out!r}")
        jt_u = grad(None, wrts, known_grads={out: seed}, disconnected_inputs="ignore")
        inner = None
        for g, v in zip(jt_u, points):
            term = at.sum(g * v)
            inner = term if inner is None else inner + term
        jv = grad(inner, seed, disconnected_inputs="ignore")
        if id(seed) in {id(v) for v in graph_inputs([jv])}:  # structurally present, mathematically unused
            jv = clone_replace([jv], {seed: _zeros_like(out, out.type.dtype)})[0]
        results.append(jv)
    return results[0] if single_f else results


# ---- jacobian, hessian ---------------------------------------------------------------------------------


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise", n=None):
    """Jacobian of the vector `expression` with respect to `wrt`: shape (n,) + wrt.shape per variable.

    Built without loops in the graph: one `grad` per element of `expression`, stacked. So the
    length n of `expression` must be known when jacobian is called: from `n=`, from its static
    shape (e.g. an input made with at.tensor(shape=(3,))), or by evaluating it when it depends
    only on shared variables and constants (the length of their *current* values). A 0-d
    expression gives its gradient. A list `wrt` gives a list.
    """
    expression = at.as_tensor_variable(expression)
    if expression.ndim == 0:
        return grad(expression, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression must be a vector (1-d), got {expression!r} of type {expression.type}")
    wrts, single = _as_variable_list(wrt, "wrt")
    length = _known_length(expression, n, "jacobian")
    rows = [grad(expression[i], wrts, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
            for i in range(length)]
    results = [at.stack([row[k] for row in rows]) if rows else _empty_jacobian(w) for k, w in enumerate(wrts)]
    return results[0] if single else results


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise", n=None):
    """Hessian of the scalar `cost` with respect to each vector in `wrt`: an (n, n) matrix per variable.

    n is the length of the variable: `n=` (one length for every variable), its static shape, or the
    current value of a shared variable.
    """
    wrts, single = _as_variable_list(wrt, "wrt")
    results = []
    for w in wrts:
        if w.type.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors (1-d), got {w!r} of type {w.type}")
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        length = _known_length(w, n, "hessian")
        results.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore", n=length))
    return results[0] if single else results


def _known_length(vector: Variable, n, who: str) -> int:
    """Length of a 1-d variable: `n`, its static shape, or the length of its value from shared variables."""
    static = vector.type.shape[0]
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise TypeError(f"{who}: n must be a non-negative int, got {n!r}")
        if static is not None and static != n:
            raise ValueError(f"{who}: n={n} but {vector!r} has static length {static}")
        return int(n)
    if static is not None:
        return static
    sources = graph_inputs([vector])
    free = [v for v in sources if not isinstance(v, Constant) and not hasattr(v, "get_value")]
    if free:
        listed = ", ".join(repr(v) for v in free)
        raise ValueError(
            f"{who}: the length of {vector!r} is not known when the graph is built: it depends on the "
            f"input(s) {listed}. Pass n=<length>, or declare the input's static shape, e.g. "
            "at.tensor('float64', shape=(5,))"
        )
    values = {v: v.get_value(borrow=True) for v in sources if hasattr(v, "get_value")}
    return int(np.shape(evaluate([vector], values)[0])[0])


def _empty_jacobian(w: Variable) -> Variable:
    """The (0,) + w.shape jacobian of an empty vector (w's static shape must be known)."""
    if None in w.type.shape:
        raise ValueError(f"jacobian: the expression is empty and {w!r} has no static shape ({w.type})")
    return at.constant(np.zeros((0, *w.type.shape), _float_dtype(w.type.dtype)))


# ---- verify_grad ---------------------------------------------------------------------------------------

_EPS = {"float64": 1e-6, "float32": 1e-3}  # central differences: error ~ eps^2 + ulp/eps
_TOL = {"float64": 1e-4, "float32": 1e-2}  # abs and rel tolerances, as Theano's verify_grad


def verify_grad(fun, point, rng=None, eps=None, abs_tol=None, rel_tol=None, mode=None, n_tests=1):
    """Check the symbolic gradient of `fun` at `point` against central finite differences.

    `fun(*inputs)` builds a symbolic output (or a list of outputs) from one symbolic input per array of
    `point` (a list of arrays, or one array). The check differentiates a random projection
    cost = sum(output * P), P uniform in [0.5, 1.5) drawn from `rng` (a numpy Generator, RandomState or
    seed; default seed 0), with respect to every floating-point input; integer inputs (indices, say) are
    passed as they are. An element passes when its absolute error is within `abs_tol` or its relative
    error |a - b| / (|a| + |b|) within `rel_tol`; otherwise GradientError shows both gradients.
    Dims of size 1 in `point` are declared broadcastable. `mode` is passed to `function`; `n_tests`
    repeats the check with new projections.
    """
    points = [np.array(p) for p in (point if isinstance(point, (list, tuple)) else [point])]
    rng = _as_rng(rng)
    inputs = [at.tensor(p.dtype, tuple(1 if s == 1 else None for s in p.shape), name=f"input{i}")
              for i, p in enumerate(points)]
    outputs = fun(*inputs)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    outputs = [at.as_tensor_variable(out) for out in outputs]
    for out in outputs:
        if np.dtype(out.dtype).kind != "f":
            raise TypeError(f"verify_grad: fun's output {out!r} has dtype {out.dtype}; it must be floating point")
    diff = [i for i, p in enumerate(points) if p.dtype.kind == "f"]
    if not diff:
        raise TypeError("verify_grad: point has no floating-point array to differentiate with respect to")
    worst = max(str(points[i].dtype) for i in diff)  # 'float64' > 'float32'
    eps = _EPS[worst] if eps is None else eps
    abs_tol = _TOL[worst] if abs_tol is None else abs_tol
    rel_tol = _TOL[worst] if rel_tol is None else rel_tol
    shapes = [np.shape(v) for v in function(inputs, outputs, mode=mode, on_unused_input="ignore")(*points)]
    for _ in range(n_tests):
        cost = _random_projection(outputs, shapes, rng)
        grads = grad(cost, [inputs[i] for i in diff], disconnected_inputs="ignore")
        symbolic = function(inputs, grads, mode=mode, on_unused_input="ignore")(*points)
        cost_fn = function(inputs, cost, mode=mode, on_unused_input="ignore")
        for i, analytic in zip(diff, symbolic):
            numeric = _numeric_grad(cost_fn, points, i, eps)
            _compare(i, analytic, numeric, abs_tol, rel_tol, points[i])


def _random_projection(outputs, shapes, rng):
    """sum over outputs of sum(output * P), P uniform in [0.5, 1.5): a scalar that sees every output element."""
    cost = None
    for out, shape in zip(outputs, shapes):
        projection = at.constant(np.asarray(rng.random(shape) + 0.5, dtype=out.dtype))
        term = at.sum(out * projection)
        cost = term if cost is None else cost + term
    return cost


def _as_rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(0 if rng is None else int(rng))
    if isinstance(rng, np.random.RandomState):
        return _RandomStateAdapter(rng)
    return rng


class _RandomStateAdapter:
    """A RandomState with the Generator method verify_grad uses."""

    def __init__(self, state: np.random.RandomState):
        self.state = state

    def random(self, shape):
        return self.state.random_sample(shape)


def _numeric_grad(cost_fn, points: list[np.ndarray], index: int, eps: float) -> np.ndarray:
    """d cost / d points[index] by central differences (the step actually taken, after rounding)."""
    args = [p.copy() for p in points]
    x = args[index]
    flat = x.reshape(-1)  # a view: x is a fresh contiguous copy
    result = np.zeros(x.shape, dtype=np.float64)
    out = result.reshape(-1)
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        high, f_high = flat[j], float(cost_fn(*args))
        flat[j] = original - eps
        low, f_low = flat[j], float(cost_fn(*args))
        flat[j] = original
        out[j] = (f_high - f_low) / (float(high) - float(low))
    return result


def _compare(index, analytic, numeric, abs_tol, rel_tol, point) -> None:
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise GradientError(index, analytic, numeric, np.full(numeric.shape, np.inf), np.full(numeric.shape, np.inf),
                            abs_tol, rel_tol, name=f" (the symbolic gradient has shape {analytic.shape}, "
                                                   f"the input {numeric.shape})")
    abs_err = np.abs(analytic - numeric)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(abs_err == 0, 0.0, abs_err / (np.abs(analytic) + np.abs(numeric)))
    ok = (abs_err <= abs_tol) | (rel_err <= rel_tol)
    if not np.all(ok):
        raise GradientError(index, analytic, numeric, abs_err, rel_err, abs_tol, rel_tol,
                            name=f" (shape {point.shape}, {point.dtype})")
