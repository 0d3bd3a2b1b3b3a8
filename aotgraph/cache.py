"""``python -m aotgraph.cache``: list the build cache's entries with their sizes, or clear them.

The logic lives in `aotgraph.toolchain.cache`; see ``python -m aotgraph.cache --help``.
"""

from aotgraph.toolchain.cache import main

if __name__ == "__main__":
    raise SystemExit(main())
