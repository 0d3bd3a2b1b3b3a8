"""The command line: ``aotgraph build | info | cache`` (also ``python -m aotgraph``).

``aotgraph build spec.py:functions -n mymod -o dist --wheel --sdist`` does what ``ag.build`` does from
a script, for a Makefile or CI step. Exit codes: 0 done, 1 the build failed (Cython or the C compiler:
the message names the kept source), 2 a usage error (bad arguments, a spec that cannot be loaded or is
not a Function, a dict of them or a callable returning one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from aotgraph.codegen.aot import build
from aotgraph.codegen.scalar import vector_math_functions
from aotgraph.specfile import SpecError, load_spec
from aotgraph.toolchain import BuildError, cache, report
from aotgraph.version import __version__

PROG = "aotgraph"
EXIT_BUILD_FAILED, EXIT_USAGE = 1, 2


class UsageError(Exception):
    """A command-line mistake: printed as 'aotgraph <command>: error: ...', exit code 2."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["cache"]:  # its own parser, shared with python -m aotgraph.cache
        return cache.main(argv[1:], prog=f"{PROG} cache")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except (UsageError, SpecError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BuildError as exc:
        print(f"{PROG} {args.command}: the build failed: {exc}", file=sys.stderr)
        return EXIT_BUILD_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Build aotgraph functions into importable modules, wheels and sdists.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "build", help="build a module (and a wheel, an sdist) from functions defined in a Python file",
        description="Build the functions named by SPEC into the package OUTPUT/NAME (import NAME from OUTPUT). "
                    "SPEC is FILE.py:OBJ or MODULE:OBJ, where OBJ is a Function (ag.function(..., name=...)), "
                    "a dict {public name: Function} or a callable returning one of these.")
    run.add_argument("spec", metavar="SPEC", help="FILE.py:OBJ or dotted.module:OBJ")
    run.add_argument("-n", "--name", required=True, help="the module's import name, e.g. mymod")
    run.add_argument("-o", "--output", default=".", help="output directory (default: the current one)")
    run.add_argument("--wheel", action="store_true", help="also write a wheel (manylinux-tagged when it qualifies)")
    run.add_argument("--sdist", action="store_true", help="also write a source distribution NAME-VERSION.tar.gz")
    run.add_argument("--version", default="0.1.0", dest="package_version", help="wheel/sdist version (0.1.0)")
    run.add_argument("--native", action="store_true", help="tune the directory build for this CPU")
    run.add_argument("--openmp", action="store_true", help="run large loops on threads (needs libgomp where used)")
    run.add_argument("--vector-math", action="store_true", help="call the C library's vector exp, log, ...")
    run.add_argument("--annotate", action="store_true", help="keep Cython's HTML annotation (NAME/_core.html)")
    run.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    run.set_defaults(run=_build)
    info = commands.add_parser("info", help="show the compiler, OpenMP, vector math, the build cache and versions",
                               description="Show what this machine builds with.")
    info.set_defaults(run=_info)
    commands.add_parser("cache", help="list or clear the build cache (same as python -m aotgraph.cache)")
    return parser


def _build(args: argparse.Namespace) -> int:
    if not args.quiet:
        _show_progress()
    functions = load_spec(args.spec)
    start = time.perf_counter()
    try:
        result = build(functions, args.name, args.output, wheel=args.wheel, sdist=args.sdist,
                       version=args.package_version, native=args.native, openmp=args.openmp,
                       vector_math=args.vector_math, annotate=args.annotate)
    except (ValueError, TypeError, FileExistsError) as exc:
        raise UsageError(str(exc)) from exc
    if not args.quiet:
        print(f"built {result.module} in {time.perf_counter() - start:.1f} s: {result.path}")
        for made in (result.wheel, result.sdist):
            if made:
                print(f"  {made} ({os.path.getsize(made) / 1024:.0f} kB)")
        print(f"use it: cd {os.path.dirname(result.path)} && python -c 'import {result.module}'")
    return 0


def _info(args: argparse.Namespace) -> int:
    rows = report.environment(vector_math_functions())
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label + ':':<{width + 1}} {value}")
    return 0


def _show_progress() -> None:
    """The build's INFO lines (what is built, how long Cython and the compiler took) on stderr."""
    logger = logging.getLogger("aotgraph")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
