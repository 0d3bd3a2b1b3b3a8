"""aotgraph: Theano's programming model, compiled ahead of time into Cython extension modules."""

from aotgraph import printing, scan_module, tensor  # noqa: F401
from aotgraph.codegen.aot import build  # noqa: F401
from aotgraph.compile.debugmode import DebugModeError  # noqa: F401
from aotgraph.compile.function import function, function_dump  # noqa: F401
from aotgraph.compile.io import In, Out, Param  # noqa: F401
from aotgraph.compile.mode import DebugMode, Mode  # noqa: F401
from aotgraph.compile.sharedvalue import SharedVariable, shared  # noqa: F401
from aotgraph.compile.spec import MissingInputError, UnusedInputError  # noqa: F401
from aotgraph.configparser import config  # noqa: F401
from aotgraph.gradient import grad  # noqa: F401
from aotgraph.runtime import Function, ProfileStats  # noqa: F401
from aotgraph.scan_module import foldl, foldr, map, reduce, scan  # noqa: F401,A004
from aotgraph.version import __version__  # noqa: F401


def _install_theano_names() -> None:
    """What Theano has on variables and under `theano.tensor` but is built in the layers above the tensor
    package: `x.eval()`, and `T.grad` and its relatives."""
    from aotgraph import gradient
    from aotgraph.compile import variable_eval

    variable_eval.install()
    for name in ("grad", "Lop", "Rop", "jacobian", "hessian", "verify_grad", "consider_constant", "zero_grad",
                 "disconnected_grad", "grad_clip", "grad_scale"):
        setattr(tensor, name, getattr(gradient, name))


_install_theano_names()
