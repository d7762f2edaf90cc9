"""A small residual network on the bundled MNIST, written with the functional API.

    python -m nnx.examples.resnet_mnist [--epochs 3] [--batch-size 32] [--threads N] [--save resnet_mnist.nnx]

Each residual block adds its input back to the output of two 3x3 convolutions (`Add()([x, y])`), the
shape of a ResNet's identity block; a 1x1 convolution projects the shortcut where the width changes.
The model is printed with its "Connected to" column, trained with a progress bar, evaluated on the
10,000 test images and saved. Three epochs reach about 99% test accuracy.
"""
import argparse
import time

import nnx
from nnx.examples.mnist_cnn import load
from nnx.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, Flatten, Input,
                        MaxPooling2D)
from nnx.models import Model


def residual_block(x, filters, name):
    """relu(x + BN(conv(relu(BN(conv(x)))))), with a 1x1 projection of x when the width changes."""
    y = Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv_a")(x)
    y = Activation("relu")(BatchNormalization(name=f"{name}_bn_a")(y))
    y = Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv_b")(y)
    y = BatchNormalization(name=f"{name}_bn_b")(y)
    shortcut = x if x.shape[-1] == filters else Conv2D(filters, 1, name=f"{name}_project")(x)
    return Activation("relu", name=f"{name}_out")(Add(name=f"{name}_add")([shortcut, y]))


def build_model():
    inputs = Input(shape=(28, 28, 1), name="image")
    x = Conv2D(16, 3, padding="same", activation="relu", name="stem")(inputs)
    x = MaxPooling2D(name="pool_1")(x)                  # 14 x 14 x 16
    x = residual_block(x, 16, "block_1")
    x = MaxPooling2D(name="pool_2")(x)                  # 7 x 7 x 16
    x = residual_block(x, 32, "block_2")
    outputs = Dense(10, activation="softmax", name="classes")(Flatten()(x))
    model = Model(inputs, outputs, name="resnet_mnist")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nnx.examples.resnet_mnist",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--save", default="resnet_mnist.nnx", help="where to save the model ('' to skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling")
    args = parser.parse_args(argv)
    if args.threads is not None:
        nnx.set_num_threads(args.threads)
    nnx.manual_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load(args.limit)
    model = build_model()
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x_test, y_test))
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}); training took {seconds:.1f} s "
          f"({seconds / args.epochs:.1f} s/epoch, {nnx.get_num_threads()} threads)")
    if args.save:
        model.save(args.save)
        print(f"Saved the model to {args.save}")
    return accuracy


if __name__ == "__main__":
    main()
