"""nnx.preprocessing.text: Tokenizer and pad_sequences with Keras semantics and edge cases."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnx.preprocessing.text import (DEFAULT_FILTERS, Tokenizer, pad_sequences, text_to_word_sequence,
                                    tokenizer_from_json)

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog... THE END"]


def test_default_filters_are_keras():
    assert DEFAULT_FILTERS == '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    assert text_to_word_sequence("Hello, World!\tIt's  me.") == ["hello", "world", "it's", "me"]
    assert text_to_word_sequence("A-B", lower=False) == ["A", "B"]
    assert text_to_word_sequence("") == []


def test_word_index_by_frequency_ties_first_seen():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    # counts: the 4, cat 2, dog 2, a 2, then the singletons in first-seen order
    assert list(tok.word_index.items())[:4] == [("the", 1), ("cat", 2), ("dog", 3), ("a", 4)]
    assert list(tok.word_index)[4:] == ["sat", "on", "mat", "ate", "my", "homework", "end"]
    assert tok.word_counts["the"] == 4 and tok.word_counts["end"] == 1
    assert tok.word_docs["the"] == 3 and tok.word_docs["cat"] == 2
    assert tok.document_count == 3
    assert tok.index_word[1] == "the"
    assert 0 not in tok.index_word            # 0 is left for padding


def test_texts_to_sequences_unknown_and_empty():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    assert tok.texts_to_sequences(["the cat ate a fish", "", "zebra"]) == [[1, 2, 8, 4], [], []]


def test_oov_token_gets_index_1():
    tok = Tokenizer(oov_token="<OOV>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["<OOV>"] == 1 and tok.word_index["the"] == 2
    assert tok.texts_to_sequences(["the zebra cat"]) == [[2, 1, 3]]
    assert tok.sequences_to_texts([[2, 1, 3, 999]]) == ["the <OOV> cat <OOV>"]


def test_num_words_keeps_top_num_words_minus_one():
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(TEXTS)
    assert len(tok.word_index) == 11               # the index keeps every word, as in Keras
    assert tok.texts_to_sequences(["the cat dog a mat"]) == [[1, 2]]
    tok = Tokenizer(num_words=3, oov_token="<OOV>")
    tok.fit_on_texts(TEXTS)
    assert tok.texts_to_sequences(["the cat dog a mat"]) == [[2, 1, 1, 1, 1]]
    assert tok.sequences_to_texts([[2, 5]]) == ["the <OOV>"]


def test_lower_split_char_level_and_pretokenised():
    tok = Tokenizer(lower=False, split="|", filters="")
    tok.fit_on_texts(["A|b|A", "b|c"])
    assert tok.word_index == {"A": 1, "b": 2, "c": 3}
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["abca"])
    assert chars.word_index == {"a": 1, "b": 2, "c": 3}
    words = Tokenizer()
    words.fit_on_texts([["Hello", "world"], ["hello"]])
    assert words.word_index == {"hello": 1, "world": 2}


def test_fit_accumulates():
    tok = Tokenizer()
    tok.fit_on_texts(["b b"])
    tok.fit_on_texts(["a a a"])
    assert tok.word_index == {"a": 1, "b": 2} and tok.document_count == 2


def test_matrix_modes():
    tok = Tokenizer()
    tok.fit_on_texts(["a a b", "b c"])            # a:2 b:2 c:1 -> a 1, b 2, c 3
    seqs = [[1, 1, 2], [3]]
    np.testing.assert_array_equal(tok.sequences_to_matrix(seqs, "binary"), [[0, 1, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(tok.sequences_to_matrix(seqs, "count"), [[0, 2, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(tok.sequences_to_matrix(seqs, "freq"), [[0, 2 / 3, 1 / 3, 0], [0, 0, 0, 1]])
    tfidf = tok.sequences_to_matrix(seqs, "tfidf")
    # Keras: (1 + log c) * log(1 + documents / (1 + documents containing the word))
    np.testing.assert_allclose(tfidf[0, 1], (1 + np.log(2)) * np.log(1 + 2 / 2))
    np.testing.assert_allclose(tfidf[1, 3], np.log(1 + 2 / 2))
    np.testing.assert_array_equal(tok.texts_to_matrix(["c c zebra"], "count"), [[0, 0, 0, 2]])
    with pytest.raises(ValueError, match="unknown mode"):
        tok.sequences_to_matrix(seqs, "bm25")
    with pytest.raises(ValueError, match="fit on texts"):
        Tokenizer().texts_to_matrix(["a"])


def test_json_round_trip():
    tok = Tokenizer(num_words=5, oov_token="<OOV>")
    tok.fit_on_texts(TEXTS)
    again = tokenizer_from_json(tok.to_json())
    assert again.word_index == tok.word_index and again.word_counts == tok.word_counts
    assert again.index_docs == tok.index_docs and again.document_count == 3
    probe = ["the cat ate a zebra", "end"]
    assert again.texts_to_sequences(probe) == tok.texts_to_sequences(probe)


def test_tokenizer_bad_input():
    with pytest.raises(TypeError, match="single str"):
        Tokenizer().fit_on_texts("one text")
    with pytest.raises(TypeError, match="NoneType"):
        Tokenizer().fit_on_texts(["ok", None])
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)


# --- pad_sequences --------------------------------------------------------------------------------
def test_pad_sequences_keras_defaults():
    out = pad_sequences([[1, 2, 3], [4], []])
    assert out.dtype == np.int32 and out.shape == (3, 3)
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 0, 4], [0, 0, 0]])


def test_pad_sequences_maxlen_shorter_and_longer():
    seqs = [[1, 2, 3, 4], [5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3), [[2, 3, 4], [0, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, truncating="post"), [[1, 2, 3], [0, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=6, padding="post", value=-1),
                                  [[1, 2, 3, 4, -1, -1], [5, 6, -1, -1, -1, -1]])
    assert pad_sequences(seqs, maxlen=0).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=4).shape == (0, 4)


def test_pad_sequences_dtypes_and_nested():
    out = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", padding="post")
    np.testing.assert_array_equal(out, [[0.5, 1.5], [2.5, 0.0]])
    vectors = pad_sequences([np.ones((2, 3)), np.zeros((0, 3)), 2 * np.ones((1, 3))], maxlen=2)
    assert vectors.shape == (3, 2, 3)
    np.testing.assert_array_equal(vectors[2], [[0, 0, 0], [2, 2, 2]])
    np.testing.assert_array_equal(pad_sequences((np.array([7, 8]),)), [[7, 8]])


@pytest.mark.parametrize("kwargs,seqs,error", [
    ({"padding": "middle"}, [[1]], ValueError),
    ({"truncating": "both"}, [[1]], ValueError),
    ({"maxlen": -1}, [[1]], ValueError),
    ({}, "not a list", TypeError),
    ({}, [[1], 5], TypeError),
    ({}, [np.ones((2, 3)), np.ones((2, 4))], ValueError),
])
def test_pad_sequences_errors(kwargs, seqs, error):
    with pytest.raises(error):
        pad_sequences(seqs, **kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 50), max_size=8), max_size=6),
       st.one_of(st.none(), st.integers(0, 10)),
       st.sampled_from(["pre", "post"]), st.sampled_from(["pre", "post"]))
def test_pad_sequences_matches_row_by_row_definition(seqs, maxlen, padding, truncating):
    out = pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating)
    width = max((len(s) for s in seqs), default=0) if maxlen is None else maxlen
    assert out.shape == (len(seqs), width)
    for row, s in zip(out, seqs):
        kept = s[len(s) - width:] if truncating == "pre" and len(s) > width else s[:width]
        pad = [0] * (width - len(kept))
        assert row.tolist() == (pad + kept if padding == "pre" else kept + pad)
