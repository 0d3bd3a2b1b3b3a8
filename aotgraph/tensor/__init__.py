"""The tensor DSL: `import aotgraph.tensor as at`."""

from aotgraph.tensor import (  # noqa: F401 - methods installs x + y, x.sum(), ... on variables
    extra_ops,
    fused,
    methods,
    nnet,
    random_ops,
)
from aotgraph.tensor.basic import *  # noqa: F401,F403 - constructors: dscalar, fmatrix, tensor, ...
from aotgraph.tensor.basic import as_tensor, as_tensor_variable, constant, tensor  # noqa: F401
from aotgraph.tensor.blas import dot, matmul, outer  # noqa: F401
from aotgraph.tensor.extra_ops import (  # noqa: F401 - theano.tensor has these of extra_ops too
    bartlett,
    bincount,
    cumprod,
    cumsum,
    diff,
    fill_diagonal,
    fill_diagonal_offset,
    repeat,
    squeeze,
)
from aotgraph.tensor.math import *  # noqa: F401,F403
from aotgraph.tensor.math import abs, cast, pow, round  # noqa: F401,A004
from aotgraph.tensor.nnet import log_softmax, softmax  # noqa: F401
from aotgraph.tensor.reduction import all, any, argmax, argmin, max, mean, min, prod, std, sum, var  # noqa: F401,A004
from aotgraph.tensor.shape_ops import (  # noqa: F401
    alloc,
    arange,
    concatenate,
    dimshuffle,
    fill,
    flatten,
    ones,
    ones_like,
    reshape,
    second,
    shape,
    specify_shape,
    stack,
    transpose,
    zeros,
    zeros_like,
)
from aotgraph.tensor.sorting import argsort, flatnonzero, nonzero, nonzero_values, sort, take  # noqa: F401
from aotgraph.tensor.subtensor import getitem, inc_subtensor, set_subtensor  # noqa: F401
from aotgraph.tensor.theano_basic import *  # noqa: F401,F403 - eye, tril, tensordot, shape_padleft, ...
from aotgraph.tensor.type import TensorType  # noqa: F401
from aotgraph.tensor.variable import TensorConstant, TensorVariable  # noqa: F401
