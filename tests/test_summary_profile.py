"""summary(profile=True): activation memory per layer (output and what the backward keeps) and the
cost of one training step (FLOPs by hand, memory measured, weights/gradients/optimizer state)."""
import numpy as np

import nnx
from nnx.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPooling2D
from nnx.models import Sequential
from nnx.models.summary import profile_layer, training_step_memory


def _profile_lines(model, batch_size):
    lines = []
    model.summary(profile=True, batch_size=batch_size, print_fn=lines.append)
    return lines[0].splitlines()


def test_training_step_flops_and_parameter_memory_by_hand():
    model = Sequential([Input((4,), dtype="float64"), Dense(3, dtype="float64"), Dense(2, dtype="float64")])
    model.compile(optimizer="adam", loss="mse")
    text = _profile_lines(model, batch_size=10)
    # forward 2*4*3 + 2*3*2 = 36 FLOP per sample; backward: the first layer once (weight gradient
    # only), the second twice (input and weight gradients): 24 + 24 = 48; batch 10 -> 840 FLOP.
    assert "  FLOPs: 840 FLOP (forward 360 FLOP, backward 480 FLOP)" in text
    weights = (4 * 3 + 3 + 3 * 2 + 2) * 8                              # float64 bytes
    assert (f"          weights {weights} B + gradients {weights} B + optimizer state {2 * weights} B "
            f"(2 slots per weight)") in text


def test_kept_memory_covers_outputs_and_backward_needs():
    pool = MaxPooling2D((2, 2))
    pool.build((None, 8, 8, 4))
    _, _, kept = profile_layer(pool, (None, 8, 8, 4), batch_size=16, first=False)
    output = 16 * 4 * 4 * 4 * 4
    assert kept >= 2 * output        # the float32 output and the argmax indices for the backward
    flatten = Flatten()
    flatten.build((None, 8, 8, 4))
    assert profile_layer(flatten, (None, 8, 8, 4), batch_size=16, first=False)[2] < 1024   # a view


def test_training_step_memory_is_measured_and_changes_nothing():
    nnx.manual_seed(0)
    model = Sequential([Input((12, 12, 2)), Conv2D(8, 3, activation="relu"), BatchNormalization(),
                        Flatten(), Dense(5)])
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    kept, peak = training_step_memory(model, (None, 12, 12, 2), batch_size=32)
    outputs = 32 * (10 * 10 * 8 * 2 + 5) * 4          # conv and batch-norm outputs, dense output
    assert kept >= outputs and peak >= kept
    assert all(w.grad is None for w in model.weights)
    for a, b in zip(model.get_weights(), before):     # batch-norm statistics restored
        np.testing.assert_array_equal(a, b)
    text = "\n".join(_profile_lines(model, batch_size=8))
    assert "Kept mem" in text and "activations kept for the backward" in text
    assert "(0 slots per weight)" in text             # plain SGD keeps no state
