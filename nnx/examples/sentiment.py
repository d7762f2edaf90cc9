"""Sentence sentiment with a recurrent network, on the bundled Sentiment Labelled Sentences.

    python -m nnx.examples.sentiment [--epochs 4] [--model lstm|gru|bilstm] [sentence ...]

Tokenises the 2,400 training sentences, pads them (id 0 = padding), and trains
Embedding(mask_zero=True) -> LSTM (or GRU, or a Bidirectional LSTM) -> Dense(sigmoid) with Adam on
binary cross-entropy; the mask makes the recurrent layer skip the padding. Prints the accuracy on the
600 held-out sentences and the predicted sentiment of the sentences given on the command line (a few
examples by default). Runs in well under a minute on two cores.
"""
import argparse
import time

import nnx
from nnx.datasets import sentiment
from nnx.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding
from nnx.models import Sequential
from nnx.optimizers import Adam
from nnx.preprocessing import pad_sequences
from nnx.preprocessing.text import Tokenizer

MAXLEN = 32
VOCABULARY = 4000
DEFAULT_SENTENCES = [
    "I loved this movie, the acting was wonderful.",
    "Terrible service and the food was cold.",
    "The battery died after two days, a total waste of money.",
    "Great phone, works perfectly and the sound is clear.",
]


def build_model(kind="lstm", units=32, embedding_dim=32):
    recurrent = {"lstm": lambda: LSTM(units), "gru": lambda: GRU(units),
                 "bilstm": lambda: Bidirectional(LSTM(units))}[kind]()
    model = Sequential([
        Embedding(VOCABULARY, embedding_dim, mask_zero=True, input_shape=(MAXLEN,)),
        recurrent,
        Dropout(0.3),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=Adam(learning_rate=0.003), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def encode(tokenizer, texts):
    return pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=MAXLEN, padding="post",
                         truncating="post")


def run(epochs=4, kind="lstm", sentences=None, seed=0, verbose=2):
    """Train, evaluate and predict; returns (test accuracy, list of (sentence, P(positive)))."""
    nnx.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = sentiment.load_data()
    tokenizer = Tokenizer(num_words=VOCABULARY, oov_token="<unk>")
    tokenizer.fit_on_texts(x_train)
    model = build_model(kind)
    model.fit(encode(tokenizer, x_train), y_train, batch_size=32, epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(encode(tokenizer, x_test), y_test, verbose=0)
    sentences = DEFAULT_SENTENCES if not sentences else sentences
    p = model.predict(encode(tokenizer, sentences), verbose=0)[:, 0]
    return accuracy, list(zip(sentences, p.tolist()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--model", choices=("lstm", "gru", "bilstm"), default="lstm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("sentences", nargs="*", help="sentences to classify after training")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    accuracy, predictions = run(args.epochs, args.model, args.sentences, args.seed)
    print(f"test accuracy: {accuracy:.4f}  ({args.model}, {args.epochs} epochs, "
          f"{time.perf_counter() - start:.1f} s)")
    for sentence, p in predictions:
        print(f"  {'positive' if p >= 0.5 else 'negative'} ({p:.2f})  {sentence}")


if __name__ == "__main__":
    main()
