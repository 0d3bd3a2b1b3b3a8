"""`BuildOptions`: how a module is compiled, one value from the code generator to the compiler, the cache key
and wheels (instead of one keyword per flag in every signature on the way)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    """The flags of one build.

    native: compile for this machine's CPU (-march=native); part of the cache key with the CPU's identity.
    openmp: large loops run on several threads, if the compiler supports OpenMP (else a warning, one thread).
    vector_math: loops call the C library's vector variants of math functions (glibc's libmvec) when it has
        every one of `vector_functions`; else the module is built without them (same results, slower).
    vector_functions: (float64 name, arity) of each C function the module declares with vector variants
        (float32's name adds "f"); the code generator names them, the probe checks the C library has them.
    """

    native: bool = False
    openmp: bool = False
    vector_math: bool = False
    vector_functions: tuple[tuple[str, int], ...] = ()
