"""In-process kernels cimport aotgraph's own numpy declarations (templates/kernel_numpy.pxd), not numpy's.

A name the code generators print as `cnp.NAME` but the file does not declare fails only when a kernel that
uses it is compiled (Cython: "cimported module has no attribute"); this reads every generator and template
and names the missing declarations at once, without compiling.
"""

from __future__ import annotations

import re
from pathlib import Path

import aotgraph

PACKAGE = Path(aotgraph.__file__).parent


def used_names() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    sources = [*(PACKAGE / "codegen").glob("*.py"), *(PACKAGE / "templates").glob("*.j2")]
    for path in sources:
        for name in re.findall(r"\bcnp\.([A-Za-z_][A-Za-z_0-9]*)", path.read_text()):
            used.setdefault(name, set()).add(path.name)
    return used


def test_every_numpy_name_the_generators_print_is_declared():
    declarations = (PACKAGE / "templates" / "kernel_numpy.pxd").read_text()
    missing = {name: sorted(files) for name, files in used_names().items()
               if not re.search(rf"\b{name}\b", declarations)}
    assert not missing, f"add numpy's declarations of these names to templates/kernel_numpy.pxd: {missing}"


def test_the_check_sees_the_names_in_use():
    used = used_names()
    assert {"PyArray_DATA", "ndarray", "PyArray_GETCONTIGUOUS"} <= set(used)
