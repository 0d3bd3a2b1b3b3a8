"""The compiled backend: lowering a FunctionSpec to a small kernel IR and rendering it as a .pyx module (ag.build, and
in process when a step needs Cython) or as C written directly (in process: no Cython runs).

    lower.py      FunctionSpec -> Kernel (ir.py): naming, one step per node, liveness; fused nodes (made by the
                  `fuse` rewrite) and elementwise nodes become loops, reduce nodes reduction loops
    scalar.py     the Cython scalar expression of every elementwise op (`scalar_rules()`), per dtype
    reduction.py  how a loop computes the reduction kinds of tensor/reduction.py: identities, combination, pairwise sums
    loops.py      loop steps -> a step function + a nogil loop kernel (blocks, strides, threads, in place)
    ops.py        the numpy-call steps of every other op (the OPS table)
    random_kernel.py  the random draw's step: a Philox loop in C (vectorized), then the shared numpy transforms
    render.py     Kernel -> prepared lines -> templates/module.pyx.j2 (+ kernel_support.pyx.j2)
    render_cache.py  rendered templates kept in the build cache: a cache hit in a new process needs no Jinja
    cmodule.py    Kernel -> an in-process module in C (templates/module.c.j2): the loops translated by cython_c.py,
                  the glue (steps, runners) written in C, numpy calls as Python functions; used when every step
                  has such a rendering (`renderable`), so that a first use runs no Cython
    cython_c.py   the nogil Cython the emitters print (loop kernels, helpers) -> C
    linker.py     the FAST_RUN backend: build through the cache (toolchain/loader.py), import, bind to live state
    aot.py        build(): functions + runtime + data into one importable module, optionally a wheel

The keys of `scalar_rules()`, the reduction kinds and OPS (plus the fused ops) are what this backend supports
(`lower.supported_ops()`). `ir.format_kernel(lower(spec))` prints what a function compiles to.

Threads: loops of at least 65536 elements run on `aotgraph.config.num_threads` threads (default: the CPUs
this process may use; AOTGRAPH_NUM_THREADS), read by in-process modules when imported and whenever it is
assigned; a built module reads AOTGRAPH_NUM_THREADS when imported and has `set_num_threads(n)`. Results do
not depend on the number of threads (see loops.py). Loops of at least 8192 elements release the GIL.
"""
