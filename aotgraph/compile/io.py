"""`In`/`Param` (how a call-time argument is treated) and `Out` (how a result is returned)."""

from __future__ import annotations

from aotgraph.graph.basic import Variable


class In:
    """An explicit input with optional name, default value, update, mutability and strictness.

    value: the default used when the argument is not passed (None: required).
    update: an expression whose value becomes the new default after each call.
    mutable: the function may overwrite the argument's buffer.
    strict: the argument must already be an ndarray of exactly the input's dtype.
    """

    def __init__(self, variable: Variable, name: str | None = None, value=None, update=None,
                 mutable: bool = False, strict: bool = False, allow_downcast: bool | None = None):
        if not isinstance(variable, Variable):
            raise TypeError(f"In/Param needs a symbolic variable, got {type(variable).__name__} {variable!r:.60}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"In/Param name must be a string, got {name!r}")
        if update is not None and value is None:
            raise ValueError(f"In({variable!r}): an input with an update needs a value (its initial default)")
        self.variable = variable
        self.name = name if name is not None else variable.name
        self.value = value
        self.update = update
        self.mutable = bool(mutable)
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast

    def __repr__(self) -> str:
        return f"In({self.variable!r}, name={self.name!r})"


class Param(In):
    """Theano's documented input class: `Param(variable, default=None, name=None, mutable=False, strict=False)`."""

    def __init__(self, variable: Variable, default=None, name: str | None = None, mutable: bool = False,
                 strict: bool = False, allow_downcast: bool | None = None):
        super().__init__(variable, name=name, value=default, mutable=mutable, strict=strict,
                         allow_downcast=allow_downcast)

    @property
    def default(self):
        return self.value


class Out:
    """An output; `borrow=True` may return internal storage that the next call overwrites."""

    def __init__(self, variable: Variable, borrow: bool = False):
        self.variable = variable
        self.borrow = bool(borrow)

    def __repr__(self) -> str:
        return f"Out({self.variable!r}, borrow={self.borrow})"
