"""A Keras-like progress bar for `fit`, `evaluate` and `predict`.

    Epoch 1/10
     512/1875 [=======>......................] - ETA: 14s - loss: 0.2817 - accuracy: 0.9143
    1875/1875 [==============================] - 20s 11ms/step - loss: 0.1401 - accuracy: 0.9577

verbose=1 on a terminal redraws one line with '\\r', at most every `interval` seconds (10/s by
default: redrawing every step would cost more than a small model's step); when stdout is not a
terminal (a log file, CI) it prints only the final line. verbose=2 prints one compact line per epoch;
verbose=0 prints nothing.
"""
import sys
import time


def format_value(value):
    if isinstance(value, (list, tuple)):   # per-class metrics (F1Score(average=None), ...)
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def format_duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def format_per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Progress over `target` steps (None: unknown until the end, as for a generator);
    `update(step, values)` during, `finish(values, steps)` at the end. `values` is a list of
    (name, number) pairs, shown in that order."""

    def __init__(self, target, verbose=1, width=30, interval=0.1, stream=None):
        self.target = None if target is None else int(target)
        self.verbose = verbose
        self.width = width
        self.interval = interval
        self.stream = sys.stdout if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.dynamic = bool(isatty and isatty())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn_width = 0
        self._digits = len(str(self.target)) if self.target is not None else 1

    def _bar(self, current):
        if self.target is None:
            return f"{current}/Unknown"
        filled = min(int(self.width * current / self.target), self.width) if self.target else self.width
        body = ""
        if filled:
            body = "=" * (filled - 1) + (">" if current < self.target else "=")
        return f"{current:>{self._digits}}/{self.target} [{body}{'.' * (self.width - filled)}]"

    @staticmethod
    def _values(values):
        return "".join(f" - {name}: {format_value(v)}" for name, v in values)

    def update(self, current, values=()):
        """Redraw (throttled) after `current` of `target` steps; only on a terminal with verbose=1."""
        if self.verbose != 1 or not self.dynamic:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and (self.target is None or current < self.target):
            return
        self._last_draw = now
        elapsed = now - self.start
        if self.target is None:
            self._write(f"{self._bar(current)} - {format_duration(elapsed)}{self._values(values)}", end="")
            return
        eta = elapsed / current * (self.target - current) if current else 0.0
        self._write(f"{self._bar(current)} - ETA: {format_duration(eta)}{self._values(values)}", end="")

    def finish(self, values=(), steps=None):
        """The final line: total time, time per step and the final values. `steps` (the steps
        taken) fixes an unknown target, or one cut short."""
        if steps is not None:
            self.target = steps
            self._digits = len(str(steps))
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.start
        per_step = format_per_step(elapsed / max(self.target, 1))
        if self.verbose == 1:
            line = f"{self._bar(self.target)} - {format_duration(elapsed)} {per_step}"
        else:
            line = f"{self.target}/{self.target} - {format_duration(elapsed)} - {per_step}"
        self._write(line + self._values(values), end="\n")

    def _write(self, line, end):
        if self.dynamic:
            pad = max(self._drawn_width - len(line), 0)
            self.stream.write("\r" + line + " " * pad + end)
            self._drawn_width = 0 if end else len(line)
        else:
            self.stream.write(line + end)
        self.stream.flush()
