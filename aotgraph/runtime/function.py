"""The one `Function` class: calling convention, defaults, keywords, updates, copy, pickle.

This file imports numpy and its sibling runtime modules only: it is copied
into every generated module, so a built module runs where aotgraph is not
installed. The computation itself is a `thunk(values, profile) -> results`
supplied by a backend: `values` are the explicit inputs followed by the shared
values; `results` are the outputs followed by the update values.
"""

from __future__ import annotations

import copy as _copy
import os as _os
import sys as _sys
import time

import numpy as np

from .describe import call_signature, function_doc
from .profiling import ProfileStats
from .values import STATE_LOCK, Container, filter_value, static_shape

_MISSING = object()
_ndarray = np.ndarray
_array = np.array
_FLOAT64 = np.dtype("float64")
_LATE_DEFAULT = object()  # "use the default": read under STATE_LOCK, where this call's updates commit


class InputSlot:
    """Call-time facts about one explicit input (from a Param/In or a bare variable)."""

    __slots__ = ("name", "key", "position", "dtype", "shape", "strict", "allow_downcast", "mutable",
                 "container", "has_default", "error_label", "implicit", "shares_state")

    def __init__(self, name, key, position, dtype, shape, strict=False, allow_downcast=None,
                 mutable=False, default=_MISSING, implicit=False):
        """default: a value, _MISSING, or a Container used itself (its state is shared with its owner: a value
        passed for the input is stored there, as in Theano); implicit: the input takes its default always, and
        a call that passes it is refused (Theano)."""
        self.name = name
        self.key = key
        self.position = position
        self.dtype = np.dtype(dtype)
        self.shape = static_shape(shape)
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.mutable = mutable
        self.has_default = default is not _MISSING
        self.implicit = implicit
        self.error_label = ""  # how errors name this input: "argument 'x' of function 'f'"
        self.shares_state = isinstance(default, Container)
        if self.shares_state:
            self.container = default
            return
        label = name if name is not None else f"input {position}"
        self.container = Container(None, label, dtype, shape, strict, allow_downcast)
        if self.has_default:
            self.container.set(default)

    def describe(self) -> str:
        return f"{self.name!r} (position {self.position})" if self.name else f"at position {self.position}"


class Function:
    """A compiled function: call it with positional or keyword arguments.

    Attributes: `name`, `trust_input` (skip input checks: the fast path),
    `profile` (a ProfileStats or None), `finder` (input/shared key -> container),
    `inv_finder` (container -> key).
    """

    def __init__(self, thunk, inputs, shared, shared_keys, outputs, updates, *, unpack_single=True, name=None,
                 profile=None, origin=None, floatX="float64", output_types=None):
        """inputs: InputSlots; shared: Containers (live) with parallel `shared_keys`;
        outputs: (borrow, must_copy) per output; updates: (target, position, must_copy) where
        target is ('shared', index) or ('input', index); unpack_single: return a bare output;
        output_types: (dtype name, static shape) per output, for the docstring (None: not known).
        """
        self._thunk = thunk
        self._inputs = list(inputs)
        self._shared = list(shared)
        self._shared_keys = list(shared_keys)
        self._outputs = [tuple(o) for o in outputs]
        self._updates = [tuple(u) for u in updates]
        self._unpack_single = unpack_single
        self.name = name
        self._origin = origin
        self._floatX = floatX
        self._trust_input = False
        self._profile = profile
        self._output_types = None if output_types is None else [(str(d), tuple(s)) for d, s in output_types]
        self._index_inputs()

    # ---- construction helpers -------------------------------------------------------------------
    def _index_inputs(self) -> None:
        fname = self.name if self.name is not None else "<unnamed>"
        self._n_inputs = len(self._inputs)
        self._n_outputs = len(self._outputs)
        self._by_name = {}
        for slot in self._inputs:
            slot.error_label = f"argument {slot.describe()} of function {fname!r}"
            if slot.name is not None:
                self._by_name[slot.name] = None if slot.name in self._by_name else slot.position
        self._mutable = [slot.position for slot in self._inputs if slot.mutable]
        self._implicit = [slot.position for slot in self._inputs if slot.implicit]
        self._stored = [slot.position for slot in self._inputs if slot.shares_state and not slot.implicit]
        # Defaults this function updates (In(..., update=...)) are read under STATE_LOCK, like shared values:
        # read outside it, two threads could both read the old default and one update would be lost.
        self._late_defaults = sorted({index for (kind, index), _, _ in self._updates if kind == "input"})
        self._copy_outputs = [i for i, (borrow, must_copy) in enumerate(self._outputs) if must_copy and not borrow]
        self._commits = [
            (self._shared[index] if kind == "shared" else self._inputs[index].container, position, must_copy)
            for (kind, index), position, must_copy in self._updates
        ]
        # The fast path: no state, nothing to copy or check beyond each argument's dtype and rank.
        self._plain = not (self._shared or self._commits or self._mutable or self._copy_outputs or self._implicit
                           or self._stored)
        self._fast_checks = [
            (slot.dtype, len(slot.shape), all(s is None for s in slot.shape),
             slot.dtype == _FLOAT64 and not slot.shape and not slot.strict)
            for slot in self._inputs
        ]
        self._refresh_fast_path()
        self.finder = {}
        for slot in self._inputs:
            if slot.key is not None:
                self.finder[slot.key] = slot.container
            if slot.name is not None:
                self.finder.setdefault(slot.name, slot.container)
        for key, container in zip(self._shared_keys, self._shared):
            self.finder[key] = container
            if container.name is not None:
                self.finder.setdefault(container.name, container)
        for slot in self._inputs:  # by position too, as Theano's finder (after the variables: inv_finder names them)
            self.finder.setdefault(slot.position, slot.container)
        self.inv_finder = {}
        for key, container in self.finder.items():
            self.inv_finder.setdefault(container, key)
        self.__signature__ = call_signature(self._inputs)  # inspect.signature(f) and IDEs read these two
        self.__doc__ = function_doc(self)

    @property
    def source(self) -> str:
        """The generated source this function runs, read from beside its compiled module: its Cython (.pyx), or
        its C (.c) for an in-process module written in C directly.

        Raises TypeError for a function without one (mode='FAST_COMPILE' runs numpy directly).
        """
        kernel = getattr(self._thunk, "__self__", self._thunk)
        wait = getattr(kernel, "wait", None)  # a kernel whose module is still being compiled (in the background)
        if wait is not None:
            wait()
        # a compiled kernel names the module of its runner (its class may live in the shared kernel support)
        module = _sys.modules.get(getattr(kernel, "module", None) or getattr(type(kernel), "__module__", ""), None)
        path = getattr(module, "__file__", None)
        if not path or path.endswith((".py", ".pyc")):
            raise TypeError(f"function {self.name!r} runs no generated code (compile it with mode='FAST_RUN')")
        stem = _os.path.join(_os.path.dirname(path), _os.path.basename(path).split(".")[0])
        found = [stem + suffix for suffix in (".pyx", ".c") if _os.path.exists(stem + suffix)]
        if not found:
            raise FileNotFoundError(f"the generated source of function {self.name!r} is not beside its module: "
                                    f"{stem}.pyx or .c")
        with open(found[0], encoding="utf-8") as f:
            return f.read()

    # ---- calling --------------------------------------------------------------------------------
    @property
    def profile(self):
        """A ProfileStats collecting this function's timings, or None."""
        return self._profile

    @profile.setter
    def profile(self, value) -> None:
        self._profile = value
        self._refresh_fast_path()

    @property
    def trust_input(self) -> bool:
        """Skip checking and converting arguments (Theano's trust_input): pass ndarrays of the inputs' exact types."""
        return self._trust_input

    @trust_input.setter
    def trust_input(self, value) -> None:
        self._trust_input = bool(value)
        self._refresh_fast_path()

    def _refresh_fast_path(self) -> None:
        """Calls with exactly this many positional arguments (and no keywords) may take the fast path."""
        plain = self._plain and self._profile is None
        self._fast_n = self._n_inputs if plain else -1
        set_c_path = getattr(self, "_set_fast_path", None)  # a compiled kernel's class: see function_class()
        if set_c_path is not None:
            set_c_path(self._thunk, self._c_front_state())

    def _c_front_state(self):
        """What the C front of a compiled kernel (`_FastCall` in kernel_support.pyx.j2) needs to take calls
        itself, in its order; None when every call must come here (a profile, mutable inputs, a dtype that
        does not fit a byte). It binds keywords and defaults, checks arguments, reads state and commits
        updates as `_call`, `_bind` and `_run_with_state` do (tests/compile/test_call_paths.py)."""
        typenums = [dtype.num for dtype, _, _, _ in self._fast_checks]
        if (self._profile is not None or self._mutable or self._implicit or self._stored
                or max(typenums, default=0) >= 256):
            return None
        late = set(self._late_defaults)
        return (
            self._n_inputs, self._n_outputs, self._trust_input, self._unpack_single, bytes(typenums),
            bytes(ndim for _, ndim, _, _ in self._fast_checks),
            bytes(any_size | 2 * takes_float for _, _, any_size, takes_float in self._fast_checks),
            tuple(self._shared), tuple(self._commits), tuple(self._copy_outputs), STATE_LOCK,
            tuple(self._keyword(slot) for slot in self._inputs),
            tuple(self._inputs), bytes(i in late for i in range(self._n_inputs)),
            tuple((i, self._inputs[i].container) for i in self._late_defaults),
        )

    def _keyword(self, slot: InputSlot) -> str | None:
        """The keyword that names `slot` in a call, interned (the C front compares keywords by pointer first),
        or None: no name, or one that several inputs share (such calls go to `_call`, which says why)."""
        if not isinstance(slot.name, str) or self._by_name.get(slot.name) != slot.position:
            return None
        return _sys.intern(str(slot.name))

    def __call__(self, *args, **kwargs):
        if len(args) == self._fast_n and not kwargs:
            if self._trust_input:
                results = self._thunk(list(args), None)
            else:
                values = []
                for value, (dtype, ndim, any_size, takes_float), slot in zip(args, self._fast_checks, self._inputs):
                    if type(value) is _ndarray and value.dtype is dtype and value.ndim == ndim and any_size:
                        values.append(value)
                    elif takes_float and type(value) is float:
                        values.append(_array(value))
                    else:
                        values.append(filter_value(value, dtype, slot.shape, slot.strict, slot.allow_downcast,
                                                   slot.error_label, self._floatX))
                results = self._thunk(values, None)
            return results[0] if self._unpack_single else results[: self._n_outputs]
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        """The general call: defaults, keywords, state, profiling, copies."""
        profile = self.profile
        start = time.perf_counter() if profile is not None else 0.0
        if kwargs or len(args) != self._n_inputs or self._implicit:
            values = self._bind(args, kwargs)
        else:
            values = list(args)
        if not self._trust_input:
            inputs = self._inputs
            for i in range(self._n_inputs):
                slot = inputs[i]
                value = values[i]
                if value is _LATE_DEFAULT:
                    continue
                if value is not slot.container.value or not slot.has_default:
                    values[i] = filter_value(value, slot.dtype, slot.shape, slot.strict,
                                             slot.allow_downcast, slot.error_label, self._floatX)
            for i in self._mutable:
                if values[i] is not _LATE_DEFAULT and not values[i].flags.writeable:
                    raise ValueError(f"{inputs[i].error_label} is declared mutable=True but the array is read-only")
        for i in self._stored:  # a value passed for a shared input container becomes its state (Theano)
            if values[i] is not _LATE_DEFAULT and values[i] is not self._inputs[i].container.value:
                with STATE_LOCK:
                    self._inputs[i].container.value = _array(values[i], copy=True)
        if self._shared or self._commits:
            with STATE_LOCK:
                results = self._run_with_state(values, profile)
        else:
            results = self._copied(self._thunk(values, profile))
        outputs = results[: self._n_outputs]
        if profile is not None:
            profile.record_call(self.name or "<unnamed>", time.perf_counter() - start)
        if self._unpack_single:
            return outputs[0]
        return outputs

    def _run_with_state(self, values, profile) -> list:
        """Read shared values, compute, copy, then commit every update (under STATE_LOCK: calls act serialized).

        Every copy is made before the first commit: a copy that fails (MemoryError) changes no state.
        """
        for i in self._late_defaults:
            if values[i] is _LATE_DEFAULT:
                values[i] = self._inputs[i].container.value
        for container in self._shared:
            values.append(container.value)
        results = self._copied(self._thunk(values, profile))
        new_values = [(c, results[p].copy() if must_copy else results[p]) for c, p, must_copy in self._commits]
        for container, value in new_values:
            container.value = value
        return results

    def _copied(self, results: list) -> list:
        """`results` with each output that may share storage with an input, a shared value or another output
        replaced by a copy."""
        for i in self._copy_outputs:
            results[i] = results[i].copy()
        return results

    def _bind(self, args, kwargs) -> list:
        fname = self.name if self.name is not None else "<unnamed>"
        n = self._n_inputs
        if len(args) > n:
            raise TypeError(f"function {fname!r} takes at most {n} arguments ({len(args)} given)")
        values = list(args) + [_MISSING] * (n - len(args))
        for i in self._implicit:
            if values[i] is not _MISSING or self._inputs[i].name in kwargs:
                raise TypeError(f"function {fname!r}: input {self._inputs[i].describe()} is implicit "
                                "(In(..., implicit=True)): it takes its value, never an argument")
        for key, value in kwargs.items():
            if key not in self._by_name:
                known = ", ".join(repr(k) for k in self._by_name) or "none"
                raise TypeError(
                    f"function {fname!r} got an unexpected keyword argument {key!r} (named inputs: {known})"
                )
            index = self._by_name[key]
            if index is None:
                raise TypeError(f"function {fname!r}: keyword {key!r} is ambiguous: several inputs have that name")
            if values[index] is not _MISSING:
                raise TypeError(f"function {fname!r} got multiple values for argument {key!r}")
            values[index] = value
        missing = []
        for i, value in enumerate(values):
            if value is _MISSING:
                slot = self._inputs[i]
                if slot.has_default:
                    values[i] = _LATE_DEFAULT if i in self._late_defaults else slot.container.value
                else:
                    missing.append(slot.describe())
        if missing:
            raise TypeError(f"function {fname!r} is missing required argument(s): {', '.join(missing)}")
        return values

    # ---- state access ---------------------------------------------------------------------------
    def _container(self, key) -> Container:
        try:
            return self.finder[key]
        except (KeyError, TypeError):
            raise KeyError(f"function {self.name!r} has no input or shared variable {key!r}") from None

    def __getitem__(self, key):
        return self._container(key).value

    def __setitem__(self, key, value) -> None:
        container = self._container(key)
        container.set(value)
        for slot in self._inputs:
            if slot.container is container:
                slot.has_default = True

    @property
    def container(self):
        """Theano's `f.container[key]`: the Container of an input (by variable, name or position) or shared value."""
        return self.finder

    @property
    def value(self):
        """Theano's `f.value[key]` (read and assign): the same as `f[key]`."""
        return _ValueView(self)

    def free(self) -> None:
        """Release intermediate storage; the function stays usable."""
        free = getattr(self._thunk, "free", None)
        if free is not None:
            free()

    # ---- copying and pickling -------------------------------------------------------------------
    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None, profile=None):
        """A new Function over the same computation.

        share_memory: share input-default containers with this function (else they are copied).
        swap: {old shared variable: new shared variable} used by the copy only.
        delete_updates: the copy commits no updates. name: defaults to "<name> copy".
        profile: as for function(): None, True or a ProfileStats.
        """
        inputs = []
        for slot in self._inputs:
            new = _copy.copy(slot)
            if not share_memory:
                new.container = _copy.copy(slot.container)
                if isinstance(slot.container.value, np.ndarray):
                    new.container.value = slot.container.value.copy()
            inputs.append(new)
        shared, keys = list(self._shared), list(self._shared_keys)
        for old, new in (swap or {}).items():
            index = next((i for i, k in enumerate(keys) if k is old or (isinstance(old, str) and k == old)), None)
            if index is None:
                raise ValueError(f"swap: {old!r} is not a shared variable of function {self.name!r}")
            container = getattr(new, "container", new)
            if not isinstance(container, Container):
                raise TypeError(f"swap: {new!r} is not a shared variable")
            if container.dtype != shared[index].dtype or len(container.shape) != len(shared[index].shape):
                raise TypeError(
                    f"swap: {new!r} ({container.dtype}, {len(container.shape)}-d) does not have the type "
                    f"of {old!r} ({shared[index].dtype}, {len(shared[index].shape)}-d)"
                )
            shared[index], keys[index] = container, new
        if profile is True:
            profile = ProfileStats(message=name or "")
        new_name = name if name is not None else (f"{self.name} copy" if self.name is not None else None)
        clone = type(self)(
            self._thunk, inputs, shared, keys, self._outputs, [] if delete_updates else self._updates,
            unpack_single=self._unpack_single, name=new_name, profile=profile, origin=self._origin,
            floatX=self._floatX, output_types=self._output_types,
        )
        clone.trust_input = self.trust_input
        return clone

    def __copy__(self):
        return self.copy()

    def __reduce__(self):
        """Pickled: how to make the function again (its origin), its input defaults and its shared containers.

        The containers are pickled as objects, so functions pickled together (one pickle.dumps) share them
        again when unpickled, as they did; unpickled, they are new containers: loading a pickle never changes
        the state of a live function (see `_restore`).
        """
        if self._origin is None:
            raise TypeError(f"function {self.name!r} cannot be pickled: it does not know how it was made")
        defaults = [(s.container.value if s.has_default else _NO_DEFAULT) for s in self._inputs]
        return (_restore, (self._origin, self.name, defaults, list(self._shared), self.trust_input))

    def __repr__(self) -> str:
        names = ", ".join(s.name or f"<{i}>" for i, s in enumerate(self._inputs))
        return f"<aotgraph.Function {self.name!r} ({names})>"


def function_class(thunk) -> type:
    """The class of a Function computed by `thunk`: `Function`, or, when `thunk` is a compiled kernel, the
    subclass whose calls enter that kernel's module in C first (its fast path: kernel_support.pyx.j2)."""
    kernel = getattr(thunk, "__self__", thunk)
    make = getattr(kernel, "function_class", None)
    return make(Function) if make is not None else Function


class _ValueView:
    """`f.value`: item access to the values of a function's inputs and shared variables."""

    __slots__ = ("_function",)

    def __init__(self, function):
        self._function = function

    def __getitem__(self, key):
        return self._function[key]

    def __setitem__(self, key, value) -> None:
        self._function[key] = value


class _NoDefault:
    def __reduce__(self):
        return (_no_default, ())


def _no_default():
    return _NO_DEFAULT


_NO_DEFAULT = _NoDefault()


def _restore(origin, name, defaults, shared, trust_input):
    """Unpickle: rebuild from `origin` (never recompiling a built module), then bind the pickled state.

    `origin.load()` of a built module gives a copy of the module's function, over the module's live
    containers; the restored function is bound to the unpickled containers `shared` instead, so the
    module's functions (and any other live function) keep their state. Its input defaults are its own.
    """
    fn = origin.load()
    fn.name = name
    for slot, value in zip(fn._inputs, defaults):
        if value is not _NO_DEFAULT:
            slot.container = _copy.copy(slot.container)  # never the container of the function it was copied from
            slot.container.value = value
            slot.has_default = True
    if len(shared) != len(fn._shared):
        raise ValueError(f"unpickling function {name!r}: the pickle has {len(shared)} shared values, the "
                         f"function {len(fn._shared)}: it was pickled from another version of its module")
    fn._shared = list(shared)
    fn._index_inputs()  # the commit list, fast path and finder now point at the restored containers
    fn.trust_input = trust_input
    return fn
