"""Theano's `theano.sandbox` import paths that tutorial programs use (`sandbox.rng_mrg`)."""
