"""The version of aotgraph (its own module, so code generation can stamp it without importing the package)."""

__version__ = "0.1.0"
