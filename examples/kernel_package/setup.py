"""Builds kernel_demo.kernels from the functions of kernel_spec.py (aotgraph's setuptools integration)."""

from setuptools import setup

from aotgraph.extension import build_ext, kernel_extension

setup(
    ext_modules=[kernel_extension("kernel_demo.kernels", "kernel_spec.py:make_functions")],
    cmdclass={"build_ext": build_ext},
)
