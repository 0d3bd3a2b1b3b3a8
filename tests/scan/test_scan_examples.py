"""examples/rnn_scan.py: a Theano-style RNN (scan, grad through scan, shared updates) trains."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def test_rnn_example_learns():
    spec = importlib.util.spec_from_file_location("example_rnn_scan", os.path.join(EXAMPLES, "rnn_scan.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()):
        costs = module.main(["--epochs", "40", "--mode", "FAST_COMPILE"])
    assert costs[-1] < 0.05 * costs[0]
    assert all(later <= earlier * 1.05 for earlier, later in zip(costs[5:], costs[6:]))
