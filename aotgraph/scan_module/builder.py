"""`scan(fn, sequences, outputs_info, non_sequences, n_steps, ...)`: Theano's scan, building one scan node.

The step `fn` is called once, on placeholder variables, and the graph it returns becomes the op's inner
graph. What the step uses besides its arguments (shared variables, variables of the enclosing graph) is
found in that graph and passed to the op as further non-sequences; constants stay inside, where the
rewrites see them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aotgraph.graph.basic import Constant, Variable, clone_replace, graph_inputs
from aotgraph.scan_module.inner import InnerGraph
from aotgraph.scan_module.op import scan_op
from aotgraph.tensor import as_tensor_variable, constant
from aotgraph.tensor.basic import apply
from aotgraph.tensor.shape_ops import dimshuffle
from aotgraph.tensor.type import TensorType


class until:  # noqa: N801 - Theano's name: `return h, until(h > 10)`
    """The condition that ends a scan: the loop stops after the step where it is true."""

    def __init__(self, condition):
        self.condition = as_tensor_variable(condition)
        if self.condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {self.condition!r} of type "
                            f"{self.condition.type}")


def scan(fn: Callable, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient: int = -1, go_backwards: bool = False, mode=None, name: str | None = None,
         profile=False, allow_gc=None, strict: bool = False, return_list: bool = False):
    """Theano's `scan`: (outputs, updates). One output is returned bare unless `return_list`.

    sequences: variables (or dict(input=x, taps=[...])) iterated over along their first axis.
    outputs_info: per output of `fn`, its initial state (a variable, or dict(initial=x, taps=[-2, -1])),
        or None for an output the step does not read back.
    non_sequences: passed to every step unchanged. n_steps: the number of steps (default: the length of
        the shortest sequence). go_backwards: iterate from the end of the sequences.
    truncate_gradient: backpropagate through at most that many steps (-1: all).
    `fn` returns its outputs, optionally with a dict of updates of shared variables and an `until`
    condition; the updates come back as the second result, ready for `function(updates=...)`.
    mode, profile, allow_gc are accepted for Theano's signature and ignored (the function's mode rules).
    """
    return _scan(fn, sequences, outputs_info, non_sequences, n_steps, truncate_gradient, go_backwards, name,
                 strict, return_list, keep_last=False)


def _scan(fn, sequences, outputs_info, non_sequences, n_steps, truncate_gradient, go_backwards, name, strict,
          return_list, keep_last):
    seqs = _sequences(sequences)
    infos = _outputs_info(outputs_info)
    explicit = [as_tensor_variable(v) if not isinstance(v, Variable) else v for v in _as_list(non_sequences)]
    if isinstance(truncate_gradient, bool) or not isinstance(truncate_gradient, (int, np.integer)) or (
            truncate_gradient < 1 and truncate_gradient != -1):
        raise ValueError(f"scan: truncate_gradient must be -1 or a positive int, got {truncate_gradient!r}")

    seq_args = [_placeholder(TensorType(x.dtype, x.type.shape[1:]), x.name, f"[t{k:+d}]" if k else "[t]")
                for x, taps in seqs for k in taps]
    state_args = [[_placeholder(_state_type(info), None, f"[t{k}]") for k in info["taps"]]
                  for info in infos if info is not None]
    nonseq_args = [v if _is_shared(v) or isinstance(v, Constant) else _placeholder(v.type, v.name, "")
                   for v in explicit]
    result = fn(*seq_args, *[a for group in state_args for a in group], *nonseq_args)
    outputs, updates, condition = _split_result(result)

    if infos and len(infos) != len(outputs):
        raise ValueError(f"scan: outputs_info has {len(infos)} entries but the step returns {len(outputs)} outputs; "
                         "give one entry per output (None for an output that is not fed back)")
    infos = infos or [None] * len(outputs)
    rec = [(j, info) for j, info in enumerate(infos) if info is not None]
    nit = [j for j, info in enumerate(infos) if info is None]
    for (j, info), group in zip(rec, state_args):
        outputs[j] = _state_result(outputs[j], group[0].type, j, info["initial"])

    updates = _with_default_updates(outputs, updates, condition)
    update_args = [_placeholder(target.type, target.name, "[t-1]") for target, _ in updates]
    inner_outs = [outputs[j] for j, _ in rec] + [_cast_to(expr, t.type, t) for t, expr in updates]
    inner_outs += [outputs[j] for j in nit] + ([condition] if condition is not None else [])

    replace = {id(t): a for (t, _), a in zip(updates, update_args)}
    captured_outer, captured_args = _captured(inner_outs, seq_args, state_args, update_args, nonseq_args, replace,
                                              explicit, strict)
    replace_map = {v: replace[id(v)] for v in graph_inputs(inner_outs) if id(v) in replace}
    inner_outs = clone_replace(inner_outs, replace_map) if replace_map else inner_outs

    nonseq_placeholders = [a for a in nonseq_args if not _is_shared(a) and not isinstance(a, Constant)]
    nonseq_outer = [v for v, a in zip(explicit, nonseq_args) if not _is_shared(a) and not isinstance(a, Constant)]
    inner = InnerGraph(seq_args + [a for group in state_args for a in group] + update_args
                       + nonseq_placeholders + captured_args, inner_outs)
    taps = [tuple(info["taps"]) for _, info in rec] + [(-1,)] * len(updates)
    last_only = [keep_last] * len(rec) + [True] * len(updates)
    op = scan_op(inner, len(seq_args), taps, last_only, len(nit), condition is not None, int(truncate_gradient),
                 name)
    outer = [_n_steps(n_steps)] + _sliced(seqs, go_backwards)
    outer += [_initial_buffer(info) for _, info in rec] + [dimshuffle(t, ("x", *range(t.ndim))) for t, _ in updates]
    outer += nonseq_outer + captured_outer
    results = apply(op, *outer)
    results = results if isinstance(results, list) else [results]
    by_position = {}
    for (j, _), out in zip(rec, results[:len(rec)]):
        by_position[j] = out
    for j, out in zip(nit, results[len(rec) + len(updates):]):
        by_position[j] = out
    returned = [by_position[j] for j in range(len(outputs))]
    new_values = {target: out for (target, _), out in zip(updates, results[len(rec):len(rec) + len(updates)])}
    if len(returned) == 1 and not return_list:
        return returned[0], new_values
    return returned, new_values


# ---- the arguments ------------------------------------------------------------------------------------------


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _sequences(sequences) -> list[tuple[Variable, list[int]]]:
    result = []
    for i, item in enumerate(_as_list(sequences)):
        taps = [0]
        if isinstance(item, dict):
            if "input" not in item:
                raise ValueError(f"scan: sequences[{i}] is a dict without 'input'")
            taps = list(item.get("taps", [0]) if item.get("taps", [0]) is not None else [0])
            item = item["input"]
        x = as_tensor_variable(item)
        if x.ndim < 1:
            raise TypeError(f"scan: sequences[{i}] ({x!r}) is a scalar; a sequence needs an axis to iterate over")
        if not taps or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in taps):
            raise ValueError(f"scan: the taps of sequences[{i}] must be a non-empty list of ints, got {taps!r}")
        result.append((x, [int(k) for k in taps]))
    return result


def _outputs_info(outputs_info) -> list[dict | None]:
    if outputs_info is None:
        return []
    items = list(outputs_info) if isinstance(outputs_info, (list, tuple)) else [outputs_info]
    infos: list[dict | None] = []
    for j, item in enumerate(items):
        if item is None:
            infos.append(None)
            continue
        if isinstance(item, dict):
            if item.get("initial") is None:
                if item.get("taps"):
                    raise ValueError(f"scan: outputs_info[{j}] has taps but no initial value")
                infos.append(None)
                continue
            taps, initial = list(item.get("taps") or [-1]), item["initial"]
        else:
            taps, initial = [-1], item
        if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k < 0 for k in taps):
            raise ValueError(f"scan: the taps of outputs_info[{j}] must be negative ints (earlier steps), got {taps!r}")
        initial = as_tensor_variable(initial)
        if taps != [-1] and initial.ndim < 1:
            raise TypeError(f"scan: outputs_info[{j}] reads taps {taps}, so its initial value must hold "
                            f"{-min(taps)} states along a first axis; got the scalar {initial!r}")
        infos.append({"initial": initial, "taps": sorted(int(k) for k in taps), "mit": taps != [-1]})
    return infos


def _state_type(info: dict) -> TensorType:
    """The type of one state: the initial value's (minus the axis of earlier states), broadcastable dims kept."""
    shape = info["initial"].type.shape[1:] if info["mit"] else info["initial"].type.shape
    return TensorType(info["initial"].dtype, tuple(1 if s == 1 else None for s in shape))


def _placeholder(type_: TensorType, base: str | None, suffix: str) -> Variable:
    return type_.make_variable(name=f"{base}{suffix}" if base else None)


def _is_shared(v) -> bool:
    return hasattr(v, "get_value") and hasattr(v, "container")


def _split_result(result) -> tuple[list, list, Variable | None]:
    """(outputs, [(shared, expression)], condition) from what the step returned, in any of Theano's forms:
    outputs; a dict of updates; an until; or a tuple of outputs with updates and/or an until."""
    parts = [result]
    if isinstance(result, (tuple, list)) and any(isinstance(p, (dict, until)) or _is_pairs(p) for p in result):
        parts = list(result)
    outputs, updates, condition = [], [], None
    for part in parts:
        if isinstance(part, until):
            condition = part.condition
        elif isinstance(part, dict):
            updates = list(part.items())
        elif _is_pairs(part):
            updates = [tuple(p) for p in part]
        elif part is not None:
            outputs = list(part) if isinstance(part, (list, tuple)) else [part]
    for target, _ in updates:
        if not _is_shared(target):
            raise TypeError(f"scan: the step returned an update of {target!r}, which is not a shared variable")
    try:
        return [as_tensor_variable(o) for o in outputs], updates, condition
    except TypeError as err:
        raise TypeError(f"scan: the step must return variables (optionally with a dict of updates and an "
                        f"until(...) condition); {err}") from None


def _is_pairs(part) -> bool:
    return isinstance(part, (list, tuple)) and len(part) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and _is_shared(p[0]) for p in part)


def _state_result(out: Variable, state: TensorType, j: int, initial: Variable) -> Variable:
    """The step's new value of output j, checked against its state's type (Theano refuses an up- or downcast)."""
    if out.dtype != state.dtype:
        raise TypeError(
            f"scan: the initial state of output {j} ({initial!r}, outputs_info[{j}]) has dtype {state.dtype}, while "
            f"the step returns dtype {out.dtype} for it; cast one of them (at.cast) so that the state keeps one dtype"
        )
    if out.ndim != state.ndim:
        raise TypeError(f"scan: output {j} has {out.ndim} dimensions, but its initial state ({initial!r}) has "
                        f"{state.ndim} per step")
    for axis, (s, o) in enumerate(zip(state.shape, out.type.shape)):
        if s == 1 and o != 1:
            raise TypeError(f"scan: the initial state of output {j} is broadcastable on axis {axis} but the step's "
                            f"result {out.type} is not; give an initial state without that size-1 axis declared")
    return out


def _cast_to(expr, type_: TensorType, target) -> Variable:
    expr = as_tensor_variable(expr)
    if expr.dtype != type_.dtype or expr.ndim != type_.ndim:
        raise TypeError(f"scan: the update of {target!r} has type {expr.type}, but {target!r} has type {type_}")
    return expr


def _with_default_updates(outputs, updates, condition) -> list:
    """The step's updates plus the default_update of each shared variable it uses that has one (as Theano)."""
    updated = {id(getattr(t, "container", t)) for t, _ in updates}
    result = list(updates)
    roots = outputs + [e for _, e in updates] + ([condition] if condition is not None else [])
    for v in graph_inputs(roots):
        if _is_shared(v) and getattr(v, "default_update", None) is not None and id(v.container) not in updated:
            result.append((v, v.default_update))
            updated.add(id(v.container))
    return result


def _captured(inner_outs, seq_args, state_args, update_args, nonseq_args, replace, explicit, strict):
    """Variables the step uses besides its arguments: each becomes a further non-sequence (outer, inner)."""
    own = {id(a) for a in seq_args + update_args + nonseq_args} | {id(a) for g in state_args for a in g}
    listed = {id(getattr(v, "container", v)) for v in explicit}
    outer, args = [], []
    for v in graph_inputs(inner_outs):
        if isinstance(v, Constant) or id(v) in replace or (id(v) in own and not _is_shared(v)):
            continue
        if strict and id(getattr(v, "container", v)) not in listed:
            raise ValueError(f"scan(strict=True): the step uses {v!r}, which is not among the non_sequences")
        arg = _placeholder(v.type, v.name, "")
        replace[id(v)] = arg
        outer.append(v)
        args.append(arg)
    return outer, args


# ---- the outer inputs -----------------------------------------------------------------------------------------


def _n_steps(n_steps) -> Variable:
    if n_steps is None:
        return constant(np.int64(-1))
    if isinstance(n_steps, Variable):
        if n_steps.ndim != 0 or np.dtype(n_steps.dtype).kind not in "iu":
            raise TypeError(f"scan: n_steps must be an integer scalar, got {n_steps!r} of type {n_steps.type}")
        return n_steps
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"scan: n_steps must be a non-negative int or an integer scalar variable, got {n_steps!r}")
    return constant(np.int64(n_steps))


def _sliced(seqs, go_backwards: bool) -> list[Variable]:
    """One input per sequence tap: the sequence cut so that step i reads the tap's element at index i."""
    result = []
    for x, taps in seqs:
        top, bottom = max(max(taps), 0), min(min(taps), 0)
        for k in taps:
            if k == top:
                part = x if k == bottom else x[k - bottom:]
            else:
                part = x[k - bottom:k - top]
            result.append(part[::-1] if go_backwards else part)
    return result


def _initial_buffer(info: dict) -> Variable:
    initial = info["initial"]
    if info["mit"]:
        return initial
    return dimshuffle(initial, ("x", *range(initial.ndim)))
