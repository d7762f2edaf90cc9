"""Datasets that ship with nnx, so examples and tests run with no network.

- `nnx.datasets.mnist`: handwritten digits, in Keras' `mnist.load_data()` layout.
- `nnx.datasets.sentiment`: 3,000 labelled review sentences (Kotzias et al., KDD 2015).
"""
from nnx.datasets import mnist, sentiment  # noqa: F401
