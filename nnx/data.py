"""`nnx.data.Dataset`: input pipelines with tf.data's semantics, yielding NumPy arrays.

    ds = (Dataset.from_tensor_slices((x, y)).shuffle(10_000, seed=0).batch(32)
          .map(augment).prefetch(2))
    model.fit(ds, epochs=5)

An element is a structure of arrays: a tuple (several components: `map` calls `fn(*components)`),
a list (several model inputs, kept as a list), a dict, or one array. `batch` stacks elements
component by component, so a batch has the element's structure with a new leading axis: batches of
`(x, y)` are tuples `(xb, yb)`. Every iteration (every epoch) runs the pipeline afresh, and `shuffle`
draws a new order each time (reproducibly, from `seed` or from `nnx.manual_seed`).

Cost: from_tensor_slices -> shuffle -> batch works on sample indices and gathers each batch with
one `take` per array, so the array path costs O(batch) per step, with no per-sample Python; `map`
and everything after it run per element. `prefetch(n)` runs the pipeline up to n elements ahead on
a background thread (NumPy releases the GIL in its kernels, so a slow `map` overlaps training).
"""
import itertools
import queue
import threading

import numpy as np

from nnx.random import get_rng
from nnx.tensor import Tensor

INFINITE = -1     # cardinality() of a repeated dataset (tf.data.INFINITE_CARDINALITY)
UNKNOWN = -2      # cardinality() when it cannot be known without iterating


# --- element structures ------------------------------------------------------------------------------
def _leaves(structure):
    if isinstance(structure, (tuple, list)):
        return [leaf for part in structure for leaf in _leaves(part)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in _leaves(structure[key])]
    return [structure]


def _rebuild(structure, leaves):
    """`structure` with its leaves replaced, in order, from the iterator `leaves`."""
    if isinstance(structure, (tuple, list)):
        return type(structure)(_rebuild(part, leaves) for part in structure)
    if isinstance(structure, dict):
        return {key: _rebuild(structure[key], leaves) for key in structure}
    return next(leaves)


def _as_array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _stack(elements):
    """Stack a list of same-structure elements leaf by leaf."""
    columns = zip(*(_leaves(e) for e in elements))
    return _rebuild(elements[0], iter([np.stack(column) for column in columns]))


class Dataset:
    """A re-iterable pipeline; build one with `from_tensor_slices` (or `from_generator`)."""

    def __init__(self, elements, cardinality=UNKNOWN, arrays=None, indices=None):
        self._elements = elements        # () -> iterator of elements
        self._cardinality = cardinality
        self._arrays = arrays            # index path: the sliced structure ...
        self._indices = indices          # ... and () -> iterator of sample indices

    # --- sources -------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """Elements are the slices of `tensors` (an array or a tuple/list/dict of arrays with one
        first-axis length) along their first axis."""
        leaves = [_as_array(leaf) for leaf in _leaves(tensors)]
        if not leaves:
            raise ValueError("Dataset.from_tensor_slices: got no arrays")
        if any(leaf.ndim == 0 for leaf in leaves):
            raise ValueError(f"Dataset.from_tensor_slices: every array needs a first axis to slice, "
                             f"got shapes {[leaf.shape for leaf in leaves]}")
        lengths = {len(leaf) for leaf in leaves}
        if len(lengths) != 1:
            raise ValueError(f"Dataset.from_tensor_slices: all arrays must have the same first "
                             f"dimension, got shapes {[leaf.shape for leaf in leaves]}")
        arrays = _rebuild(tensors, iter(leaves))
        n = lengths.pop()
        return Dataset._indexed(arrays, lambda: iter(range(n)), n)

    @staticmethod
    def from_generator(generator):
        """Elements from `generator()` (a callable returning an iterable), called every epoch."""
        if not callable(generator):
            raise TypeError(f"Dataset.from_generator: expected a callable returning an iterable, got "
                            f"{type(generator).__name__}")
        return Dataset(lambda: (_to_arrays(e) for e in generator()))

    @staticmethod
    def _indexed(arrays, indices, cardinality):
        leaves = _leaves(arrays)

        def elements():
            for i in indices():
                yield _rebuild(arrays, (np.asarray(leaf[i]) for leaf in leaves))
        return Dataset(elements, cardinality, arrays, indices)

    # --- transformations -------------------------------------------------------------------------
    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """tf.data's shuffle: keep a buffer of `buffer_size` elements, emit a uniformly chosen one
        and refill its place from the input (buffer_size >= the length: a uniform permutation).
        Each iteration draws a new order unless reshuffle_each_iteration=False."""
        buffer_size = _positive_int("shuffle", "buffer_size", buffer_size)
        seeded = np.random.default_rng(seed) if seed is not None else None
        fixed_seed = seed if seed is not None else int(get_rng().integers(2 ** 63))

        def rng_per_iteration():
            if not reshuffle_each_iteration:
                return np.random.default_rng(fixed_seed)   # the same order every time
            return seeded if seeded is not None else get_rng()

        def shuffled(stream):
            rng = rng_per_iteration()
            buffer = list(itertools.islice(stream, buffer_size))
            for item in stream:
                j = int(rng.integers(len(buffer)))
                yield buffer[j]
                buffer[j] = item
            while buffer:
                j = int(rng.integers(len(buffer)))
                buffer[j], buffer[-1] = buffer[-1], buffer[j]
                yield buffer.pop()
        if self._indices is not None:
            indices = self._indices
            return Dataset._indexed(self._arrays, lambda: shuffled(indices()), self._cardinality)
        elements = self._elements
        return Dataset(lambda: shuffled(elements()), self._cardinality)

    def batch(self, batch_size, drop_remainder=False):
        """Consecutive elements stacked into batches of `batch_size` (the last one may be smaller
        unless drop_remainder)."""
        batch_size = _positive_int("batch", "batch_size", batch_size)
        n = self._cardinality
        cardinality = n if n < 0 else (n // batch_size if drop_remainder else -(-n // batch_size))

        def chunks(stream):
            while True:
                chunk = list(itertools.islice(stream, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield chunk
        if self._indices is not None:
            arrays, indices = self._arrays, self._indices
            leaves = _leaves(arrays)

            def gathered():
                for chunk in chunks(indices()):
                    index = np.asarray(chunk, dtype=np.intp)
                    yield _rebuild(arrays, (leaf.take(index, axis=0) for leaf in leaves))
            return Dataset(gathered, cardinality)
        elements = self._elements
        return Dataset(lambda: (_stack(chunk) for chunk in chunks(elements())), cardinality)

    def map(self, fn):
        """`fn(*element)` for tuple elements (tf.data's convention), else `fn(element)`."""
        if not callable(fn):
            raise TypeError(f"Dataset.map: fn must be callable, got {type(fn).__name__}")
        elements = self._elements

        def mapped():
            for element in elements():
                yield _to_arrays(fn(*element) if isinstance(element, tuple) else fn(element))
        return Dataset(mapped, self._cardinality)

    def repeat(self, count=None):
        """The dataset `count` times over (None: forever)."""
        if count is not None:
            count = _positive_int("repeat", "count", count, allow_zero=True)
        elements = self._elements
        n = self._cardinality
        if count is None:
            cardinality = INFINITE if n != 0 else 0
        else:
            cardinality = n * count if n >= 0 else n

        def repeated():
            for _ in (itertools.count() if count is None else range(count)):
                yield from elements()
        return Dataset(repeated, cardinality)

    def take(self, count):
        """The first `count` elements."""
        count = _positive_int("take", "count", count, allow_zero=True)
        elements = self._elements
        n = self._cardinality
        cardinality = count if n == INFINITE else (min(n, count) if n >= 0 else UNKNOWN)
        return Dataset(lambda: itertools.islice(elements(), count), cardinality)

    def prefetch(self, buffer_size):
        """Run the pipeline on a background thread, up to `buffer_size` elements ahead of the
        consumer. Errors in the pipeline are raised in the consumer; stopping early stops it."""
        buffer_size = _positive_int("prefetch", "buffer_size", buffer_size)
        elements = self._elements
        return Dataset(lambda: _prefetched(elements, buffer_size), self._cardinality)

    # --- iteration -------------------------------------------------------------------------------
    def __iter__(self):
        return iter(self._elements())

    def cardinality(self):
        """The number of elements; INFINITE (-1) for a repeated dataset, UNKNOWN (-2) when it
        depends on a generator or a filter."""
        return self._cardinality

    def __len__(self):
        if self._cardinality < 0:
            raise TypeError("Dataset: the length is "
                            f"{'infinite' if self._cardinality == INFINITE else 'unknown'}")
        return self._cardinality

    def __repr__(self):
        n = self._cardinality
        size = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(n, str(n))
        return f"<Dataset cardinality={size}>"


_END = object()


class _Failure:
    def __init__(self, error):
        self.error = error


def _prefetched(elements, buffer_size):
    """Iterate `elements()` on a daemon thread through a bounded queue."""
    slots = queue.Queue(maxsize=buffer_size)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for element in elements():
                if not put(element):
                    return
            put(_END)
        except BaseException as error:   # handed to the consumer, raised there
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="nnx-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()


def _to_arrays(element):
    return _rebuild(element, iter([_as_array(leaf) for leaf in _leaves(element)]))


def _positive_int(op, what, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"Dataset.{op}: {what} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"int, got {value!r}")
    return int(value)
