"""`ag.build`: functions compiled ahead of time into one importable module (and optionally a wheel).

The module holds the runtime (the Function class etc., inlined from aotgraph/runtime), one kernel
per function, and a fixed API (templates/aot_api.py.j2). Everything the user named (function,
input and shared variable names) and every value (initial shared values, constants, defaults)
goes in as data: names as repr'd literals, arrays in `aotgraph_data.npz` beside the module.
"""

from __future__ import annotations

import io
import keyword
import logging
import os
import time
import zipfile
from dataclasses import dataclass

import numpy as np

from aotgraph.codegen.lower import lower
from aotgraph.codegen.render import render_module, render_template
from aotgraph.codegen.runtime_source import AST_LOCK, runtime_names
from aotgraph.codegen.scalar import vector_math_functions
from aotgraph.codegen.stubs import render_stub
from aotgraph.rewrite import optimize_spec
from aotgraph.runtime import Function
from aotgraph.toolchain import BuildOptions, build_sdist, build_wheel, check_module_name, install_dir

DATA_FILE = "aotgraph_data.npz"
STUB_FILE = "__init__.pyi"
log = logging.getLogger(__name__)
API_NAMES = frozenset({"functions", "shared", "get_value", "set_value", "shared_names", "set_num_threads",
                       "get_num_threads", "np", "cnp"})


@dataclass(frozen=True)
class BuildResult:
    """Where `build` put things: `path` is the package directory (put its parent on sys.path)."""

    module: str
    path: str
    wheel: str | None = None
    sdist: str | None = None

    def __fspath__(self) -> str:
        return self.path


def build(spec, module_name: str, output_dir: str | os.PathLike = ".", wheel: bool = False, *, native: bool = False,
          version: str = "0.1.0", compile_runtime: bool = False, openmp: bool = False,
          vector_math: bool = False, sdist: bool = False, annotate: bool = False) -> BuildResult:
    """Compile Function `spec` (exposed under its name) or a dict {public_name: Function} into `module_name`.

    Writes the package ``output_dir/module_name/`` (default: the current directory), so that from
    `output_dir` ``import module_name`` works and needs numpy only::

        f = ag.function([x], 2 * x, name="double")
        ag.build(f, "mymod")        # then: import mymod; mymod.double(3.0)

    The package directory also holds the generated ``_core.pyx`` and a ``setup.py``/``pyproject.toml``
    that rebuild it anywhere (``pip wheel ./mymod``). All functions of one call share their shared
    variables (one container per shared variable). wheel=True also writes a .whl into `output_dir`
    (portable flags, tagged manylinux when it qualifies, made from the cached extension: no second
    compile); sdist=True writes ``<name>-<version>.tar.gz``, which ``pip install`` compiles on the target
    (any Python >= 3.10 with a C compiler). `version` is the wheel's and sdist's version.
    `native` tunes the directory build for this CPU. `annotate` keeps Cython's HTML annotation of the module
    (``mymod/_core.html``: the lines that call into Python are highlighted).
    `openmp` (opt-in): large loops of the directory build run on several threads (AOTGRAPH_NUM_THREADS or
    `module.set_num_threads(n)` sets how many); off by default because the module then needs the OpenMP
    runtime, libgomp, where it is imported, which slim images lack (importing it there says so).
    `vector_math` (opt-in): loops call the C library's vector variants of exp, log, ... (glibc's
    libmvec) when it has them: several times faster on such loops, results within an ulp or so of the scalar
    functions (and, as always, the same bits on every call: see codegen/linker.py); off by default because the
    module then needs a C library with those variants (glibc >= 2.35 for all of them) where it is imported.
    Wheels never use either.
    `compile_runtime` compiles the runtime (Function class) with Cython too instead of running it as
    Python: ~10 s more gcc time; worth it only once the runtime is written with Cython types.
    """
    check_module_name(module_name)
    source, data = build_sources(spec, module_name, compile_runtime=compile_runtime)
    options = BuildOptions(native, openmp, vector_math, vector_math_functions() if vector_math else ())
    path = install_dir(module_name, source, data, output_dir, options, version=version, annotate=annotate)
    wheel_path = None
    if wheel:
        wheel_path = build_wheel(module_name, source, data, output_dir, version=version, annotate=annotate)
    sdist_path = build_sdist(module_name, source, data, output_dir, version=version) if sdist else None
    return BuildResult(module_name, path, wheel_path, sdist_path)


def build_sources(spec, module_name: str, compile_runtime: bool = False) -> tuple[str, dict[str, bytes]]:
    """(the .pyx source, the package's data files: values, type stubs, py.typed) of `build`'s module."""
    functions = _normalize(spec)
    started = time.perf_counter()
    source, data = render_build(functions, module_name, compile_runtime=compile_runtime)
    log.info("aotgraph: building %s from %d function(s) (%s): graphs optimized and rendered in %.1f s",
             module_name, len(functions), ", ".join(functions), time.perf_counter() - started)
    return source, {**data, STUB_FILE: render_stub(module_name, functions).encode(), "py.typed": b""}


def _normalize(spec) -> dict:
    if isinstance(spec, Function):
        if spec.name is None:
            raise ValueError(
                "build() needs a name for the function: pass name='...' to ag.function, or give a dict "
                "{public_name: function}"
            )
        functions = {spec.name: spec}
    elif isinstance(spec, dict):
        if not spec:
            raise ValueError("build() got an empty dict: give at least one function")
        functions = dict(spec)
    else:
        raise TypeError(f"build() takes a Function or a dict {{name: Function}}, got {type(spec).__name__}")
    reserved = API_NAMES | runtime_names()
    for name, fn in functions.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(
                f"{name!r} cannot name a function of a module: use a Python identifier not starting with '_'"
            )
        if name in reserved:
            raise ValueError(f"{name!r} is a name of the module's own API; choose another name for the function")
        if not isinstance(fn, Function):
            raise TypeError(f"build(): {name!r} maps to {type(fn).__name__}, not a Function from ag.function")
        if getattr(fn, "_spec", None) is None:
            raise ValueError(f"build(): function {name!r} does not carry the spec it was compiled from")
    return functions


def render_build(functions: dict, module_name: str, compile_runtime: bool = False) -> tuple[str, dict[str, bytes]]:
    """(the module's .pyx source, its data files) for `functions` ({public name: Function})."""
    containers: list = []
    index_of: dict[int, int] = {}
    arrays: dict[str, np.ndarray] = {}
    kernels, specs = [], []
    input_containers: dict[int, str] = {}
    for number, (public, fn) in enumerate(functions.items()):
        kernel = lower(optimize_spec(fn._spec, "fast_run"), f"f{number}")
        kernels.append(kernel)
        for container in fn._shared:
            if id(container) not in index_of:
                index_of[id(container)] = len(containers)
                arrays[f"shared_{len(containers)}"] = np.asarray(container.value)
                containers.append(container)
        consts = []
        for j, value in enumerate(kernel.const_values):
            arrays[f"f{number}_const_{j}"] = value
            consts.append(f"f{number}_const_{j}")
        inputs = []
        for position, slot in enumerate(fn._inputs):
            owner = input_containers.setdefault(id(slot.container), f"{public!r} ({slot.describe()})")
            if owner != f"{public!r} ({slot.describe()})" or id(slot.container) in index_of:
                raise ValueError(
                    f"build(): input {slot.describe()} of function {public!r} shares its default's container "
                    f"with {owner} (In(value=f.container[...])); a built module keeps one default per input: "
                    "use a shared variable for state that several functions share"
                )
            key = None
            if slot.has_default:
                key = f"f{number}_default_{position}"
                arrays[key] = np.asarray(slot.container.value)
            inputs.append((slot.name, slot.dtype.name, tuple(slot.shape), bool(slot.strict),
                           slot.allow_downcast, bool(slot.mutable), key, bool(slot.implicit)))
        specs.append(dict(
            public=public, name=fn.name, inputs=inputs,
            shared=[index_of[id(c)] for c in fn._shared],
            outputs=[(bool(b), bool(m)) for b, m in fn._outputs],
            output_types=[(str(d), tuple(s)) for d, s in fn._output_types or []],
            updates=[((kind, index), position, bool(m)) for (kind, index), position, m in fn._updates],
            unpack_single=bool(fn._unpack_single), trust_input=bool(fn.trust_input),
            consts=consts, where=list(kernel.descriptions), labels=list(kernel.labels),
        ))
    shared_specs = [(c.name, c.dtype.name, tuple(c.shape), bool(c.strict), c.allow_downcast)
                    for c in containers]
    floatx = next(iter(functions.values()))._floatX
    api = render_template(
        "aot_api.py.j2",
        data_file=repr(DATA_FILE),
        floatx=repr(floatx),
        shared_specs=_literal(shared_specs),
        function_specs=_literal(specs),
    )
    title = f"Module {module_name} built by aotgraph: functions and shared variables are listed in __all__."
    source = render_module(kernels, runtime=True, api=api, title=title, compile_python=compile_runtime)
    return source, {DATA_FILE: _npz_bytes(arrays)}


def _literal(value) -> str:
    """A Python literal for `value` (nested lists/tuples/dicts of str, int, bool, None), checked to round-trip."""
    import ast

    text = repr(value)
    with AST_LOCK:  # CPython 3.11's parser is not safe in two threads at once (gh-106905)
        same = ast.literal_eval(text) == value
    if not same:
        raise AssertionError("a build literal does not round-trip through repr")
    return text


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive of `arrays` with fixed timestamps (same values, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arrays[name]), allow_pickle=False)
    return buffer.getvalue()
