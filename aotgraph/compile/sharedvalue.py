"""Shared variables, as `ag.shared` and the compile layer know them.

The class lives in the tensor layer (aotgraph/tensor/sharedvar.py, like Theano's
theano/tensor/sharedvar.py) so that tensor-level code that owns state, such as the random
streams, can make shared variables without importing the compile layer.
"""

from aotgraph.tensor.sharedvar import SharedVariable, shared  # noqa: F401
