"""Smoke test of an installed nnx wheel: run it from outside the checkout, in a venv holding only the wheel.

It checks that the compiled kernels load without a compiler, that GEMM agrees with NumPy, that the
bundled data came with the wheel and that a tiny model trains. Exits non-zero on any failure.
"""
import importlib.machinery
import os
import sys

import numpy as np

import nnx
import nnx.kernels
from nnx.datasets import mnist, sentiment
from nnx.layers import Conv2D, Dense, Flatten, MaxPooling2D
from nnx.models import Sequential

print("nnx", nnx.__version__, "from", os.path.dirname(nnx.__file__))
if "site-packages" not in nnx.__file__:
    sys.exit(f"smoke test: imported nnx from {nnx.__file__}, not from the installed wheel")
print(nnx.kernels.info())
import nnx._C.switch  # noqa: E402  (the compiled with-block came too, not its plain-Python source)
if not nnx._C.switch.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
    sys.exit(f"smoke test: nnx._C.switch is not compiled ({nnx._C.switch.__file__})")

rng = np.random.default_rng(0)
a, b = rng.standard_normal((67, 45)), rng.standard_normal((45, 33))
np.testing.assert_allclose(nnx.kernels.gemm(a, b), a @ b, rtol=1e-12, atol=1e-12)
a32, b32 = a.astype(np.float32), b.astype(np.float32)
np.testing.assert_allclose(nnx.kernels.gemm(a32, b32), a32 @ b32, rtol=1e-4, atol=1e-4)

(x_train, y_train), (x_test, y_test) = mnist.load_data()
assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28), "MNIST did not ship"
assert len(sentiment.read_source("yelp")[0]) == 1000, "the sentiment data did not ship"

nnx.manual_seed(0)
x = (x_train[:512] / 255.0).astype("float32")[..., None]
y = y_train[:512]
model = Sequential([Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                    Flatten(), Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
loss = history.history["loss"]
print("tiny CNN on 512 MNIST images, loss per epoch:", [round(v, 3) for v in loss])
if not loss[-1] < loss[0]:
    sys.exit("smoke test: the tiny model did not learn")
print("wheel smoke test passed")
