"""aotgraph: Theano's programming model, compiled ahead of time into Cython extension modules."""

from aotgraph import tensor  # noqa: F401
from aotgraph.compile.function import function, function_dump  # noqa: F401
from aotgraph.compile.io import In, Out, Param  # noqa: F401
from aotgraph.compile.mode import Mode  # noqa: F401
from aotgraph.compile.sharedvalue import SharedVariable, shared  # noqa: F401
from aotgraph.compile.spec import MissingInputError, UnusedInputError  # noqa: F401
from aotgraph.config import config  # noqa: F401
from aotgraph.runtime import Function, ProfileStats  # noqa: F401

__version__ = "0.1.0"
from aotgraph.gradient import grad  # noqa: E402,F401
from aotgraph import printing  # noqa: E402,F401
