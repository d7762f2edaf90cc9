"""Ctrl-C (SIGINT) at deterministic points: the grad mode, the backend and the model stay consistent.

Python runs a signal handler at its next interruption point: the start of a Python function, a loop's
backward jump, or the return from a call. The tests raise SIGINT exactly there."""
import signal
import sys
import threading

import numpy as np
import pytest

import nnx
from nnx.layers import BatchNormalization, Dense, Input
from nnx.models import Sequential
from nnx.utils.interrupts import hold_interrupts


@pytest.fixture(autouse=True)
def default_sigint_handler():
    """Python's own SIGINT handler (raise KeyboardInterrupt), whatever the test runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def sigint_at_python_calls_after(flag):
    """A profile hook that raises SIGINT at the first Python function entry once flag['armed'] is set:
    the interruption point a Ctrl-C lands on when it arrives as a block is being left."""
    def hook(frame, event, arg):
        if flag.get("armed") and event == "call":
            sys.setprofile(None)
            flag["fired"] = frame.f_code.co_name
            signal.raise_signal(signal.SIGINT)
    return hook


@pytest.mark.parametrize("manager, inside, after", [
    (nnx.no_grad, False, True), (nnx.enable_grad, True, False),
])
def test_sigint_while_leaving_a_grad_mode_block_restores_the_mode(manager, inside, after):
    nnx.set_grad_enabled(after)
    try:
        flag = {}
        with pytest.raises(KeyboardInterrupt):
            with manager():
                assert nnx.is_grad_enabled() == inside
                sys.setprofile(sigint_at_python_calls_after(flag))
                flag["armed"] = True
            # leaving the block runs no Python function (a compiled __exit__), so the SIGINT comes here
            sys.setprofile(None)
            signal.raise_signal(signal.SIGINT)
        assert "fired" not in flag, f"a Python function ran while leaving the block: {flag['fired']}"
        assert nnx.is_grad_enabled() == after
    finally:
        sys.setprofile(None)
        nnx.set_grad_enabled(True)


def test_sigint_inside_a_grad_mode_block_restores_the_mode():
    with pytest.raises(KeyboardInterrupt):
        with nnx.no_grad():
            signal.raise_signal(signal.SIGINT)
    assert nnx.is_grad_enabled()


def test_sigint_while_leaving_use_backend_restores_the_backend():
    flag = {}
    with pytest.raises(KeyboardInterrupt):
        with nnx.use_backend("reference"):
            sys.setprofile(sigint_at_python_calls_after(flag))
            flag["armed"] = True
        sys.setprofile(None)
        signal.raise_signal(signal.SIGINT)
    assert "fired" not in flag
    assert nnx.get_backend() == "native"


def model_and_data(seed=0):
    nnx.manual_seed(seed)
    model = Sequential([Input((4,)), Dense(8, activation="relu"), BatchNormalization(),
                        Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    return model, rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)


def state(model):
    return [w.data.copy() for w in model.weights]


def test_sigint_inside_the_optimizer_step_lands_after_the_step():
    model, x, y = model_and_data()
    optimizer = model.optimizer
    update_all, calls = optimizer._update_all, []

    def update_then_interrupt(pairs):    # SIGINT after the first of the 6 weights of step 3 is updated
        for pair in pairs:               # (Adam updates all of them in one call: here one at a time)
            update_all([pair])
            calls.append(1)
            if len(calls) == 2 * 6 + 1:
                signal.raise_signal(signal.SIGINT)
    optimizer._update_all = update_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert len(calls) == 3 * 6 and optimizer.iterations == 3    # the step finished, then the interrupt

    replay, _, _ = model_and_data()                             # three whole steps, uninterrupted
    replay.fit(x[:24], y[:24], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(state(model), state(replay)):
        np.testing.assert_array_equal(got, want)
    assert nnx.is_grad_enabled()


def test_sigint_in_the_forward_pass_lands_after_the_step():
    """Moving statistics (updated in the forward pass) never run ahead of the weights."""
    model, x, y = model_and_data()
    model.build_for((None, 4))
    bn = model.layers[1]
    call, calls = bn.call, []

    def call_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)
        return call(*args, **kwargs)
    bn.call = call_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 2
    replay, _, _ = model_and_data()
    replay.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(state(model), state(replay)):
        np.testing.assert_array_equal(got, want)


def test_hold_interrupts_delivers_once_after_the_step_and_restores_the_handler():
    ran = []
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts() as hold:
            with hold:
                signal.raise_signal(signal.SIGINT)
                ran.append("rest of the step")
            ran.append("after the step")
    assert ran == ["rest of the step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with hold_interrupts() as hold, hold:
        pass                                                    # no SIGINT: nothing raised


def test_hold_interrupts_between_steps_interrupts_at_once_and_each_step_holds_its_own():
    ran = []
    with hold_interrupts() as hold:
        for step in range(3):
            with hold:
                ran.append(step)                                # steps without a SIGINT run on
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)                  # between steps: raised right here
            ran.append("not reached")
        with pytest.raises(KeyboardInterrupt):
            with hold:
                signal.raise_signal(signal.SIGINT)
                ran.append("held until the step ends")
        with hold:
            ran.append("a later step starts with nothing held")
    assert ran == [0, 1, 2, "held until the step ends", "a later step starts with nothing held"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_hold_interrupts_on_another_thread_does_nothing():
    errors = []

    def worker():
        try:
            with hold_interrupts() as hold, hold:
                pass
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert not errors
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_hold_interrupts_hands_a_held_sigint_to_a_custom_handler_once_and_restores_it():
    calls = []

    def custom(signum, frame):
        calls.append(signum)
    signal.signal(signal.SIGINT, custom)
    with hold_interrupts() as hold:
        with hold:
            signal.raise_signal(signal.SIGINT)
            assert calls == []                                  # held inside the step
        assert calls == [signal.SIGINT]
        signal.raise_signal(signal.SIGINT)                      # between steps: at once
        assert calls == [signal.SIGINT] * 2
    assert signal.getsignal(signal.SIGINT) is custom
