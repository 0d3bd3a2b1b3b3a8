"""Kept for tools that still call setup.py; all metadata lives in pyproject.toml.

At install time it also builds what every in-process compiled function needs (aotgraph's kernel support and
Cython's shared utility module) into aotgraph/_prebuilt, a read-only part of the build cache: a user's first
compiled function then compiles its own kernels only. If that fails, the install goes on and the helpers are
built on first use instead. Set AOTGRAPH_NO_PREBUILD=1 to skip it.
"""

import os
import sys
import warnings
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithHelpers(build_py):
    def run(self):
        super().run()
        package = HERE / "aotgraph" if getattr(self, "editable_mode", False) else Path(self.build_lib) / "aotgraph"
        prebuild(package / "_prebuilt")


def prebuild(target: Path) -> None:
    if os.environ.get("AOTGRAPH_NO_PREBUILD"):
        return
    sys.path.insert(0, str(HERE))
    try:
        from aotgraph.codegen.linker import prebuild_support

        for entry in prebuild_support(str(target)):
            print(f"aotgraph: prebuilt {entry}")
    except Exception as err:  # never fail the install: the helpers are then built on first use
        warnings.warn(f"aotgraph could not prebuild its kernel support ({type(err).__name__}: {err}); "
                      "it is built into the build cache on first use instead", stacklevel=1)
    finally:
        sys.path.remove(str(HERE))


setup(cmdclass={"build_py": BuildPyWithHelpers})
