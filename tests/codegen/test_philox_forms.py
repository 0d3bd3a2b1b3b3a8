"""Every form of the compiled Philox draw equals the numpy reference bit for bit. The float64 draw has four forms
(codegen/random_kernel.py): plain C, SSE2 and AVX2 intrinsics, and the plain C compiled for AVX-512 inside a
portable build; a machine runs only one of them inside aotgraph's modules. Here each is compiled into a small C
program (a second of gcc each, no Python module) and run on groups at an offset, against
aotgraph/tensor/philox.py.
"""

from __future__ import annotations

import platform
import shutil
import subprocess

import numpy as np
import pytest

from aotgraph.codegen.random_kernel import _C_SOURCE
from aotgraph.tensor import philox

COMPILER = shutil.which("gcc") or shutil.which("cc")
X86 = platform.machine() in ("x86_64", "AMD64")

MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
    uint64_t key = strtoull(argv[1], NULL, 10), counter = strtoull(argv[2], NULL, 10);
    int64_t g0 = atoll(argv[3]), g1 = atoll(argv[4]);
    double* d = malloc(16 * (g1 - g0) * sizeof(double));
    float* f = malloc(32 * (g1 - g0) * sizeof(float));
    ag_philox_f64(key, counter, g0, g1, d);
    ag_philox_f32(key, counter, g0, g1, f);
    fwrite(d, sizeof(double), 16 * (g1 - g0), stdout);
    fwrite(f, sizeof(float), 32 * (g1 - g0), stdout);
    return 0;
}
"""

FORMS = {
    "plain, portable": ["-DAG_PHILOX_PLAIN"],
    "plain, this CPU": ["-DAG_PHILOX_PLAIN", "-march=native"],
    "sse2": ["-DAG_PHILOX_SSE2"],
    "avx2": ["-DAG_PHILOX_AVX2"],
    "the best the CPU has (avx512, avx2, sse2)": [],
}
NEEDS = {"avx2": "avx2"}


def cpu_has(flag: str) -> bool:
    try:
        with open("/proc/cpuinfo") as info:
            return flag in info.read().split()
    except OSError:
        return False


@pytest.mark.skipif(COMPILER is None, reason="no C compiler")
@pytest.mark.parametrize("form", list(FORMS))
def test_form_equals_the_reference(form, tmp_path):
    if not X86 and "plain" not in form:
        pytest.skip("x86-64 only")
    if form in NEEDS and not cpu_has(NEEDS[form]):
        pytest.skip(f"this CPU has no {NEEDS[form]}")
    source = tmp_path / "philox.c"
    source.write_text(_C_SOURCE + MAIN)
    program = tmp_path / "philox"
    flags = ["-O2", "-ftree-vectorize", "-ffp-contract=off", *FORMS[form]]
    subprocess.run([COMPILER, *flags, str(source), "-o", str(program)], check=True, capture_output=True)
    key, counter, g0, g1 = 0xFEEDFACE12345678, 2**64 - 21, 3, 11  # the counter wraps around inside the draw
    out = subprocess.run([str(program), str(key), str(counter), str(g0), str(g1)], check=True,
                         capture_output=True).stdout
    doubles = np.frombuffer(out[:16 * 8 * (g1 - g0)], np.float64)
    floats = np.frombuffer(out[16 * 8 * (g1 - g0):], np.float32)
    state = np.array([key, counter], np.uint64)
    want64 = philox.uniforms(state, 16 * g1, "float64")[0][16 * g0:]
    want32 = philox.uniforms(state, 32 * g1, "float32")[0][32 * g0:]
    np.testing.assert_array_equal(doubles, want64)
    np.testing.assert_array_equal(floats, want32)
