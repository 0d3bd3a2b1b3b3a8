"""Turn a generated ``.pyx`` source into an importable extension module, through the build cache.

``compile_extension(name, source, data)`` returns a directory to put on ``sys.path``::

    <dir>/<name>.pyx                          the source, for inspection
    <dir>/<name><EXT_SUFFIX>                  the extension module
    <dir>/_aotgraph_cyutility_<ver><EXT_SUFFIX>  Cython's shared utility module (Cython >= 3.1)
    <dir>/<data files>                        beside the module: find them with os.path.dirname(__file__)
    <dir>/build.log, <dir>/manifest.json      how it was built; what the cache checks

How the time goes (gcc 12, 2 cores): compiling a Cython module that uses typed memoryviews
spends ~3 s of gcc on Cython's memoryview support code, which is the same in every module.
Cython >= 3.1 can put that code in a shared utility module; we build it once per cache (Cython
version, Python, compiler) and copy it beside each module, which makes a module with a dozen
kernels compile in ~1.3 s instead of ~4.2 s. Cython itself runs in this process (its first use
costs ~1 s of warm-up, later modules ~0.4 s), the compiler in a subprocess; on a first build the
shared module compiles in a second subprocess while Cython and gcc work on the module.

A module's files are cached under a key of everything that determines them (source, module name,
compiler command and flags, Cython/numpy/Python versions, platform, and the CPU for native=True).
Data files are cached in a second entry keyed by the module's key and their content, which
hard-links the module's files: new data (new shared values) never recompile anything.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import platform
import re
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aotgraph.toolchain import cache, probe
from aotgraph.toolchain.errors import (
    RESERVED_PREFIX,
    BuildError,
    CompileTimeoutError,
    check_data_files,
    check_module_name,
)
from aotgraph.toolchain.options import BuildOptions

EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
USE_SHARED_UTILITY = True  # set False to put Cython's utility code into every module
_TAIL_LINES = 40
_cython_lock = threading.Lock()  # Cython's compiler keeps global state: one compilation at a time
log = logging.getLogger(__name__)  # a child of the "aotgraph" logger: one INFO line per module compiled
_cold = [True]  # no module compiled by this process yet: say once why the first one is slow


@dataclass(frozen=True)
class Companion:
    """An extension that generated modules cimport (aotgraph's kernel support): built once per cache, its
    `.pxd` written beside each module's `.pyx` (where Cython finds it) and its extension beside each built
    module's (imported first, see loader.import_from). `name` should change whenever `pyx` or `pxd` does."""

    name: str
    pyx: str
    pxd: str
    declarations: tuple[tuple[str, str], ...] = ()  # (file name, text): other .pxd files it and the modules cimport

    @property
    def beside(self) -> tuple[tuple[str, str], ...]:
        """The files written beside the companion's and each module's .pyx for Cython to find."""
        return ((self.name + ".pxd", self.pxd), *self.declarations)


@dataclass(frozen=True)
class ModulePlan:
    """Everything one build of one extension module depends on."""

    qualname: str  # 'mymod' for a top-level module, 'mymod._core' for a package's module
    source: str
    chain: probe.Toolchain
    shared: str | None  # qualified name of the shared utility module, or None
    key: str
    options: BuildOptions = BuildOptions()
    annotate: bool = False  # keep Cython's HTML annotation (<basename>.html) in the entry
    beside: tuple[tuple[str, str], ...] = ()  # (file name, text) written beside the .pyx: the .pxd it cimports
    companion: ModulePlan | None = None  # the build of the module it cimports

    @property
    def basename(self) -> str:
        return self.qualname.rpartition(".")[2]

    @property
    def in_c(self) -> bool:
        """Whether the source is C (an in-process module of codegen/cmodule.py), built without Cython."""
        return is_c_source(self.source)


def is_c_source(source: str) -> bool:
    """C sources (codegen/cmodule.py) start with a C comment; Cython sources never do."""
    return source.startswith("/*")


def compile_extension(
    module_name: str,
    pyx_source: str,
    data_files: dict[str, bytes] = {},  # noqa: B006 - never mutated
    options: BuildOptions = BuildOptions(),
    *,
    cache_dir: str | None = None,
    companion: Companion | None = None,
    cythonized: threading.Event | None = None,
) -> str:
    """Build `pyx_source` as the top-level extension module `module_name`; return its directory.

    Put the directory on ``sys.path`` and ``import module_name``. The data files are written beside
    the module. `options` (see BuildOptions): compiled for this machine's CPU, with OpenMP if the compiler
    supports it (else a warning), calling vector variants of exp, log, ... if the C library has them. `cache_dir`
    overrides the configured cache directory. `companion`: an extension that `pyx_source` cimports, built
    (once per cache) with it and put beside it. A second call with the same arguments is a cache hit
    that compiles nothing (``aotgraph.toolchain.cache.stats.hits`` counts them). `cythonized` is set once Cython
    is done with the module, while the C compiler still runs (not on a cache hit nor when Cython fails: the call
    then returns or raises soon after).

    Raises ValueError for a bad module or data file name, CompilerMissingError without a C
    compiler, and BuildError (naming the kept ``.pyx``) when Cython or the compiler fails.
    """
    check_module_name(module_name)
    data = check_data_files(data_files)
    builds_before = cache.stats.builds
    plan = plan_module(module_name, pyx_source, options, shared=shared_utility_name(), companion=companion)
    bundle_key = cache.make_key("aotgraph-bundle-v1", plan.key, *_data_key_parts(data)) if data else None
    found = cache.lookup(bundle_key or plan.key, cache_dir)
    if found is None:
        found = module_entry(plan, cache_dir, cythonized)
        if data:
            found = _bundle_entry(bundle_key, found, data, plan, cache_dir)
    if cache.stats.builds == builds_before:
        cache.stats.hits += 1
    else:
        importlib.invalidate_caches()  # the directory may already be on sys.path with other files
    return str(found)


def cached_extension(module_name: str, pyx_source: str, options: BuildOptions = BuildOptions(), *,
                     companion: Companion | None = None) -> str | None:
    """The directory `compile_extension` would return when the module is in the cache (a hit, counted), else None:
    a lookup that starts no thread and imports neither Cython nor the cache's file lock."""
    plan = plan_module(module_name, pyx_source, options, shared=shared_utility_name(), companion=companion)
    found = cache.lookup(plan.key)
    if found is None:
        return None
    cache.stats.hits += 1
    return str(found)


def plan_module(qualname: str, source: str, options: BuildOptions, *, shared: str | None,
                annotate: bool = False, companion: Companion | None = None) -> ModulePlan:
    """The build of `source` as `qualname`, with its cache key (cheap: imports neither Cython nor setuptools).

    `annotate` also keeps Cython's HTML annotation (which lines call into Python) beside the module."""
    chain = probe.toolchain(options, include_dirs=(_numpy_include(),))
    beside, companion_plan = (), None
    if companion is not None:
        beside = companion.beside
        companion_plan = _companion_plan(companion, openmp=options.openmp, shared=shared)
    key = cache.make_key(
        "aotgraph-module-v1",
        qualname,
        source,
        shared or "",
        chain.describe(),
        _cpu_id() if options.native else "",
        *_versions(),
        *(["annotate"] if annotate else []),
        *(["c"] if is_c_source(source) else []),
        *(part for item in beside for part in item),
        companion_plan.key if companion_plan else "",
    )
    return ModulePlan(qualname, source, chain, shared, key, options, annotate, beside, companion_plan)


def _companion_plan(companion: Companion, *, openmp: bool, shared: str | None) -> ModulePlan:
    """The companion's build: portable flags (it holds no hot loops: those are in the kernel modules)."""
    chain = probe.toolchain(BuildOptions(openmp=openmp), include_dirs=(_numpy_include(),))
    beside = companion.beside
    key = cache.make_key("aotgraph-companion-v1", companion.name, companion.pyx, *(part for item in beside
                         for part in item), shared or "", _portable_description(chain), *_versions())
    return ModulePlan(companion.name, companion.pyx, chain, shared, key, BuildOptions(openmp=openmp), beside=beside)


def _portable_description(chain: probe.Toolchain) -> str:
    """`chain.describe()` without where numpy's headers are (their version is part of every key): the same
    for the build environment of `pip install` (setup.py prebuilds the helpers) and the installed aotgraph."""
    return chain.describe().replace(_numpy_include(), "<numpy headers>")


def prebuild_helpers(companion: Companion, cache_dir: str, *, openmp: bool = True) -> list[Path]:
    """Build the helpers every in-process module needs (the companion, Cython's shared utility module) into
    the cache `cache_dir`: what setup.py puts into aotgraph/_prebuilt at install time. Returns the entries."""
    shared = shared_utility_name()
    entries = [_companion_entry(_companion_plan(companion, openmp=openmp, shared=shared), cache_dir,
                                threading.Event())]
    if shared:
        entries.append(_shared_entry(shared, cache_dir, threading.Event()))
    return entries


def module_entry(plan: ModulePlan, cache_dir: str | None = None, cythonized: threading.Event | None = None) -> Path:
    """The cache entry holding the built module of `plan` (built now if missing or invalid); `cythonized` is set
    when Cython is done with it (the C compiler then still runs)."""

    def build(staging: Path) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            # The shared module and the companion, if not cached yet, are generated first (Cython runs one job
            # at a time) and then compile in parallel with the module.
            helpers = []
            if plan.shared:
                helpers.append((plan.shared, _start(pool, _shared_entry, plan.shared, cache_dir)))
            if plan.companion:
                helpers.append((plan.companion.qualname, _start(pool, _companion_entry, plan.companion, cache_dir)))
            _build_module(plan, staging, cache_dir, cythonized)
            for name, future in helpers:
                cache.link_or_copy(future.result() / (name + EXT_SUFFIX), staging / (name + EXT_SUFFIX))

    probe.check_compiler(plan.chain)  # before anything else, for the clearest message
    entry, _ = cache.get_or_build(plan.key, build, {"kind": "module", "module": plan.qualname}, cache_dir)
    return entry


def _start(pool: ThreadPoolExecutor, entry, what, cache_dir: str | None):
    """Submit `entry(what, cache_dir, generated)` and return its future once Cython is done with it."""
    generated = threading.Event()
    future = pool.submit(entry, what, cache_dir, generated)
    generated.wait()
    return future


def _companion_entry(plan: ModulePlan, cache_dir: str | None, generated: threading.Event) -> Path:
    """The cache entry of a companion module; sets `generated` once Cython is done with it (at once if cached)."""
    try:
        entry, _ = cache.get_or_build(plan.key, lambda staging: _build_module(plan, staging, cache_dir, generated),
                                      {"kind": "companion", "module": plan.qualname}, cache_dir)
        return entry
    finally:
        generated.set()


def shared_utility_name() -> str | None:
    """Top-level name of Cython's shared utility module for this Cython, or None if not used."""
    version = _cython_version()
    major_minor = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if not USE_SHARED_UTILITY or major_minor < (3, 1):
        return None
    return f"{RESERVED_PREFIX}_cyutility_{re.sub(r'[^0-9A-Za-z]', '_', version)}"


@functools.cache
def _cython_version() -> str:
    """Cython's version, read from its Shadow.py without importing Cython (~5 ms that a cache hit saves)."""
    spec = importlib.util.find_spec("Cython")
    if spec is not None and spec.origin is not None:
        shadow = Path(spec.origin).with_name("Shadow.py")
        found = re.search(r"^__version__ = ['\"]([^'\"]+)", shadow.read_text(), re.M) if shadow.exists() else None
        if found:
            return found.group(1)
    from Cython import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# building


def _build_module(plan: ModulePlan, staging: Path, cache_dir: str | None,
                  generated: threading.Event | None = None) -> None:
    if plan.in_c:
        _build_c_module(plan, staging, cache_dir, generated)
        return
    pyx = staging / f"{plan.basename}.pyx"
    pyx.write_text(plan.source)
    if _cold[0]:
        _cold[0] = False
        log.info("aotgraph: compiling %s with Cython and %s; a first build takes a few seconds more (Cython "
                 "loads), and every module is cached in %s, so the same source never compiles twice",
                 plan.qualname, plan.chain.argv[0], cache.cache_root(cache_dir))
    for name, text in plan.beside:
        (staging / name).write_text(text)
    lines = []
    start = time.perf_counter()
    probes = probe.start_probes(plan.chain, plan.options.vector_functions)  # compiles too: they overlap Cython
    c_file = _cythonize(pyx, plan, cache_dir, lines)
    if generated is not None:
        generated.set()
    cythonized = time.perf_counter()
    probes.join()
    chain = probe.resolve_vector_math(probe.resolve_openmp(plan.chain), plan.options.vector_functions)
    _compile_c(chain, c_file, plan.basename + EXT_SUFFIX, plan, cache_dir, lines)
    done = time.perf_counter()
    lines.append(f"total {done - start:.2f} s")
    (staging / "build.log").write_text("\n".join(lines) + "\n")
    log.info("aotgraph: built %s (%d lines of Cython) in %.1f s: Cython %.1f s, C compiler %.1f s", plan.qualname,
             plan.source.count("\n"), done - start, cythonized - start, done - cythonized)
    c_file.unlink()


def _build_c_module(plan: ModulePlan, staging: Path, cache_dir: str | None,
                    generated: threading.Event | None = None) -> None:
    """A module written in C: the C compiler only. The build names it (AOTGRAPH_MODULE: the name is the source's
    hash, so the source cannot hold it), and the C file stays in the entry (`f.source` reads it)."""
    c_file = staging / f"{plan.basename}.c"
    header, end, rest = plan.source.partition("*/\n")  # after the source's first comment, which says it is defined
    c_file.write_text(f"{header}{end}#define AOTGRAPH_MODULE {plan.basename}\n{rest}")
    if generated is not None:
        generated.set()
    for name, text in plan.beside:
        (staging / name).write_text(text)
    start = time.perf_counter()
    lines = [f"C {plan.qualname}: {len(plan.source) / 1e6:.2f} MB of C (no Cython)"]
    # No Cython for the compiler probes (OpenMP, vector math: ~0.4 s, once per process) to overlap: the module
    # compiles as planned meanwhile, and again only when they find a flag the compiler or C library cannot honour.
    probes = probe.start_probes(plan.chain, plan.options.vector_functions)
    try:
        _compile_c(plan.chain, c_file, plan.basename + EXT_SUFFIX, plan, cache_dir, lines)
        failure = None
    except BuildError as err:
        failure = err
    probes.join()
    chain = probe.resolve_vector_math(probe.resolve_openmp(plan.chain), plan.options.vector_functions)
    if chain != plan.chain:
        lines.append("again, without what the compiler probes found missing:")
        _compile_c(chain, c_file, plan.basename + EXT_SUFFIX, plan, cache_dir, lines)
    elif failure is not None:
        raise failure
    done = time.perf_counter()
    lines.append(f"total {done - start:.2f} s")
    (staging / "build.log").write_text("\n".join(lines) + "\n")
    log.info("aotgraph: built %s (%d lines of C) in %.1f s", plan.qualname, plan.source.count("\n"), done - start)


def _cythonize(pyx: Path, plan: ModulePlan, cache_dir: str | None, log: list[str]) -> Path:
    """Run Cython in this process; return the C file or raise BuildError with Cython's messages."""
    from Cython.Compiler import Main

    c_file = pyx.with_suffix(".c")
    options = Main.CompilationOptions(
        Main.default_options,
        language_level=3,
        output_file=str(c_file),
        use_listing_file=True,  # Cython's messages go to <name>.lis instead of our stderr
        errors_to_stderr=False,
        shared_utility_qualified_name=plan.shared,
        annotate=plan.annotate,
    )
    start = time.perf_counter()
    with _cython_lock:
        try:
            result = Main.compile_single(str(pyx), options, full_module_name=plan.qualname)
            errors = result.num_errors
        except Exception:  # Cython's own crashes and aborts
            errors, crash = 1, traceback.format_exc()
        else:
            crash = ""
    listing = pyx.with_suffix(".lis")
    messages = (listing.read_text(errors="replace") if listing.exists() else "") + crash
    listing.unlink(missing_ok=True)
    megabytes = c_file.stat().st_size / 1e6 if c_file.exists() else 0.0
    seconds = time.perf_counter() - start
    log.append(f"cython {plan.qualname}: {seconds:.2f} s, {megabytes:.2f} MB of C\n{messages.strip()}")
    if errors or not c_file.exists():
        kept = _keep_failed(pyx, plan, cache_dir, log)
        messages = messages.replace(str(pyx.parent), str(kept.parent))  # the build directory is gone
        raise BuildError(
            f"Cython failed to compile the generated module {plan.qualname!r}; the source is kept at "
            f"{kept}\n--- Cython output (last lines) ---\n{_tail(messages)}"
        )
    return c_file


def _compile_c(
    chain: probe.Toolchain, c_file: Path, output: str, plan: ModulePlan, cache_dir: str | None, log: list[str]
) -> None:
    start = time.perf_counter()
    proc = probe.start_compile(chain, c_file.name, output, c_file.parent)
    cmd = subprocess.list2cmdline(probe.compile_command(chain, c_file.name, output))
    try:
        code, out = probe.finish_compile(proc)
    except CompileTimeoutError as err:
        log.append(f"$ {cmd}\n{err.output.strip()}\n{err}")
        kept = _keep_failed(c_file if plan.in_c else c_file.with_suffix(".pyx"), plan, cache_dir, log)
        raise CompileTimeoutError(f"Building the generated module {plan.qualname!r} failed: {err}. The source is "
                                  f"kept at {kept}", err.output) from None
    log.append(f"$ {cmd}\n{out.strip()}\ncompiler: {time.perf_counter() - start:.2f} s, exit code {code}")
    if code != 0 or not (c_file.parent / output).exists():
        kept = _keep_failed(c_file if plan.in_c else c_file.with_suffix(".pyx"), plan, cache_dir, log)
        hint = probe.diagnose(out)
        raise BuildError(
            f"The C compiler failed on the generated module {plan.qualname!r} (exit code {code}); the source is "
            f"kept at {kept}{' (C file beside it)' if c_file.exists() and not plan.in_c else ''}\n"
            f"{hint + chr(10) if hint else ''}--- compiler output (last lines) ---\n{_tail(out)}"
        )
    cache.stats.builds += 1


def _keep_failed(pyx: Path, plan: ModulePlan, cache_dir: str | None, log: list[str]) -> Path:
    """Copy the failed build's sources to <cache>/failed/<key>/; return the kept .pyx (or the directory)."""
    keep = cache.failed_dir(plan.key, cache_dir)
    for path in pyx.parent.iterdir():
        if path.suffix in (".pyx", ".c"):
            cache.link_or_copy(path, keep / path.name)
    (keep / "build.log").write_text("\n".join(log) + "\n")
    return keep / pyx.name if (keep / pyx.name).exists() else keep


def _shared_entry(qualname: str, cache_dir: str | None, generated: threading.Event) -> Path:
    """The cache entry of Cython's shared utility module `qualname`, built with portable flags.

    Sets `generated` once Cython is done with it (at once if it is cached).
    """
    try:
        return _shared_entry_inner(qualname, cache_dir, generated)
    finally:
        generated.set()


def _shared_entry_inner(qualname: str, cache_dir: str | None, generated: threading.Event) -> Path:
    chain = probe.toolchain(include_dirs=(_numpy_include(),))
    key = cache.make_key("aotgraph-cyutility-v1", qualname, _portable_description(chain), *_versions())

    def build(staging: Path) -> None:
        from Cython.Build.SharedModule import generate_shared_module
        from Cython.Compiler import Main

        c_file = staging / f"{qualname}.c"
        options = Main.CompilationOptions(
            Main.default_options, language_level=3, shared_c_file_path=str(c_file), module_name=qualname
        )
        with _cython_lock:
            generate_shared_module(options)
        generated.set()
        if not c_file.exists():
            raise BuildError(f"Cython failed to generate its shared utility module {qualname!r}")
        plan = ModulePlan(qualname, "", chain, None, key)
        log = [f"cython --generate-shared {qualname}"]
        _compile_c(chain, c_file, qualname + EXT_SUFFIX, plan, cache_dir, log)
        (staging / "build.log").write_text("\n".join(log) + "\n")
        c_file.unlink()

    entry, _ = cache.get_or_build(key, build, {"kind": "shared", "module": qualname}, cache_dir)
    return entry


def _bundle_entry(key: str, module_dir: Path, data: dict[str, bytes], plan: ModulePlan, cache_dir) -> Path:
    """An entry with the module's files (hard links) and the data files beside them."""

    def build(staging: Path) -> None:
        for path in module_dir.iterdir():
            if path.is_file() and path.name != cache.MANIFEST:
                cache.link_or_copy(path, staging / path.name)
        for name, content in data.items():
            (staging / name).write_bytes(content)

    entry, _ = cache.get_or_build(key, build, {"kind": "bundle", "module": plan.qualname}, cache_dir)
    return entry


# ---------------------------------------------------------------------------------------------
# key ingredients


def _data_key_parts(data: dict[str, bytes]) -> list[str | bytes]:
    import hashlib

    return [part for name in sorted(data) for part in (name, hashlib.sha256(data[name]).hexdigest())]


@functools.cache
def _versions() -> tuple[str, ...]:
    import numpy

    return (_cython_version(), numpy.__version__, sys.version, sysconfig.get_platform(), EXT_SUFFIX)


@functools.cache
def _numpy_include() -> str:
    import numpy

    return numpy.get_include()


@functools.cache
def _cpu_id() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    wanted = ("vendor_id", "cpu family", "model", "model name", "flags", "features", "cpu implementer", "cpu part")
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    lines = [line for line in first.splitlines() if line.split(":")[0].strip().lower() in wanted]
    return "\n".join(lines) or platform.machine()


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:]) if lines else "(no output)"
