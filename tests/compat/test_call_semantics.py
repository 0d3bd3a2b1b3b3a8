"""Theano's function and graph semantics where aotgraph used to differ (issue 14), in both modes and in a built
module: update types, In(borrow=), graph cuts at computed inputs, gradients folded to constants, shared input
containers and implicit inputs, finder by position, truthiness, default updates, plural constructors, eval."""

from __future__ import annotations

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at

A = np.arange(6.0).reshape(2, 3)


# ---- update types --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rebuild_strict", [True, False])
def test_input_update_of_another_type_is_refused_at_build(mode, rebuild_strict):
    s = at.iscalar("s")
    with pytest.raises(TypeError, match=r"the update of s must have its type Tensor\{i32, \(\)\}.*f64.*at.cast"):
        ag.function([ag.In(s, value=0, update=s + 0.5)], s, mode=mode, rebuild_strict=rebuild_strict)
    v = at.dvector("v")
    with pytest.raises(TypeError, match="the update of v must have its type"):
        ag.function([ag.In(v, value=np.zeros(2), update=v.sum())], v, mode=mode)


def test_integer_state_keeps_its_dtype(functions):
    f = functions["int_counter"]
    assert [int(f()) for _ in range(3)] == [0, 2, 4]
    assert f["s"].dtype == np.int32 and f["s"] == 3


# ---- In(borrow=) ---------------------------------------------------------------------------------------
def _calls(f, value):
    """The results of the C front's positional call and of the general path's keyword call."""
    return [f(value), f(**{f._inputs[0].name: value})]


@pytest.mark.parametrize("name", ["view_out", "self_out", "borrowed_in_only"])
def test_no_output_aliases_an_unborrowed_input(functions, name):
    a = A.copy()
    for out in _calls(functions[name], a):
        assert not np.shares_memory(out, a)
        out[...] = -1.0
    np.testing.assert_array_equal(a, A)


def test_borrowed_input_and_output_may_alias(functions):
    a = A.copy()
    view, same = functions["view_out_borrowed"](a), functions["self_out_borrowed"](a)
    np.testing.assert_array_equal(view, A[0])
    assert np.shares_memory(view, a) and same is a  # nothing was copied: both sides allowed it


def test_borrowed_outputs_of_one_input_do_not_alias_it(functions):
    a = A.copy()
    transposed, doubled = functions["two_outputs"](a)
    np.testing.assert_array_equal(transposed, A.T)
    np.testing.assert_array_equal(doubled, 2 * A)
    assert not np.shares_memory(transposed, a)


def test_borrow_flags():
    a = at.dmatrix("a")
    assert ag.In(a).borrow is False and ag.In(a, mutable=True).borrow is True
    with pytest.raises(ValueError, match="mutable=True implies borrow=True"):
        ag.In(a, mutable=True, borrow=False)


def test_built_module_never_aliases_unborrowed_inputs(built):
    module, _ = built
    a = A.copy()
    for name in ("view_out", "self_out"):
        out = getattr(module, name)(a)
        assert not np.shares_memory(out, a)
    assert np.shares_memory(module.view_out_borrowed(a), a)
    transposed, _ = module.two_outputs(a)
    assert not np.shares_memory(transposed, a)


# ---- graph cuts, folded gradients ----------------------------------------------------------------------
def test_computed_input_cuts_the_graph(functions):
    h = np.array([0.25, 0.5, 2.0])
    assert functions["cut"](h) == 2 * h.sum()  # h itself, not sigmoid(h)
    np.testing.assert_array_equal(functions["cut_unused_ignored"](A, A.T), 2 * A.T)


def test_computed_input_leaves_its_source_unused():
    m = at.dmatrix("m")
    t = m.T
    with pytest.raises(ag.UnusedInputError, match=r"m \(position 0\)"):
        ag.function([m, t], t * 2)
    with pytest.raises(ag.MissingInputError, match="not among the inputs"):
        ag.function([t], m * 2)


def test_gradient_folded_to_a_constant_uses_its_input(functions):
    out = functions["grad_const"](3.0)
    assert out == 2.0 and out.dtype == np.float64 and out.shape == ()
    x, z = at.dscalars("x", "z")
    with pytest.raises(ag.UnusedInputError, match=r"z \(position 1\)"):  # an input the cost does not use still is
        ag.function([x, z], ag.grad(2 * x, x))


def test_gradient_of_an_integer_input_is_floatx_zeros(functions):
    out = functions["grad_of_int"](np.array([1, 2, 3], np.int32))
    assert out.dtype == np.dtype(ag.config.floatX)
    np.testing.assert_array_equal(out, np.zeros(3))


def test_built_module_graph_cuts_and_folded_gradients(built):
    module, _ = built
    assert module.cut(np.array([1.0, 2.0])) == 6.0
    assert module.grad_const(5.0) == 2.0
    assert int(module.int_counter()) == 0 and int(module.int_counter()) == 2


# ---- shared containers, implicit inputs, positions ------------------------------------------------------
def test_two_functions_share_one_state(functions):
    accumulate, read, read_explicit = functions["accumulate"], functions["read_acc"], functions["read_acc_explicit"]
    accumulate["acc"] = 0.0
    assert accumulate(2.0) == 2.0 and accumulate(3.0) == 5.0
    assert read() == 10.0  # 2 * the state accumulate left
    assert read_explicit() == 15.0 and read_explicit(1.0) == 3.0  # passing a value sets the shared state
    assert accumulate(0.0) == 1.0
    assert accumulate.container["acc"] is read.container[0] is read_explicit.finder[0]


def test_implicit_inputs_refuse_arguments(functions):
    read, implicit = functions["read_acc"], functions["implicit_const"]
    before = read.container[0].value
    for call in (lambda: read(1.0), lambda: read(acc=1.0), lambda: implicit(2.0, 4.0)):
        with pytest.raises(TypeError, match="is implicit"):
            call()
    assert read.container[0].value == before
    assert implicit(2.0) == 3.0 and implicit(y=4.0) == 6.0


def test_value_container_and_finder_by_position(functions):
    f = functions["accumulate"]
    f.value[1] = 4.0
    assert f.value["acc"] == 4.0 and f.container[1].value == 4.0 and f.finder[1] is f.finder["acc"]
    assert f.finder[0] is f.container["x1"]
    assert f(1.0) == 5.0 and f.value[1] == 5.0
    with pytest.raises(KeyError, match="no input or shared variable 2"):
        f[2]


def test_container_of_another_type_is_refused():
    x, y = at.dscalar("x"), at.iscalar("y")
    f = ag.function([ag.In(x, value=1.0)], x * 2)
    with pytest.raises(TypeError, match="a shared state needs the same type"):
        ag.function([ag.In(y, value=f.container[x])], y)


def test_built_module_refuses_a_shared_input_container(compiled, tmp_path):
    functions, _ = compiled.functions("FAST_COMPILE")
    with pytest.raises(ValueError, match="shares its default's container"):
        ag.build({"accumulate": functions["accumulate"], "read_acc": functions["read_acc"]}, "sharedmod", tmp_path)


def test_built_module_keeps_implicit_inputs(built):
    module, _ = built
    assert module.implicit_const(2.0) == 3.0
    with pytest.raises(TypeError, match="is implicit"):
        module.implicit_const(2.0, 4.0)


# ---- default updates -----------------------------------------------------------------------------------
def test_deleted_default_update_is_not_applied(functions, state):
    kept, deleted = state["kept"], state["deleted"]
    kept.set_value(0.0)
    deleted.set_value(0.0)
    functions["default_update_kept"]()
    functions["default_update_deleted"]()
    assert kept.get_value() == 1.0 and deleted.get_value() == 0.0
    assert deleted.default_update is None


def test_no_default_updates_must_be_bool_or_list(mode):
    s = ag.shared(0.0, name="s")
    s.default_update = s + 1
    for bad in ("yes", 1, (s,), {s: 1}):
        with pytest.raises(TypeError, match="no_default_updates must be a bool or a list"):
            ag.function([], s * 1, no_default_updates=bad, mode=mode)
    assert s.get_value() == 0.0


def test_set_value_errors_are_type_errors():
    s = ag.shared(np.zeros(2), name="s")
    for bad in ("text", np.zeros((2, 2)), None):
        with pytest.raises(TypeError):
            s.set_value(bad)
    np.testing.assert_array_equal(s.get_value(), np.zeros(2))


# ---- truthiness ----------------------------------------------------------------------------------------
def test_variables_are_truthy_except_comparisons():
    x = at.dvector("x")
    w = ag.shared(np.zeros(2))
    assert bool(x) and bool(w) and bool(x + 1) and bool(at.constant(0.0))
    params = None
    if not params:
        params = x
    assert params is x
    for comparison in (x > 0, x < 0, x >= 0, x <= 0, at.eq(x, 0), at.neq(x, 0)):
        with pytest.raises(TypeError, match="symbolic comparison"):
            bool(comparison)
    with pytest.raises(TypeError, match="no len"):
        len(x)


# ---- plural constructors -------------------------------------------------------------------------------
def test_plural_constructors_as_theano():
    x, y, s = at.scalars("xys")
    assert [v.name for v in (x, y, s)] == ["x", "y", "s"] and x.type.ndim == 0
    a, b = at.matrices("ab")
    assert (a.name, b.name, a.type.ndim) == ("a", "b", 2)
    assert [v.name for v in at.dscalars("x", "s")] == ["x", "s"]
    three = at.fvectors(3)
    assert len(three) == 3 and all(v.name is None and v.dtype == "float32" for v in three)
    single = at.iscalars("i")
    assert single.name == "i" and single.dtype == "int32"  # Theano: one character gives the variable itself
    assert [v.name for v in at.dmatrices("w, b")] == ["w", "b"]
    with pytest.raises(TypeError, match="takes a count or names"):
        at.dscalars("x", 3)


def test_tensor_type_takes_theano_broadcastable_flags():
    row = at.TensorType("float64", (True, False))("row")
    assert row.name == "row" and row.type.shape == (1, None) and row.broadcastable == (True, False)
    assert at.tensor("float32", (False,)).type.shape == (None,)
    assert at.TensorType("int8", (2, None)).shape == (2, None)


# ---- Variable.eval -------------------------------------------------------------------------------------
def test_eval_compiles_once_per_set_of_inputs(mode):
    previous = ag.config.mode
    ag.config.mode = mode
    try:
        x, y = at.dvectors("x", "y")
        s = ag.shared(np.float64(10.0), name="s")
        z = x * 2 + y + s
        a, b = np.array([1.0, 2.0]), np.array([0.5, 0.25])
        np.testing.assert_array_equal(z.eval({x: a, y: b}), a * 2 + b + 10)
        compiled = dict(z._fn_cache)
        np.testing.assert_array_equal(z.eval({y: b, x: b}), b * 3 + 10)
        assert z._fn_cache == compiled  # same inputs, in any order: no new function
        s.set_value(0.0)
        np.testing.assert_array_equal(z.eval({x: a, y: b}), a * 2 + b)
    finally:
        ag.config.mode = previous
    with pytest.raises(ag.MissingInputError):
        z.eval({x: a})
    with pytest.raises(ag.UnusedInputError):
        (x * 2).eval({x: a, y: b})
    with pytest.raises(TypeError, match="keys must be symbolic variables"):
        z.eval({"x": a})
    assert at.constant(3.0).eval() == 3.0 and (s + 1).eval() == 1.0  # no inputs: the default mode
