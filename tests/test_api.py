"""The public names Theano users port to: present, and of the right kind."""

from __future__ import annotations

import aotgraph as ag
import aotgraph.tensor as at

TENSOR_NAMES = """
dscalar fscalar iscalar lscalar bscalar dvector fvector ivector lvector dmatrix fmatrix imatrix lmatrix dtensor3
ftensor3 scalar vector matrix tensor3 dscalars dvectors dmatrices tensor constant
add sub mul true_div floor_div mod pow neg abs eq neq lt le gt ge and_ or_ xor invert exp log log1p expm1 sqrt
sqr sin cos tan tanh arctan sigmoid softplus erf sign floor ceil round maximum minimum clip switch where cast
sum prod mean var std max min argmax argmin all any dot matmul outer transpose dimshuffle reshape flatten shape
concatenate stack zeros_like ones_like alloc arange softmax log_softmax relu set_subtensor inc_subtensor
""".split()

AG_NAMES = """function function_dump Function Param In Out Mode shared SharedVariable ProfileStats config grad build
printing""".split()


def test_tensor_names_exist():
    missing = [name for name in TENSOR_NAMES if not hasattr(at, name)]
    assert missing == []


def test_top_level_names_exist():
    missing = [name for name in AG_NAMES if not hasattr(ag, name)]
    assert missing == []
    assert callable(ag.gradient.verify_grad) and callable(ag.gradient.jacobian) and callable(ag.gradient.hessian)
    assert callable(ag.printing.debugprint)


def test_variable_methods():
    x = at.dmatrix("x")
    for method in ["sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "all", "any"]:
        assert getattr(x, method)(axis=0).ndim == 1
    assert x.T.ndim == 2 and x.flatten().ndim == 1 and x.reshape((-1,)).ndim == 1
    assert x.dimshuffle(1, "x", 0).broadcastable == (False, True, False)
    assert (x @ x).ndim == 2 and x.astype("int32").dtype == "int32"


def test_fast_run_is_the_default_mode():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "AOTGRAPH_MODE"}
    out = subprocess.run([sys.executable, "-c", "import aotgraph as ag; print(ag.config.mode)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "FAST_RUN"


def test_every_public_callable_has_a_docstring():
    """help() on anything public says what it does; ag.function's lists its parameters as Theano's does."""
    import inspect

    import aotgraph as ag
    import aotgraph.tensor as at

    for module in (ag, at):
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        lacking = [n for n in public if not (inspect.getdoc(getattr(module, n)) or "").strip()]
        assert lacking == [], f"{module.__name__}: no docstring for {lacking}"
    for parameter in inspect.signature(ag.function).parameters:
        assert parameter in ag.function.__doc__
    assert "output_dir" in ag.build.__doc__ and "sdist" in ag.build.__doc__
    assert at.dmatrices.__name__ == "dmatrices"
