"""`Variable.eval({x: value, ...})`: Theano's notebook shortcut, a function compiled once per set of inputs.

It needs `function` (this layer) and belongs on every graph variable, which lives below: the package's
top (`aotgraph/__init__.py`) installs it with `install()`.
"""

from __future__ import annotations

from aotgraph.compile.function import function
from aotgraph.graph.basic import Variable


def eval_variable(self: Variable, inputs_to_values: dict | None = None):
    """The value of this variable given `inputs_to_values` ({input variable: value}), as numpy computes it.

    The function is compiled (in the default mode) the first time a set of inputs is used, and cached on
    the variable; shared variables take their current values. Errors as `function`'s: an input the
    variable does not depend on raises UnusedInputError, a missing one MissingInputError.
    """
    values = {} if inputs_to_values is None else inputs_to_values
    if not isinstance(values, dict):
        raise TypeError(f"eval() takes a dict {{input variable: value}}, got {type(values).__name__}")
    for key in values:
        if not isinstance(key, Variable):
            raise TypeError(f"eval(): the keys must be symbolic variables, got {type(key).__name__} {key!r:.60}")
    inputs = tuple(sorted(values, key=id))
    cache = self.__dict__.setdefault("_fn_cache", {})
    if inputs not in cache:
        cache[inputs] = function(list(inputs), self)
    return cache[inputs](*[values[v] for v in inputs])


def install() -> None:
    Variable.eval = eval_variable
