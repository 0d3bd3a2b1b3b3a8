"""The Cython backend: lowering a FunctionSpec to a small kernel IR and rendering it as a .pyx module.

    lower.py    FunctionSpec -> Kernel (ir.py): naming, fusion of elementwise chains and siblings, liveness
    scalar.py   the Cython scalar expression of every elementwise op (the ELEMWISE table), per dtype
    ops.py      the numpy-call steps of every other op (the OPS table)
    render.py   Kernel -> prepared lines -> templates/module.pyx.j2 (+ kernel_support.pyx.j2)
    linker.py   LINKERS['cython'] (mode FAST_RUN): build through the cache, import, bind to live shared state
    aot.py      build(): functions + runtime + data into one importable module, optionally a wheel
    loader.py   import a built extension from a cache entry

The keys of ELEMWISE and OPS are the ops this backend supports (`lower.supported_ops()`).
`ir.format_kernel(lower(spec))` prints what a function compiles to.
"""
