"""Atomic writes: a temporary file in the target's directory, fsync, then os.replace, so a crash
never leaves a half-written file under the target's name."""
import os
import tempfile
from contextlib import contextmanager

import numpy as np


@contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file for writing; on success it replaces `path`, on error it vanishes."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savez(path, arrays):
    """`numpy.savez` of a dict of arrays, written atomically (no object arrays: no pickle)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise ValueError(f"save: array {key!r} has dtype object, which is not allowed")
    with atomic_open(path) as f:
        np.savez(f, **arrays)
