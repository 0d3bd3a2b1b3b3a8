"""Module and data file names are checked before anything touches the disk."""

from __future__ import annotations

import pytest

from aotgraph.toolchain import check_module_name, compile_extension
from aotgraph.toolchain.errors import check_data_files


@pytest.mark.parametrize("name", ["mymod", "_private", "model2", "MyModel"])
def test_valid_module_names_pass(name):
    assert check_module_name(name) == name


@pytest.mark.parametrize(
    "name, reason",
    [
        ("2fast", "not a valid Python identifier"),
        ("my-mod", "not a valid Python identifier"),
        ("my.mod", "not a valid Python identifier"),
        ("", "not a valid Python identifier"),
        ("modèle", "not a valid Python identifier"),
        ("class", "keyword"),
        ("None", "keyword"),
        ("os", "shadow"),
        ("numpy", "shadow"),
        ("_aotgraph_cyutility", "reserved"),
    ],
)
def test_bad_module_names_are_refused(name, reason):
    with pytest.raises(ValueError, match=reason):
        check_module_name(name)


def test_compile_extension_checks_the_name_first():
    with pytest.raises(ValueError, match="keyword"):
        compile_extension("lambda", "this is not even Cython")


@pytest.mark.parametrize("name", ["../evil.npy", "sub/w.npy", ".hidden", "w*.npy", "manifest.json", "x.so", "m.pyx"])
def test_bad_data_file_names_are_refused(name):
    with pytest.raises(ValueError, match="data file name"):
        check_data_files({name: b""})


def test_data_files_must_be_bytes():
    with pytest.raises(TypeError, match="bytes"):
        check_data_files({"w.npy": "text"})
    assert check_data_files({"w.npy": bytearray(b"ab")}) == {"w.npy": b"ab"}
