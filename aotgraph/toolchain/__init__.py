"""Build driver: Cython + the C compiler, the content-addressed build cache, wheels.

Knows nothing of the graph: it takes a rendered ``.pyx`` source and data files and returns
importable modules. The pieces the code generator calls:

- `compile_extension(name, pyx, data)` -> directory with ``name.<EXT_SUFFIX>`` (cached, flat layout);
- `install_dir(name, pyx, data, DIR)` -> ``DIR/name/`` package (``import name`` from DIR);
- `build_wheel(name, pyx, data, DIR)` -> ``DIR/name-<version>-<tags>.whl`` with the same package, from the cache;
- `build_sdist(name, pyx, data, DIR)` -> ``DIR/name-<version>.tar.gz``, which pip builds from source;
- `write_package(...)` -> the rebuild tree (package + setup.py + pyproject.toml) of the sdist and directory;
- `check_module_name(name)`, `BuildError`, `CompilerMissingError`, `CompileTimeoutError`;
- `BuildOptions`: the flags of a build (native, openmp, vector math), one value through all of the above.

``python -m aotgraph.cache`` lists and clears the cache (see `aotgraph.toolchain.cache`).
"""

from aotgraph.toolchain.compiler import compile_extension
from aotgraph.toolchain.errors import BuildError, CompilerMissingError, CompileTimeoutError, check_module_name
from aotgraph.toolchain.options import BuildOptions
from aotgraph.toolchain.wheel import build_sdist, build_wheel, install_dir, write_package

__all__ = [
    "BuildError",
    "BuildOptions",
    "CompileTimeoutError",
    "CompilerMissingError",
    "build_sdist",
    "build_wheel",
    "check_module_name",
    "compile_extension",
    "install_dir",
    "write_package",
]
