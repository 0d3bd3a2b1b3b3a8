"""ag.build: a module that imports and runs without aotgraph, shares state, pickles; names are only data."""

from __future__ import annotations

import hashlib
import sys
import textwrap

import numpy as np
import pytest
from cgcases import REPO, run_python

import aotgraph as ag
import aotgraph.tensor as at
from aotgraph.codegen.aot import build, render_build

EVIL = "f'\"\n\"\"\"; import os; os._exit(3) #\\"  # a name full of quotes, newlines and code


def _functions(evil=EVIL):
    x = at.dvector("x")
    w = ag.shared(np.zeros(3), name="w")
    count = ag.shared(np.int64(0))  # unnamed
    weird = ag.shared(np.ones(2), name=evil)
    acc = ag.function([x], w * x, updates=[(w, w + x), (count, count + 1)], name="acc", mode="FAST_COMPILE")
    peek = ag.function([], [w + 0, count + 0], name=evil, mode="FAST_COMPILE")
    y = at.dvector(evil)
    scale = ag.function([ag.Param(y, default=np.full(2, 3.0), name=evil)], y * weird + at.sum(w), name="scale",
                        mode="FAST_COMPILE")
    return {"acc": acc, "peek": peek, "scale": scale}, w, count


@pytest.fixture(scope="module")
def built(tmp_path_factory, codegen_cache_dir):
    functions, w, count = _functions()
    out = tmp_path_factory.mktemp("aot")
    result = build(functions, "cg_aot", out)
    return out, result, functions


def _isolated(out, body: str) -> str:
    """Run `body` where aotgraph cannot be imported and `out` is on sys.path."""
    head = f"import sys\nsys.modules['aotgraph'] = None\nsys.path.insert(0, {str(out)!r})\nEVIL = {EVIL!r}\n"
    code = head + textwrap.dedent(body)
    return run_python(code, isolated=True)


def test_layout(built):
    out, result, _ = built
    assert result.module == "cg_aot" and result.path == str(out / "cg_aot") and result.wheel is None
    names = sorted(p.name for p in (out / "cg_aot").iterdir())
    assert "aotgraph_data.npz" in names and "__init__.py" in names
    core = next(p for p in (out / "cg_aot").iterdir() if p.name.startswith("_core") and p.suffix in (".so", ".pyd"))
    assert b"libgomp" not in core.read_bytes()  # by default a built module needs numpy alone, not OpenMP


def test_runs_without_aotgraph(built):
    out, _, _ = built
    printed = _isolated(out, """
        import numpy as np, pickle
        import cg_aot
        f = cg_aot.acc
        assert isinstance(f, cg_aot.Function) and cg_aot.Function.__name__ == "Function"
        assert type(f).__mro__[1].__name__ == "_FastCall"  # the module's C front comes first
        assert type(f).__flags__ & (1 << 11)  # and calls reach it by vectorcall (keywords without a dict)
        print(f(np.ones(3)).tolist(), f(np.arange(3.0)).tolist())
        print(cg_aot.get_value("w").tolist(), cg_aot.get_value(1).tolist())
        peek = cg_aot.functions["peek"]
        assert peek is cg_aot.peek and peek.name == EVIL
        print([a.tolist() for a in peek()])  # shares w and count with acc
        cg_aot.set_value("w", [10.0, 20.0, 30.0])
        print(f(np.ones(3)).tolist(), cg_aot.shared_names())
        print(cg_aot.scale().tolist(), cg_aot.scale(np.ones(2)).tolist())
        cg_aot.scale._call = lambda args, kwargs: "the general path"
        print(cg_aot.scale(**{EVIL: np.ones(2)}).tolist(), cg_aot.scale(np.ones(2), **{EVIL: np.ones(2)}))
        del cg_aot.scale._call
        g = pickle.loads(pickle.dumps(f))
        print(type(g._origin).__name__, g(np.ones(3)).tolist(), cg_aot.get_value("w").tolist())
        print(sorted(m for m in sys.modules if m.startswith("aotgraph")))
    """)
    lines = printed.splitlines()
    assert lines[0] == "[0.0, 0.0, 0.0] [0.0, 1.0, 2.0]"
    assert lines[1] == "[1.0, 2.0, 3.0] 2"
    assert lines[2] == "[[1.0, 2.0, 3.0], 2]"
    assert lines[3] == f"[10.0, 20.0, 30.0] ['w', None, {EVIL!r}]"
    assert lines[4] == "[66.0, 66.0] [64.0, 64.0]"  # default y=3: 3 * 1 + sum(w) where w = 11 + 21 + 31
    # a keyword that is no identifier, bound in C; given twice, the call goes the general way
    assert lines[5] == "[64.0, 64.0] the general path"
    assert lines[6] == "_ModuleOrigin [11.0, 21.0, 31.0] [11.0, 21.0, 31.0]"  # the copy updated its own w
    assert lines[7] == "['aotgraph']"  # only the blocked entry: nothing of aotgraph was imported


def test_pickled_function_state_and_profile(built):
    out, _, _ = built
    printed = _isolated(out, """
        import numpy as np, pickle
        import cg_aot
        f = cg_aot.acc
        f(np.ones(3))
        data = pickle.dumps(f)
        cg_aot.set_value("w", np.zeros(3))
        g = pickle.loads(data)  # the pickled shared values in new containers, never recompiled
        print(cg_aot.get_value("w").tolist(), g["w"].tolist(), g.name, g is not f)
        g(np.ones(3))  # updates its own w only
        print(cg_aot.get_value("w").tolist(), g["w"].tolist(), f["w"].tolist())
        acc, peek = pickle.loads(pickle.dumps([f, cg_aot.peek]))  # pickled together: they share w again
        acc(np.full(3, 5.0))
        print(peek()[0].tolist(), cg_aot.peek()[0].tolist())
        f.profile = cg_aot.ProfileStats()
        f(np.ones(3))
        print(sorted(f.profile.fct_callcount.items()), len(f.profile.node_time) > 0)
    """)
    lines = printed.splitlines()
    assert lines[0] == "[0.0, 0.0, 0.0] [1.0, 1.0, 1.0] acc True"
    assert lines[1] == "[0.0, 0.0, 0.0] [2.0, 2.0, 2.0] [0.0, 0.0, 0.0]"
    assert lines[2] == "[5.0, 5.0, 5.0] [0.0, 0.0, 0.0]"
    assert lines[3].startswith("[('acc', 1)] True")


def test_built_functions_describe_themselves(built):
    """Signature, docstring, the generated source and type stubs: all readable without aotgraph."""
    out, _, _ = built
    printed = _isolated(out, """
        import ast, inspect, os
        import cg_aot
        print(inspect.signature(cg_aot.acc), inspect.signature(cg_aot.scale))
        print(cg_aot.acc.__doc__.splitlines()[0])
        print([line.strip() for line in cg_aot.acc.__doc__.splitlines()[4:]])
        here = os.path.dirname(cg_aot.__file__)
        with open(os.path.join(here, "_core.pyx")) as f:
            print(cg_aot.acc.source == f.read(), os.path.exists(os.path.join(here, "py.typed")))
        with open(os.path.join(here, "__init__.pyi")) as f:
            stub = ast.parse(f.read())
        calls = {node.name: ast.unparse(node.body[0].args) + " -> " + ast.unparse(node.body[0].returns)
                 for node in stub.body if isinstance(node, ast.ClassDef) and node.name.startswith("_Function_")}
        print(sorted(calls.items()))
    """)
    lines = printed.splitlines()
    assert lines[0] == "(x) (_0=array([3., 3.]), /)"  # an input named EVIL cannot be a keyword
    assert lines[1] == "acc(x)"
    assert lines[2] == str(["Inputs:", "x: float64, shape (?,)", "Outputs:", "0: float64, shape (?,)",
                            "(returned alone, not in a list)", "Updates the shared variables: w, <shared 1>"])
    assert lines[3] == "True True"
    assert lines[4] == str(sorted({
        "_Function_acc": "self, x: ArrayLike -> np.ndarray",
        "_Function_peek": "self -> list[np.ndarray]",
        "_Function_scale": "self, _0: ArrayLike=..., / -> np.ndarray",
    }.items()))


def _code_tokens(source: str) -> list:
    """The tokens of the module and of its embedded Python part, string literals and comments left out."""
    import ast
    import io
    import tokenize

    lines = source.splitlines()
    start = lines.index("_AG_PYTHON = (")
    end = lines.index(")", start)
    python = "".join(ast.literal_eval(line.strip()) for line in lines[start + 1:end])
    skip = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE}
    tokens = []
    for text in (source, python):
        tokens += [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline)
                   if t.type not in skip]
    return tokens


def test_user_names_are_literals_only():
    """Names full of quotes, newlines and code change string literals only: the code is the same."""
    evil, _, _ = _functions(EVIL)
    plain, _, _ = _functions("plain")
    evil_source, plain_source = render_build(evil, "cg_aot")[0], render_build(plain, "cg_aot")[0]
    assert evil_source != plain_source
    assert _code_tokens(evil_source) == _code_tokens(plain_source)


def test_rendering_is_deterministic_across_processes(built):
    functions, _, _ = _functions()
    here = hashlib.sha256(render_build(functions, "cg_aot")[0].encode()).hexdigest()
    code = textwrap.dedent(f"""
        import hashlib, sys
        sys.path.insert(0, {str(REPO / 'tests' / 'codegen')!r})
        from test_codegen_aot import _functions
        from aotgraph.codegen.aot import render_build
        print(hashlib.sha256(render_build(_functions()[0], "cg_aot")[0].encode()).hexdigest())
    """)
    assert run_python(code, isolated=False).strip() == here


def test_refusals(tmp_path):
    x = at.dscalar()
    nameless = ag.function([x], x + 1, mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="name"):
        build(nameless, "cg_bad", tmp_path)
    named = ag.function([x], x + 1, mode="FAST_COMPILE", name="f")
    for bad in ("1abc", "my-mod", "os", "import", ""):
        with pytest.raises(ValueError):
            build(named, bad, tmp_path)
    for public in ("get_value", "_private", "not an identifier", "Function"):
        with pytest.raises(ValueError):
            build({public: named}, "cg_bad", tmp_path)
    with pytest.raises(TypeError):
        build([named], "cg_bad", tmp_path)


def test_single_function_is_exposed_under_its_name(tmp_path, codegen_cache_dir, monkeypatch):
    """The documented two-argument call writes into the current directory, with what rebuilds the module."""
    x = at.dscalar("x")
    f = ag.function([x], 2 * x, mode="FAST_COMPILE", name="double")
    monkeypatch.chdir(tmp_path)
    result = ag.build(f, "cg_single")
    assert result.path == str(tmp_path / "cg_single") and result.wheel is None and result.sdist is None
    assert {"_core.pyx", "setup.py", "pyproject.toml"} <= {p.name for p in (tmp_path / "cg_single").iterdir()}
    assert _isolated(tmp_path, "import cg_single\nprint(float(cg_single.double(4.0)))").strip() == "8.0"


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path, codegen_cache_dir):
    """The wheel, pip-installed into a new virtual environment with numpy only, imports and runs."""
    import subprocess

    functions, _, _ = _functions()
    result = build(functions, "cg_wheel", tmp_path / "out", wheel=True)
    assert result.wheel and result.wheel.endswith(".whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    numpy_spec = f"numpy=={np.__version__}"
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", numpy_spec,
                           result.wheel], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    code = "import numpy as np, cg_wheel\nprint(cg_wheel.acc(np.ones(3)).tolist(), cg_wheel.acc(np.ones(3)).tolist())"
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.0, 0.0, 0.0] [1.0, 1.0, 1.0]"
