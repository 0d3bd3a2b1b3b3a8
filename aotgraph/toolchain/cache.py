"""The content-addressed build cache, and its command line (``python -m aotgraph.cache``).

The cache knows nothing of Cython: it stores directories of files under a key that the caller
computes with `make_key` from everything that determines their content.

Where: ``$AOTGRAPH_CACHE_DIR`` (read at each call), else ``aotgraph.configparser.config.cache_dir`` if set,
else ``platformdirs.user_cache_dir('aotgraph')``. If that directory cannot be written, builds go to
a temporary directory for the rest of the process (with a warning), and entries already in the
unwritable directory are still used.

Layout::

    <root>/<key[:2]>/<key>/            one entry: the built files, then manifest.json, written last
    <root>/<key[:2]>/<key>.lock        its file lock while someone builds it (filelock)
    <root>/<key[:2]>/<key>.tmp-XXXX/   an entry being built; renamed to <key>/ when complete
    <root>/failed/<key>/               the sources and log of a failed build, kept for inspection

An entry is valid when its manifest lists every file with its size and every extension module
(``*.so``/``*.pyd``) with its sha256, and the files on disk match; an invalid entry (an interrupted
copy, a truncated or corrupt ``.so``) is rebuilt. The manifest's modification time records when
the entry was last used, which is what ``--older-than`` compares against.

Builders of one key in several threads or processes take the entry's file lock; the first builds
into a temporary directory and renames it into place, the others then find it valid.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aotgraph.configparser import config
from aotgraph.diagnostics import warn_user
from aotgraph.toolchain.errors import BuildError

MANIFEST = "manifest.json"
FORMAT = 1
LOCK_TIMEOUT = 900.0  # seconds to wait for another process's build of the same key
_STALE_AGE = 3600.0  # a *.tmp-* directory this old belongs to a build that died
_EXTENSION_SUFFIXES = (".so", ".pyd")


@dataclasses.dataclass
class Stats:
    """Counters for this process, so tests can tell a cache hit from a build without timing."""

    hits: int = 0  # requests answered from the cache without compiling anything
    builds: int = 0  # extension modules compiled (including the shared utility module)


stats = Stats()
_fallbacks: dict[Path, Path] = {}  # unwritable configured root -> this process's temporary root


# ---------------------------------------------------------------------------------------------
# where the cache lives


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """The cache directory: `override` if given, else as configured (not created, nor checked for writing)."""
    if override is not None:
        return Path(override).expanduser().absolute()
    env = os.environ.get("AOTGRAPH_CACHE_DIR")
    if env:
        return Path(env).expanduser().absolute()
    if config.cache_dir:
        return Path(config.cache_dir).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("aotgraph")).absolute()


# Entries built when aotgraph was installed (setup.py: the kernel support and Cython's utility module, which
# every in-process module needs), read after the cache itself: a new cache starts with them.
PREBUILT_ROOT = Path(__file__).resolve().parent.parent / "_prebuilt"


def _read_roots(override: str | os.PathLike | None) -> list[Path]:
    root = cache_root(override)
    roots = [root, _fallbacks[root]] if root in _fallbacks else [root]
    use_prebuilt = PREBUILT_ROOT.is_dir() and not os.environ.get("AOTGRAPH_IGNORE_PREBUILT")  # for measurements
    return roots + [PREBUILT_ROOT] if use_prebuilt and root != PREBUILT_ROOT else roots


def writable_root(override: str | os.PathLike | None = None) -> Path:
    """The directory new entries go to: the configured one, or a temporary fallback if it is read-only."""
    root = cache_root(override)
    if root in _fallbacks:
        return _fallbacks[root]
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=root)
        os.close(fd)
        os.unlink(probe)
        return root
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="aotgraph-cache-"))
        atexit.register(shutil.rmtree, fallback, ignore_errors=True)
        _fallbacks[root] = fallback
        warn_user(
            f"aotgraph cannot write to its build cache {root} ({exc.strerror or exc}); building in the "
            f"temporary directory {fallback} instead, which is deleted when this process exits. "
            "Set AOTGRAPH_CACHE_DIR (or aotgraph.config.cache_dir) to a writable directory to keep builds.",
            RuntimeWarning,
        )
        return fallback


# ---------------------------------------------------------------------------------------------
# keys, manifests, entries


def make_key(*parts: str | bytes) -> str:
    """sha256 hex digest of the parts, each length-prefixed so that no two lists of parts collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def entry_dir(root: Path, key: str) -> Path:
    return root / key[:2] / key


def failed_dir(key: str, override: str | os.PathLike | None = None) -> Path:
    """A fresh directory to keep the sources of a failed build of `key` in."""
    path = writable_root(override) / "failed" / key
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_extension(name: str) -> bool:
    return name.endswith(_EXTENSION_SUFFIXES)


def write_manifest(directory: Path, meta: dict) -> None:
    """Record every file in `directory` (sizes, and sha256 of extension modules), atomically."""
    files = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.name.startswith(MANIFEST):
            record = {"size": path.stat().st_size}
            if _is_extension(path.name):
                record["sha256"] = file_sha256(path)
            files[path.name] = record
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, **meta, "files": files}, indent=1))
    os.replace(tmp, directory / MANIFEST)


def read_manifest(entry: Path) -> dict | None:
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "files" not in manifest:
        return None
    return manifest


def is_valid(entry: Path) -> bool:
    """True if `entry` has a manifest and every file in it has the recorded size and checksum."""
    manifest = read_manifest(entry)
    if manifest is None:
        return False
    try:
        for name, record in manifest["files"].items():
            path = entry / name
            if path.stat().st_size != record["size"]:
                return False
            if "sha256" in record and file_sha256(path) != record["sha256"]:
                return False
    except (OSError, KeyError, TypeError):
        return False
    return True


def lookup(key: str, override: str | os.PathLike | None = None) -> Path | None:
    """The valid entry for `key`, or None. Never imports the build tools: this is the fast path."""
    for root in _read_roots(override):
        entry = entry_dir(root, key)
        if is_valid(entry):
            try:
                os.utime(entry / MANIFEST)  # last used, for --older-than
            except OSError:
                pass
            return entry
    return None


def get_or_build(
    key: str, build: Callable[[Path], None], meta: dict, override: str | os.PathLike | None = None
) -> tuple[Path, bool]:
    """Return ``(entry, hit)``: the valid entry for `key`, building it with ``build(tmpdir)`` if needed.

    `build` fills an empty directory; if it raises, nothing is cached and the exception propagates.
    `meta` (small, JSON-able: kind, module name) goes into the manifest for the listing.
    `override` is a cache directory to use instead of the configured one.
    """
    entry = lookup(key, override)
    if entry is not None:
        return entry, True
    from filelock import FileLock, Timeout

    shard = writable_root(override) / key[:2]
    shard.mkdir(exist_ok=True)
    entry = shard / key
    try:
        with FileLock(str(shard / f"{key}.lock"), timeout=LOCK_TIMEOUT):
            if is_valid(entry):  # another process built it while we waited
                return entry, True
            staging = new_dir(shard, f"{key}.tmp-")
            try:
                build(staging)
                write_manifest(staging, {**meta, "created": time.time()})
                _move_into_place(staging, entry)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except Timeout:
        raise BuildError(
            f"timed out after {LOCK_TIMEOUT:.0f} s waiting for another process building {entry}; "
            f"if no build is running, delete {entry}.lock"
        ) from None
    return entry, False


def _move_into_place(staging: Path, entry: Path) -> None:
    if entry.exists():  # an invalid entry: move it aside first (a rename is atomic, rmtree is not)
        stale = entry.with_name(f"{entry.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(entry, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(staging, entry)


def new_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named directory with the usual permissions (mkdtemp's are owner-only)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (entries never change in place, so sharing is safe), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# ---------------------------------------------------------------------------------------------
# listing and clearing (python -m aotgraph.cache)


@dataclasses.dataclass
class EntryInfo:
    path: Path
    kind: str
    module: str
    size: int
    last_used: float


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def disk_usage(paths: list[Path]) -> int:
    """Bytes used by the files under `paths`, counting hard-linked files once."""
    seen = {}
    for path in paths:
        for file in path.rglob("*"):
            if file.is_file():
                st = file.stat()
                seen[st.st_dev, st.st_ino] = st.st_size
    return sum(seen.values())


def list_entries(root: Path) -> list[EntryInfo]:
    """Every entry under `root` (complete or not), oldest use first; failed builds as kind 'failed'."""
    found = []
    if not root.is_dir():
        return found
    for shard in sorted(root.iterdir()):
        if shard.name == "failed" or len(shard.name) != 2 or not shard.is_dir():
            continue
        for path in shard.iterdir():
            if not path.is_dir():
                continue
            manifest = read_manifest(path) or {}
            incomplete = ".tmp-" in path.name or ".stale-" in path.name
            kind = "building" if incomplete else manifest.get("kind", "invalid")
            used = (path / MANIFEST).stat().st_mtime if manifest else path.stat().st_mtime
            found.append(EntryInfo(path, kind, manifest.get("module", "?"), _tree_size(path), used))
    failed = root / "failed"
    if failed.is_dir():
        for path in failed.iterdir():
            found.append(EntryInfo(path, "failed", "?", _tree_size(path), path.stat().st_mtime))
    return sorted(found, key=lambda info: info.last_used)


def clear(root: Path, older_than: float | None = None) -> list[EntryInfo]:
    """Remove the entries of `root` last used more than `older_than` seconds ago (all if None).

    Directories of builds in progress are left alone unless they are an hour old (a build that died).
    Returns what was removed.
    """
    now = time.time()
    removed = []
    for info in list_entries(root):
        age = now - info.last_used
        if older_than is not None and age < older_than:
            continue
        if info.kind == "building" and age < _STALE_AGE:
            continue
        path = info.path
        if info.kind != "building":  # move aside first so that no reader sees half an entry
            path = path.with_name(f"{path.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
            try:
                os.rename(info.path, path)
            except OSError:
                continue
        shutil.rmtree(path, ignore_errors=True)
        _remove_lock_file(info.path.with_name(info.path.name + ".lock"))
        removed.append(info)
    for shard in root.glob("??"):
        try:
            shard.rmdir()  # only if empty
        except OSError:
            pass
    return removed


def _remove_lock_file(path: Path) -> None:
    """Delete an entry's lock file unless someone holds it (filelock leaves them behind)."""
    if not path.exists():
        return
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(path), timeout=0):
            path.unlink(missing_ok=True)
    except (Timeout, OSError):
        pass


def parse_age(text: str) -> float:
    """'90s', '30m', '12h', '7d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(f"cannot read the age {text!r}: use a number and a unit, e.g. 90s, 30m, 12h, 7d, 2w")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[match.group(2)]
    return float(match.group(1)) * unit


def _count(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def _human_age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _print_table(entries: list[EntryInfo], out) -> None:
    now = time.time()
    print(f"{'KEY':16}  {'KIND':8}  {'MODULE':24}  {'SIZE':>9}  LAST USED", file=out)
    for info in entries:
        print(
            f"{info.path.name[:16]:16}  {info.kind:8}  {info.module[:24]:24}  "
            f"{human_size(info.size):>9}  {_human_age(now - info.last_used)}",
            file=out,
        )


def main(argv: list[str] | None = None, prog: str = "python -m aotgraph.cache") -> int:
    """``python -m aotgraph.cache [--dir DIR] [--older-than AGE] [--clear]`` (also ``aotgraph cache``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="List the entries of aotgraph's build cache with their sizes, or clear them.",
    )
    parser.add_argument("--dir", help="cache directory (default: $AOTGRAPH_CACHE_DIR, config.cache_dir, user cache)")
    parser.add_argument("--older-than", metavar="AGE", help="only entries last used more than AGE ago (e.g. 7d, 12h)")
    parser.add_argument("--clear", action="store_true", help="remove the entries (all, or those --older-than AGE)")
    args = parser.parse_args(argv)
    root = Path(args.dir).expanduser().absolute() if args.dir else cache_root()
    try:
        older_than = parse_age(args.older_than) if args.older_than else None
    except ValueError as exc:
        parser.error(str(exc))
    if args.clear:
        removed = clear(root, older_than)
        total = sum(info.size for info in removed)
        print(f"removed {_count(len(removed))} ({human_size(total)}) from {root}")
        return 0
    entries = list_entries(root)
    if older_than is not None:
        entries = [info for info in entries if time.time() - info.last_used >= older_than]
    print(f"aotgraph build cache: {root}")
    _print_table(entries, sys.stdout)
    total = disk_usage([info.path for info in entries])
    print(f"{_count(len(entries))}, {human_size(total)} on disk (files shared by hard links counted once)")
    return 0
