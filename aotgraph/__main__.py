"""``python -m aotgraph``: the command line (see `aotgraph.cli`)."""

from aotgraph.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
