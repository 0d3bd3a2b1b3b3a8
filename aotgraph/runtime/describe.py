"""What a Function says about itself: a call signature and a docstring listing its inputs and outputs.

``inspect.signature(mod.train)``, ``help()`` in an IDE and ``mod.train.__doc__`` then show what to pass
(names, dtypes, shapes, defaults) without the graph that made the function, which a built module lacks.
"""

import inspect
import keyword


def call_signature(inputs) -> inspect.Signature:
    """The signature of calls: inputs in order, those with a valid unique name also by keyword, defaults shown.

    Inputs before the last one without a usable name are positional-only (Python requires them first);
    Theano allows an input without a default after one with a default, so the order is not validated.
    """
    names = [slot.name for slot in inputs]
    usable = [isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n) and names.count(n) == 1
              for n in names]
    last_positional = max((i for i, ok in enumerate(usable) if not ok), default=-1)
    params = []
    for i, slot in enumerate(inputs):
        kind = inspect.Parameter.POSITIONAL_ONLY if i <= last_positional else inspect.Parameter.POSITIONAL_OR_KEYWORD
        default = slot.container.value if slot.has_default else inspect.Parameter.empty
        params.append(inspect.Parameter(names[i] if usable[i] else f"_{i}", kind, default=default))
    return inspect.Signature(params, __validate_parameters__=False)


def describe_type(dtype, shape) -> str:
    """'float64 scalar', 'float32, shape (?, 3)'."""
    if not shape:
        return f"{dtype} scalar"
    dims = ", ".join("?" if s is None else str(s) for s in shape)
    return f"{dtype}, shape ({dims}{',' if len(shape) == 1 else ''})"


def function_doc(fn) -> str:
    """The docstring of `fn`: its call, inputs (dtype, static shape, default), outputs and updated shared values."""
    label = fn.name if isinstance(fn.name, str) and fn.name.isidentifier() else "f"
    title = f"Compiled function {fn.name!r}" if fn.name is not None else "Compiled function (unnamed)"
    lines = [f"{label}{fn.__signature__}", "", f"{title}, made by aotgraph.", "", "Inputs:"]
    for slot in fn._inputs:
        default = f" (default {_short(slot.container.value)})" if slot.has_default else ""
        lines.append(f"    {slot.name or '<unnamed>'}: {describe_type(slot.dtype, slot.shape)}{default}")
    if not fn._inputs:
        lines.append("    none")
    lines.append("Outputs:" if fn._output_types is not None else "Outputs: (types not recorded)")
    for i, (dtype, shape) in enumerate(fn._output_types or ()):
        lines.append(f"    {i}: {describe_type(dtype, shape)}")
    if fn._output_types is not None and fn._unpack_single and len(fn._output_types) == 1:
        lines.append("    (returned alone, not in a list)")
    updated = [fn._shared[index].name or f"<shared {index}>" for (kind, index), _, _ in fn._updates
               if kind == "shared"]
    if updated:
        lines.append(f"Updates the shared variables: {', '.join(updated)}")
    return "\n".join(lines) + "\n"


def _short(value) -> str:
    """A default as a reader wants it: 2.0 for a 0-d array, the shape for a large one."""
    shape = getattr(value, "shape", None)
    if shape == ():
        return repr(value.item())
    if shape is not None and getattr(value, "size", 0) > 6:
        return f"array of shape {shape}"
    return repr(value)
