"""The Keras 3 / TensorFlow side of benchmarks/train_mnist.py: the reference CNN on MNIST in Keras.

    /path/to/tf-venv/bin/python benchmarks/keras_mnist.py --data nnx/datasets/data/mnist.npz
                                [--epochs 1] [--threads 2] [--batch-size 32] [--limit N]

train_mnist.py runs this in a subprocess of another Python (`--keras-python`), since TensorFlow
needs its own environment; it imports NumPy, TensorFlow and Keras only, never nnx. It loads the
same file nnx.datasets.mnist reads (allow_pickle=False) and scales it as nnx.examples.mnist_cnn.load
does, builds the same architecture, optimizer (Adam, lr 1e-3, eps 1e-7) and loss, trains with the
same batch size on `--threads` TensorFlow threads (intra- and inter-op), and prints one JSON line:
seconds per epoch, the one-time graph tracing of the first step (left out of the epoch time, which
favours Keras), test accuracy and inference images/s at batch 1000.
"""
import argparse
import json
import os
import time

import numpy as np


def load(path, limit):
    with np.load(path, allow_pickle=False) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    scale = lambda x: (x / 255.0).astype("float32")[..., None]
    return (scale(x_train), y_train), (scale(x_test), y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="mnist.npz in Keras' layout")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras import layers

    (x_train, y_train), (x_test, y_test) = load(args.data, args.limit)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
        layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class StepClock(keras.callbacks.Callback):
        """The first step's end (after tracing) and each epoch's end."""
        def on_train_begin(self, logs=None):
            self.begin, self.first, self.ends = time.perf_counter(), None, []

        def on_train_batch_end(self, batch, logs=None):
            if self.first is None:
                self.first = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    clock = StepClock()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[clock])
    steps = -(-len(x_train) // args.batch_size)
    first_step = clock.first - clock.begin
    # the first epoch without its first step (tracing + one step), scaled back to all its steps
    first_epoch = (clock.ends[0] - clock.first) * steps / max(steps - 1, 1)
    epoch = (first_epoch + clock.ends[-1] - clock.ends[0]) / args.epochs
    accuracy = float(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
    model.predict(x_test[:1000], batch_size=1000, verbose=0)          # warm-up (tracing)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        model.predict(x_test, batch_size=1000, verbose=0)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"epoch_s": epoch, "first_step_s": first_step, "accuracy": accuracy,
                      "images_per_s": len(x_test) / best, "tensorflow": tf.__version__,
                      "keras": keras.__version__}))


if __name__ == "__main__":
    main()
