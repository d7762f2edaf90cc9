"""Ctrl-C between training steps, never inside one.

`fit` runs each training step (forward, backward, optimizer update) under `defer_interrupts()`, so a
KeyboardInterrupt leaves the model exactly as some number of whole steps made it: no weight half
updated, no moving statistic ahead of the weights, `optimizer.iterations` counting the steps taken.
"""
import signal
import threading


class defer_interrupts:
    """`with defer_interrupts():` holds a SIGINT that arrives inside the block and hands it to the
    handler that was installed before (Python's default raises KeyboardInterrupt) when the block ends.

    Python runs signal handlers on the main thread only, and only the main thread may install them, so
    on any other thread this does nothing (a Ctrl-C then interrupts the main thread, not this one). A
    SIGINT that is ignored, or handled outside Python, is left alone too."""

    def __enter__(self):
        self._previous = self._held = None
        if threading.current_thread() is not threading.main_thread():
            return self
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):
            self._previous = previous
            signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame):
        self._held = (signum, frame)

    def __exit__(self, *exc):
        # A SIGINT arriving before the old handler is back reaches _hold, so it is never lost.
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            if self._held is not None:
                self._previous(*self._held)
        return False
