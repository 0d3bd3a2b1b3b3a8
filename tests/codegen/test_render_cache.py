"""Rendered templates kept in the build cache (codegen/render_cache.py): a cache hit in a new process renders
nothing, imports no Jinja, and gets exactly the text Jinja would give; any template change is a new key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aotgraph.codegen import render_cache
from aotgraph.toolchain import cache

REPO = Path(__file__).resolve().parents[2]


def _render_counting(templates: Path, name: str, values: dict, calls: list) -> str:
    def render() -> str:
        calls.append(name)
        return (templates / name).read_text().replace("{{ x }}", values["x"])

    return render_cache.cached_render(templates, name, values, render)


def test_second_render_is_read_from_the_cache_and_keyed_by_values_and_templates(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("value {{ x }}\n")
    calls: list = []
    assert _render_counting(templates, "t.j2", {"x": "a"}, calls) == "value a\n"
    assert _render_counting(templates, "t.j2", {"x": "a"}, calls) == "value a\n"
    assert calls == ["t.j2"]  # the second came from the cache
    assert _render_counting(templates, "t.j2", {"x": "b"}, calls) == "value b\n"
    assert calls == ["t.j2", "t.j2"]
    kinds = [info.kind for info in cache.list_entries(tmp_path / "cache")]
    assert kinds == ["rendered", "rendered"]  # listed (and cleared) like every other entry

    (templates / "t.j2").write_text("changed {{ x }}\n")  # a new process sees another fingerprint
    render_cache._fingerprint.cache_clear()
    assert _render_counting(templates, "t.j2", {"x": "a"}, calls) == "changed a\n"
    assert len(calls) == 3


def test_a_broken_entry_or_a_read_only_cache_just_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("value {{ x }}\n")
    calls: list = []
    _render_counting(templates, "t.j2", {"x": "a"}, calls)
    [entry] = [info.path for info in cache.list_entries(tmp_path / "cache")]
    (entry / render_cache.TEXT).write_text("truncated")  # the size no longer matches the manifest
    assert _render_counting(templates, "t.j2", {"x": "a"}, calls) == "value a\n"
    assert (entry / render_cache.TEXT).read_text() == "value a\n" and len(calls) == 2  # rebuilt

    monkeypatch.setattr(render_cache, "_writable", lambda root: False)
    assert _render_counting(templates, "t.j2", {"x": "c"}, calls) == "value c\n"
    assert len(cache.list_entries(tmp_path / "cache")) == 1  # nothing stored, nothing warned


_RENDER = """
import json, sys
from aotgraph.codegen.render import render_module, render_support
name, pyx, pxd = render_support()
text = render_module([], runtime=True, title="t")
print(json.dumps({"jinja": "jinja2" in sys.modules, "texts": [name, pyx, pxd, text]}))
"""


def test_a_new_process_renders_the_same_text_without_jinja(tmp_path):
    """The in-process support and a whole standalone module: the second process imports no Jinja."""
    env = {"AOTGRAPH_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _RENDER], capture_output=True, text=True, env=env,
                                      check=True).stdout) for _ in range(2)]
    assert runs[0]["jinja"] and not runs[1]["jinja"]
    assert runs[0]["texts"] == runs[1]["texts"]
    assert "cdef class _FastCall" in runs[1]["texts"][3]
