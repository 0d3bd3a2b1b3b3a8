"""Shipping a module: install_dir, wheels and sdists give one package layout, found by `import name`."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from buildcases import DATA_PYX, npy_bytes, unique

from aotgraph.toolchain import build_sdist, build_wheel, cache, install_dir, write_package
from aotgraph.toolchain.compiler import EXT_SUFFIX
from aotgraph.toolchain.tags import platform_tags, python_tag, read_elf_needs

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
    assert sorted(p.name for p in Path(package).iterdir()) == [
        "__init__.py", f"_core{EXT_SUFFIX}", "_core.pyx", "pyproject.toml", "setup.py", "weights.npy"]
    assert (Path(package) / "_core.pyx").read_text() == source  # what was compiled, and what rebuilds it
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


def test_the_package_lets_openmp_threads_sleep_unless_the_user_chose(tmp_path):
    """libgomp reads OMP_WAIT_POLICY when the extension loads it: the package sets PASSIVE before, if unset."""
    from aotgraph.toolchain.wheel import INIT_SOURCE

    package = tmp_path / "ag_waits"
    package.mkdir()
    (package / "__init__.py").write_text(INIT_SOURCE)
    (package / "_core.py").write_text("import os\nPOLICY = os.environ.get('OMP_WAIT_POLICY')\n")
    script = "import ag_waits; print(ag_waits.POLICY)"
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"PYTHONPATH": str(tmp_path)}
        if given:
            env["OMP_WAIT_POLICY"] = given
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


def test_write_package_tree(tmp_path):
    root = Path(
        write_package("ag_tree", "def f():\n    pass\n", {"w.npy": b"x", "b.bin": b"y"}, tmp_path, version="2.0")
    )
    assert root == tmp_path / "ag_tree"  # the package directory is its own project: pip wheel ./ag_tree
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["__init__.py", "_core.pyx", "b.bin", "pyproject.toml", "setup.py", "w.npy"]
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "ag_tree" and meta["project"]["version"] == "2.0"
    assert [dep.split(">")[0] for dep in meta["project"]["dependencies"]] == ["numpy"]
    assert meta["tool"]["setuptools"]["package-data"] == {"ag_tree": ["b.bin", "w.npy"]}
    assert meta["tool"]["setuptools"]["package-dir"] == {"ag_tree": "."}
    setup_py = (root / "setup.py").read_text()
    compile(setup_py, "setup.py", "exec")
    assert "'ag_tree._core'" in setup_py and "['_core.pyx']" in setup_py and "-march=native" not in setup_py
    with pytest.raises(ValueError, match="PEP 440"):
        write_package("ag_tree", "", {}, tmp_path, version="one")


def test_manylinux_tags_from_the_extension(tmp_path):
    """The tag comes from the symbol versions the extension needs, as `readelf -V` lists them."""
    package = Path(install_dir("ag_tags", unique(DATA_PYX, "tags"), {"weights.npy": npy_bytes(np.ones(3))}, tmp_path))
    extension = package / f"_core{EXT_SUFFIX}"
    needs = read_elf_needs(extension)
    assert "libc.so.6" in needs.libraries or not sys.platform.startswith("linux")
    readelf = shutil.which("readelf")
    if readelf:  # the same GLIBC versions as binutils reads
        listing = subprocess.run([readelf, "-V", "-W", str(extension)], capture_output=True, text=True).stdout
        import re

        expected = {tuple(int(n) for n in v.split(".")[:2]) for v in re.findall(r"Name: GLIBC_([\d.]+)", listing)}
        assert needs.newest("GLIBC_") == max(expected, default=(0, 0))
    tags, reason = platform_tags(extension)
    if sys.platform.startswith("linux") and needs.newest("GLIBC_") <= (2, 17):
        arch = platform.machine()
        assert tags == [f"manylinux_2_17_{arch}", f"manylinux2014_{arch}"] and reason == ""
    assert python_tag() == f"cp{sys.version_info.major}{sys.version_info.minor}-cp{sys.version_info.major}" \
        f"{sys.version_info.minor}{sys.abiflags}"
    with pytest.raises(ValueError, match="not an ELF"):
        read_elf_needs(package / "__init__.py")


def test_wheel_reuses_the_cached_extension(tmp_path):
    """A wheel of a module built before compiles nothing: the extension comes from the cache, byte for byte."""
    source, data = unique(DATA_PYX, "wheel-reuse"), {"weights.npy": npy_bytes(np.arange(3.0))}
    package = Path(install_dir("ag_reuse", source, data, tmp_path / "dir"))
    builds = cache.stats.builds
    wheel = Path(build_wheel("ag_reuse", source, data, tmp_path / "dist", version="1.0"))
    assert cache.stats.builds == builds
    tags, _ = platform_tags(package / f"_core{EXT_SUFFIX}")
    assert wheel.name == f"ag_reuse-1.0-{python_tag()}-{'.'.join(tags)}.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"ag_reuse/_core{EXT_SUFFIX}") == (package / f"_core{EXT_SUFFIX}").read_bytes()
        assert archive.read("ag_reuse-1.0.dist-info/WHEEL").decode().count("Tag: ") == len(tags)
        record = archive.read("ag_reuse-1.0.dist-info/RECORD").decode()
        assert sorted(line.split(",")[0] for line in record.splitlines()) == sorted(archive.namelist())
    again = Path(build_wheel("ag_reuse", source, data, tmp_path / "dist2", version="1.0"))
    assert again.read_bytes() == wheel.read_bytes()  # reproducible


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.mark.slow
def test_wheel_and_sdist_install_into_a_fresh_venv(tmp_path):
    """The wheel installs with numpy only; the sdist compiles on pip install (build isolation fetches Cython)."""
    start = time.perf_counter()
    data = {"weights.npy": npy_bytes(np.arange(3.0))}
    source = unique(DATA_PYX, "wheel")
    wheel = Path(build_wheel("ag_pkg", source, data, tmp_path / "dist", version="1.2.3"))
    sdist = Path(build_sdist("ag_sdist", source, data, tmp_path / "dist", version="0.2"))
    built = time.perf_counter()
    assert wheel.name.startswith("ag_pkg-1.2.3-") and wheel.suffix == ".whl"
    names = sorted(zipfile.ZipFile(wheel).namelist())
    assert [n for n in names if n.startswith("ag_pkg/")] == [
        "ag_pkg/__init__.py", f"ag_pkg/_core{EXT_SUFFIX}", "ag_pkg/weights.npy"
    ]  # fmt: skip
    assert sdist.name == "ag_sdist-0.2.tar.gz"
    with tarfile.open(sdist) as archive:
        assert sorted(archive.getnames()) == [f"ag_sdist-0.2/{n}" for n in (
            "PKG-INFO", "__init__.py", "_core.pyx", "pyproject.toml", "setup.py", "weights.npy")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no system site-packages
    python = str(_venv_python(venv))
    install = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", f"numpy=={np.__version__}",
               str(wheel), str(sdist)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr  # numpy comes from the package index
    done = subprocess.run([python, "-c", CHECK_PACKAGE.format(setup="")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.0, 1.0, 2.0] ['np', 'os', 'scaled', 'weights']"
    check_sdist = CHECK_PACKAGE.format(setup="").replace("ag_pkg", "ag_sdist")
    done = subprocess.run([python, "-c", check_sdist], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.0, 1.0, 2.0] ['np', 'os', 'scaled', 'weights']"
    listed = subprocess.run([python, "-m", "pip", "show", "-f", "ag_sdist"], capture_output=True, text=True).stdout
    assert "setup.py" not in listed and "_core.pyx" not in listed  # the build script is not part of the package
    took = time.perf_counter() - built
    print(f"wheel + sdist written in {built - start:.1f} s; venv + install + import in {took:.1f} s")
