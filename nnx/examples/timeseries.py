"""One-step-ahead forecasting of a noisy seasonal series with an LSTM.

    python -m nnx.examples.timeseries [--epochs 8] [--seed 0]

The series is a daily-like cycle (period 24) plus a weaker weekly-like one (period 24*7/4), a slow
trend and Gaussian noise. Windows of the previous 24 values predict the next value; the first 80% of
the series trains, the last 20% (never seen in training) tests. Prints the test MSE of the LSTM and of
the naive forecast "tomorrow equals today" (the last value of the window), which any useful model
must beat. Runs in seconds.
"""
import argparse
import time

import numpy as np

import nnx
from nnx.layers import LSTM, Dense
from nnx.models import Sequential
from nnx.optimizers import Adam

WINDOW = 24


def make_series(length=1500, noise=0.2, seed=0):
    t = np.arange(length)
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 42) + 0.001 * t
            + noise * rng.standard_normal(length))


def windows(series):
    """x (samples, WINDOW, 1) and y (samples, 1): each window and the value that follows it."""
    idx = np.arange(WINDOW)[None, :] + np.arange(len(series) - WINDOW)[:, None]
    return series[idx][..., None].astype(np.float32), series[WINDOW:, None].astype(np.float32)


def run(epochs=8, seed=0, verbose=2):
    """Train on the first 80%, return (LSTM test MSE, naive test MSE)."""
    nnx.manual_seed(seed)
    series = make_series(seed=seed)
    split = int(len(series) * 0.8)
    mean, std = series[:split].mean(), series[:split].std()      # statistics of the training part only
    scaled = (series - mean) / std
    x_train, y_train = windows(scaled[:split])
    x_test, y_test = windows(scaled[split - WINDOW:])
    model = Sequential([LSTM(32, input_shape=(WINDOW, 1)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)
    pred = model.predict(x_test, verbose=0)
    to_units = lambda a: a * std + mean  # noqa: E731  (MSEs in the series' own units)
    lstm_mse = float(np.mean((to_units(pred) - to_units(y_test)) ** 2))
    naive_mse = float(np.mean((to_units(x_test[:, -1]) - to_units(y_test)) ** 2))
    return lstm_mse, naive_mse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    lstm_mse, naive_mse = run(args.epochs, args.seed)
    print(f"test MSE  LSTM: {lstm_mse:.4f}   naive last value: {naive_mse:.4f}   "
          f"({naive_mse / lstm_mse:.1f}x better, {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
