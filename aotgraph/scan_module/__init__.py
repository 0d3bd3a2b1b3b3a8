"""Loops in the graph: Theano's `scan` and its shorthands (`import aotgraph.scan_module`, as `theano.scan_module`).

    builder.py  scan(): calls the step once on placeholders and builds one scan node
    inner.py    the step as an op parameter (InnerGraph: frozen, hashable by structure)
    op.py       the scan op's rules: types and the numpy reference, which runs the step graph step by step
    views.py    map, reduce, foldl, foldr
    backprop.py the gradient of a scan: another scan, running backwards (backpropagation through time)
"""

from aotgraph.scan_module import op  # noqa: F401 - registers the op's rules
from aotgraph.scan_module.backprop import scan_grad  # noqa: F401
from aotgraph.scan_module.builder import scan, until  # noqa: F401
from aotgraph.scan_module.views import foldl, foldr, map, reduce  # noqa: F401,A004

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "scan_grad"]
