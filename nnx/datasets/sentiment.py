"""Sentiment Labelled Sentences (Kotzias et al., KDD 2015), bundled: 3,000 review sentences.

1,000 sentences from each of amazon.com, imdb.com and yelp.com, 500 positive (label 1) and 500
negative (label 0) per site, as `sentence<TAB>label` lines in `data/sentiment/` (with the authors'
readme). Cite the paper when you use the data: see `CITATION`.

`load_data` splits them reproducibly and stratified by (site, label), so train and test keep the
same balance of sites and labels; both parts come back shuffled.
"""
import os

import numpy as np

from nnx.preprocessing import train_test_split

DATA_DIR = os.path.join(os.path.dirname(__file__), "data", "sentiment")
FILES = {"amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt",
         "yelp": "yelp_labelled.txt"}

CITATION = """\
Dimitrios Kotzias, Misha Denil, Nando de Freitas and Padhraic Smyth.
From Group to Individual Labels using Deep Features. KDD 2015.

@inproceedings{kotzias2015group,
  title     = {From Group to Individual Labels using Deep Features},
  author    = {Kotzias, Dimitrios and Denil, Misha and de Freitas, Nando and Smyth, Padhraic},
  booktitle = {Proceedings of the 21th ACM SIGKDD International Conference on Knowledge
               Discovery and Data Mining},
  pages     = {597--606},
  year      = {2015}
}"""


def read_source(source):
    """(sentences, labels) of one site, in file order: a list of str and an int64 array."""
    if source not in FILES:
        raise ValueError(f"sentiment: unknown source {source!r}; choose from {sorted(FILES)}")
    path = os.path.join(DATA_DIR, FILES[source])
    sentences, labels = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            sentence, tab, label = line.rstrip("\r\n").rpartition("\t")
            if not tab or label.strip() not in ("0", "1"):
                raise ValueError(f"sentiment: {FILES[source]} line {number} is not "
                                 f"'sentence<TAB>0|1': {line[:60]!r}")
            sentences.append(sentence.strip())
            labels.append(int(label))
    return sentences, np.array(labels, dtype=np.int64)


def load_data(test_split=0.2, seed=113, sources=("amazon", "imdb", "yelp")):
    """((x_train, y_train), (x_test, y_test)): x lists of str, y int64 arrays (1 = positive).

    `test_split` is the fraction of every (site, label) group held out for testing; `seed` fixes the
    split and the order (the same seed gives the same split on every machine; None draws from
    `nnx.random.get_rng()`, reproducible under `nnx.manual_seed`)."""
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)) \
            or not 0.0 <= test_split < 1.0:
        raise ValueError(f"sentiment.load_data: test_split must be in [0, 1), got {test_split!r}")
    if isinstance(sources, str):
        sources = (sources,)
    if not sources:
        raise ValueError("sentiment.load_data: sources must name at least one site")
    texts, labels, groups = [], [], []
    for number, source in enumerate(sources):
        sentences, y = read_source(source)
        texts.extend(sentences)
        labels.append(y)
        groups.append(2 * number + y)        # one group per (site, label)
    labels = np.concatenate(labels)
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=float(test_split), seed=seed, stratify=np.concatenate(groups))
    return (x_train, y_train), (x_test, y_test)
