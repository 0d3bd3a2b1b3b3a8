"""Reliability tests: fixtures giving the functions of relfunctions.py per mode and the module built from them
(see relsupport.py)."""

from __future__ import annotations

import pytest
from relsupport import Compiled, fast_run_available


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> Compiled:
    return Compiled(tmp_path_factory.mktemp("relmod"))


@pytest.fixture
def functions(compiled, mode) -> dict:
    """The functions of relfunctions.py compiled in `mode` (the mode fixture of tests/conftest.py)."""
    return compiled.functions(mode)[0]


@pytest.fixture
def built(compiled):
    return compiled.module()


@pytest.fixture
def needs_fast_run():
    if not fast_run_available():
        pytest.skip("the compiled backend is not available")


