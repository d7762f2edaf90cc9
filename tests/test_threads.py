"""Threads: grad mode, random streams and the kernel thread count belong to each thread.

Regression tests for issue 12 item 1: with one process-wide grad flag, a thread running `predict` (or
`fit`'s validation) under `no_grad` switched gradients off for every other thread mid-step."""
import os
import threading

import numpy as np
import pytest

import nnx
from nnx._C import _native
from nnx.layers import Dense, Input
from nnx.models import Sequential

N_TRIALS = 20


def run_in_thread(fn, *args):
    """fn(*args) on a new thread; returns its result or re-raises its exception here."""
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001  (handed to the test thread)
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def data(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((64, 8)).astype(np.float32), rng.integers(0, 3, 64)


def trained_weights(seed, validation):
    """Seed this thread's generator, build, train (shuffled, with dropout-free layers) and return the
    weights: a pure function of the seed when no other thread can disturb it."""
    nnx.manual_seed(seed)
    model = Sequential([Input((8,)), Dense(16, activation="relu"), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(seed)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              validation_data=data(seed + 100) if validation else None)
    return [w.data.copy() for w in model.weights]


def test_two_threads_train_while_a_third_predicts():
    want = {seed: run_in_thread(trained_weights, seed, seed == 1) for seed in (1, 2)}
    nnx.manual_seed(3)
    predictor = Sequential([Input((8,)), Dense(5, activation="tanh")])
    x_pred = data(3)[0]
    want_pred = predictor.predict(x_pred, verbose=0)

    for trial in range(N_TRIALS):
        got, errors, stop = {}, [], threading.Event()

        def train(seed):
            try:
                got[seed] = trained_weights(seed, seed == 1)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def predict():
            try:
                while not stop.is_set():
                    np.testing.assert_array_equal(predictor.predict(x_pred, batch_size=4, verbose=0),
                                                  want_pred)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        predicting = threading.Thread(target=predict)
        trainers = [threading.Thread(target=train, args=(seed,)) for seed in (1, 2)]
        predicting.start()
        for t in trainers:
            t.start()
        for t in trainers:
            t.join()
        stop.set()
        predicting.join()
        assert not errors, f"trial {trial}: {errors[0]!r}"
        for seed in (1, 2):
            for g, w in zip(got[seed], want[seed]):
                np.testing.assert_array_equal(g, w)


def test_grad_mode_is_per_thread_and_new_threads_start_enabled():
    with nnx.no_grad():
        assert not nnx.is_grad_enabled()
        assert run_in_thread(nnx.is_grad_enabled)
        x = nnx.Tensor(np.ones(3), requires_grad=True)
        assert run_in_thread(lambda: (x * 2).requires_grad)   # the other thread records
        assert not (x * 2).requires_grad                      # this one does not
    run_in_thread(nnx.set_grad_enabled, False)
    assert nnx.is_grad_enabled()


def test_each_thread_has_its_own_random_stream():
    want = np.random.default_rng(7).random(6)
    nnx.manual_seed(7)
    first = nnx.get_rng().random(2)
    run_in_thread(lambda: nnx.manual_seed(99))              # seeds only that thread's generator
    second = nnx.get_rng().random(2)
    run_in_thread(lambda: nnx.get_rng().random(10))         # draws from its own stream, not ours
    np.testing.assert_array_equal(np.concatenate([first, second, nnx.get_rng().random(2)]), want)

    # a thread's own stream is reproducible from its seed, whatever the main thread draws meanwhile
    def seeded_draws():
        nnx.manual_seed(5)
        return [nnx.get_rng().random(3) for _ in range(3)]
    first = run_in_thread(seeded_draws)
    nnx.get_rng().random(100)
    np.testing.assert_array_equal(run_in_thread(seeded_draws), first)

    # an unseeded thread draws from a stream spawned from the main seed: reproducible after the same
    # manual_seed, and not a copy of the main stream
    nnx.manual_seed(11)
    spawned = run_in_thread(lambda: nnx.get_rng().random(4))
    nnx.manual_seed(11)
    np.testing.assert_array_equal(run_in_thread(lambda: nnx.get_rng().random(4)), spawned)
    assert not np.array_equal(spawned, nnx.get_rng().random(4))


def require_openmp():
    """The thread-count tests mean nothing on one thread: CI (CI=true), whose compiler has OpenMP,
    fails when the build lacks it; elsewhere they are skipped."""
    if not nnx.kernels.info()["openmp"]:
        if os.environ.get("CI"):
            pytest.fail("nnx was built without OpenMP although CI's compiler has it")
        pytest.skip("built without OpenMP")


def test_openmp_is_built():
    require_openmp()


@pytest.mark.parametrize("count", [1, 3])
def test_set_num_threads_holds_in_new_threads(count):
    require_openmp()
    before = nnx.get_num_threads()
    try:
        nnx.set_num_threads(count)
        assert _native.omp_team_size() == count
        assert run_in_thread(nnx.get_num_threads) == count
        # a thread that has only ever called a kernel runs OpenMP teams of that size
        a = np.ones((4, 4), np.float32)
        assert run_in_thread(lambda: (nnx.kernels.gemm(a, a), _native.omp_team_size())[1]) == count
    finally:
        nnx.set_num_threads(before)
