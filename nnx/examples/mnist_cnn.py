"""The reference program (docs/api.md section 0): a small CNN on the bundled MNIST.

    python -m nnx.examples.mnist_cnn [--epochs 1] [--batch-size 32] [--threads N] [--save mnist_cnn.nnx]
    mpirun -n 2 python -m nnx.examples.mnist_cnn --distributed

Trains with a live progress bar, evaluates on the 10,000 test images, prints the test accuracy and
saves the model. One epoch reaches about 98-99% test accuracy; Keras reaches about 99% after 10.
With --distributed every rank trains on its shard of the data with its share of the (global) batch,
gradients are averaged over the ranks, and rank 0 prints and saves.
"""
import argparse
import time

import nnx
from nnx.datasets import mnist
from nnx.layers import Conv2D, Dense, Flatten, MaxPooling2D
from nnx.models import Sequential


def load(limit=None):
    """MNIST scaled to [0, 1], channels-last, float32 (optionally the first `limit` training images)."""
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    x_train = (x_train / 255.0).astype("float32")[..., None]
    x_test = (x_test / 255.0).astype("float32")[..., None]
    return (x_train, y_train), (x_test, y_test)


def build_model(optimizer="adam"):
    """The reference CNN: 93,322 parameters."""
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(Flatten())
    model.add(Dense(64, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def main(argv=None, build=build_model, prog="python -m nnx.examples.mnist_cnn", doc=__doc__, epochs=1,
         save="mnist_cnn.nnx", callbacks=None):
    """The command line; other examples pass their own `build(optimizer)` (returning a compiled
    model), defaults and training callbacks."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    parser.add_argument("--save", default=save, help="where to save the model ('' to skip)")
    parser.add_argument("--seed", type=int, default=None, help="seed for initialisation and shuffling")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over MPI ranks (start with mpirun -n N)")
    args = parser.parse_args(argv)
    if args.distributed:
        import nnx.distributed as dist
        dist.init()
    if args.threads is not None:
        nnx.set_num_threads(args.threads)
    if args.seed is not None:
        nnx.manual_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load()
    batch_size, optimizer, callbacks, ranks = args.batch_size, "adam", list(callbacks or []), 1
    if args.distributed:
        ranks = dist.size()
        if batch_size % ranks:
            parser.error(f"--batch-size {batch_size} must be a multiple of the {ranks} ranks")
        x_train, y_train = dist.shard(x_train, y_train)
        x_test, y_test = dist.shard(x_test, y_test)
        batch_size //= ranks
        optimizer = dist.DistributedOptimizer("adam")
        callbacks = [dist.callbacks.MetricAverage(), dist.callbacks.BroadcastWeights(0)] + callbacks
    model = build(optimizer)
    chief = not args.distributed or dist.rank() == 0
    if chief:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=batch_size,
              validation_data=(x_test, y_test), callbacks=callbacks)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    if args.distributed:
        loss, accuracy = (float(v) for v in dist.allreduce([loss, accuracy]))
    if not chief:
        return accuracy
    print(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}); training took {seconds:.1f} s "
          f"({seconds / args.epochs:.1f} s/epoch, {ranks} rank(s) x {nnx.get_num_threads()} threads)")
    if args.save:
        model.save(args.save)
        print(f"Saved the model to {args.save}")
    return accuracy


if __name__ == "__main__":
    main()
