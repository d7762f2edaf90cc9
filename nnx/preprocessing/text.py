"""Text to integer sequences, with Keras' (keras.preprocessing.text / sequence) semantics.

    tokenizer = Tokenizer(num_words=10000, oov_token="<OOV>")
    tokenizer.fit_on_texts(train_texts)                  # builds word_index, most frequent word = 1
    x = pad_sequences(tokenizer.texts_to_sequences(train_texts), maxlen=40)

Index 0 is never a word: it is left for padding (and for `Embedding(mask_zero=True)`).
"""
import json
from collections import OrderedDict

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Lower-case (optionally), turn every filter character into `split`, split, drop empties."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


class Tokenizer:
    """Keras' Tokenizer: a word index by descending frequency (ties: first seen first).

    num_words: only the num_words - 1 most frequent words (indices 1 .. num_words - 1) are kept by
        texts_to_sequences / texts_to_matrix; the rest become the oov token, or are dropped.
    oov_token: if given, it gets index 1 and stands for every unknown (or cut) word.
    filters, lower, split: how texts are cut into words; char_level: characters instead of words.
    After fitting: word_counts (word -> count, in first-seen order), word_docs (word -> number of
    texts holding it), word_index (word -> index), index_word, document_count.
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None):
        if num_words is not None and (isinstance(num_words, bool)
                                      or not isinstance(num_words, (int, np.integer))
                                      or num_words < 1):
            raise ValueError(f"Tokenizer: num_words must be a positive int or None, "
                             f"got {num_words!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"Tokenizer: split must be a non-empty string, got {split!r}")
        self.num_words = None if num_words is None else int(num_words)
        self.filters, self.lower, self.split = filters, bool(lower), split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.word_counts = OrderedDict()
        self.word_docs = {}
        self.document_count = 0
        self.word_index = {}
        self.index_word = {}
        self.index_docs = {}

    def _words(self, text, op):
        if isinstance(text, (list, tuple)):      # already tokenised
            if not all(isinstance(w, str) for w in text):
                raise TypeError(f"Tokenizer.{op}: a tokenised text must be a list of str")
            return [w.lower() for w in text] if self.lower else list(text)
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer.{op}: expected texts as str (or lists of words), got "
                            f"{type(text).__name__}")
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    @staticmethod
    def _texts(texts, op):
        if isinstance(texts, str):
            raise TypeError(f"Tokenizer.{op}: expected a list of texts, got a single str "
                            f"(wrap it in a list)")
        return texts

    def fit_on_texts(self, texts):
        """Count the words of `texts` (adds to earlier fits) and rebuild the word index."""
        for text in self._texts(texts, "fit_on_texts"):
            words = self._words(text, "fit_on_texts")
            self.document_count += 1
            for w in words:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(words):
                self.word_docs[w] = self.word_docs.get(w, 0) + 1
        # sorted() is stable: equally frequent words keep their first-seen order, as in Keras
        ranked = sorted(self.word_counts, key=self.word_counts.__getitem__, reverse=True)
        if self.oov_token is not None:
            ranked = [self.oov_token] + [w for w in ranked if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(ranked, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = {self.word_index[w]: c for w, c in self.word_docs.items()}

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (unknown or cut words: the oov index, or dropped)."""
        index, limit = self.word_index, self.num_words
        oov = index.get(self.oov_token) if self.oov_token is not None else None
        sequences = []
        for text in self._texts(texts, "texts_to_sequences"):
            seq = []
            for w in self._words(text, "texts_to_sequences"):
                i = index.get(w)
                if i is None or (limit and i >= limit):
                    i = oov
                if i is not None:
                    seq.append(i)
            sequences.append(seq)
        return sequences

    def sequences_to_texts(self, sequences):
        """Sequences back to texts, words joined by spaces (unknown indices: the oov token, or
        dropped)."""
        limit = self.num_words
        texts = []
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(int(i))
                if w is None or (limit and i >= limit):
                    w = self.oov_token
                if w is not None:
                    words.append(w)
            texts.append(" ".join(words))
        return texts

    def texts_to_matrix(self, texts, mode="binary"):
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """Bag of words (N, num_words): mode 'binary' (presence), 'count', 'freq' (count / length)
        or 'tfidf' (Keras: (1 + log count) * log(1 + documents / (1 + documents with the word)))."""
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"Tokenizer.sequences_to_matrix: unknown mode {mode!r}; use 'binary', "
                             f"'count', 'freq' or 'tfidf'")
        width = self.num_words or (len(self.word_index) + 1 if self.word_index else 0)
        if not width:
            raise ValueError("Tokenizer.sequences_to_matrix: set num_words or fit on texts first")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Tokenizer.sequences_to_matrix: fit on texts before using tfidf")
        x = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64)
            if seq.size == 0:
                continue
            counts = np.bincount(seq[seq < width], minlength=width).astype(np.float64)
            present = counts > 0
            if mode == "binary":
                x[row] = present
            elif mode == "count":
                x[row] = counts
            elif mode == "freq":
                x[row] = counts / seq.size
            else:
                docs = np.array([self.index_docs.get(j, 0) for j in np.flatnonzero(present)])
                x[row, present] = (1 + np.log(counts[present])) * \
                    np.log(1 + self.document_count / (1 + docs))
        return x

    # --- saving (JSON: safe to load) ------------------------------------------------------------
    def get_config(self):
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split, "char_level": self.char_level, "oov_token": self.oov_token,
                "document_count": self.document_count,
                "word_counts": list(self.word_counts.items()), "word_docs": self.word_docs}

    def to_json(self):
        return json.dumps(self.get_config())


def tokenizer_from_json(json_string):
    """Rebuild a fitted Tokenizer from `Tokenizer.to_json()`."""
    config = json.loads(json_string)
    state = {k: config.pop(k) for k in ("document_count", "word_counts", "word_docs")}
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict((w, int(c)) for w, c in state["word_counts"])
    tokenizer.fit_on_texts([])                       # rebuilds the index from the counts
    tokenizer.word_docs = {w: int(c) for w, c in state["word_docs"].items()}
    tokenizer.index_docs = {tokenizer.word_index[w]: c for w, c in tokenizer.word_docs.items()}
    tokenizer.document_count = int(state["document_count"])
    return tokenizer


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0):
    """A ragged list of sequences as one array (N, maxlen) (+ the elements' own shape), Keras style.

    maxlen: the length of every row (None: the longest sequence). Longer sequences lose their
    start (truncating='pre') or end ('post'); shorter ones get `value` before ('pre') or after
    ('post')."""
    op = "pad_sequences"
    if padding not in ("pre", "post"):
        raise ValueError(f"{op}: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"{op}: truncating must be 'pre' or 'post', got {truncating!r}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"{op}: expected a list of sequences, got {type(sequences).__name__}")
    lengths = []
    for s in sequences:
        if not hasattr(s, "__len__") or isinstance(s, (str, bytes)):
            raise TypeError(f"{op}: every sequence must be a list or array, got {type(s).__name__}")
        lengths.append(len(s))
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"{op}: maxlen must be a non-negative int or None, got {maxlen!r}")
    element_shape = next((np.asarray(s).shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), int(maxlen)) + element_shape, value, dtype=dtype)
    if maxlen == 0:
        return out
    for row, s in enumerate(sequences):
        if not len(s):
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != element_shape:
            raise ValueError(f"{op}: sequence {row} has elements of shape {kept.shape[1:]}, the "
                             f"first non-empty one has {element_shape}")
        if padding == "post":
            out[row, :len(kept)] = kept
        else:
            out[row, -len(kept):] = kept
    return out
