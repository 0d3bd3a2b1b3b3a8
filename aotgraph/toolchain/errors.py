"""Build errors and the checks on names that reach the file system and the import system."""

from __future__ import annotations

import keyword
import re
import sys

# Module names the build refuses because importing a built module under that name would shadow
# something the generated code (or aotgraph itself) needs.
_SHADOWED = frozenset({"numpy", "aotgraph", "Cython", "setuptools", "pip"}) | frozenset(sys.stdlib_module_names)

# Prefix of the build's own helper modules (the shared Cython utility module in cache entries).
RESERVED_PREFIX = "_aotgraph"

# A data file name is a plain file name: no directories, no glob characters (the wheel lists data
# files as setuptools package-data patterns), not hidden, and not a kind of file the build writes.
_DATA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_BUILD_SUFFIXES = (".py", ".pyc", ".pyx", ".pxd", ".pxi", ".c", ".so", ".pyd", ".lis", ".lock")
_BUILD_FILES = frozenset({"manifest.json", "build.log"})


class BuildError(Exception):
    """Cython or the C compiler failed; the message names the kept source and ends with the tool's output."""


class CompileTimeoutError(BuildError):
    """The C compiler ran longer than `aotgraph.config.compile_timeout` (AOTGRAPH_COMPILE_TIMEOUT)."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output  # what the compiler printed before it was stopped


class CompilerMissingError(BuildError):
    """No working C compiler was found (FAST_COMPILE mode needs none)."""


def check_module_name(name: str) -> str:
    """Return `name` if it can name a built module, else raise ValueError saying why.

    The name must be an ASCII Python identifier, not a keyword, not start with '_aotgraph', and
    not shadow the standard library, numpy or aotgraph (``import os`` must keep meaning the stdlib).
    """
    if not isinstance(name, str):
        raise TypeError(f"module name must be a str, got {type(name).__name__}")
    if not name.isascii() or not name.isidentifier():
        raise ValueError(
            f"module name {name!r} is not a valid Python identifier: use ASCII letters, digits and "
            "underscores, not starting with a digit (for example 'mymod')"
        )
    if keyword.iskeyword(name):
        raise ValueError(f"module name {name!r} is a Python keyword and could not be imported; choose another name")
    if name.startswith(RESERVED_PREFIX):
        raise ValueError(f"module names starting with {RESERVED_PREFIX!r} are reserved for aotgraph's own modules")
    if name in _SHADOWED:
        raise ValueError(f"module name {name!r} would shadow the module of the same name; choose another name")
    return name


def check_data_files(data_files: dict[str, bytes]) -> dict[str, bytes]:
    """Return the data files as ``{name: bytes}`` after checking each name is a plain, safe file name."""
    checked = {}
    for name, content in data_files.items():
        if not isinstance(name, str) or not _DATA_NAME.fullmatch(name):
            raise ValueError(
                f"data file name {name!r} must be a plain file name of letters, digits, '_', '.' and '-' "
                "(no directories, not starting with '.')"
            )
        if name in _BUILD_FILES or name.endswith(_BUILD_SUFFIXES):
            raise ValueError(f"data file name {name!r} clashes with a file the build writes; rename it")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"data file {name!r} must be bytes, got {type(content).__name__}")
        checked[name] = bytes(content)
    return checked
