"""Runnable example programs: `python -m nnx.examples.mnist_cnn` (the reference program of docs/api.md)."""
