"""python -m nnx.examples.imbalanced: class weights raise the rare class's recall (a short run)."""
import pytest

from nnx.examples import imbalanced


def test_class_weights_raise_minority_recall(capsys):
    rows = imbalanced.main(["--epochs", "1", "--train", "8000"])
    plain, weighted = rows["no class weights"], rows["balanced class weights"]
    assert weighted["recall"] > plain["recall"] + 0.3
    assert "recall (fives)" in capsys.readouterr().out
    y = imbalanced.imbalanced_fives(0.02, 8000)[0][1]
    weights = imbalanced.balanced_class_weight(y)
    assert weights[0] * (y == 0).sum() == pytest.approx(weights[1] * (y == 1).sum())   # alike
