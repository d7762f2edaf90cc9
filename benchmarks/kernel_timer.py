"""KernelTimer: where a model's time goes, kernel by kernel, for the profiling benchmarks
(train_mnist.py's per-step profile, predict_layers.py, bench_lstm.py --breakdown)."""
import time

from nnx import backend


class KernelTimer:
    """Inside the `with` block every compiled kernel of the active backend (looked up through
    nnx.backend at call time, as the ops do) adds each call's time to `seconds[label]`: the kernel's
    name, or what `label(name, args)` returns (e.g. a GEMM's shapes). `clock`: time.perf_counter, or
    time.process_time to leave out waiting for a core on a loaded machine (one thread only: CPU time
    adds up over threads). `wrap` times any other callable attribute (an optimizer's apply_gradients)
    the same way; everything wrapped is put back on exit."""

    def __init__(self, clock=time.perf_counter, label=None):
        self.clock, self.label = clock, label or (lambda name, args: name)
        self.kernels, self.seconds, self._saved = backend.kernels(), {}, []

    def wrap(self, owner, name, label):
        """Time owner.name under `label`: a string, or a function of the call's positional arguments."""
        fn = getattr(owner, name)
        self._saved.append((owner, name, owner.__dict__.get(name)))
        seconds, clock = self.seconds, self.clock
        key = label if callable(label) else (lambda args: label)

        def timed(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                k = key(args)
                seconds[k] = seconds.get(k, 0.0) + clock() - start
        setattr(owner, name, timed)

    def total(self):
        return sum(self.seconds.values())

    def __enter__(self):
        for name in backend.KERNEL_NAMES:
            self.wrap(self.kernels, name, lambda args, name=name: self.label(name, args))
        return self

    def __exit__(self, *exc):
        for owner, name, own in reversed(self._saved):
            if own is None:          # a method found on the class: drop the instance's wrapper
                delattr(owner, name)
            else:
                setattr(owner, name, own)
        self._saved.clear()
