"""The C compiler: its command line, the OpenMP probe, and running it with its output captured.

We call the compiler ourselves instead of going through setuptools' ``build_ext``. The command is
the one setuptools would run (Python's ``CC``/``LDSHARED``/``CCSHARED`` from sysconfig, with the
``CC``, ``LDSHARED``, ``CFLAGS``, ``CPPFLAGS`` and ``LDFLAGS`` environment overrides applied the same
way), but in one compile-and-link step, without ``-g`` (debug info costs compile time and disk),
with our optimisation flags, and with the compiler's output captured for error messages.
setuptools would add ~0.3 s of imports and print the compiler's errors to the terminal rather
than to us. POSIX compilers (gcc, clang) only; wheels go through setuptools (see wheel.py).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from pathlib import Path

from aotgraph.configparser import config
from aotgraph.diagnostics import warn_user
from aotgraph.toolchain.errors import BuildError, CompilerMissingError, CompileTimeoutError
from aotgraph.toolchain.options import BuildOptions

# Portable: the same binary runs on any CPU of this architecture. -O1 with -O3's vectorizer: most of a module's
# C is Cython's Python-level glue, on which gcc -O2 spends ~30% more time than -O1 for nothing measurable, while
# our loops run as fast (fused elementwise 0.98x, a call 1.03x, gcc 12, interleaved in one process) or faster
# (the fused reduction sum((a-b)**2): 0.34x of its -O2 time) and give the same bits. Code that gains from more
# (the Philox generator, codegen/random_kernel.py) asks for it with `#pragma GCC optimize`.
OPT_FLAGS = ("-O1", "-ftree-vectorize", "-fvect-cost-model=dynamic")
NATIVE_FLAGS = ("-march=native",)
OPENMP_FLAGS = ("-fopenmp",)
# vector variants of exp, log, ... (glibc's libmvec, reached through libm): loops calling them vectorize
VECTOR_MATH_FLAGS = ("-fopenmp-simd", "-fno-math-errno", "-DAOTGRAPH_VECTOR_MATH")
VECTOR_MATH_LDFLAGS = ("-lm",)
# -ffp-contract=off: never fuse a*b+c into one FMA instruction (-march=native has them), which would round
# differently from numpy's separate multiply and add
_BASE_FLAGS = ("-fwrapv", "-ffp-contract=off", "-DNDEBUG", "-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION")

_NO_COMPILER_HELP = (
    "aotgraph compiles graphs to C and needs a C compiler for that. Install one (Debian/Ubuntu: "
    "'apt-get install gcc' or 'apt-get install build-essential'; Fedora: 'dnf install gcc'; "
    "macOS: 'xcode-select --install'), or point the CC environment variable at it, "
    "or use mode='FAST_COMPILE', which runs the graph with numpy and needs no compiler."
)


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """The command that turns one C file into an extension module: ``argv + [c_file, -o, out] + ldflags``."""

    argv: tuple[str, ...]
    ldflags: tuple[str, ...]
    openmp: bool
    vector_math: bool = False

    def describe(self) -> str:
        """Everything that changes the binary, for the cache key."""
        return shlex.join(self.argv + ("<c>", "-o", "<so>") + self.ldflags)


def _sysconfig_command() -> tuple[list[str], list[str], list[str]]:
    """(compiler + shared-link argv, extra cflags, extra ldflags) as distutils' customize_compiler makes them."""
    cc = sysconfig.get_config_var("CC") or "cc"
    ldshared = sysconfig.get_config_var("LDSHARED") or f"{cc} -shared"
    if os.environ.get("CC"):
        if "LDSHARED" not in os.environ and ldshared.startswith(cc):
            ldshared = os.environ["CC"] + ldshared[len(cc) :]
        cc = os.environ["CC"]
    ldshared = os.environ.get("LDSHARED") or ldshared
    cflags = shlex.split(os.environ.get("CFLAGS", "")) + shlex.split(os.environ.get("CPPFLAGS", ""))
    ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
    ccshared = shlex.split(sysconfig.get_config_var("CCSHARED") or "")
    return shlex.split(ldshared) + ccshared, cflags, ldflags


def toolchain(options: BuildOptions = BuildOptions(), include_dirs: tuple[str, ...] = ()) -> Toolchain:
    """The compile command for the current environment (cheap: no process is started)."""
    argv, env_cflags, ldflags = _sysconfig_command()
    flags = [*_BASE_FLAGS, *OPT_FLAGS, *(NATIVE_FLAGS if options.native else ()),
             *(OPENMP_FLAGS if options.openmp else ())]
    if options.vector_math:
        flags += VECTOR_MATH_FLAGS
        ldflags = ldflags + list(VECTOR_MATH_LDFLAGS)
    includes = [f"-I{d}" for d in (sysconfig.get_paths()["include"], *include_dirs)]
    return Toolchain(tuple(argv + flags + includes + env_cflags), tuple(ldflags), options.openmp, options.vector_math)


def check_compiler(chain: Toolchain) -> None:
    """Raise CompilerMissingError unless the compiler of `chain` can be found."""
    if os.name == "nt":
        raise BuildError("aotgraph builds extension modules with POSIX compilers (gcc, clang); not on Windows yet")
    exe = chain.argv[0]
    if shutil.which(exe) is None:
        raise CompilerMissingError(f"No C compiler found: {exe!r} is not an executable on PATH. {_NO_COMPILER_HELP}")


def without_openmp(chain: Toolchain) -> Toolchain:
    argv = tuple(arg for arg in chain.argv if arg not in OPENMP_FLAGS)
    return Toolchain(argv, chain.ldflags, openmp=False, vector_math=chain.vector_math)


def without_vector_math(chain: Toolchain) -> Toolchain:
    argv = tuple(arg for arg in chain.argv if arg not in VECTOR_MATH_FLAGS)
    ldflags = tuple(arg for arg in chain.ldflags if arg not in VECTOR_MATH_LDFLAGS)
    return Toolchain(argv, ldflags, openmp=chain.openmp, vector_math=False)


def resolve_vector_math(chain: Toolchain, functions: tuple[tuple[str, int], ...]) -> Toolchain:
    """`chain` if it does not ask for vector math or the C library has vector variants of every one of
    `functions` ((float64 name, arity), see BuildOptions); else `chain` without it (no warning: the loops are
    then as fast as scalar calls of the functions allow, and give the same results)."""
    if not chain.vector_math:
        return chain
    plain = without_vector_math(chain)
    return chain if _vector_math_works(plain.argv, plain.ldflags, tuple(functions)) else plain


def vector_probe_source(functions: tuple[tuple[str, int], ...]) -> str:
    """A C file declaring `functions` (and their float variants) with vector variants and calling each in a loop
    that gcc vectorizes: it links only if the C library has every variant."""
    lines = ["#include <math.h>"]
    double_calls, float_calls = ["0"], ["0"]
    for name, arity in functions:
        for ctype, fname, calls, var in (("double", name, double_calls, "a"), ("float", name + "f", float_calls, "b")):
            params = ", ".join([ctype] * arity)
            lines += ['_Pragma("omp declare simd notinbranch")', f"extern {ctype} {fname}({params});"]
            calls.append(f"{fname}({', '.join([f'{var}[i]'] * arity)})")
    lines += ["void aotgraph_probe(double *restrict a, float *restrict b, int n) {",
              "    for (int i = 0; i < n; i++)", f"        a[i] = {' + '.join(double_calls)};",
              "    for (int i = 0; i < n; i++)", f"        b[i] = {' + '.join(float_calls)};", "}"]
    return "\n".join(lines) + "\n"


@functools.cache
def _vector_math_works(argv: tuple[str, ...], ldflags: tuple[str, ...], functions: tuple[tuple[str, int], ...]) -> bool:
    """Compile and link (refusing undefined symbols) a loop over every function declared with vector variants."""
    with tempfile.TemporaryDirectory(prefix="aotgraph-vmath-") as tmp:
        Path(tmp, "probe.c").write_text(vector_probe_source(functions))
        cmd = [*argv, *VECTOR_MATH_FLAGS, "probe.c", "-o", "probe.so", "-Wl,-z,defs", *ldflags, *VECTOR_MATH_LDFLAGS]
        try:
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


_probing = threading.Lock()  # one thread runs a probe; others then find its answer cached


def start_probes(chain: Toolchain, functions: tuple[tuple[str, int], ...]) -> threading.Thread:
    """Run the probes that resolve_openmp and resolve_vector_math(chain, functions) need, in a thread.

    They are compiles (~0.1 and ~0.3 s, once per process): started before Cython runs, they overlap it, and the
    resolve_* calls after it find their answers cached (and warn, if they must, from the caller's thread)."""

    def run() -> None:
        with _probing:
            resolved = chain
            if chain.openmp:
                plain = without_openmp(chain)
                resolved = chain if _openmp_works(plain.argv, plain.ldflags) else plain
            if resolved.vector_math:
                plain = without_vector_math(resolved)
                _vector_math_works(plain.argv, plain.ldflags, tuple(functions))

    thread = threading.Thread(target=run, name="aotgraph-compiler-probes", daemon=True)
    thread.start()
    return thread


def resolve_openmp(chain: Toolchain) -> Toolchain:
    """`chain` if it does not ask for OpenMP or the compiler supports it; else `chain` without it, warning."""
    if not chain.openmp:
        return chain
    plain = without_openmp(chain)
    if _openmp_works(plain.argv, plain.ldflags):
        return chain
    warn_user(
        f"the C compiler {chain.argv[0]!r} does not support OpenMP ({' '.join(OPENMP_FLAGS)}); building "
        "without it, so parallel loops run on one thread. Install libgomp (gcc) or libomp (clang) to enable it.",
        RuntimeWarning,
    )
    return plain


@functools.cache
def _openmp_works(argv: tuple[str, ...], ldflags: tuple[str, ...]) -> bool:
    """Compile and link a tiny OpenMP program once per compiler command."""
    source = "#include <omp.h>\nint aotgraph_probe(void) { return omp_get_max_threads(); }\n"
    with tempfile.TemporaryDirectory(prefix="aotgraph-omp-") as tmp:
        Path(tmp, "probe.c").write_text(source)
        cmd = [*argv, *OPENMP_FLAGS, "probe.c", "-o", "probe.so", *ldflags]
        try:
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


def compile_command(chain: Toolchain, c_file: str, output: str) -> list[str]:
    """One compile-and-link step (so -fopenmp in argv also links the OpenMP runtime)."""
    return [*chain.argv, c_file, "-o", output, *chain.ldflags]


def start_compile(chain: Toolchain, c_file: str, output: str, cwd: Path) -> subprocess.Popen:
    """Start compiling `c_file` into the extension module `output` (both relative to `cwd`)."""
    try:
        return subprocess.Popen(
            compile_command(chain, c_file, output),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise CompilerMissingError(f"No C compiler found: cannot run {chain.argv[0]!r}. {_NO_COMPILER_HELP}") from None
    except PermissionError:
        raise CompilerMissingError(f"The C compiler {chain.argv[0]!r} cannot be run. {_NO_COMPILER_HELP}") from None


def finish_compile(proc: subprocess.Popen) -> tuple[int, str]:
    """Wait for a compile started by `start_compile`: (return code, its output).

    Raises CompileTimeoutError (naming the setting) when it runs longer than `config.compile_timeout` seconds.
    """
    timeout = config.compile_timeout
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise CompileTimeoutError(
            f"the C compiler did not finish within {timeout:g} s and was stopped; allow it longer with the "
            f"environment variable AOTGRAPH_COMPILE_TIMEOUT or aotgraph.config.compile_timeout (seconds)",
            output.decode(errors="replace"),
        ) from None
    return proc.returncode, output.decode(errors="replace")


def diagnose(output: str) -> str:
    """A hint for compiler failures whose cause is the machine rather than the generated code."""
    if "Python.h" in output and "No such file" in output:
        return "Python's C headers are missing: install them (Debian/Ubuntu: 'apt-get install python3-dev')."
    if "omp.h" in output and "No such file" in output:
        return "OpenMP headers are missing: install libgomp (gcc) or build with openmp=False."
    return ""
