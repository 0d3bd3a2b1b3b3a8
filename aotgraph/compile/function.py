"""`function()`: check the request, build a FunctionSpec, hand it to a backend, wrap the runtime Function."""

from __future__ import annotations

import pickle

from aotgraph.compile.io import In, Out
from aotgraph.compile.mode import LINKERS, get_mode
from aotgraph.compile.spec import FunctionSpec, build_spec
from aotgraph.configparser import config
from aotgraph.graph.basic import Constant, Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite import optimize_spec
from aotgraph.runtime import Function, InputSlot, ProfileStats, function_class
from aotgraph.runtime.function import _MISSING


def function(inputs, outputs=None, mode=None, updates=None, givens=None, no_default_updates=False,
             accept_inplace=False, name=None, rebuild_strict=True, allow_input_downcast=None, profile=None,
             on_unused_input="raise") -> Function:
    """Compile `outputs` as a function of `inputs`: Theano's ``theano.function``, same parameters and meaning.

    Parameters
    ----------
    inputs : list of variables or `In`/`Param`
        The explicit inputs, in call order. ``In(x, value=..., name=..., update=..., mutable=..., strict=...)``
        gives an input a default, a keyword name or an update.
    outputs : variable, list of variables or `Out`, optional
        What the call returns: a bare variable returns one array, a list returns a list.
        ``Out(v, borrow=True)`` returns internal storage without a copy.
    mode : str or `Mode`, optional
        ``'FAST_RUN'`` (default: optimized, compiled to Cython/C and cached), ``'FAST_COMPILE'`` (numpy, no
        compiler), ``DebugMode()`` (both, compared); default ``ag.config.mode``.
    updates : list of (shared variable, expression) pairs or dict, optional
        New values of shared variables, all computed from the values before the call and then committed.
    givens : list of (variable, replacement) pairs or dict, optional
        Substitutions made in the graph before compiling.
    no_default_updates : bool or list of shared variables
        Ignore the shared variables' `default_update` (all of them, or those listed).
    accept_inplace : bool
        Allow graphs that already contain in-place operations.
    name : str, optional
        The function's name: in errors and profiles, and its public name in ``ag.build``.
    rebuild_strict : bool
        When replacing (givens), keep each variable's type exactly.
    allow_input_downcast : bool, optional
        True: accept arguments that lose precision when cast (float64 data for a float32 input); False: refuse
        any such cast; None (default): allow it only for Python floats into floatX inputs.
    profile : bool or `ProfileStats`, optional
        Collect call counts and per-step timings (``f.profile.summary()``).
    on_unused_input : {'raise', 'warn', 'ignore'}
        What to do about an input no output or update depends on.

    Returns
    -------
    Function
        Call it with arrays (positional or by input name); ``inspect.signature(f)`` and ``f.__doc__`` list its
        inputs and outputs, ``f.source`` is the generated Cython of a FAST_RUN function, and
        ``ag.build(f, 'mymod')`` makes it an importable module that needs numpy alone.

    Example
    -------
    >>> x = at.dvector("x"); w = ag.shared(np.zeros(3), name="w")
    >>> step = ag.function([x], (w * x).sum(), updates=[(w, w + x)], name="step")
    >>> step([1.0, 2.0, 3.0])
    array(0.)
    """
    recipe = Recipe(dict(
        inputs=inputs, outputs=outputs, mode=mode, updates=updates, givens=givens,
        no_default_updates=no_default_updates, accept_inplace=accept_inplace, name=name,
        rebuild_strict=rebuild_strict, allow_input_downcast=allow_input_downcast, profile=profile,
        on_unused_input=on_unused_input,
    ))
    return recipe.load()


def compile_spec(spec: FunctionSpec, mode=None, profile=None, origin=None) -> Function:
    """Bind a spec to a backend's thunk and to the live shared containers."""
    mode = get_mode(mode)
    if profile is True:
        profile = ProfileStats(message=spec.name or "")
    elif profile not in (None, False) and not isinstance(profile, ProfileStats):
        raise TypeError(f"profile must be None, True or a ProfileStats, got {profile!r}")
    spec = optimize_spec(spec, mode.optimizer)
    label = spec.name or "<unnamed>"
    thunk = LINKERS[mode.linker](spec, label)
    return bind(spec, thunk, profile or None, origin)


def bind(spec: FunctionSpec, thunk, profile=None, origin=None) -> Function:
    """The runtime Function for `spec` computed by `thunk`."""
    slots = []
    for position, item in enumerate(spec.inputs):
        t = item.variable.type
        allow = item.allow_downcast if item.allow_downcast is not None else spec.allow_input_downcast
        slots.append(InputSlot(
            item.name, getattr(item, "key", item.variable), position, t.dtype, t.shape, item.strict, allow,
            item.mutable, _MISSING if item.value is None else item.value, item.implicit,
        ))
    must_copy_out, must_copy_update = alias_copies(spec)
    outputs = list(zip(borrowable_outputs(spec), must_copy_out))
    updates = [(target, len(spec.outputs) + j, must_copy_update[j]) for j, (target, _) in enumerate(spec.updates)]
    fn = function_class(thunk)(
        thunk, slots, [s.container for s in spec.shared], list(spec.shared), outputs, updates,
        unpack_single=spec.unpack_single, name=spec.name, profile=profile, origin=origin, floatX=config.floatX,
        output_types=[(v.type.dtype, v.type.shape) for v in spec.outputs],
    )
    fn._spec = spec
    return fn


def borrowable_outputs(spec: FunctionSpec) -> list[bool]:
    """Each output's `Out(borrow=)`, except that an output that may alias an explicit input not given with
    `In(x, borrow=True)` is never borrowed (Theano: no output aliases a caller's array unless both allow it)."""
    root = _view_roots(spec)
    unborrowed = {id(item.variable) for item in spec.inputs if not item.borrow}
    return [borrow and root.get(id(v), id(v)) not in unborrowed for v, borrow in zip(spec.outputs, spec.borrow)]


def _view_roots(spec: FunctionSpec) -> dict[int, int]:
    """id of each view (through view_map, transitively) -> id of the variable whose memory it may share."""
    root: dict[int, int] = {}
    for node in toposort(spec.results):
        for out_index, in_index in rule_of(node.op).view_map.items():
            source = node.inputs[in_index]
            root[id(node.outputs[out_index])] = root.get(id(source), id(source))
    return root


def alias_copies(spec: FunctionSpec) -> tuple[list[bool], list[bool]]:
    """Which outputs and update values may share memory with storage the caller or a container keeps.

    A value aliases its root: itself, or (through view_map) the root of the input it is a view of.
    An output is copied (unless borrowed) when its root is an input, shared value or constant, the
    root of an update, or the root of an earlier or a borrowed output (rewriting merges equal outputs);
    an update value is copied when its root is an input, shared value, constant or another update's.
    """
    root = _view_roots(spec)

    def root_of(v: Variable) -> int:
        return root.get(id(v), id(v))

    external = {id(v) for v in spec.graph_inputs}
    external |= {root_of(v) for v in spec.results if isinstance(v, Constant)}
    update_roots = [root_of(e) for _, e in spec.updates]
    output_roots = [root_of(v) for v in spec.outputs]
    borrows = borrowable_outputs(spec)
    borrowed = {r for r, borrow in zip(output_roots, borrows) if borrow}
    outputs, earlier = [], set()
    for r, v, borrow in zip(output_roots, spec.outputs, borrows):  # outputs merged into one share a root
        outputs.append(r in external or r in update_roots or isinstance(v, Constant) or r in earlier
                       or (not borrow and r in borrowed))
        earlier.add(r)
    updates = [
        r in external or update_roots.count(r) > 1 or isinstance(e, Constant)
        for r, (_, e) in zip(update_roots, spec.updates)
    ]
    return outputs, updates


class Recipe:
    """The arguments of a function() call: enough to make the Function again (pickling, function_dump)."""

    def __init__(self, kwargs: dict):
        self.kwargs = kwargs

    def __reduce__(self):
        return (_make_recipe, (pickle_order(self.kwargs), self.kwargs))

    def load(self) -> Function:
        kw = self.kwargs
        spec = build_spec(
            kw["inputs"], kw["outputs"], kw["updates"], kw["givens"], kw["no_default_updates"],
            kw["rebuild_strict"], kw["name"], kw["allow_input_downcast"], kw["on_unused_input"],
            kw["accept_inplace"],
        )
        return compile_spec(spec, kw["mode"], kw["profile"], origin=self)


def function_dump(filename, inputs, outputs=None, mode=None, updates=None, givens=None, no_default_updates=False,
                  accept_inplace=False, name=None, rebuild_strict=True, allow_input_downcast=None, profile=None,
                  on_unused_input=None, extra_tag_to_remove=None) -> None:
    """Pickle everything function() needs, so that `function(**pickle.load(f))` makes the same function.

    Shared variables are stored with their current values. The file is a pickle:
    load only files you trust.
    """
    kwargs = dict(
        inputs=inputs, outputs=outputs, mode=mode, updates=updates, givens=givens,
        no_default_updates=no_default_updates, accept_inplace=accept_inplace, name=name,
        rebuild_strict=rebuild_strict, allow_input_downcast=allow_input_downcast, profile=profile,
        on_unused_input=on_unused_input if on_unused_input is not None else "raise",
    )
    with open(filename, "wb") as f:
        pickle.dump(_DumpedKwargs(kwargs), f, protocol=pickle.HIGHEST_PROTOCOL)


def pickle_order(kwargs: dict) -> list:
    """The graph's nodes, inputs first: pickled before the arguments, they keep pickle's recursion shallow
    however deep the graph is."""
    found = []

    def collect(value):
        if isinstance(value, Variable):
            found.append(value)
        elif isinstance(value, (In, Out)):
            collect(value.variable)
            collect(getattr(value, "update", None))
        elif isinstance(value, dict):
            for pair in value.items():
                collect(pair)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)

    collect([kwargs.get(k) for k in ("inputs", "outputs", "updates", "givens")])
    defaults = [getattr(v, "default_update", None) for v in found]
    return toposort(found + [d for d in defaults if isinstance(d, Variable)])


def _make_recipe(nodes, kwargs) -> Recipe:
    return Recipe(kwargs)


class _DumpedKwargs(dict):
    """Pickles as a plain dict of function() arguments, with the graph's nodes stored first."""

    def __reduce__(self):
        return (_make_kwargs, (pickle_order(self), dict(self)))


def _make_kwargs(nodes, kwargs) -> dict:
    return kwargs
