"""`MRG_RandomStreams`, under Theano's import path `theano.sandbox.rng_mrg`.

The same generator as `aotgraph.tensor.shared_randomstreams.RandomStreams` (counter-based Philox4x32-10,
not MRG31k3p: the import path and the API are Theano's, the numbers are aotgraph's), with MRG's default
seed 12345. Its `nstreams` arguments are accepted and ignored: every draw is one stream.
"""

from __future__ import annotations

from aotgraph.tensor.shared_randomstreams import RandomStreams


class MRG_RandomStreams(RandomStreams):  # noqa: N801 - Theano's name
    """Theano's MRG_RandomStreams(seed=12345)."""

    def __init__(self, seed: int = 12345):
        super().__init__(seed)


__all__ = ["MRG_RandomStreams"]
