"""Fixtures of the compat tests: the functions of compatfunctions.py per mode, and the module built from them."""

from __future__ import annotations

import pytest
from compatsupport import Compiled


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> Compiled:
    return Compiled(tmp_path_factory.mktemp("compatmod"))


@pytest.fixture
def functions(compiled, mode) -> dict:
    """{name: Function} compiled in `mode` (tests/conftest.py's mode fixture)."""
    return compiled.functions(mode)[0]


@pytest.fixture
def state(compiled, mode) -> dict:
    """The shared variables and other objects the functions of `mode` use."""
    return compiled.functions(mode)[1]


@pytest.fixture
def built(compiled):
    return compiled.module()
