"""Ctrl-C between training steps, never inside one.

`fit` runs each training step (forward, backward, optimizer update) inside a `hold_interrupts` step,
so a KeyboardInterrupt leaves the model exactly as some number of whole steps made it: no weight half
updated, no moving statistic ahead of the weights, `optimizer.iterations` counting the steps taken.

The handler is installed once around the loop of steps, not around each step: installing one through
the signal module costs some 15 us (it converts the old and new handlers to and from enums, raising and
catching a ValueError for a Python function), a few percent of a small model's Python time per step.
"""
import signal
import threading


class hold_interrupts:
    """`with hold_interrupts() as hold:` around a loop, then `with hold:` around each step: a SIGINT
    that arrives inside a step is held and handed to the handler that was installed before (Python's
    default raises KeyboardInterrupt) when the step ends; one that arrives between steps goes to it at
    once.

    Python runs signal handlers on the main thread only, and only the main thread may install them, so
    on any other thread this does nothing (a Ctrl-C then interrupts the main thread, not this one). A
    SIGINT that is ignored, or handled outside Python, is left alone too."""

    def __init__(self):
        self._previous = self._held = None
        self._holding = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return _Step(self)

    def _handle(self, signum, frame):
        if self._holding:
            self._held = (signum, frame)
        else:
            self._previous(signum, frame)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _Step:
    """One step of a `hold_interrupts` loop (reusable: enter it for every step)."""
    __slots__ = ("_loop",)

    def __init__(self, loop):
        self._loop = loop

    def __enter__(self):
        self._loop._holding = True

    def __exit__(self, *exc):
        # A SIGINT arriving before _holding is cleared is held, one arriving after goes straight to the
        # old handler: either way it is delivered once.
        loop = self._loop
        loop._holding = False
        held, loop._held = loop._held, None
        if held is not None:
            loop._previous(*held)
        return False

