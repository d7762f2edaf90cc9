"""The Keras 3 / TensorFlow side of benchmarks/train_mnist.py: the reference CNN on MNIST in Keras,
trained and timed in the slices the driver asks for.

    /path/to/tf-venv/bin/python benchmarks/keras_mnist.py --data nnx/datasets/data/mnist.npz
                                [--epochs 1] [--threads 2] [--batch-size 32] [--limit N]
                                [--test-limit N]

train_mnist.py runs this in a subprocess of another Python (`--keras-python`), since TensorFlow
needs its own environment; it imports NumPy, TensorFlow and Keras only, never nnx. It loads the
same file nnx.datasets.mnist reads (allow_pickle=False) and scales it as nnx.examples.mnist_cnn.load
does, builds and compiles the same architecture, optimizer (Adam, lr 1e-3, eps 1e-7) and loss once,
on `--threads` TensorFlow threads (intra- and inter-op), and then serves the driver, one JSON line
per command on stdout (anything the libraries print goes to stderr):

    (start)            -> {"keras": version, "tensorflow": version}   once the model is compiled
    train <lo> <hi>    -> {"seconds": s}       batches lo..hi-1 of the current epoch
    evaluate           -> {"accuracy": a}      test accuracy; also traces predict (a warm-up)
    predict            -> {"seconds": s}       predicts the test images at batch 1000

Training is ONE `model.fit` over all the epochs, as a user runs it (Keras' own shuffle, its data
pipeline and epoch ends included): a callback pauses it at the end of each slice, replies, and
waits on stdin for the next `train` (the pause itself is not timed). A slice's seconds run from the
`train` command to the end of its last batch. The first slice leaves out the first step, which
traces the graph (that favours Keras): its time after that step is scaled by k / (k - 1) for its
k batches, and its reply also gives that step's seconds as "first_step_s".
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def load(path, limit, test_limit):
    with np.load(path, allow_pickle=False) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    x_train, y_train = x_train[:limit], y_train[:limit]          # [:None] keeps them all
    x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    scale = lambda x: (x / 255.0).astype("float32")[..., None]  # noqa: E731
    return (scale(x_train), y_train), (scale(x_test), y_test)


def protocol_channel():
    """A private copy of stdout for the replies; fd 1 then points at stderr, so that nothing
    TensorFlow prints can be read as a reply."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**fields):
        channel.write(json.dumps(fields) + "\n")
    return reply


def build_model(keras):
    from keras import layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
        layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def slice_pauser(keras, first, commands, reply):
    """The callback that cuts one `fit` into the slices asked for (see the docstring): `first` is
    the first `train` command, `commands` the rest."""

    class SlicePauser(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.left_over = None          # the first command after the last slice (not a `train`)
            self.step = 0                  # batches done in the current epoch
            self.tracing = True            # the next batch end is the first step's
            self.skipped = 0               # steps of the current slice left out of its time

        def _start_slice(self, command):
            if not command or command[0] != "train":
                self.left_over = command
                self.model.stop_training = True     # the driver asks for no more batches
                return
            lo, self.hi = int(command[1]), int(command[2])
            steps = self.params["steps"]
            if lo != self.step % steps or not lo < self.hi <= steps:
                raise ValueError(f"keras_mnist: asked to train batches {lo}..{self.hi} of an epoch "
                                 f"of {steps}, but batch {self.step % steps} is next")
            self.batches = self.hi - lo
            self.start = time.perf_counter()

        def on_train_begin(self, logs=None):
            self._start_slice(first)

        def on_epoch_begin(self, epoch, logs=None):
            self.step = 0

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.step += 1
            if self.tracing:
                self.tracing = False
                self.first_step_s, self.start, self.skipped = now - self.start, now, 1
            if self.step < self.hi:
                return
            seconds = (now - self.start) * self.batches / (self.batches - self.skipped)
            if self.skipped:
                reply(seconds=seconds, first_step_s=self.first_step_s)
            else:
                reply(seconds=seconds)
            self.skipped = 0
            self._start_slice(next(commands, None))     # the pause: waits for the driver

    return SlicePauser()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="mnist.npz in Keras' layout")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="the first N training images only")
    parser.add_argument("--test-limit", type=int, default=None, help="the first N test images only")
    args = parser.parse_args()
    reply = protocol_channel()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    (x_train, y_train), (x_test, y_test) = load(args.data, args.limit, args.test_limit)
    model = build_model(keras)
    reply(keras=keras.__version__, tensorflow=tf.__version__)
    commands = (line.split() for line in sys.stdin)
    command = next(commands, None)
    trained = False
    while command:
        if command[0] == "train" and not trained:
            pauser = slice_pauser(keras, command, commands, reply)
            model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
                      callbacks=[pauser])
            command, trained = pauser.left_over, True
            continue
        if command[0] == "evaluate":
            accuracy = float(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
            model.predict(x_test[:1000], batch_size=1000, verbose=0)      # warm-up (tracing)
            reply(accuracy=accuracy)
        elif command[0] == "predict":
            start = time.perf_counter()
            model.predict(x_test, batch_size=1000, verbose=0)
            reply(seconds=time.perf_counter() - start)
        else:
            raise ValueError(f"keras_mnist: unexpected command {' '.join(command)!r} (train, once, "
                             f"then evaluate and predict)")
        command = next(commands, None)


if __name__ == "__main__":
    main()
