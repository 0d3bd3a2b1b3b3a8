"""Signal-processing ops, as Theano's `theano.tensor.signal`: pooling (`pool.pool_2d`)."""
