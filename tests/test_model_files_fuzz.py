"""A seeded fuzz run of load_model: 100,000 mutations of a small valid model file, each of which must
load or raise ModelFileError (never another exception, a crash or a hang).

Mutations, in four families so that every layer of the reader is reached (raw byte flips alone mostly
stop at the ZIP's CRC checks):
- raw: bit flips, random bytes, truncation, deletion, insertion or duplication of a range in the file;
- member: the same edits inside one member, re-zipped with correct CRCs (reaches .npy headers/JSON);
- json: one to three edits of the header's JSON text (characters, value tokens), re-zipped;
- structure: members swapped, dropped, duplicated, renamed or re-ordered.
Set NNX_FUZZ_RUNS to run more or fewer (CI runs the default)."""
import collections
import json
import io
import os
import random
import re

import numpy as np
import pytest

from nnx.models import ModelFileError, load_model
from nnx.models.saving import _load_from

from model_files import members_of, npy_bytes, small_model_file, zip_members

RUNS = int(os.environ.get("NNX_FUZZ_RUNS", "100000"))
SEED = 20261130


def edit_bytes(rng, data):
    """One random byte-level edit of `data`."""
    if not data:
        return bytes([rng.randrange(256)])
    kind = rng.randrange(6)
    i = rng.randrange(len(data))
    if kind == 0:                                            # flip 1-4 bits
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            j = rng.randrange(len(out))
            out[j] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == 1:                                            # set a byte to an interesting value
        return data[:i] + bytes([rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))]) + data[i + 1:]
    if kind == 2:                                            # truncate
        return data[:i]
    if kind == 3:                                            # delete a range
        return data[:i] + data[i + rng.randint(1, 64):]
    if kind == 4:                                            # insert random bytes
        return data[:i] + rng.randbytes(rng.randint(1, 16)) + data[i:]
    j = rng.randrange(len(data))                             # duplicate a range
    return data[:i] + data[j:j + rng.randint(1, 64)] + data[i:]


JSON_TOKENS = ["0", "-1", "2", "1e308", "1e999", "2000000000", "true", "null", '""', '"relu"', "[]", "{}",
               "[[[[", "]]", "3.5", '"float64"', '"Dense"', '"Sequential"', "NaN"]


_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null')


def edit_json(rng, text, spans):
    """One random edit of JSON text: a character changed, or a value token (one of `spans`, the
    (start, end) of the values in `text`) replaced by another."""
    if rng.random() < 0.5:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice('0123456789-.eE[]{},:"aZ ') + text[i + 1:]
    start, end = rng.choice(spans)
    return text[:start] + rng.choice(JSON_TOKENS) + text[end:]


def header_text(members):
    """The JSON text of header.npy (after its 128-byte .npy header)."""
    return dict(members)["header.npy"][128:].decode("utf-8")


def mutate(rng, data, members, spans):
    family = rng.random()
    if family < 0.35:
        return "raw", edit_bytes(rng, data)
    members = list(members)
    if family < 0.6:
        k = rng.randrange(len(members))
        name, content = members[k]
        members[k] = (name, edit_bytes(rng, content))
        return "member", zip_members(members)
    if family < 0.9:
        text = header_text(members)
        for _ in range(rng.randint(1, 3)):                   # (spans go stale after an edit: fine here)
            text = edit_json(rng, text, spans)
        member = npy_bytes(np.frombuffer(text.encode("utf-8"), np.uint8))
        return "json", zip_members([(n, member if n == "header.npy" else d) for n, d in members])
    kind = rng.randrange(5)
    i, j = rng.randrange(len(members)), rng.randrange(len(members))
    if kind == 0:                                            # swap two members' contents
        (a, x), (b, y) = members[i], members[j]
        members[i], members[j] = (a, y), (b, x)
    elif kind == 1:
        del members[i]
    elif kind == 2:
        members.insert(j, members[i])
    elif kind == 3:
        members[i] = (rng.choice(["weight_00009.npy", "x.npy", "../a.npy", "header.npy", "weight_00001.npy",
                                  "optimizer_00000.npy", "a/b.npy", "header"]), members[i][1])
    else:
        rng.shuffle(members)
    return "structure", zip_members(members)


@pytest.mark.slow
# numpy's header parser warns about some mangled headers (invalid escapes, Python 2 int suffixes) that
# it then refuses or repairs; expected here, so not shown
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_every_mutated_file_loads_or_raises_model_file_error(tmp_path):
    data = small_model_file(tmp_path / "good.nnx")
    members = members_of(data)
    text = header_text(members)
    json.loads(text)                                   # the slice above is the whole JSON text
    spans = [m.span() for m in _VALUE.finditer(text)]
    rng = random.Random(SEED)
    path = tmp_path / "mutant.nnx"
    outcomes = collections.Counter()
    for run in range(RUNS):
        family, mutant = mutate(rng, data, members, spans)
        try:
            if run % 100 == 0:       # through the file system now and then, in memory for speed
                path.write_bytes(mutant)
                load_model(path)
            else:
                _load_from(io.BytesIO(mutant), None, True, f"mutant {run}")
            outcomes[family, "loaded"] += 1
        except ModelFileError:
            outcomes[family, "ModelFileError"] += 1
        except Exception as e:   # anything else is the bug this test exists to find
            raise AssertionError(f"run {run} (seed {SEED}, {family} mutation) escaped as "
                                 f"{type(e).__name__}: {e}") from e
    print(f"{RUNS} mutated files: " + ", ".join(f"{f} {o}: {n}" for (f, o), n in sorted(outcomes.items())))
    assert sum(outcomes.values()) == RUNS
    for family in ("raw", "member", "json", "structure"):   # each family reached, with both outcomes
        assert outcomes[family, "ModelFileError"] > 0
    assert outcomes["json", "loaded"] > 0
