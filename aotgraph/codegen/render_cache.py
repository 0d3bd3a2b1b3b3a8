"""Rendered templates kept in the build cache, so that a cache hit in a new process needs no Jinja.

Importing Jinja and compiling our templates costs ~20 ms, more than the rest of a cache hit (issue 15: a hit
should take <= 20 ms). Templates are logic-free: they print strings and lists that lowering and render.py
prepared, so a rendered text is a pure function of the template files, Jinja's version and those values.
Their hash is the key of a cache entry (kind "rendered") holding the text; any change to a template, to
Jinja or to a value (hence to anything in aotgraph that shapes the source) gives another key.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from aotgraph.toolchain import cache

TEXT = "rendered.txt"
_FORMAT = "aotgraph-rendered-v1"


def cached_render(templates: Path, name: str, values: dict, render: Callable[[], str]) -> str:
    """The text of template `name` with `values`: from the build cache, else `render()` (then stored).

    Values that are not JSON (never the case for our templates) and a cache directory that cannot be written
    just render: the cache here saves milliseconds, it must never cost a warning or an error."""
    try:
        encoded = json.dumps([name, values], sort_keys=True)
    except TypeError:
        return render()
    key = cache.make_key(_FORMAT, _fingerprint(templates), encoded)
    entry = cache.lookup(key)
    if entry is not None:
        try:
            return (entry / TEXT).read_text(encoding="utf-8")
        except OSError:
            pass
    text = render()
    if _writable(cache.cache_root()):
        cache.get_or_build(key, lambda staging: (staging / TEXT).write_text(text, encoding="utf-8"),
                           {"kind": "rendered", "module": name})
    return text


@functools.cache
def _fingerprint(templates: Path) -> str:
    """What a rendering depends on besides the values: every template file and Jinja's version."""
    parts = [f"{path.name}\0{path.read_text(encoding='utf-8')}" for path in sorted(templates.iterdir())
             if path.is_file()]
    return cache.make_key(*parts, _jinja_version())


def _jinja_version() -> str:
    """Jinja's version, read from its source without importing it (the import is what a hit avoids)."""
    spec = importlib.util.find_spec("jinja2")
    if spec is None or spec.origin is None:
        return "no jinja2"
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", Path(spec.origin).read_text(encoding="utf-8"), re.M)
    return found.group(1) if found else f"{spec.origin} {os.stat(spec.origin).st_mtime_ns}"


def _writable(root: Path) -> bool:
    """True if `root` (or the first of its parents that exists) can be written: then storing cannot warn."""
    for path in (root, *root.parents):
        if path.exists():
            return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    return False
