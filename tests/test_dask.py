"""Built and compiled functions mapped over chunked dask arrays on a local `distributed` cluster.

Tasks reach the workers pickled: a built module's function by reference (its module is imported again,
never recompiled), an in-process function by its recipe. Test-only dependency: dask[array], distributed.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import aotgraph as ag
import aotgraph.tensor as at

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def built_module(tmp_path_factory):
    x = at.dmatrix("x")
    scaled = ag.function([x], at.tanh(x) * 2 + 1, name="scaled", mode="FAST_COMPILE")
    out = tmp_path_factory.mktemp("dask")
    ag.build(scaled, "dask_kernels", out)
    sys.path.insert(0, str(out))
    import dask_kernels

    yield dask_kernels
    sys.path.remove(str(out))


def test_built_function_over_chunks(client, built_module):
    data = np.random.default_rng(0).normal(size=(400, 30))
    chunked = da.from_array(data, chunks=(100, 30))
    result = chunked.map_blocks(built_module.scaled, dtype=np.float64).compute()
    np.testing.assert_array_equal(result, built_module.scaled(data))  # the same bits as a call here
    np.testing.assert_allclose(result, np.tanh(data) * 2 + 1, rtol=1e-13, atol=1e-15)
    assert len(client.scheduler_info()["workers"]) == 2


def test_in_process_function_over_chunks(client):
    x = at.dmatrix("x")
    rowsum = ag.function([x], at.exp(x).sum(axis=1), name="rowsum", mode="FAST_COMPILE")
    data = np.random.default_rng(1).normal(size=(300, 8))
    chunked = da.from_array(data, chunks=(75, 8))
    result = chunked.map_blocks(rowsum, drop_axis=1, dtype=np.float64).compute()
    np.testing.assert_array_equal(result, rowsum(data))
    np.testing.assert_allclose(result, np.exp(data).sum(axis=1), rtol=1e-13)
