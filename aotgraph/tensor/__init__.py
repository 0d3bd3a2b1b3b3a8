"""The tensor DSL: `import aotgraph.tensor as at`."""

from aotgraph.tensor.basic import *  # noqa: F401,F403 - constructors: dscalar, fmatrix, tensor, ...
from aotgraph.tensor.basic import as_tensor, as_tensor_variable, constant, tensor  # noqa: F401
from aotgraph.tensor.math import *  # noqa: F401,F403
from aotgraph.tensor.math import abs, cast, pow, round  # noqa: F401,A004
from aotgraph.tensor.type import TensorType  # noqa: F401
from aotgraph.tensor.var import TensorConstant, TensorVariable  # noqa: F401
