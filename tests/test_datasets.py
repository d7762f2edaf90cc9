"""Bundled datasets: MNIST (checked against what MNIST is known to be), the sentiment sentences and their
split."""
import hashlib
import socket

import numpy as np
import pytest

from nnx.datasets import mnist, sentiment


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a dataset tried to open a network connection")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mnist_file_is_the_bundled_one():
    """The file is the one the project was given (its sha256 in nnx.datasets.mnist), holding exactly the
    four arrays and nothing a pickle could hide in."""
    with open(mnist.DATA_PATH, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert digest == mnist.SHA256
    with np.load(mnist.DATA_PATH, allow_pickle=False) as f:
        assert sorted(f.files) == ["x_test", "x_train", "y_test", "y_train"]


def test_mnist_is_mnist(no_network):
    """Shapes, dtypes, first labels, digits per class and the pixel statistics published for MNIST
    (e.g. the normalisation mean 0.1307 and std 0.3081 of torchvision's MNIST examples)."""
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(y_test[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    assert np.bincount(y_train, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                           6265, 5851, 5949]
    assert np.bincount(y_test, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                          974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0
    counts = np.bincount(x_train.ravel(), minlength=256)           # pixel statistics from the histogram
    values = np.arange(256) / 255.0
    mean = counts @ values / counts.sum()
    std = np.sqrt(counts @ (values - mean) ** 2 / counts.sum())
    assert round(mean, 4) == 0.1307 and round(std, 4) == 0.3081


def test_mnist_arrays_are_fresh_per_call():
    (a, _), _ = mnist.load_data()
    a[0, 0, 0] = 77
    (b, _), _ = mnist.load_data()
    assert b[0, 0, 0] == 0


def test_sentiment_sources_read_completely():
    total = 0
    for source in sentiment.FILES:
        texts, labels = sentiment.read_source(source)
        assert len(texts) == 1000 and labels.dtype == np.int64
        assert np.bincount(labels).tolist() == [500, 500]
        assert all(isinstance(t, str) and t and "\t" not in t and t == t.strip() for t in texts)
        total += len(texts)
    assert total == 3000
    texts, labels = sentiment.read_source("imdb")
    assert texts[0].startswith("A very, very, very slow-moving, aimless movie")
    assert labels[0] == 0


def test_sentiment_split_is_stratified_disjoint_and_complete(no_network):
    (x_train, y_train), (x_test, y_test) = sentiment.load_data(test_split=0.2, seed=7)
    assert len(x_train) == 2400 and len(x_test) == 600
    assert len(y_train) == 2400 and len(y_test) == 600
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == {0, 1}
    assert np.bincount(y_test).tolist() == [300, 300]
    # each site contributes exactly 100 positives and 100 negatives to the test set
    by_source = {}
    for source in sentiment.FILES:
        texts, labels = sentiment.read_source(source)
        by_source.update({(t, int(l)): source for t, l in zip(texts, labels)})
    counts = {}
    for t, l in zip(x_test, y_test):
        key = (by_source[(t, int(l))], int(l))
        counts[key] = counts.get(key, 0) + 1
    assert counts == {(s, l): 100 for s in sentiment.FILES for l in (0, 1)}
    # train + test is exactly the data set (as a multiset of (sentence, label) pairs)
    everything = sorted((t, int(l)) for s in sentiment.FILES for t, l in zip(*sentiment.read_source(s)))
    assert sorted(zip(x_train + x_test, (y_train.tolist() + y_test.tolist()))) == everything


def test_sentiment_split_reproducible_and_seed_dependent():
    a = sentiment.load_data(seed=1)
    b = sentiment.load_data(seed=1)
    c = sentiment.load_data(seed=2)
    assert a[0][0] == b[0][0] and a[1][0] == b[1][0]
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert set(a[1][0]) != set(c[1][0])
    # shuffled: labels are not grouped in file order
    assert 0.3 < np.mean(a[0][1][:200]) < 0.7


def test_sentiment_options_and_errors():
    (x_train, y_train), (x_test, y_test) = sentiment.load_data(test_split=0.0, sources="yelp")
    assert len(x_train) == 1000 and x_test == [] and y_test.shape == (0,)
    (x_train, _), (x_test, _) = sentiment.load_data(test_split=0.5, sources=("amazon", "imdb"))
    assert len(x_train) == len(x_test) == 1000
    with pytest.raises(ValueError, match="test_split"):
        sentiment.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="unknown source 'twitter'"):
        sentiment.load_data(sources=("twitter",))
    assert "Kotzias" in sentiment.CITATION and "KDD 2015" in sentiment.CITATION
