"""``python -m aotgraph.cache``: list the build cache's entries with their sizes, or clear them.

The logic lives in `aotgraph.build.cache`; see ``python -m aotgraph.cache --help``.
"""

from aotgraph.build.cache import main

if __name__ == "__main__":
    raise SystemExit(main())
