"""`map`, `reduce`, `foldl`, `foldr`: Theano's shorthands on top of scan."""

from __future__ import annotations

from aotgraph.scan_module.builder import _scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False, mode=None,  # noqa: A001
        name=None):
    """fn applied to each element of `sequences`: (outputs, updates), like Theano's `theano.map`."""
    return _scan(fn, sequences, None, non_sequences, None, truncate_gradient, go_backwards, name, False, False,
                 keep_last=False)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None, name=None):  # noqa: A001
    """The final state of a scan: (result, updates). Only the last state is kept, not one per step."""
    outputs, updates = _scan(fn, sequences, outputs_info, non_sequences, None, -1, go_backwards, name, False, True,
                             keep_last=True)
    recurrent = _recurrent_positions(outputs_info, len(outputs))
    outputs = [out if j in recurrent else out[-1] for j, out in enumerate(outputs)]
    return (outputs[0] if len(outputs) == 1 else outputs), updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the first element on."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, name=name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the last element back."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, name=name)


def _recurrent_positions(outputs_info, n: int) -> set[int]:
    items = list(outputs_info) if isinstance(outputs_info, (list, tuple)) else [outputs_info]
    if outputs_info is None:
        return set()
    return {j for j, item in enumerate(items[:n])
            if item is not None and not (isinstance(item, dict) and item.get("initial") is None)}
