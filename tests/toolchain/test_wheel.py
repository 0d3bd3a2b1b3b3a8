"""Shipping a module: install_dir and wheels give one package layout, found by `import name`."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from buildcases import DATA_PYX, npy_bytes, unique

from aotgraph.toolchain import BuildError, build_wheel, cache, install_dir, write_package
from aotgraph.toolchain.compiler import EXT_SUFFIX
from aotgraph.toolchain.wheel import _check_wheel_support

# Runs where the package was installed: checks the layout, the data and that aotgraph is not needed.
CHECK_PACKAGE = """
import os, sys, numpy as np
{setup}
import ag_pkg
assert "aotgraph" not in sys.modules
here = os.path.dirname(ag_pkg._core.__file__)
assert here == os.path.dirname(ag_pkg.__file__) and os.path.exists(os.path.join(here, "weights.npy"))
print(ag_pkg.scaled(np.ones(3)).tolist(), sorted(ag_pkg.__all__))
"""


def test_install_dir_makes_an_importable_package(tmp_path, run_python):
    source = unique(DATA_PYX, "install_dir")
    package = install_dir("ag_pkg", source, {"weights.npy": npy_bytes(np.arange(3.0))}, tmp_path)
    assert package == str(tmp_path / "ag_pkg")
    assert sorted(p.name for p in Path(package).iterdir()) == ["__init__.py", f"_core{EXT_SUFFIX}", "weights.npy"]
    out = run_python(CHECK_PACKAGE.format(setup=f"sys.path.insert(0, {str(tmp_path)!r})"))
    assert out.strip() == "[0.0, 1.0, 2.0] ['np', 'os', 'scaled', 'weights']"

    # Again with new data: the extension comes from the cache and the package is replaced.
    hits = cache.stats.hits
    install_dir("ag_pkg", source, {"weights.npy": npy_bytes(np.full(3, 5.0))}, tmp_path)
    assert cache.stats.hits == hits + 1
    out = run_python(CHECK_PACKAGE.format(setup=f"sys.path.insert(0, {str(tmp_path)!r})"))
    assert out.startswith("[5.0, 5.0, 5.0]")


def test_install_dir_does_not_overwrite_foreign_directories(tmp_path):
    (tmp_path / "ag_mine").mkdir()
    (tmp_path / "ag_mine" / "__init__.py").write_text("# my own code\n")
    with pytest.raises(FileExistsError, match="not made by aotgraph"):
        install_dir("ag_mine", "def f():\n    pass\n", {}, tmp_path)
    assert (tmp_path / "ag_mine" / "__init__.py").read_text() == "# my own code\n"


def test_a_missing_openmp_runtime_is_named_at_import(tmp_path, monkeypatch):
    """A module built with openmp=True, imported where libgomp is missing, says what to install."""
    from aotgraph.toolchain.wheel import INIT_SOURCE

    package = tmp_path / "ag_no_gomp"
    package.mkdir()
    (package / "__init__.py").write_text(INIT_SOURCE)
    (package / "_core.py").write_text(  # what the dynamic loader says when libgomp.so.1 is absent
        'raise ImportError("libgomp.so.1: cannot open shared object file: No such file or directory")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"ag_no_gomp was built with .*openmp=True.*libgomp1.*openmp=False"):
        import ag_no_gomp  # noqa: F401


def test_write_package_tree(tmp_path):
    root = Path(
        write_package("ag_tree", "def f():\n    pass\n", {"w.npy": b"x", "b.bin": b"y"}, tmp_path, version="2.0")
    )
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["ag_tree/__init__.py", "ag_tree/_core.pyx", "ag_tree/b.bin", "ag_tree/w.npy",
                     "pyproject.toml", "setup.py"]  # fmt: skip
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "ag_tree" and meta["project"]["version"] == "2.0"
    assert [dep.split(">")[0] for dep in meta["project"]["dependencies"]] == ["numpy"]
    assert meta["tool"]["setuptools"]["package-data"] == {"ag_tree": ["b.bin", "w.npy"]}
    setup_py = (root / "setup.py").read_text()
    compile(setup_py, "setup.py", "exec")
    assert "'ag_tree._core'" in setup_py and "-march=native" not in setup_py


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path):
    try:
        _check_wheel_support()
    except BuildError as exc:
        pytest.skip(str(exc))
    start = time.perf_counter()
    data = {"weights.npy": npy_bytes(np.arange(3.0))}
    wheel = Path(build_wheel("ag_pkg", unique(DATA_PYX, "wheel"), data, tmp_path / "dist", version="1.2.3"))
    built = time.perf_counter()
    assert wheel.name.startswith("ag_pkg-1.2.3-") and wheel.suffix == ".whl"
    names = sorted(zipfile.ZipFile(wheel).namelist())
    assert [n for n in names if n.startswith("ag_pkg/")] == [
        "ag_pkg/__init__.py", f"ag_pkg/_core{EXT_SUFFIX}", "ag_pkg/weights.npy"
    ]  # fmt: skip

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no system site-packages
    python = str(_venv_python(venv))
    install = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr  # numpy comes from the package index
    done = subprocess.run([python, "-c", CHECK_PACKAGE.format(setup="")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.0, 1.0, 2.0] ['np', 'os', 'scaled', 'weights']"
    print(f"wheel built in {built - start:.1f} s; venv + install + import in {time.perf_counter() - built:.1f} s")
