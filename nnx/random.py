"""The random number generators behind initialisers, dropout and shuffling: one per thread.

Each thread draws from its own `numpy.random.Generator` (a Generator is not safe to share between
threads, and a shared one would make each thread's draws depend on the others' timing):

- the main thread's: `manual_seed(n)` replaces it with `numpy.random.default_rng(n)`, so a seeded
  program initialises, shuffles and drops out identically on every run;
- any other thread's is made on its first draw, spawned from the main thread's seed
  (`SeedSequence.spawn`): independent of every other stream, and reproducible after the same
  `manual_seed` when threads make their first draws in the same order (one background thread, say);
- `manual_seed(n)` called on another thread seeds that thread's generator alone.

Code that needs randomness calls `get_rng()` each time (never caches the generator), so a later
`manual_seed` reaches it too.
"""
import threading

import numpy as np

_lock = threading.Lock()             # guards _root.spawn, which counts its children
_root = np.random.SeedSequence()     # the main thread's seed; other threads' streams spawn from it


class _ThreadRng(threading.local):
    def __init__(self):              # runs once in each thread, at its first get_rng/manual_seed
        if threading.current_thread() is threading.main_thread():
            self.rng = np.random.default_rng(_root)
        else:
            with _lock:
                child = _root.spawn(1)[0]
            self.rng = np.random.default_rng(child)


_state = _ThreadRng()


def manual_seed(seed):
    """Re-seed the calling thread's generator (see the module docstring for the others); returns it."""
    global _root
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"manual_seed: expected a non-negative int, got {seed!r}")
    sequence = np.random.SeedSequence(int(seed))
    if threading.current_thread() is threading.main_thread():
        with _lock:
            _root = sequence
    _state.rng = np.random.default_rng(sequence)
    return _state.rng


def get_rng():
    """The calling thread's `numpy.random.Generator`."""
    return _state.rng
