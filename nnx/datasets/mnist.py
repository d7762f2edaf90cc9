"""MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0), bundled in Keras' layout.

`data/mnist.npz` holds the four arrays of Keras' `mnist.load_data()` — the 60,000 training and 10,000
test images of 28 x 28 uint8 pixels and their uint8 labels — as the project's data set was given to it
(sha256 `SHA256` below). It is not the file Keras downloads (that one's sha256 is 731c5ac6...), so the
bytes differ; what the tests check is what MNIST is known to be: the shapes, the first labels, the
number of images of each digit and the pixel mean and standard deviation (0.1307 and 0.3081 of 255).
`load_data()` reads it with `allow_pickle=False`; nothing is ever fetched from the network.
"""
import os

import numpy as np

DATA_PATH = os.path.join(os.path.dirname(__file__), "data", "mnist.npz")
SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"


def load_data():
    """((x_train, y_train), (x_test, y_test)): uint8 arrays of shapes (60000, 28, 28), (60000,),
    (10000, 28, 28), (10000,); pixels 0..255, labels 0..9."""
    with np.load(DATA_PATH, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
