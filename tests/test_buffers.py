"""The buffer cache behind Model.fit, evaluate and predict (csrc/buffers.c, nnx.kernels.reusing_buffers):
big freed arrays come back for the next request of their size, live arrays are never handed out,
everything is freed at the end, and the results of training and predicting do not change."""
import numpy as np
import pytest

import nnx
import nnx.kernels as K
from nnx.layers import Conv2D, Dense, Flatten, MaxPooling2D
from nnx.models import Sequential

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import get_handler_name

BIG = (256, 1024)  # 1 MiB of float32: the smallest block the cache keeps


def address(a):
    return a.__array_interface__["data"][0]


def test_a_freed_big_array_is_reused_by_the_next_of_its_size():
    with K.reusing_buffers():
        a = np.empty(BIG, np.float32)
        first = address(a)
        del a
        assert K.buffer_cache_bytes() == 4 * BIG[0] * BIG[1]
        b = np.empty(BIG, np.float32)
        assert address(b) == first and K.buffer_cache_bytes() == 0
        b.fill(3)
        z = np.zeros(BIG, np.float32)      # calloc: a reused block must come back zeroed
        del b
        z2 = np.zeros(BIG, np.float32)
        assert not z.any() and not z2.any()
    assert K.buffer_cache_bytes() == 0


def test_live_arrays_are_never_shared_and_stay_valid_after_the_block():
    with K.reusing_buffers():
        a = np.full(BIG, 1.0, np.float32)
        b = np.full(BIG, 2.0, np.float32)
        assert address(a) != address(b)
        small = np.ones(10)
        del small                          # too small to keep
        assert K.buffer_cache_bytes() == 0
    a += 1                                 # arrays made inside outlive the block
    assert (a == 2).all() and (b == 2).all()
    del a, b                               # freed outside the block: straight back to the system
    assert K.buffer_cache_bytes() == 0


def test_other_sizes_are_not_served_from_the_cache():
    with K.reusing_buffers():
        a = np.empty(BIG, np.float32)
        first = address(a)
        del a
        b = np.empty((BIG[0] + 1, BIG[1]), np.float32)
        assert address(b) != first and K.buffer_cache_bytes() == 4 * BIG[0] * BIG[1]


def test_blocks_nest_and_the_handler_is_restored_even_after_an_error():
    before = get_handler_name()
    with pytest.raises(RuntimeError, match="inside"):
        with K.reusing_buffers():
            assert get_handler_name() == "nnx_buffer_cache"
            with K.reusing_buffers():
                a = np.empty(BIG, np.float32)
                del a
            assert K.buffer_cache_bytes() > 0      # the outer block still keeps it
            raise RuntimeError("inside")
    assert get_handler_name() == before and K.buffer_cache_bytes() == 0


def test_predict_gives_the_same_outputs_with_the_cache():
    # conv1's output at batch 64 is 64*26*26*16*4 = 2.8 MB: kept and reused from the second batch on
    nnx.manual_seed(0)
    model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(),
                        Flatten(), Dense(10)])
    x = np.random.default_rng(0).random((200, 28, 28, 1), dtype=np.float32)
    got = model.predict(x, batch_size=64, verbose=0)
    expected = np.concatenate([model.predict_on_batch(x[i:i + 64]) for i in range(0, 200, 64)])
    np.testing.assert_array_equal(got, expected)
    assert K.buffer_cache_bytes() == 0


def test_threads_predicting_at_once_share_the_cache_safely():
    # the cache is one per process: blocks freed by one predicting thread may serve another; each must
    # still get exactly its single-threaded predictions, and nothing may stay cached afterwards
    import threading

    nnx.manual_seed(0)
    model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(),
                        Flatten(), Dense(10)])
    inputs = [np.random.default_rng(seed).random((200, 28, 28, 1), dtype=np.float32) for seed in range(4)]
    expected = [model.predict(x, batch_size=64, verbose=0) for x in inputs]
    got = [None] * len(inputs)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                got[i] = model.predict(inputs[i], batch_size=64, verbose=0)
                np.testing.assert_array_equal(got[i], expected[i])
        except Exception as err:  # reported below: an assertion in a thread would be lost
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert K.buffer_cache_bytes() == 0


def _small_cnn(seed):
    nnx.manual_seed(seed)
    model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(),
                        Flatten(), Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_and_evaluate_reuse_buffers_and_train_the_same(monkeypatch):
    # at batch 64 conv1's output and its gradients are 2.8 MB each: freed every step and, inside fit's
    # epoch, kept for the next step; the weights and logs must be exactly those of a fit without it
    import contextlib

    import nnx.models.training as training
    from nnx.callbacks import Callback

    rng = np.random.default_rng(1)
    x = rng.random((256, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    kept = []

    class Watch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            kept.append(K.buffer_cache_bytes())

    cached = _small_cnn(0)
    history = cached.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=False, callbacks=[Watch()])
    assert max(kept) > 0                       # the cache was in use during the epoch's steps
    assert K.buffer_cache_bytes() == 0         # and released when fit returned
    scores = cached.evaluate(x, y, batch_size=64, verbose=0)
    assert K.buffer_cache_bytes() == 0

    monkeypatch.setattr(training, "_reusing_buffers", contextlib.nullcontext)
    plain = _small_cnn(0)
    expected = plain.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=False)
    assert history.history == expected.history
    for a, b in zip(cached.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert scores == plain.evaluate(x, y, batch_size=64, verbose=0)
