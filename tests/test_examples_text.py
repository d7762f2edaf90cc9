"""The text and time-series examples run end to end and learn: sentiment well above chance after two
epochs, and the LSTM forecast beats the naive last-value forecast on held-out data."""
from nnx.examples import sentiment, timeseries


def test_sentiment_example_learns_and_predicts():
    accuracy, predictions = sentiment.run(epochs=2, verbose=0)
    assert accuracy > 0.68                       # chance is 0.5 (balanced test set)
    assert len(predictions) == len(sentiment.DEFAULT_SENTENCES)
    assert all(0.0 <= p <= 1.0 for _, p in predictions)
    by_sentence = dict(predictions)
    assert by_sentence["Terrible service and the food was cold."] < 0.5
    assert by_sentence["Great phone, works perfectly and the sound is clear."] > 0.5


def test_sentiment_command_line_prints_accuracy_and_predictions(capsys):
    sentiment.main(["--epochs", "1", "--model", "gru", "what a great film"])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "what a great film" in out


def test_timeseries_example_beats_the_naive_forecast():
    lstm_mse, naive_mse = timeseries.run(epochs=3, verbose=0)
    assert lstm_mse < 0.85 * naive_mse
