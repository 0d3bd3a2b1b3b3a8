"""Wheel and sdist files written directly (PEP 427, PEP 517's sdist layout), byte for byte reproducible.

A wheel of a built module is a zip of files we already have (the cached extension, the package's
Python and data files) plus three metadata files: writing it ourselves takes milliseconds, where
``pip wheel`` would run Cython and the C compiler again (16-130 s for a real module). An sdist is a
tar.gz of the package's rebuild tree plus PKG-INFO; ``pip install`` builds it with setuptools.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

from aotgraph.version import __version__

_EPOCH = (1980, 1, 1, 0, 0, 0)
_VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


def distribution_name(name: str) -> str:
    """The normalized project name used in file names (PEP 503 + PEP 491: lower case, runs of -_. as '_')."""
    return re.sub(r"[-_.]+", "_", name).lower()


def check_version(version: str) -> str:
    """Return `version` if it is a plain PEP 440 public version (1.2, 1.2.3rc1, 2.0.post1), else raise ValueError."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"version {version!r} is not a PEP 440 version such as '0.1.0' or '1.2rc1'")
    return version


def metadata(name: str, version: str, summary: str, requires_python: str, requires: list[str]) -> str:
    """Core metadata (METADATA in a wheel, PKG-INFO in an sdist)."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}",
             f"Requires-Python: {requires_python}", *(f"Requires-Dist: {r}" for r in requires)]
    return "\n".join(lines) + "\n"


def write_wheel(output_dir: Path, name: str, version: str, tags: str, files: dict[str, bytes], meta: str) -> Path:
    """Write ``<name>-<version>-<tags>.whl`` holding `files` ({path in the wheel: content}); return its path.

    `tags` is ``python-abi-platform`` with dot-separated alternatives (``cp311-cp311-a.b``).
    """
    dist = distribution_name(name)
    info = f"{dist}-{version}.dist-info"
    python, abi, platforms = tags.split("-")
    wheel_meta = ["Wheel-Version: 1.0", f"Generator: aotgraph {__version__}", "Root-Is-Purelib: false"]
    wheel_meta += [f"Tag: {python}-{abi}-{plat}" for plat in platforms.split(".")]
    contents = dict(sorted(files.items()))
    contents[f"{info}/METADATA"] = meta.encode()
    contents[f"{info}/WHEEL"] = ("\n".join(wheel_meta) + "\n").encode()
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in contents.items()]
    contents[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = Path(output_dir) / f"{dist}-{version}-{tags}.whl"
    partial = path.with_name(path.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in contents.items():
            entry = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            executable = arcname.endswith((".so", ".pyd"))
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    partial.replace(path)
    return path


def write_sdist(output_dir: Path, name: str, version: str, tree: Path, meta: str) -> Path:
    """Write ``<name>-<version>.tar.gz`` of every file under `tree` plus PKG-INFO; return its path."""
    dist = distribution_name(name)
    root = f"{dist}-{version}"
    path = Path(output_dir) / f"{root}.tar.gz"
    partial = path.with_name(path.name + ".part")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    with open(partial, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as packed, \
            tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(_tar_entry(f"{root}/PKG-INFO", len(meta.encode())), io.BytesIO(meta.encode()))
        for file in files:
            data = file.read_bytes()
            archive.addfile(_tar_entry(f"{root}/{file.relative_to(tree).as_posix()}", len(data)), io.BytesIO(data))
    partial.replace(path)
    return path


def _tar_entry(name: str, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode, entry.mtime = size, 0o644, 315532800  # 1980-01-01, as in wheels
    return entry


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
