"""Building blocks for crafted model files: a raw ZIP writer that can lie (sizes, CRCs, names,
duplicates, compression methods) and raw .npy members. Shared by the corpus and the fuzz run."""
import io
import json
import struct
import zipfile
import zlib

import numpy as np

import nnx
from nnx.layers import Dense
from nnx.models import Sequential


def npy_bytes(array):
    """The .npy serialisation of `array` (what a member of a model archive holds)."""
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def npy_with_header(header_dict, data=b""):
    """A version-1.0 .npy member with the header dict text `header_dict` (a str, written verbatim)."""
    text = header_dict.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def raw_zip(entries):
    """A ZIP file from `entries`: dicts with `name` (str) and `data` (bytes, as stored) and optionally
    `method` (0 stored, 8 deflate: `data` is then compressed here unless `raw` is set), `size` (the
    declared uncompressed size), `crc` (the declared CRC-32) and `flags`. Nothing is checked."""
    body, central = io.BytesIO(), io.BytesIO()
    for e in entries:
        name = e["name"].encode("utf-8")
        method = e.get("method", 0)
        plain = e["data"]
        if method == 8 and not e.get("raw"):
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            stored = packer.compress(plain) + packer.flush()
        else:
            stored = plain
        size = e.get("size", len(plain))
        crc = e.get("crc", zlib.crc32(plain))
        flags = e.get("flags", 0)
        offset = body.tell()
        extra, small_size, small_stored = b"", size, len(stored)
        if size > 0xFFFFFFFF:   # ZIP64: the sizes move to an extra field
            extra = struct.pack("<2H2Q", 1, 16, size, len(stored))
            small_size = small_stored = 0xFFFFFFFF
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, flags, method, 0, 0x21, crc, small_stored,
                               small_size, len(name), len(extra)) + name + extra + stored)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, flags, method, 0, 0x21, crc,
                                  small_stored, small_size, len(name), len(extra), 0, 0, 0, 0, offset)
                      + name + extra)
    directory = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory),
                      body.tell(), 0)
    return body.getvalue() + directory + end


def members_of(data):
    """[(name, bytes)] of a well-formed archive, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def header_of(members):
    return json.loads(np.load(io.BytesIO(dict(members)["header.npy"])).tobytes())


def with_header(members, header):
    """`members` with header.npy replaced by the JSON of `header` (str: verbatim text)."""
    text = header if isinstance(header, str) else json.dumps(header)
    member = npy_bytes(np.frombuffer(text.encode("utf-8"), np.uint8))
    return [(n, member if n == "header.npy" else d) for n, d in members]


def zip_members(members):
    return raw_zip([{"name": n, "data": d} for n, d in members])


def small_model_file(path):
    """A tiny compiled model (2 weights, SGD state) saved to `path`; returns the file's bytes."""
    nnx.manual_seed(0)
    model = Sequential([Dense(2, input_shape=(3,), activation="relu")])
    model.compile(nnx.optimizers.SGD(momentum=0.9), "mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), epochs=1, verbose=0)
    model.save(path)
    with open(path, "rb") as f:
        return f.read()
