"""The random draw op: one node takes a stream's state and returns (the advanced state, the sample).

`Op("random_draw", dist=..., dtype=..., shape=..., udtype=..., extra=...)` over inputs
`[state, *symbolic sizes, *distribution parameters]`: `shape` holds the output's sizes with None where a
symbolic size input stands; `udtype` is the dtype of the uniforms the draw consumes; `extra` a static
parameter of the distribution (multinomial's n, choice's replace). The sample is made from Philox uniforms
(philox.py) by the shared transforms (random_transforms.py). There is no gradient through a draw: every
input is disconnected, as in Theano.
"""

from __future__ import annotations

import numpy as np

from aotgraph.graph.basic import Op
from aotgraph.graph.rules import DISCONNECTED, OpRule, register
from aotgraph.tensor import philox
from aotgraph.tensor.basic import apply, type_error
from aotgraph.tensor.random_transforms import _rng_count, _rng_sample
from aotgraph.tensor.shape_ops import _fill, is_int_dtype
from aotgraph.tensor.type import TensorType

STATE_TYPE = TensorType("uint64", (None,))
DISTRIBUTIONS = ("uniform", "normal", "integers", "binomial", "multinomial", "choice", "permutation")


def check_state(state) -> np.ndarray:
    """The state value as given, refused unless it is a uint64 vector [key, counter]."""
    state = np.asarray(state)
    if state.dtype != np.uint64 or state.shape != (philox.STATE_SIZE,):
        raise ValueError(f"a random stream's state must be a uint64 array [key, counter] of shape (2,), got "
                         f"{state.dtype} {state.shape}")
    return state


def _infer(op, types):
    nsym = sum(1 for s in op.shape if s is None)
    if not types or types[0] != STATE_TYPE:
        raise type_error("random_draw", "input 0 must be a stream state (uint64 vector)", *types)
    for t in types[1:1 + nsym]:
        if t.ndim != 0 or not is_int_dtype(t.dtype):
            raise type_error("random_draw", f"sizes must be integer scalars, got {t}", *types)
    return [STATE_TYPE, TensorType(op.dtype, op.shape)]


def _perform(op, state, *rest):
    nsym = sum(1 for s in op.shape if s is None)
    shape, params = _fill(op.shape, rest[:nsym]), rest[nsym:]
    count = _rng_count(op.dist, shape, params, op.extra)
    u, new_state = philox.uniforms(check_state(state), count, op.udtype)
    return new_state, np.asarray(_rng_sample(op.dist, u, shape, params, op.dtype, op.extra), dtype=op.dtype)


def _grad(op, inputs, outputs, output_grads):
    return [DISCONNECTED for _ in inputs]


register("random_draw", OpRule(infer=_infer, perform=_perform, grad=_grad))


def random_draw(dist: str, state, shape: tuple, sizes: list, params: list, dtype: str, udtype: str = "float64",
                extra=None):
    """[new state, sample] of one draw (the op's node built over its inputs)."""
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {dist!r}; one of {', '.join(DISTRIBUTIONS)}")
    op = Op("random_draw", dist=dist, dtype=dtype, shape=tuple(shape), udtype=udtype, extra=extra)
    return apply(op, state, *sizes, *params)
