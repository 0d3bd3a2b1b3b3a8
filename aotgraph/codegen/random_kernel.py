"""The compiled random draw: a typed Philox4x32-10 loop in C, and the shared numpy transforms after it.

`random_draw` nodes become numpy-call steps (OPS["random_draw"]) that ask `_rng_uniforms` for the draw's
uniforms and hand them to `_rng_sample`, the very source of aotgraph/tensor/random_transforms.py copied into
the module (a Cython function; in a module written in C, codegen/cmodule.py, the same function in C, `C_UNIFORMS`,
which the steps' Python calls). `_rng_uniforms` computes Philox blocks eight at a time, one 32x32->64 multiply
per lane and round, and writes the floats directly, with the constants of aotgraph/tensor/philox.py and its exact bit
conversion, so its output equals the numpy reference bit for bit. float64 draws (the common case) take one of
the forms of the same rounds: plain C that gcc vectorizes for AVX-512 (builds for such a CPU) and other
architectures, or, on x86-64 builds without AVX-512 (portable builds, wheels), chosen at run time by the CPU:
that plain C compiled for AVX-512 (x86-64-v4), AVX2 intrinsics or SSE2 ones. Measured on 1e7 draws in one C
program, one thread (AVX-512 machine): -march=native 6.5 ms, portable build on this CPU 5.6-6.1 ms, forced
AVX2 15 ms, forced SSE2 29 ms; numpy's Generator.random 16.5-22 ms. Large draws split their groups of blocks
over the module's threads: every group's numbers depend on its counter alone, so the result does not depend
on the number of threads.
"""

from __future__ import annotations

import inspect

from aotgraph.codegen.ir import CallStep
from aotgraph.codegen.loops import tuple_literal
from aotgraph.codegen.ops import HELPERS, rule
from aotgraph.tensor import philox, random_transforms

_C_PHILOX = """
#include <stdint.h>
#include <string.h>
/* AG_PHILOX_PLAIN / AG_PHILOX_SSE2 / AG_PHILOX_AVX2 force one form (tests/codegen/test_philox_forms.py checks
   each one). */
#if defined(__x86_64__) && !defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__)) \\
    && !defined(AG_PHILOX_PLAIN)
#include <immintrin.h>
#define AG_PHILOX_X86 1
#endif
#define AG_TWO_M53 1.1102230246251565e-16 /* 2**-53, exactly */
#define AG_TWO_M24 5.9604644775390625e-08f /* 2**-24, exactly */
/* The float64 code at -O3: gcc's -O2 keeps the lanes in memory between rounds (3x slower, measured). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

/* Philox4x32-$rounds over eight consecutive counters at once, each 32-bit word in a 64-bit lane: plain C that
   gcc vectorizes well with AVX-512 (a build for a CPU that has it, or the AVX-512 form below) and on other
   architectures. Always inlined, so each form's target decides the instructions. */
#define AG_ALWAYS_INLINE static inline __attribute__((always_inline))
AG_ALWAYS_INLINE void ag_philox_lanes(uint64_t key, uint64_t first, uint64_t x0[8], uint64_t x1[8], uint64_t x2[8],
                                   uint64_t x3[8]) {
    uint64_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    int l, r;
    for (l = 0; l < 8; l++) {
        uint64_t c = first + (uint64_t)l;
        x0[l] = (uint32_t)c; x1[l] = c >> 32; x2[l] = 0; x3[l] = 0;
    }
    for (r = 0; r < $rounds; r++) {
        for (l = 0; l < 8; l++) {
            uint64_t p0 = (x0[l] & 0xFFFFFFFFu) * $m0u;
            uint64_t p1 = (x2[l] & 0xFFFFFFFFu) * $m1u;
            uint64_t n0 = (p1 >> 32) ^ x1[l] ^ k0;
            uint64_t n2 = (p0 >> 32) ^ x3[l] ^ k1;
            x1[l] = p1 & 0xFFFFFFFFu; x3[l] = p0 & 0xFFFFFFFFu; x0[l] = n0; x2[l] = n2;
        }
        k0 = (k0 + $w0u) & 0xFFFFFFFFu; k1 = (k1 + $w1u) & 0xFFFFFFFFu;
    }
}

/* Groups g0 <= g < g1 of eight blocks from counter `counter`: 16 doubles per group, written from `out`. */
AG_ALWAYS_INLINE void ag_philox_f64_lanes(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
    uint64_t x0[8], x1[8], x2[8], x3[8], bits[16];
    double ones[16];
    int64_t g;
    int l;
    for (g = g0; g < g1; g++) {
        ag_philox_lanes(key, counter + 8u * (uint64_t)g, x0, x1, x2, x3);
        for (l = 0; l < 8; l++) {
            bits[2 * l] = 0x3FF0000000000000ull | ((x0[l] >> 12) << 32) | x1[l];
            bits[2 * l + 1] = 0x3FF0000000000000ull | ((x2[l] >> 12) << 32) | x3[l];
        }
        memcpy(ones, bits, sizeof ones);
        for (l = 0; l < 16; l++) out[16 * (g - g0) + l] = ones[l] - (1.0 - AG_TWO_M53);
    }
}

#ifndef AG_PHILOX_X86
static void ag_philox_f64_plain(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
    ag_philox_f64_lanes(key, counter, g0, g1, out);
}
#else
/* The plain lanes compiled for AVX-512 in a portable x86-64 build, chosen at run time when the CPU has it.
   With avx512f alone gcc keeps the 64-bit lane multiplies scalar-ish: 8.5-14.6 ms per 1e7 doubles against
   6.1 ms with the x86-64-v4 set (measured; AVX2 15 ms, SSE2 29 ms). */
#define AG_AVX512 "avx512f,avx512dq,avx512vl,avx512bw,avx512cd"
__attribute__((target(AG_AVX512)))
static void ag_philox_f64_avx512(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
    ag_philox_f64_lanes(key, counter, g0, g1, out);
}
#endif

#ifdef AG_PHILOX_X86
/* x86-64 without AVX-512 at build time (portable builds, wheels): the same rounds with SSE2 or, when the CPU
   has it, AVX2 intrinsics. Each 32-bit word sits in a 64-bit lane; pmuludq reads the low halves only, so the
   high halves may hold garbage until the output masks them. */
#define AG_PHILOX_ROUNDS(VEC, SET1, MUL, SRL, XOR)                                              \
    for (r = 0; r < $rounds; r++) {                                                              \
        VEC kk0 = SET1((long long)k0), kk1 = SET1((long long)k1);                                \
        for (v = 0; v < NV; v++) {                                                               \
            VEC p0 = MUL(x0[v], m0), p1 = MUL(x2[v], m1);                                        \
            x0[v] = XOR(XOR(SRL(p1, 32), x1[v]), kk0); x1[v] = p1;                              \
            x2[v] = XOR(XOR(SRL(p0, 32), x3[v]), kk1); x3[v] = p0;                              \
        }                                                                                        \
        k0 += $w0u; k1 += $w1u;                                                                  \
    }

static void ag_philox_f64_sse2(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
    enum { NV = 4 };
    const __m128i m0 = _mm_set1_epi64x($m0ll), m1 = _mm_set1_epi64x($m1ll), zero = _mm_setzero_si128();
    const __m128i low = _mm_set1_epi64x(0xFFFFFFFFll), high20 = _mm_set1_epi64x(0x000FFFFF00000000ll);
    const __m128i one = _mm_set1_epi64x(0x3FF0000000000000ll);
    const __m128d shift = _mm_set1_pd(1.0 - AG_TWO_M53);
    int64_t g;
    int v, r;
    for (g = g0; g < g1; g++) {
        __m128i x0[NV], x1[NV], x2[NV], x3[NV];
        uint64_t first = counter + 8u * (uint64_t)g;
        uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
        for (v = 0; v < NV; v++) {
            __m128i c = _mm_add_epi64(_mm_set1_epi64x((long long)first), _mm_set_epi64x(2 * v + 1, 2 * v));
            x0[v] = c; x1[v] = _mm_srli_epi64(c, 32); x2[v] = zero; x3[v] = zero;
        }
        AG_PHILOX_ROUNDS(__m128i, _mm_set1_epi64x, _mm_mul_epu32, _mm_srli_epi64, _mm_xor_si128)
        for (v = 0; v < NV; v++) {
            __m128i a = _mm_or_si128(_mm_or_si128(_mm_and_si128(_mm_slli_epi64(x0[v], 20), high20),
                                                  _mm_and_si128(x1[v], low)), one);
            __m128i b = _mm_or_si128(_mm_or_si128(_mm_and_si128(_mm_slli_epi64(x2[v], 20), high20),
                                                  _mm_and_si128(x3[v], low)), one);
            __m128d da = _mm_sub_pd(_mm_castsi128_pd(a), shift), db = _mm_sub_pd(_mm_castsi128_pd(b), shift);
            _mm_storeu_pd(out + 16 * (g - g0) + 4 * v, _mm_unpacklo_pd(da, db));
            _mm_storeu_pd(out + 16 * (g - g0) + 4 * v + 2, _mm_unpackhi_pd(da, db));
        }
    }
}

__attribute__((target("avx2")))
static void ag_philox_f64_avx2(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
    enum { NV = 2 };
    const __m256i m0 = _mm256_set1_epi64x($m0ll), m1 = _mm256_set1_epi64x($m1ll), zero = _mm256_setzero_si256();
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFFll), high20 = _mm256_set1_epi64x(0x000FFFFF00000000ll);
    const __m256i one = _mm256_set1_epi64x(0x3FF0000000000000ll);
    const __m256d shift = _mm256_set1_pd(1.0 - AG_TWO_M53);
    int64_t g;
    int v, r;
    for (g = g0; g < g1; g++) {
        __m256i x0[NV], x1[NV], x2[NV], x3[NV];
        uint64_t first = counter + 8u * (uint64_t)g;
        uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
        for (v = 0; v < NV; v++) {
            __m256i c = _mm256_add_epi64(_mm256_set1_epi64x((long long)first),
                                         _mm256_set_epi64x(4 * v + 3, 4 * v + 2, 4 * v + 1, 4 * v));
            x0[v] = c; x1[v] = _mm256_srli_epi64(c, 32); x2[v] = zero; x3[v] = zero;
        }
        AG_PHILOX_ROUNDS(__m256i, _mm256_set1_epi64x, _mm256_mul_epu32, _mm256_srli_epi64, _mm256_xor_si256)
        for (v = 0; v < NV; v++) {
            __m256i a = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(_mm256_slli_epi64(x0[v], 20), high20),
                                                        _mm256_and_si256(x1[v], low)), one);
            __m256i b = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(_mm256_slli_epi64(x2[v], 20), high20),
                                                        _mm256_and_si256(x3[v], low)), one);
            __m256d da = _mm256_sub_pd(_mm256_castsi256_pd(a), shift);
            __m256d db = _mm256_sub_pd(_mm256_castsi256_pd(b), shift);
            __m256d lo = _mm256_unpacklo_pd(da, db), hi = _mm256_unpackhi_pd(da, db);
            _mm256_storeu_pd(out + 16 * (g - g0) + 8 * v, _mm256_permute2f128_pd(lo, hi, 0x20));
            _mm256_storeu_pd(out + 16 * (g - g0) + 8 * v + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
        }
    }
}
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static void ag_philox_f64(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, double* out) {
#if defined(AG_PHILOX_X86) && defined(AG_PHILOX_SSE2)
    ag_philox_f64_sse2(key, counter, g0, g1, out);
#elif defined(AG_PHILOX_X86) && defined(AG_PHILOX_AVX2)
    ag_philox_f64_avx2(key, counter, g0, g1, out);
#elif defined(AG_PHILOX_X86)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd"))
        ag_philox_f64_avx512(key, counter, g0, g1, out);
    else if (__builtin_cpu_supports("avx2"))
        ag_philox_f64_avx2(key, counter, g0, g1, out);
    else
        ag_philox_f64_sse2(key, counter, g0, g1, out);
#else
    ag_philox_f64_plain(key, counter, g0, g1, out);
#endif
}

/* Groups g0 <= g < g1 of eight blocks: 32 floats per group (the 32-bit-lane form, at -O2: measured faster; the
   modules themselves build at -O1, see toolchain/probe.py OPT_FLAGS). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O2")
#endif
static void ag_philox_f32(uint64_t key, uint64_t counter, int64_t g0, int64_t g1, float* out) {
    uint32_t x0[8], x1[8], x2[8], x3[8], bits[32];
    uint32_t k0, k1;
    float ones[32];
    int64_t g;
    int l, r;
    for (g = g0; g < g1; g++) {
        uint64_t first = counter + 8u * (uint64_t)g;
        for (l = 0; l < 8; l++) {
            uint64_t c = first + (uint64_t)l;
            x0[l] = (uint32_t)c; x1[l] = (uint32_t)(c >> 32); x2[l] = 0; x3[l] = 0;
        }
        k0 = (uint32_t)key; k1 = (uint32_t)(key >> 32);
        for (r = 0; r < $rounds; r++) {
            for (l = 0; l < 8; l++) {
                uint64_t p0 = (uint64_t)$m0u * x0[l];
                uint64_t p1 = (uint64_t)$m1u * x2[l];
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ x1[l] ^ k0;
                uint32_t n2 = (uint32_t)(p0 >> 32) ^ x3[l] ^ k1;
                x1[l] = (uint32_t)p1; x3[l] = (uint32_t)p0; x0[l] = n0; x2[l] = n2;
            }
            k0 += $w0u; k1 += $w1u;
        }
        for (l = 0; l < 8; l++) {
            bits[4 * l] = 0x3F800000u | (x0[l] >> 9);
            bits[4 * l + 1] = 0x3F800000u | (x1[l] >> 9);
            bits[4 * l + 2] = 0x3F800000u | (x2[l] >> 9);
            bits[4 * l + 3] = 0x3F800000u | (x3[l] >> 9);
        }
        memcpy(ones, bits, sizeof ones);
        for (l = 0; l < 32; l++) out[32 * (g - g0) + l] = ones[l] - (1.0f - AG_TWO_M24);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
"""

_CYTHON_UNIFORMS = '''
cdef extern from *:
    """$c_source"""
    void ag_philox_f64(cnp.npy_uint64 key, cnp.npy_uint64 counter, cnp.npy_int64 g0, cnp.npy_int64 g1,
                       double* out) noexcept nogil
    void ag_philox_f32(cnp.npy_uint64 key, cnp.npy_uint64 counter, cnp.npy_int64 g0, cnp.npy_int64 g1,
                       float* out) noexcept nogil


cdef void _rng_groups(bint f64, cnp.npy_uint64 key, cnp.npy_uint64 counter, cnp.npy_int64 g0, cnp.npy_int64 g1,
                      char* out) noexcept nogil:
    if f64:
        ag_philox_f64(key, counter, g0, g1, <double*>out + 16 * g0)
    else:
        ag_philox_f32(key, counter, g0, g1, <float*>out + 32 * g0)


cdef tuple _rng_uniforms(cnp.ndarray state, tuple shape, bint f64):
    """(uniforms in (0, 1) of `shape`, float64 or float32, the state after them): philox.uniforms, compiled."""
    cdef cnp.npy_intp dims[64]
    cdef cnp.npy_intp two = $state_size
    cdef int nd = len(shape)
    cdef int k, t
    cdef cnp.npy_int64 n = 1
    if nd > 64:
        raise ValueError("random draw: more than 64 dimensions")
    for k in range(nd):
        dims[k] = shape[k]
        if dims[k] < 0:
            raise ValueError(f"random draw: negative size in {shape}")
        n *= dims[k]
    if cnp.PyArray_TYPE(state) != cnp.NPY_UINT64 or cnp.PyArray_NDIM(state) != 1 or cnp.PyArray_DIMS(state)[0] != two:
        raise ValueError(f"a random stream's state must be a uint64 array [key, counter] of shape ($state_size,), "
                         f"got {state.dtype} {(<object>state).shape}")
    cdef cnp.npy_uint64 key = (<cnp.npy_uint64*>cnp.PyArray_GETPTR1(state, 0))[0]
    cdef cnp.npy_uint64 counter = (<cnp.npy_uint64*>cnp.PyArray_GETPTR1(state, 1))[0]
    cdef cnp.npy_int64 per_group = 16 if f64 else 32
    cdef cnp.npy_int64 full = n // per_group
    cdef cnp.npy_int64 rest = n - full * per_group
    cdef cnp.npy_int64 words = n * (2 if f64 else 1)
    cdef int nt = _num_threads()
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(nd, dims, cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32, 0)
    cdef cnp.ndarray new_state = cnp.PyArray_EMPTY(1, &two, cnp.NPY_UINT64, 0)
    cdef char* data = <char*>cnp.PyArray_DATA(out)
    cdef double tail[32]  # one group: 16 doubles or 32 floats
    if full < nt:
        nt = <int>max(full, 1)
    if nt > 1 and n >= _PAR_MIN:
        with nogil:
            for t in prange(nt, num_threads=nt, schedule="static"):
                _rng_groups(f64, key, counter, full * t // nt, full * (t + 1) // nt, data)
    elif n >= _NOGIL_MIN:
        with nogil:
            _rng_groups(f64, key, counter, 0, full, data)
    else:
        _rng_groups(f64, key, counter, 0, full, data)
    if rest:
        _rng_groups(f64, key, counter + 8 * <cnp.npy_uint64>full, 0, 1, <char*>tail)
        memcpy(data + full * 128, tail, rest * (8 if f64 else 4))  # a group is 128 bytes in either dtype
    (<cnp.npy_uint64*>cnp.PyArray_DATA(new_state))[0] = key
    (<cnp.npy_uint64*>cnp.PyArray_DATA(new_state))[1] = (
        counter + <cnp.npy_uint64>((words + $words_per_block - 1) // $words_per_block))
    return out, new_state
'''


# `_rng_uniforms` for modules written in C (codegen/cmodule.py): the function above, statement for statement, as a
# Python-callable C function that the module hands to its numpy-call steps (their statements call it by name).
_C_UNIFORMS = """
static void ag_rng_groups(int f64, npy_uint64 key, npy_uint64 counter, npy_int64 g0, npy_int64 g1, char *out) {
    if (f64) ag_philox_f64(key, counter, g0, g1, (double *)out + 16 * g0);
    else ag_philox_f32(key, counter, g0, g1, (float *)out + 32 * g0);
}

/* _rng_uniforms(state, shape, f64) -> (uniforms in (0, 1) of `shape`, float64 or float32, the state after them) */
static PyObject *ag_rng_uniforms(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    npy_intp dims[64], two = $state_size;
    npy_int64 n = 1, per_group, full, rest, words;
    npy_uint64 key, counter;
    int nd, k, t, f64, nt;
    PyArrayObject *state, *out = NULL, *new_state = NULL;
    char *data;
    double tail[32];  /* one group: 16 doubles or 32 floats */
    (void)self;
    if (nargs != 3 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_rng_uniforms(state, shape, f64) takes a tuple shape");
        return NULL;
    }
    nd = (int)PyTuple_GET_SIZE(args[1]);
    if (nd > 64) {
        PyErr_SetString(PyExc_ValueError, "random draw: more than 64 dimensions");
        return NULL;
    }
    if ((f64 = PyObject_IsTrue(args[2])) < 0) return NULL;
    for (k = 0; k < nd; k++) {
        dims[k] = PyNumber_AsSsize_t(PyTuple_GET_ITEM(args[1], k), PyExc_OverflowError);
        if (dims[k] == -1 && PyErr_Occurred()) return NULL;
        if (dims[k] < 0) return PyErr_Format(PyExc_ValueError, "random draw: negative size in %S", args[1]);
        n *= dims[k];
    }
    state = (PyArrayObject *)args[0];
    if (!PyArray_Check(args[0]) || PyArray_TYPE(state) != NPY_UINT64 || PyArray_NDIM(state) != 1
            || PyArray_DIMS(state)[0] != two) {
        PyObject *dtype = PyObject_GetAttrString(args[0], "dtype"), *shape = PyObject_GetAttrString(args[0], "shape");
        if (dtype != NULL && shape != NULL)
            PyErr_Format(PyExc_ValueError, "a random stream's state must be a uint64 array [key, counter] of shape "
                         "($state_size,), got %S %S", dtype, shape);
        Py_XDECREF(dtype);
        Py_XDECREF(shape);
        return NULL;
    }
    key = *(npy_uint64 *)PyArray_GETPTR1(state, 0);
    counter = *(npy_uint64 *)PyArray_GETPTR1(state, 1);
    per_group = f64 ? 16 : 32;
    full = n / per_group;
    rest = n - full * per_group;
    words = n * (f64 ? 2 : 1);
    nt = ag_num_threads();
    out = (PyArrayObject *)PyArray_EMPTY(nd, dims, f64 ? NPY_FLOAT64 : NPY_FLOAT32, 0);
    new_state = (PyArrayObject *)PyArray_EMPTY(1, &two, NPY_UINT64, 0);
    if (out == NULL || new_state == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(new_state);
        return NULL;
    }
    data = (char *)PyArray_DATA(out);
    if (full < nt) nt = (int)(full > 1 ? full : 1);
    if (nt > 1 && n >= AG_PAR_MIN) {
        Py_BEGIN_ALLOW_THREADS
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (t = 0; t < nt; t++) ag_rng_groups(f64, key, counter, full * t / nt, full * (t + 1) / nt, data);
        Py_END_ALLOW_THREADS
    } else if (n >= AG_NOGIL_MIN) {
        Py_BEGIN_ALLOW_THREADS
        ag_rng_groups(f64, key, counter, 0, full, data);
        Py_END_ALLOW_THREADS
    } else {
        ag_rng_groups(f64, key, counter, 0, full, data);
    }
    if (rest) {
        ag_rng_groups(f64, key, counter + 8 * (npy_uint64)full, 0, 1, (char *)tail);
        memcpy(data + full * 128, tail, rest * (f64 ? 8 : 4));  /* a group is 128 bytes in either dtype */
    }
    ((npy_uint64 *)PyArray_DATA(new_state))[0] = key;
    ((npy_uint64 *)PyArray_DATA(new_state))[1] =
        counter + (npy_uint64)((words + $words_per_block - 1) / $words_per_block);
    return Py_BuildValue("(NN)", out, new_state);
}

static PyMethodDef ag_def_rng_uniforms = {"_rng_uniforms", (PyCFunction)(void (*)(void))ag_rng_uniforms, METH_FASTCALL,
                                          "uniforms in (0, 1) of a shape, and the stream's state after them"};
"""


def _substitute(text: str, **values) -> str:
    """`text` with each `$name` replaced by str(value) (C and Cython braces stay as they are)."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        text = text.replace(f"${name}", str(value))
    return text


def _transform_helpers() -> dict[str, str]:
    """The source of every `_rng_` function of random_transforms.py, one helper each, with Python's indexing
    (the module's directives turn off negative indices and bounds checks, which plain Python code relies on)."""
    python_indexing = "@cython.boundscheck(True)\n@cython.wraparound(True)\n"
    return {name: python_indexing + inspect.getsource(fn).strip("\n") for name, fn in vars(random_transforms).items()
            if name.startswith("_rng_") and inspect.isfunction(fn)}


_C_SOURCE = _substitute(_C_PHILOX, rounds=philox.ROUNDS, m0=philox.MULTIPLIERS[0], m1=philox.MULTIPLIERS[1],
                        w0=philox.KEY_BUMPS[0], w1=philox.KEY_BUMPS[1])
HELPERS["_rng_uniforms"] = _substitute(_CYTHON_UNIFORMS, c_source=_C_SOURCE, state_size=philox.STATE_SIZE,
                                       words_per_block=philox.WORDS_PER_BLOCK).strip("\n")
HELPERS.update(_transform_helpers())
# for modules written in C: the C of `_rng_uniforms` (with the Philox rounds), a Python-callable function
C_UNIFORMS = _C_SOURCE + _substitute(_C_UNIFORMS, state_size=philox.STATE_SIZE,
                                     words_per_block=philox.WORDS_PER_BLOCK)
_HELPER_NAMES = ("_rng_uniforms", *sorted(_transform_helpers()))


@rule("random_draw")
def _random_draw(node, ins, outs):
    op = node.op
    nsym = sum(1 for s in op.shape if s is None)
    state, sizes, params = ins[0], ins[1:1 + nsym], ins[1 + nsym:]
    new_state, sample = outs
    f64 = op.udtype == "float64"
    shape = f"_np_fill({op.shape!r}, {tuple_literal([b.name for b in sizes])})" if sizes else repr(tuple(op.shape))
    # a uniform draw calls no transform: without them, a built module of one uniform draw is 1.18 MB of C, not 1.68
    used = ("_rng_uniforms",) if op.dist == "uniform" else _HELPER_NAMES
    if sizes:
        used = ("_np_fill", *used)
    if op.dist == "uniform":  # the uniforms are the sample: one call, no transform (a small draw takes ~2 us)
        lines = [f"{sample.name}, {new_state.name} = _rng_uniforms({state.name}, {shape}, {f64})"]
    else:
        lines = [
            f"shape = {shape}",
            f"params = {tuple_literal([b.name for b in params])}",
            f"count = _rng_count({op.dist!r}, shape, params, {op.extra!r})",
            f"u, {new_state.name} = _rng_uniforms({state.name}, (count,), {f64})",
            f"{sample.name} = _rng_sample({op.dist!r}, u, shape, params, {op.dtype!r}, {op.extra!r})",
        ]
    helpers = {name: HELPERS[name] for name in used}
    return CallStep(list(ins), list(outs), lines, helpers)
