"""aotgraph: Theano's programming model, compiled ahead of time into Cython extension modules."""

import importlib as _importlib

_importlib.import_module("aotgraph.build")  # load the subpackage first: `build` below must name the function
from aotgraph import printing, tensor  # noqa: E402,F401
from aotgraph.codegen.aot import build  # noqa: E402,F401
from aotgraph.compile.function import function, function_dump  # noqa: E402,F401
from aotgraph.compile.io import In, Out, Param  # noqa: E402,F401
from aotgraph.compile.mode import Mode  # noqa: E402,F401
from aotgraph.compile.sharedvalue import SharedVariable, shared  # noqa: E402,F401
from aotgraph.compile.spec import MissingInputError, UnusedInputError  # noqa: E402,F401
from aotgraph.config import config  # noqa: E402,F401
from aotgraph.gradient import grad  # noqa: E402,F401
from aotgraph.runtime import Function, ProfileStats  # noqa: E402,F401

__version__ = "0.1.0"
from aotgraph.compile.debugmode import DebugMode, DebugModeError  # noqa: E402,F401
