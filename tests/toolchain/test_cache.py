"""The cache on its own (no compiler): keys, validation, rebuilds, locking, fallback, CLI."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from aotgraph.toolchain import cache


def fake_build(content: bytes = b"\x7fELF pretend extension"):
    calls = []

    def build(directory: Path) -> None:
        calls.append(directory)
        (directory / "mod.cpython-311-x86_64-linux-gnu.so").write_bytes(content)
        (directory / "mod.pyx").write_text("# source\n")

    return build, calls


def test_make_key_separates_parts():
    assert cache.make_key("ab", "c") != cache.make_key("a", "bc")
    assert cache.make_key("x", b"y") == cache.make_key(b"x", "y")
    assert len(cache.make_key("x")) == 64


def test_root_from_env_then_config_then_user_cache_dir(monkeypatch, tmp_path):
    from aotgraph.configparser import config

    monkeypatch.setenv("AOTGRAPH_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(config, "cache_dir", str(tmp_path / "config"))
    assert cache.cache_root() == tmp_path / "env"
    monkeypatch.delenv("AOTGRAPH_CACHE_DIR")
    assert cache.cache_root() == tmp_path / "config"
    monkeypatch.setattr(config, "cache_dir", None)
    assert cache.cache_root().name == "aotgraph"
    assert cache.cache_root(tmp_path / "given") == tmp_path / "given"


def test_entry_layout_and_manifest(tmp_path):
    build, calls = fake_build()
    key = cache.make_key("layout")
    entry, hit = cache.get_or_build(key, build, {"kind": "module", "module": "mod"}, tmp_path)
    assert (entry, hit) == (tmp_path / key[:2] / key, False)
    manifest = cache.read_manifest(entry)
    so = manifest["files"]["mod.cpython-311-x86_64-linux-gnu.so"]
    assert so["size"] == len(b"\x7fELF pretend extension") and len(so["sha256"]) == 64
    assert "sha256" not in manifest["files"]["mod.pyx"]  # only extension modules are hashed
    assert cache.get_or_build(key, build, {}, tmp_path) == (entry, True)
    assert len(calls) == 1
    assert not list(entry.parent.glob("*.tmp-*"))


def test_prebuilt_entries_are_read_after_the_cache_and_can_be_ignored(tmp_path, monkeypatch):
    """What setup.py prebuilds (aotgraph/_prebuilt) serves a new, empty cache; the cache's own entries win."""
    prebuilt, empty = tmp_path / "prebuilt", tmp_path / "cache"
    monkeypatch.setattr(cache, "PREBUILT_ROOT", prebuilt)
    monkeypatch.delenv("AOTGRAPH_IGNORE_PREBUILT", raising=False)
    build, calls = fake_build()
    key = cache.make_key("prebuilt")
    entry, _ = cache.get_or_build(key, build, {"kind": "companion", "module": "mod"}, prebuilt)
    assert cache.lookup(key, empty) == entry
    assert cache.get_or_build(key, build, {}, empty) == (entry, True) and len(calls) == 1
    monkeypatch.setenv("AOTGRAPH_IGNORE_PREBUILT", "1")
    assert cache.lookup(key, empty) is None
    own, hit = cache.get_or_build(key, build, {}, empty)
    assert not hit and own.parent.parent == empty and len(calls) == 2
    monkeypatch.delenv("AOTGRAPH_IGNORE_PREBUILT")
    assert cache.lookup(key, empty) == own
    (entry / "mod.cpython-311-x86_64-linux-gnu.so").write_bytes(b"damaged")
    assert cache.lookup(key, tmp_path / "another") is None  # a damaged prebuilt entry is never used


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-manifest", "missing-file"])
def test_damaged_entries_are_rebuilt(tmp_path, damage):
    build, calls = fake_build()
    key = cache.make_key("damage", damage)
    entry, _ = cache.get_or_build(key, build, {}, tmp_path)
    so = entry / "mod.cpython-311-x86_64-linux-gnu.so"
    if damage == "truncate":
        os.truncate(so, 3)
    elif damage == "flip":  # same size, different bytes: only the checksum sees it
        so.write_bytes(so.read_bytes().upper())
    elif damage == "no-manifest":
        (entry / cache.MANIFEST).unlink()
    else:
        (entry / "mod.pyx").unlink()
    assert not cache.is_valid(entry)
    again, hit = cache.get_or_build(key, build, {}, tmp_path)
    assert (again, hit) == (entry, False) and len(calls) == 2 and cache.is_valid(entry)


def test_failed_build_caches_nothing(tmp_path):
    def build(directory: Path) -> None:
        (directory / "half.so").write_bytes(b"x")
        raise RuntimeError("compiler exploded")

    key = cache.make_key("fails")
    with pytest.raises(RuntimeError, match="exploded"):
        cache.get_or_build(key, build, {}, tmp_path)
    assert cache.lookup(key, tmp_path) is None
    assert [p.name for p in (tmp_path / key[:2]).iterdir()] in ([], [f"{key}.lock"])  # filelock 3 keeps it


def test_threads_building_one_key_build_it_once(tmp_path):
    calls = []

    def slow_build(directory: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (directory / "m.so").write_bytes(b"so")

    key = cache.make_key("threads")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_build(key, slow_build, {}, tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(hit for _, hit in results) == [False, True, True]
    assert len({entry for entry, _ in results}) == 1


def test_unwritable_root_falls_back_to_a_temporary_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # even root cannot create a directory under a file
    monkeypatch.setattr(cache, "_fallbacks", {})
    build, calls = fake_build()
    key = cache.make_key("fallback")
    with pytest.warns(RuntimeWarning, match="cannot write to its build cache"):
        entry, hit = cache.get_or_build(key, build, {}, blocker / "cache")
    assert not hit and not str(entry).startswith(str(blocker))
    assert cache.get_or_build(key, build, {}, blocker / "cache") == (entry, True)  # found again, no new warning
    assert len(calls) == 1


def test_parse_age():
    assert cache.parse_age("90s") == 90
    assert cache.parse_age("30m") == 1800
    assert cache.parse_age("1.5h") == 5400
    assert cache.parse_age("7d") == 7 * 86400
    assert cache.parse_age("2w") == 14 * 86400
    for bad in ["7", "d", "7 days", "-1d"]:
        with pytest.raises(ValueError, match="e.g. 90s"):
            cache.parse_age(bad)


def test_cli_lists_and_clears(tmp_path, capsys):
    old_build, _ = fake_build(b"old" * 1000)
    new_build, _ = fake_build(b"new")
    old, _ = cache.get_or_build(cache.make_key("old"), old_build, {"kind": "module", "module": "oldmod"}, tmp_path)
    new, _ = cache.get_or_build(cache.make_key("new"), new_build, {"kind": "module", "module": "newmod"}, tmp_path)
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old / cache.MANIFEST, (ten_days_ago, ten_days_ago))

    assert cache.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "oldmod" in out and "newmod" in out and "2 entries" in out
    assert re.search(r"oldmod +3\.\d kB +10d ago", out), out

    assert cache.main(["--dir", str(tmp_path), "--older-than", "7d"]) == 0
    out = capsys.readouterr().out
    assert "oldmod" in out and "newmod" not in out

    assert cache.main(["--dir", str(tmp_path), "--clear", "--older-than", "7d"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert not old.exists() and cache.is_valid(new)

    assert cache.main(["--dir", str(tmp_path), "--clear"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert not new.exists()
    assert not list(tmp_path.iterdir())  # lock files and empty shards went too


def test_cli_module_runs(tmp_path, run_python):
    out = run_python(
        f"import runpy, sys; sys.argv = ['x', '--dir', {str(tmp_path)!r}]; "
        "runpy.run_module('aotgraph.cache', run_name='__main__')",
        isolated=False,
    )
    assert "0 entries" in out
