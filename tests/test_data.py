"""nnx.data.Dataset: tf.data's semantics for slices, shuffle (buffer draws, seeds, reshuffling),
batch (remainders, structures), map (tuple components as arguments), repeat, take, and prefetch
(order, errors, early stop, and that it really works ahead on another thread)."""
import threading

import numpy as np
import pytest

import nnx
from nnx.data import INFINITE, Dataset

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10)


def test_slices_are_numpy_arrays_in_the_given_structure():
    elements = list(Dataset.from_tensor_slices((X, Y)))
    assert len(elements) == 10 and all(isinstance(e, tuple) for e in elements)
    np.testing.assert_array_equal(elements[3][0], X[3])
    assert isinstance(elements[3][1], np.ndarray) and elements[3][1] == 3
    pair = next(iter(Dataset.from_tensor_slices(([X, X * 2], Y))))
    assert isinstance(pair[0], list) and len(pair[0]) == 2        # a list: several inputs
    d = next(iter(Dataset.from_tensor_slices({"a": X, "b": Y})))
    assert set(d) == {"a", "b"}
    single = list(Dataset.from_tensor_slices(Y))
    assert [int(e) for e in single] == list(range(10))


def test_batch_stacks_components_and_handles_the_remainder():
    batches = list(Dataset.from_tensor_slices((X, Y)).batch(4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, tuple) for b in batches)
    np.testing.assert_array_equal(batches[2][0], X[8:])
    assert [len(b[1]) for b in Dataset.from_tensor_slices((X, Y)).batch(4, drop_remainder=True)] == [4, 4]
    ds = Dataset.from_tensor_slices((X, Y)).map(lambda x, y: (x + 1, y)).batch(3)
    assert ds.cardinality() == 4 and len(ds) == 4
    first = next(iter(ds))
    np.testing.assert_array_equal(first[0], X[:3] + 1)            # the element path stacks too
    multi = next(iter(Dataset.from_tensor_slices(([X, X], Y)).batch(5)))
    assert isinstance(multi[0], list) and multi[0][1].shape == (5, 2)


def test_shuffle_draws_from_a_buffer_like_tf_data():
    n, k = 50, 5
    for seed in range(5):
        order = [int(e) for e in Dataset.from_tensor_slices(np.arange(n)).shuffle(k, seed=seed)]
        assert sorted(order) == list(range(n))
        # output j is drawn from the buffer filled with inputs 0 .. j + k - 1
        assert all(index <= j + k - 1 for j, index in enumerate(order))
    assert [int(e) for e in Dataset.from_tensor_slices(np.arange(n)).shuffle(1)] == list(range(n))
    # the element path (after a map) shuffles the same way
    mapped = Dataset.from_tensor_slices(np.arange(n)).map(lambda v: v).shuffle(k, seed=0)
    indexed = Dataset.from_tensor_slices(np.arange(n)).shuffle(k, seed=0)
    assert [int(e) for e in mapped] == [int(e) for e in indexed]


def test_shuffle_seeds_and_reshuffling():
    def orders(ds):
        return [int(e) for e in ds], [int(e) for e in ds]
    a1, a2 = orders(Dataset.from_tensor_slices(Y).shuffle(10, seed=3))
    b1, b2 = orders(Dataset.from_tensor_slices(Y).shuffle(10, seed=3))
    assert (a1, a2) == (b1, b2) and a1 != a2                     # reproducible, new each epoch
    c1, c2 = orders(Dataset.from_tensor_slices(Y).shuffle(10, seed=3, reshuffle_each_iteration=False))
    assert c1 == c2
    nnx.manual_seed(5)
    d1 = [int(e) for e in Dataset.from_tensor_slices(Y).shuffle(10)]
    nnx.manual_seed(5)
    assert [int(e) for e in Dataset.from_tensor_slices(Y).shuffle(10)] == d1


def test_map_unpacks_tuples_but_not_lists():
    ds = Dataset.from_tensor_slices((X, Y)).map(lambda x, y: (x.sum(), y * 2))
    assert [int(y) for _, y in ds] == list(range(0, 20, 2))
    seen = []
    list(Dataset.from_tensor_slices([X, X]).map(lambda element: seen.append(type(element)) or 0))
    assert seen and all(t is list for t in seen)
    with pytest.raises(TypeError, match="map: fn must be callable"):
        Dataset.from_tensor_slices(X).map(3)


def test_repeat_take_and_cardinality():
    ds = Dataset.from_tensor_slices(Y)
    assert [int(e) for e in ds.repeat(2)] == list(range(10)) * 2
    assert ds.repeat().cardinality() == INFINITE
    assert [int(e) for e in ds.repeat().take(23)][-3:] == [0, 1, 2]
    assert ds.repeat().take(23).cardinality() == 23 and ds.take(30).cardinality() == 10
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    gen = Dataset.from_generator(lambda: ((np.ones(2), i) for i in range(3)))
    assert len(list(gen)) == 3 and len(list(gen)) == 3               # re-iterable
    assert gen.cardinality() == -2


def test_prefetch_keeps_order_and_works_ahead_on_another_thread():
    produced = {i: threading.Event() for i in range(10)}
    threads = set()

    def work(v):
        threads.add(threading.get_ident())
        produced[int(v)].set()
        return v

    ds = Dataset.from_tensor_slices(Y).map(work).prefetch(2)
    it = iter(ds)
    assert int(next(it)) == 0
    # while the consumer holds element 0, the background thread computes 1 and 2 (queue of 2)
    assert produced[2].wait(timeout=10)
    assert threading.get_ident() not in threads
    assert [int(e) for e in it] == list(range(1, 10))


def test_prefetch_raises_pipeline_errors_and_stops_when_abandoned():
    def boom(v):
        if int(v) == 3:
            raise RuntimeError("bad element 3")
        return v
    with pytest.raises(RuntimeError, match="bad element 3"):
        list(Dataset.from_tensor_slices(Y).map(boom).prefetch(1))
    before = threading.active_count()
    it = iter(Dataset.from_tensor_slices(Y).repeat().prefetch(1))
    next(it)
    it.close()                                   # the consumer walks away from an infinite stream
    for t in threading.enumerate():
        if t.name == "nnx-prefetch":
            t.join(timeout=5)
    assert threading.active_count() <= before


def test_bad_input():
    with pytest.raises(ValueError, match=r"same first dimension.*\(10, 2\).*\(9,\)"):
        Dataset.from_tensor_slices((X, Y[:9]))
    with pytest.raises(ValueError, match="first axis"):
        Dataset.from_tensor_slices(np.float32(3))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        Dataset.from_tensor_slices(X).batch(0)
    with pytest.raises(ValueError, match="buffer_size"):
        Dataset.from_tensor_slices(X).shuffle(-1)
    with pytest.raises(ValueError, match="count"):
        Dataset.from_tensor_slices(X).take(-1)
