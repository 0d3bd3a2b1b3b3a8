"""debugprint and pydotprint: the tree's lines, ids and labels, Functions printed as optimized, and the
message when Graphviz is missing."""

from __future__ import annotations

import importlib.util
import io
import shutil

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.printing import debugprint, dot_source, pydotprint


def test_tree_with_ids_types_and_a_shared_subtree_printed_once():
    x = at.dvector("x")
    e = at.exp(x)
    out = e * 2 + e
    out.name = "y"
    assert debugprint(out, file="str") == (
        "add [id A] <Tensor{f64, (?,)}> 'y'\n"
        " ├─ mul [id B] <Tensor{f64, (?,)}>\n"
        " │  ├─ exp [id C] <Tensor{f64, (?,)}>\n"
        " │  │  └─ x [id D] <Tensor{f64, (?,)}>\n"
        " │  └─ 2.0 [id E] <Tensor{f64, ()}>\n"
        " └─ exp [id C] ···\n"
    )


def test_without_types_or_ids():
    x = at.dvector("x")
    e = at.exp(x)
    text = debugprint(e + e, file="str", print_type=False, ids=False)
    assert text == "add\n ├─ exp\n │  └─ x\n └─ exp ···\n"


def test_op_params_and_unnamed_inputs():
    m = at.dmatrix()
    s = ag.shared(np.zeros((2, 2)))
    text = debugprint(m.sum(axis=0) + s.T.sum(axis=0) + at.constant(np.zeros(5)).sum(), file="str")
    assert "reduce{axis=(0,), dtype='float64', keepdims=False, kind='sum'}" in text
    assert "dimshuffle{pattern=(1, 0)}" in text
    assert "input [id" in text and "shared [id" in text and "constant{shape=(5,)}" in text


def test_a_list_of_outputs_is_labelled_and_shares_ids():
    x = at.dvector("x")
    e = at.exp(x)
    text = debugprint([e + 1, e * 2], file="str")
    lines = text.splitlines()
    assert lines[0].endswith("# output 0") and "# output 1" in text
    assert text.count("exp [id B] <Tensor") == 1 and "exp [id B] ···" in text


def test_function_prints_its_optimized_graph_with_outputs_and_updates():
    x = at.dvector("x")
    w = ag.shared(np.zeros(3), name="w")
    f = ag.function([x], (x * 1) ** 2, updates=[(w, w + at.log(1 + x))], mode=ag.Mode("reference", "fast_run"))
    text = debugprint(f, file="str")
    assert text.splitlines()[0] == "sqr [id A] <Tensor{f64, (?,)}>  # output 0"
    assert "fused{expr=(i1 + log1p(i0))} [id C] <Tensor{f64, (?,)}>  # update of w" in text  # one loop: w + log1p(x)
    assert "log1p" in text and "pow" not in text and "mul" not in text


def test_output_goes_to_stdout_or_a_file(capsys):
    x = at.dscalar("x")
    text = debugprint(x + 1)
    assert capsys.readouterr().out == text
    buffer = io.StringIO()
    assert debugprint(x + 1, file=buffer) == buffer.getvalue() == text
    assert debugprint(x, file="str") == "x [id A] <Tensor{f64, ()}>\n"


def test_deep_graphs_print_without_recursion():
    x = at.dscalar("x")
    out = x
    for _ in range(5000):
        out = at.exp(out)
    lines = debugprint(out, file="str", print_type=False).splitlines()
    assert len(lines) == 5001 and lines[-1].endswith("└─ x [id HKI]")


def test_refuses_other_objects():
    with pytest.raises(TypeError, match="debugprint takes a variable"):
        debugprint(42)


def test_dot_source_lists_ops_inputs_and_escapes_names():
    x = at.dvector('x"quoted"')
    w = ag.shared(np.zeros(3), name="w")
    f = ag.function([x], at.exp(x) + 2, updates=[(w, w + x)])
    source = dot_source(f)
    assert source.startswith("digraph aotgraph {") and source.rstrip().endswith("}")
    assert '[label="exp", shape=box]' in source and '[label="add", shape=box]' in source
    assert 'label="x\\"quoted\\"\\nTensor{f64, (?,)}"' in source
    assert '"output 0"' in source and '"update of w"' in source and "lightblue" in source


@pytest.mark.skipif(importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None,
                    reason="Graphviz is installed")
def test_pydotprint_says_what_to_install(tmp_path):
    x = at.dvector("x")
    f = ag.function([x], x + 1)
    with pytest.raises(RuntimeError, match="pip install graphviz") as info:
        pydotprint(f, str(tmp_path / "graph.png"))
    message = str(info.value)
    assert "'dot' program" in message and "apt-get install graphviz" in message and "debugprint" in message
    assert not (tmp_path / "graph.png").exists()



def test_scan_step_graphs_printed_below_the_outer_graph():
    """As Theano: after the outer tree, "Inner graphs:", each scan node's line (its id as in the tree) and the
    tree of each inner output; a scan inside a step (here the gradient's own loop) gets its own entry."""
    x, h0 = at.dvector("x"), at.dscalar("h0")
    out, _ = ag.scan(lambda x_t, h: h * 0.5 + x_t, sequences=x, outputs_info=h0, name="halve")
    text = debugprint(out.sum() + ag.grad(out.sum(), h0), file="str", print_type=False)
    outer, inner = text.split("\nInner graphs:\n")
    assert "label='halve'" in outer and "label='grad of halve'" in outer
    scan_id = next(line for line in outer.splitlines() if "label='halve'" in line).split("[id ")[1].split("]")[0]
    blocks = inner.strip("\n").split("\n\n")
    assert len(blocks) == 2
    forward = blocks[0].splitlines()
    assert "label='halve'" in forward[0] and forward[0].endswith(f"[id {scan_id}]")
    assert forward[1].startswith(" add [id ") and forward[1].endswith("# inner output 0")
    assert any(line.strip().startswith("└─ x[t] [id") or line.strip().startswith("├─ x[t] [id")
               for line in forward[2:])
    assert "label='grad of halve'" in blocks[1].splitlines()[0]


def test_graph_without_scan_prints_no_inner_graphs():
    assert "Inner graphs" not in debugprint(at.dvector("x") * 2, file="str")
