"""`ag.config`: global settings with environment overrides (AOTGRAPH_*)."""

from __future__ import annotations

import os

import numpy as np


class Config:
    """floatX, the default mode, the build cache directory and the number of threads of compiled loops.

    Each reads its AOTGRAPH_<NAME> environment variable once at import; assign
    to change it for the rest of the process.

    num_threads (AOTGRAPH_NUM_THREADS, default: the CPUs this process may use): compiled elementwise and
    reduction loops of at least 65536 elements run on up to this many threads (OpenMP). Assigning it
    applies at once to every module compiled in this process. A module built with ag.build reads
    AOTGRAPH_NUM_THREADS when it is imported; change it there with `mymodule.set_num_threads(n)`.

    compile_timeout (AOTGRAPH_COMPILE_TIMEOUT, seconds, default 600): the C compiler is stopped after this long
    on one module and the build fails with a BuildError that names this setting.

    background_builds (AOTGRAPH_BACKGROUND_BUILDS, default on; "0" turns it off): once the first compiled function
    of the process is built, `ag.function` returns when a new module's source is ready (at once for a module written
    in C, when Cython is done for the others), and the C compiler finishes it in the background while the program
    goes on (the next function's Cython, the user's code); the function's first call waits for it. Off:
    `ag.function` returns when the module is built and imported.

    kernels_in_c (AOTGRAPH_KERNELS_IN_C, default on; "0" turns it off): an in-process module whose every step has a C
    rendering (elementwise loops, reductions, numpy calls, random draws, the fused X @ w / X.T @ v pass) is written
    in C directly and built by the C compiler alone, without Cython (a cold first use in a fraction of the time). Off,
    or for a module with a scan, a convolution or pooling: Cython, as modules built with ag.build always are.
    """

    def __init__(self) -> None:
        self.floatX = os.environ.get("AOTGRAPH_FLOATX", "float64")
        self.mode = os.environ.get("AOTGRAPH_MODE", "FAST_RUN")
        self.cache_dir = os.environ.get("AOTGRAPH_CACHE_DIR") or None
        self.num_threads = _env_threads()
        self.compile_timeout = _env_seconds("AOTGRAPH_COMPILE_TIMEOUT", 600.0)
        self.background_builds = _env_switch("AOTGRAPH_BACKGROUND_BUILDS")
        self.kernels_in_c = _env_switch("AOTGRAPH_KERNELS_IN_C")

    def watch(self, key: str, callback) -> None:
        """Call `callback(value)` after each assignment to setting `key` (how loaded modules follow num_threads)."""
        self.__dict__.setdefault("_watchers", {}).setdefault(key, []).append(callback)

    def __setattr__(self, key: str, value) -> None:
        if key == "floatX" and value not in ("float32", "float64"):
            raise ValueError(f"config.floatX must be 'float32' or 'float64', got {value!r}")
        if key == "floatX":
            value = np.dtype(value).name
        if key == "num_threads":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"config.num_threads must be an integer >= 1, got {value!r}")
            value = int(value)
        if key == "compile_timeout":
            value = _positive_seconds(value, "config.compile_timeout")
        object.__setattr__(self, key, value)
        for callback in self.__dict__.get("_watchers", {}).get(key, ()):
            callback(value)

    def __repr__(self) -> str:
        return (f"Config(floatX={self.floatX!r}, mode={self.mode!r}, cache_dir={self.cache_dir!r}, "
                f"num_threads={self.num_threads!r}, compile_timeout={self.compile_timeout!r}, "
                f"background_builds={self.background_builds!r}, kernels_in_c={self.kernels_in_c!r})")


def _env_switch(name: str) -> bool:
    """The environment variable `name` as a switch: on unless it says 0, false, no or off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def _positive_seconds(value, what: str) -> float:
    """`value` as a number of seconds > 0, or ValueError naming `what`."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds > 0, got {value!r}") from None
    if isinstance(value, bool) or not seconds > 0:
        raise ValueError(f"{what} must be a number of seconds > 0, got {value!r}")
    return seconds


def _env_seconds(name: str, default: float) -> float:
    """The environment variable `name` as seconds > 0, `default` when unset; a bad value raises (naming it)."""
    text = os.environ.get(name, "").strip()
    return _positive_seconds(text, f"the environment variable {name}") if text else default


def _env_threads() -> int:
    """AOTGRAPH_NUM_THREADS if it is a positive integer, else the number of CPUs this process may use."""
    text = os.environ.get("AOTGRAPH_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


config = Config()
