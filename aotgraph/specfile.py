"""Finding the functions to build from a spec: ``file.py:obj`` or ``package.module:obj``.

Shared by the command line (``aotgraph build SPEC``) and the setuptools integration (`aotgraph.extension`),
so both accept the same specs: `obj` is a Function, a dict {public name: Function} or a callable returning
one of these (the callable form lets a spec module build its graphs only when asked).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from aotgraph.runtime import Function


class SpecError(ValueError):
    """A spec that cannot be loaded, or that does not name functions: the message says which and why."""


def load_spec(spec: str, base_dir: str | os.PathLike | None = None):
    """The Function, dict of Functions or result of the callable that `spec` ('file.py:obj' or 'module:obj') names.

    A relative file is found from `base_dir` (default: the current directory)."""
    where, sep, attribute = spec.rpartition(":")
    if not sep or not where or not attribute:
        raise SpecError(f"SPEC must be FILE.py:OBJ or MODULE:OBJ (got {spec!r})")
    if where.endswith(".py") or os.sep in where:
        module = _import_file(os.path.join(base_dir, where) if base_dir is not None else where)
    else:
        module = _import_module(where)
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{where} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Function):
        obj = obj()
    if isinstance(obj, Function) or (isinstance(obj, dict) and obj and all(isinstance(f, Function)
                                                                             for f in obj.values())):
        return obj
    raise SpecError(f"{spec} is a {type(obj).__name__}, not a Function, a dict {{name: Function}} "
                     "or a callable returning one")


def _import_file(path: str):
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"no such file: {path}")
    name = f"_aotgraph_spec_{file.stem}"
    loader_spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(loader_spec)
    sys.path.insert(0, str(file.parent.absolute()))  # the spec may import its neighbours
    sys.modules[name] = module  # pickling and dataclasses look their module up there
    loader_spec.loader.exec_module(module)
    return module


def _import_module(name: str):
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SpecError(f"cannot import {name!r}: {exc}") from exc
