"""`ag.config`: global settings with environment overrides (AOTGRAPH_*)."""

from __future__ import annotations

import os

import numpy as np


class Config:
    """floatX, the default mode and the build cache directory.

    Each reads its AOTGRAPH_<NAME> environment variable once at import; assign
    to change it for the rest of the process.
    """

    def __init__(self) -> None:
        self.floatX = os.environ.get("AOTGRAPH_FLOATX", "float64")
        self.mode = os.environ.get("AOTGRAPH_MODE", "FAST_RUN")
        self.cache_dir = os.environ.get("AOTGRAPH_CACHE_DIR") or None

    def __setattr__(self, key: str, value) -> None:
        if key == "floatX" and value not in ("float32", "float64"):
            raise ValueError(f"config.floatX must be 'float32' or 'float64', got {value!r}")
        if key == "floatX":
            value = np.dtype(value).name
        object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        return f"Config(floatX={self.floatX!r}, mode={self.mode!r}, cache_dir={self.cache_dir!r})"


config = Config()
