"""MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0), bundled in Keras' layout.

`load_data()` reads `data/mnist.npz` (the file Keras downloads, byte for byte) with
`allow_pickle=False`; nothing is ever fetched from the network.
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
