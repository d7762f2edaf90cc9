"""load_model on hostile and broken files: a corpus of crafted files, each refused with ModelFileError
naming the problem; zip bombs refused in bounded memory; no temporary files left by killed saves."""
import copy
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest

import nnx
from nnx.layers import Dense
from nnx.models import ModelFileError, Sequential, load_model
from nnx.models.archive import MAX_JSON_DEPTH, ArchiveReader, remove_stale_temp_files

from model_files import (header_of, members_of, npy_bytes, npy_with_header, raw_zip, small_model_file,
                         with_header, zip_members)

GiB = 2**30


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """(bytes, [(member name, member bytes)]) of a valid small model file."""
    data = small_model_file(tmp_path_factory.mktemp("good") / "good.nnx")
    return data, members_of(data)


def replace(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def edit_header(members, change):
    header = copy.deepcopy(header_of(members))
    change(header)
    return zip_members(with_header(members, header))


def zeros_bomb(nbytes, prefix=b""):
    """A raw-deflate stream of `prefix` then `nbytes` zeros, built from one repeated 1 MiB block (cheap to
    make; expands about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(2**20)) + packer.flush(zlib.Z_FULL_FLUSH)
    return head + block * (nbytes // 2**20) + packer.flush()


def weight_header(shape, descr="<f4"):
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"


def dense_deep(depth):
    return "[" * depth + "]" * depth


# Each case: (id, function of (good bytes, good members) -> file bytes, regex the message must match).
CORPUS = [
    # --- not an archive
    ("empty", lambda d, m: b"", "not a readable nnx model archive"),
    ("text", lambda d, m: b"hello, I am not a model\n" * 10, "not a readable"),
    ("pickle", lambda d, m: pickle.dumps({"weights": [1, 2]}), "not a readable"),
    ("bare npy", lambda d, m: npy_bytes(np.zeros((3, 2), np.float32)), "bare .npy array"),
    ("bare npy header member", lambda d, m: dict(m)["header.npy"], "bare .npy array"),
    ("zip magic only", lambda d, m: b"PK\x03\x04" + bytes(40), "not a readable"),
    ("empty zip", lambda d, m: raw_zip([]), "header.npy' is missing"),
    ("truncated to half", lambda d, m: d[:len(d) // 2], "not a readable"),
    ("truncated central directory", lambda d, m: d[:-30], "not a readable"),
    ("truncated by one byte", lambda d, m: d[:-1], "not a readable"),
    # --- container lies
    ("duplicate member", lambda d, m: zip_members(m + [m[1]]), "'weight_00000.npy' appears more than once"),
    ("duplicate header", lambda d, m: zip_members([m[0]] + m), "'header.npy' appears more than once"),
    ("path traversal", lambda d, m: zip_members(m + [("../../evil.npy", m[1][1])]), "not a plain"),
    ("absolute path", lambda d, m: zip_members(m + [("/tmp/evil.npy", m[1][1])]), "not a plain"),
    ("sub-directory", lambda d, m: zip_members(m + [("dir/weight_00000.npy", m[1][1])]), "not a plain"),
    ("backslash path", lambda d, m: zip_members(m + [("..\\evil.npy", m[1][1])]), "not a plain"),
    ("non-npy name", lambda d, m: zip_members(m + [("notes.txt", b"hello")]), "'notes.txt': not a plain"),
    ("NUL in name", lambda d, m: zip_members(m + [("weight\x00.npy", b"")]), "not a plain"),
    ("extra member", lambda d, m: zip_members(m + [("extra.npy", m[1][1])]), "unexpected archive members"),
    ("missing member", lambda d, m: zip_members(m[:-1]), "unexpected archive members"),
    ("bzip2 member", lambda d, m: raw_zip([{"name": n, "data": x, "method": 12 if i == 1 else 0}
                                          for i, (n, x) in enumerate(m)]), "compression method 12"),
    ("encrypted member", lambda d, m: raw_zip([{"name": n, "data": x, "flags": 1 if i == 1 else 0}
                                              for i, (n, x) in enumerate(m)]), "encrypted"),
    ("declared size beyond the limit", lambda d, m: raw_zip(
        [{"name": n, "data": x, "size": 2**40 if i == 2 else len(x)} for i, (n, x) in enumerate(m)]),
     "'weight_00001.npy' declares 1099511627776 bytes, more than the limit"),
    ("declared size larger than data", lambda d, m: raw_zip(
        [{"name": n, "data": x, "size": len(x) + 64 if i == 1 else len(x)} for i, (n, x) in enumerate(m)]),
     "'weight_00000.npy'.*declares 24 bytes of data but the member holds 88"),
    ("bad CRC", lambda d, m: raw_zip([{"name": n, "data": x, "crc": 1 if i == 1 else zlib.crc32(x)}
                                     for i, (n, x) in enumerate(m)]), "'weight_00000.npy' is damaged"),
    ("bit flip in weight data", lambda d, m: d.replace(m[1][1], m[1][1][:-3] + bytes([m[1][1][-3] ^ 4])
                                                       + m[1][1][-2:]), "damaged.*CRC"),
    ("bit flip in header JSON", lambda d, m: d.replace(b'"relu"', b'"rglu"'), "'header.npy' is damaged"),
    # --- .npy members that are not plain arrays
    ("non-npy content", lambda d, m: zip_members(replace(m, "weight_00000.npy", b"just text, no magic")),
     "'weight_00000.npy' is not a valid .npy array"),
    ("npy object dtype", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header(weight_header((3, 2), "|O"), bytes(48)))),
     "'weight_00000.npy' declares dtype object"),
    ("npy pickled object array", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header(weight_header((1,), "|O"), pickle.dumps([1])))),
     "declares dtype object"),
    ("npy structured dtype", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header("{'descr': [('a', '<f4'), ('b', '<f4')], "
                                               "'fortran_order': False, 'shape': (3,), }", bytes(24)))),
     "only plain numeric dtypes"),
    ("npy header that calls code", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header("{'descr': __import__('os').system('true'), "
                                               "'fortran_order': False, 'shape': (3, 2), }", bytes(24)))),
     "not a valid .npy array"),
    ("npy header too long", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", b"\x93NUMPY\x02\x00" + (200000).to_bytes(4, "little") + b" " * 200000)),
     "not a valid .npy array"),
    ("npy version 9", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", b"\x93NUMPY\x09\x00" + bytes(90))),
     "not a valid .npy array"),
    ("npy negative shape", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header(weight_header((-3, 2)), bytes(24)))),
     "not a valid|invalid shape"),
    ("npy huge declared shape", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_with_header(weight_header((2**40,)), bytes(24)))),
     r"'weight_00000.npy' holds shape \(1099511627776,\), expected \(3, 2\)"),
    ("npy huge declared shape, matching header entry", lambda d, m: edit_header(
        replace(m, "weight_00000.npy", npy_with_header(weight_header((2**40,)), bytes(24))),
        lambda h: h["weights"][0].__setitem__("shape", [2**40])), r"\(1099511627776,\) in the file"),
    ("npy int weights", lambda d, m: zip_members(replace(
        m, "weight_00000.npy", npy_bytes(np.zeros((3, 2), np.int32)))), "dtype int32, expected one of"),
    ("npy header member of floats", lambda d, m: zip_members(replace(
        m, "header.npy", npy_bytes(np.zeros(10, np.float32)))), "'header.npy' holds dtype float32"),
    ("npy 2-D header member", lambda d, m: zip_members(replace(
        m, "header.npy", npy_bytes(np.zeros((2, 2), np.uint8)))), "'header.npy' must be a 1-D byte array"),
    ("huge header member", lambda d, m: zip_members(replace(
        m, "header.npy", npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (2**40,), }"))),
     "not a valid .npy array|must be a 1-D byte array"),
    # --- zip bombs (about 1000:1)
    ("bomb: honest 2 GiB weight member", lambda d, m: raw_zip(
        [{"name": n, "data": x} for n, x in m[:1]] +
        [{"name": "weight_00000.npy", "method": 8, "raw": True, "size": 2 * GiB + 128, "crc": 0,
          "data": zeros_bomb(2 * GiB, npy_with_header(weight_header((2**29,)))[:128])}] +
        [{"name": n, "data": x} for n, x in m[2:]]), r"holds shape \(536870912,\), expected \(3, 2\)"),
    ("bomb: weight member declared small", lambda d, m: raw_zip(
        [{"name": n, "data": x} for n, x in m[:1]] +
        [{"name": "weight_00000.npy", "method": 8, "raw": True, "size": 152, "crc": 0,
          "data": zeros_bomb(GiB, m[1][1][:128])}] +
        [{"name": n, "data": x} for n, x in m[2:]]), "'weight_00000.npy' is damaged.*CRC"),
    ("bomb: 2 GiB header member", lambda d, m: raw_zip(
        [{"name": "header.npy", "method": 8, "raw": True, "size": 2 * GiB + 128, "crc": 0,
          "data": zeros_bomb(2 * GiB, npy_with_header("{'descr': '|u1', 'fortran_order': False, "
                                                      "'shape': (2147483648,), }"))}] +
        [{"name": n, "data": x} for n, x in m[1:]]), "'header.npy' must be a 1-D byte array of at most"),
    # --- the JSON header
    ("header not UTF-8", lambda d, m: zip_members(replace(
        m, "header.npy", npy_bytes(np.frombuffer(b"\xff\xfe{}", np.uint8)))), "not UTF-8"),
    ("header not JSON", lambda d, m: zip_members(with_header(m, "{not json")), "not valid JSON"),
    ("header deep nesting", lambda d, m: zip_members(with_header(m, dense_deep(100000))),
     f"nests deeper than {MAX_JSON_DEPTH} levels"),
    ("deep nesting inside a config", lambda d, m: zip_members(with_header(
        m, dict(header_of(m), extra=None).__repr__().replace("None", dense_deep(MAX_JSON_DEPTH))
        .replace("'", '"').replace("True", "true").replace("False", "false"))), "nests deeper"),
    ("header NaN", lambda d, m: zip_members(with_header(m, '{"format": NaN}')), "NaN is not allowed"),
    ("header 1e999", lambda d, m: zip_members(with_header(m, '{"format": 1e999}')), "overflows a float"),
    ("header 5000-digit int", lambda d, m: zip_members(with_header(m, '{"format": ' + "9" * 5000 + "}")),
     "not valid JSON"),
    ("header is a list", lambda d, m: zip_members(with_header(m, "[1, 2]")), "header format field"),
    ("header wrong format", lambda d, m: edit_header(m, lambda h: h.__setitem__("format", "keras")),
     "header format field"),
    ("header version string", lambda d, m: edit_header(m, lambda h: h.__setitem__("version", "1")),
     "unsupported format version 1 "),
    ("weights is a dict", lambda d, m: edit_header(m, lambda h: h.__setitem__("weights", {})),
     "header field 'weights' missing or malformed"),
    ("model is a list", lambda d, m: edit_header(m, lambda h: h.__setitem__("model", [])),
     "'model' missing or malformed"),
    ("weight shape a string", lambda d, m: edit_header(
        m, lambda h: h["weights"][0].__setitem__("shape", "3,2")),
     "bad header entry for weight 0"),
    ("weight shape of bools", lambda d, m: edit_header(
        m, lambda h: h["weights"][0].__setitem__("shape", [True, True])), "bad header entry for weight 0"),
    ("weight dtype object", lambda d, m: edit_header(
        m, lambda h: h["weights"][1].__setitem__("dtype", "object")),
     "bad header entry for weight 1"),
    ("state dtype complex", lambda d, m: edit_header(
        m, lambda h: h["optimizer_state"][0].__setitem__("dtype", "complex128")), "optimizer state 0"),
    ("state key not a string", lambda d, m: edit_header(
        m, lambda h: h["optimizer_state"][0].__setitem__("key", 7)),
     "malformed optimizer state key"),
    ("layers not a list", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"].__setitem__("layers", 5)),
     "cannot rebuild Sequential"),
    ("layer entry a string", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"].__setitem__(0, "Dense")),
     "a layer entry must have"),
    ("units 2e9", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"][0]["config"].__setitem__("units", 2 * 10**9)),
     r"model.config.layers\[0\].config.units = 2000000000 is beyond any plausible size"),
    ("units 2e9 as float", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"][0]["config"].__setitem__("units", 2e9)), "units must be"),
    ("input shape 2**40", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"].__setitem__("input_shape", [2**40])), "beyond any plausible size"),
    ("dtype numpy cannot parse", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"].__setitem__("dtype", "float64,(")), "cannot rebuild Sequential"),
    ("units a string", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"][0]["config"].__setitem__("units", "2")), "Dense"),
    ("unknown layer class", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"][0].__setitem__("class_name", "subprocess.Popen")),
     "unknown layer class 'subprocess.Popen'"),
    ("unknown activation", lambda d, m: edit_header(
        m, lambda h: h["model"]["config"]["layers"][0]["config"].__setitem__("activation", "__import__")),
     "activation"),
    ("optimizer learning rate a list", lambda d, m: edit_header(
        m, lambda h: h["compile"]["optimizer"]["config"].__setitem__("learning_rate", [1])),
     "compile settings|optimizer"),
    ("weights swapped", lambda d, m: zip_members(
        [m[0], ("weight_00000.npy", m[2][1]), ("weight_00001.npy", m[1][1])] + m[3:]),
     r"holds shape \(2,\), expected \(3, 2\)"),
    ("optimizer state swapped", lambda d, m: zip_members(m[:3] + [("optimizer_00000.npy", m[4][1]),
                                                                  ("optimizer_00001.npy", m[3][1])] + m[5:]),
     r"'optimizer_00000.npy' holds shape \(3, 2\), expected \(\)"),
]


@pytest.mark.parametrize("make,message", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_crafted_file_is_refused_with_a_named_problem(good, tmp_path, make, message):
    path = tmp_path / "crafted.nnx"
    path.write_bytes(make(*good))
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(path)
    assert str(err.value).startswith(f"load_model({str(path)!r}): ")
    assert isinstance(err.value, ValueError)


def test_the_corpus_starts_from_a_file_that_loads(good, tmp_path):
    # every refusal above means something only if the untouched file, re-zipped by raw_zip, loads
    path = tmp_path / "rezipped.nnx"
    path.write_bytes(zip_members(good[1]))
    model = load_model(path)
    assert model.optimizer.iterations == 1
    np.testing.assert_array_equal(model.get_weights()[0], np.load(io.BytesIO(good[1][1][1])))


def test_deflated_and_fortran_ordered_members_load(good, tmp_path):
    # numpy.savez_compressed writes deflated members; a Fortran-ordered array keeps its values
    members = good[1]
    kernel = np.load(io.BytesIO(members[1][1]))
    members = replace(members, "weight_00000.npy", npy_bytes(np.asfortranarray(kernel)))
    path = tmp_path / "deflated.nnx"
    path.write_bytes(raw_zip([{"name": n, "data": x, "method": 8} for n, x in members]))
    np.testing.assert_array_equal(load_model(path).get_weights()[0], kernel)


def test_a_zip_bomb_is_refused_in_memory_bounded_by_its_legitimate_member(tmp_path):
    # the largest legitimate member: a 1 MiB kernel; the bomb keeps its .npy header and declared size
    # but its deflate stream expands to 1 GiB (a 1 MiB file); the loader must stop at the declared size
    nnx.manual_seed(0)
    model = Sequential([Dense(256, input_shape=(1024,), use_bias=False)])
    good_path = tmp_path / "big.nnx"
    model.save(good_path)
    members = members_of(good_path.read_bytes())
    kernel = dict(members)["weight_00000.npy"]
    bomb = raw_zip([{"name": n, "data": x} for n, x in members[:1]] +
                   [{"name": "weight_00000.npy", "method": 8, "raw": True, "size": len(kernel),
                     "crc": zlib.crc32(kernel), "data": zeros_bomb(GiB, kernel[:128])}])
    bomb_path = tmp_path / "bomb.nnx"
    bomb_path.write_bytes(bomb)
    assert len(bomb) < 2 * 2**20

    with ArchiveReader(bomb_path) as archive:       # the archive layer alone: member + a chunk
        tracemalloc.start()
        with pytest.raises(ModelFileError, match="'weight_00000.npy' is damaged"):
            archive.read("weight_00000", (1024, 256), {"float32"})
        reading_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    tracemalloc.start()
    load_model(good_path)
    legitimate_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    with pytest.raises(ModelFileError, match="'weight_00000.npy' is damaged"):
        load_model(bomb_path)
    bomb_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"member {len(kernel)} B: reading the bomb member peaks at {reading_peak} B, loading the bomb "
          f"at {bomb_peak} B, loading the legitimate file at {legitimate_peak} B")
    assert reading_peak < 2 * len(kernel)
    assert bomb_peak <= legitimate_peak * 1.05     # the model's own weights dominate, not the bomb


# --- temporary files -----------------------------------------------------------------------------------
def temp_files(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".nnx-tmp"))


def test_a_live_saves_temp_file_survives_cleanup_and_a_stale_one_does_not(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    path = tmp_path / "m.nnx"
    stale = tmp_path / ".m.nnx.abc123.nnx-tmp"
    stale.write_bytes(b"left by a killed save")
    live = tmp_path / ".m.nnx.def456.nnx-tmp"
    other = tmp_path / ".other.nnx.abc.nnx-tmp"
    other.write_bytes(b"another target's temp file")
    with open(live, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)      # as a save in progress holds it
        remove_stale_temp_files(path)
        assert temp_files(tmp_path) == [".m.nnx.def456.nnx-tmp", ".other.nnx.abc.nnx-tmp"]
    remove_stale_temp_files(path)
    assert temp_files(tmp_path) == [".other.nnx.abc.nnx-tmp"]


SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    import nnx
    from nnx.layers import Dense
    from nnx.models import Sequential
    model = Sequential([Dense(1024, input_shape=(2048,))])   # an 8 MiB file: saves take a while
    print("ready", flush=True)
    while True:
        model.save(sys.argv[1])
""")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_kill_9_during_save_leaves_no_orphan_after_the_next_save(tmp_path):
    path = tmp_path / "model.nnx"
    rng = np.random.default_rng(0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    orphans_before_cleanup = 0
    kills = int(os.environ.get("NNX_KILLS", "8"))
    for _ in range(kills):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, env=env)
        assert saver.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.2))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        orphans_before_cleanup += len(temp_files(tmp_path))
        if path.exists():
            load_model(path)                         # whatever is under the name is a whole file
    Sequential([Dense(1, input_shape=(1,))]).save(path)
    print(f"{kills} kills: {orphans_before_cleanup} temp files seen before the next save, "
          f"{len(temp_files(tmp_path))} after it")
    assert temp_files(tmp_path) == []
    assert orphans_before_cleanup > 0                # the kills did land inside saves


def test_optimizer_state_larger_than_any_weight_is_refused_before_reading(good, tmp_path):
    members = replace(good[1], "optimizer_00001.npy", npy_with_header(weight_header((2**28,), "<f8")))
    path = tmp_path / "state.nnx"
    path.write_bytes(edit_header(members, lambda h: h["optimizer_state"][1].update(shape=[2**28],
                                                                                   dtype="float64")))
    with pytest.raises(ModelFileError, match=r"optimizer state 1 declares shape \(268435456,\), larger"):
        load_model(path)


def test_npy_header_that_warns_is_refused_even_with_warnings_as_errors(good, tmp_path):
    # ast.literal_eval warns on an invalid escape; under -W error the warning must not escape as itself
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), 'x': '\\d', }"
    path = tmp_path / "warns.nnx"
    path.write_bytes(zip_members(replace(good[1], "weight_00000.npy", npy_with_header(header, bytes(24)))))
    for action in ("error", "ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter(action)
            with pytest.raises(ModelFileError, match="'weight_00000.npy' is not a valid .npy array"):
                load_model(path)


def test_python2_npy_header_with_warnings_as_errors_is_a_model_file_error(good, tmp_path):
    # numpy warns (UserWarning) while it repairs a Python 2 header; an error filter turns that into a raise
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }"
    path = tmp_path / "py2.nnx"
    kernel = np.arange(6, dtype=np.float32)
    path.write_bytes(zip_members(replace(good[1], "weight_00000.npy", npy_with_header(header, kernel.tobytes()))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelFileError, match="'weight_00000.npy' is not a valid .npy array: UserWarning"):
            load_model(path)
    with pytest.warns(UserWarning, match="Python 2"):
        np.testing.assert_array_equal(load_model(path).get_weights()[0], kernel.reshape(3, 2))
