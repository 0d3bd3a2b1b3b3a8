"""`In`/`Param` (how a call-time argument is treated) and `Out` (how a result is returned)."""

from __future__ import annotations

from aotgraph.graph.basic import Variable
from aotgraph.runtime.values import Container


class In:
    """An explicit input with optional name, default value, update, mutability and strictness.

    value: the default used when the argument is not passed (None: required); a Container (e.g.
        `other_function.container[s]`) is used itself, so both functions share one state.
    update: an expression whose value becomes the new default after each call; its type must be
        the input's (TypeError when the function is built).
    mutable: the function may overwrite the argument's buffer.
    strict: the argument must already be an ndarray of exactly the input's dtype.
    borrow: an output may be the very array passed here (or a view of it); False (Theano's default,
        None means "as mutable") makes every output that would alias the argument a copy, even
        with `Out(..., borrow=True)`.
    implicit: the input is never passed (a call that passes it raises TypeError): it takes its value, which
        it needs. None (the default): True when the value is a Container, as in Theano.
    autoname: name the input after its variable when `name` is None (Theano's default, True).
    shared: Theano's internal flag for shared variables; refused (they are found by the function itself).
    """

    borrow = False  # class defaults: In objects pickled before these attributes existed load with them
    implicit = False

    def __init__(self, variable: Variable, name: str | None = None, value=None, update=None,
                 mutable: bool = False, strict: bool = False, allow_downcast: bool | None = None,
                 autoname: bool = True, implicit: bool | None = None, borrow: bool | None = None,
                 shared: bool = False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In/Param needs a symbolic variable, got {type(variable).__name__} {variable!r:.60}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"In/Param name must be a string, got {name!r}")
        if update is not None and value is None:
            raise ValueError(f"In({variable!r}): an input with an update needs a value (its initial default)")
        if shared:
            raise ValueError(f"In({variable!r}, shared=True): shared variables are implicit inputs; "
                             "use ag.shared() and let the function find them")
        self.variable = variable
        self.name = name if name is not None or not autoname else variable.name
        self.value = value
        self.update = update
        self.mutable = bool(mutable)
        self.borrow = self.mutable if borrow is None else bool(borrow)
        if self.mutable and not self.borrow:
            raise ValueError(f"In({variable!r}): mutable=True implies borrow=True (a destroyed input is reused)")
        # Theano: None means implicit exactly when the value is a Container (passing an argument would overwrite
        # a state another function owns)
        self.implicit = bool(implicit) if implicit is not None else isinstance(value, Container)
        if self.implicit and value is None:
            raise ValueError(f"In({variable!r}, implicit=True) needs a value: it is never passed as an argument")
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast

    def __repr__(self) -> str:
        return f"In({self.variable!r}, name={self.name!r})"


class Param(In):
    """Theano's documented input class: `Param(variable, default=None, name=None, mutable=False, strict=False)`."""

    def __init__(self, variable: Variable, default=None, name: str | None = None, mutable: bool = False,
                 strict: bool = False, allow_downcast: bool | None = None, implicit: bool | None = None,
                 borrow: bool | None = None):
        super().__init__(variable, name=name, value=default, mutable=mutable, strict=strict,
                         allow_downcast=allow_downcast, implicit=implicit, borrow=borrow)

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
