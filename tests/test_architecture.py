"""The layout of docs/ARCHITECTURE.md holds: every module is importable under its own name, and the
import contracts in pyproject.toml (layers, no cycles, imports inside functions included) are kept."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys

import pytest

import aotgraph

PACKAGE_DIR = pathlib.Path(aotgraph.__file__).parent
ROOT = PACKAGE_DIR.parent
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1] if path.name == "__init__.py"
             else path.relative_to(ROOT).with_suffix("").parts)
    for path in PACKAGE_DIR.rglob("*.py")
)


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_imports_under_its_dotted_name(name):
    module = importlib.import_module(name)
    assert module.__name__ == name
    parent, _, leaf = name.rpartition(".")
    if parent:  # the parent's attribute of that name is the module, not a function that shadows it
        assert getattr(importlib.import_module(parent), leaf) is module


def test_import_contracts_are_kept():
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
