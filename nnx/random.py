"""The one random number generator behind initialisers, dropout and shuffling.

`manual_seed(n)` replaces it with a freshly seeded `numpy.random.Generator`, so a seeded program
initialises, shuffles and drops out identically on every run. Code that needs randomness calls
`get_rng()` each time (never caches the generator), so a later `manual_seed` reaches it too.
"""
import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Re-seed the global generator; returns it."""
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"manual_seed: expected a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def get_rng():
    """The global `numpy.random.Generator`."""
    return _rng
