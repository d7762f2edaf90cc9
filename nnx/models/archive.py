"""The container of nnx model files: a ZIP of `.npy` members, written atomically, read defensively.

Writing (`write_archive`) puts every array in an uncompressed member `<key>.npy` (what `numpy.savez`
writes) of a temporary file next to the target, fsyncs it and renames it over the target, so a crash
never leaves a half-written file under the target's name. The temporary file is named
`.<target name>.<random>.nnx-tmp` and its writer holds an exclusive `flock` on it until the rename;
every save first removes the temporary files of the same target that nobody holds, i.e. those a killed
save (`kill -9`, power loss) left behind.

Reading (`ArchiveReader`) trusts nothing in the file and raises `ModelFileError` (a ValueError) naming
the member and the problem for anything malformed, before doing work in proportion to what the file
claims:
- the container: a bare `.npy` or anything not a ZIP is refused; members must be plain names
  `[A-Za-z0-9_]+.npy` (no paths, so no traversal), unique (a ZIP may repeat a name, the last silently
  winning), unencrypted, stored or deflated (no bzip2/lzma), each declaring at most `max_member_bytes`;
- a member's `.npy` header (magic, version, a header of at most 10,000 bytes parsed without eval) must
  declare a dtype of the caller's allowed set (never object, structured or subarray dtypes) and a
  shape the caller expects, whose size matches the member's declared length exactly; only then is its
  data read, in 1 MiB chunks into one buffer of the declared size. Decompression stops at the declared
  length (a ZIP bomb cannot expand past it) and the CRC is checked at the end, so peak memory is the
  member's own size plus a chunk;
- JSON (`parse_json`): nesting deeper than `MAX_JSON_DEPTH` is refused before parsing (Python's parser
  recurses), as are NaN / Infinity and numbers that overflow to infinity.
"""
import json
import math
import os
import re
import tempfile
import tokenize
import zipfile
import zlib

import numpy as np

try:
    import fcntl
except ImportError:          # Windows: a file another process holds open cannot be deleted anyway
    fcntl = None

__all__ = ["ModelFileError", "write_archive", "remove_stale_temp_files", "ArchiveReader", "parse_json"]

TEMP_SUFFIX = ".nnx-tmp"
MAX_MEMBER_BYTES = 2**32    # 4 GiB: the largest single array a model file may hold by default
MAX_MEMBERS = 2**16
MAX_JSON_DEPTH = 64
CHUNK_BYTES = 2**16     # small: zipfile holds a few chunk-sized buffers at once
_MEMBER_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\.npy")
_NPY_MAGIC = b"\x93NUMPY"
# Everything zipfile and zlib raise on malformed input (zipfile has no single error type).
_CONTAINER_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
                     NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError)
# Everything numpy's .npy header parser (tokenize + ast.literal_eval, never eval) raises on bad headers.
_NPY_HEADER_ERRORS = (ValueError, SyntaxError, TypeError, OverflowError, MemoryError, RecursionError,
                      EOFError, KeyError, IndexError, AttributeError, tokenize.TokenError,
                      Warning)   # raised, not shown, when a program turns warnings into errors


class ModelFileError(ValueError):
    """A model file that is malformed, truncated, hostile or not an nnx file. The message names the
    member (and the file, when raised by load_model) and what is wrong with it."""


def _refuse(message):
    raise ModelFileError(message)


# --- writing ---------------------------------------------------------------------------------------------
def _temp_prefix(path):
    return "." + os.path.basename(path) + "."


def remove_stale_temp_files(path):
    """Delete the temporary files of saves to `path` that no live save holds (left by a killed save)."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        full = os.path.join(directory, name)
        if fcntl is None:
            try:
                os.unlink(full)   # refused while another save has it open
            except OSError:
                pass
            continue
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(full)       # while holding the lock: its writer is gone
        except OSError:
            pass                  # held by a live save, or already gone
        finally:
            os.close(fd)


def _locked_temp_file(path):
    """(fd, name) of a new temporary file next to `path`, exclusively locked by this process."""
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=TEMP_SUFFIX)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:  # a concurrent cleaner may have removed it before we locked it
            return fd, tmp
        os.close(fd)


def write_archive(path, arrays):
    """Write `arrays` ({key: ndarray}, keys as member names without `.npy`) to `path` atomically."""
    path = os.fspath(path)
    for key, value in arrays.items():
        if not _MEMBER_NAME.fullmatch(key + ".npy"):
            raise ValueError(f"save: {key!r} is not a valid member name")
        if value.dtype.hasobject:
            raise ValueError(f"save: array {key} has dtype object, which the format does not allow")
    remove_stale_temp_files(path)
    fd, tmp = _locked_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for key, value in arrays.items():
                    with archive.open(key + ".npy", "w", force_zip64=value.nbytes > 2**31 - 2**16) as member:
                        np.lib.format.write_array(member, value, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(tmp, path)   # still holding the lock, so no cleaner can take the file
        if fcntl is None:
            os.replace(tmp, path)       # Windows cannot rename an open file
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:   # make the rename itself durable
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# --- reading ---------------------------------------------------------------------------------------------
class ArchiveReader:
    """The members of a model archive, checked before use. Use as a context manager.

    `source` is a path or a binary file object. `keys` lists the member names without `.npy`, in file
    order; `read(key, shape, dtypes)` returns one checked array."""

    def __init__(self, source, max_member_bytes=MAX_MEMBER_BYTES):
        self.max_member_bytes = max_member_bytes
        self._file = open(source, "rb") if isinstance(source, (str, bytes, os.PathLike)) else source
        self._zip = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        start = self._file.read(len(_NPY_MAGIC))
        if start == _NPY_MAGIC:
            _refuse("this is a bare .npy array, not an nnx model archive (a ZIP of .npy members)")
        self._file.seek(0)
        try:
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except _CONTAINER_ERRORS as e:
            _refuse(f"not a readable nnx model archive (a ZIP of .npy members): {type(e).__name__}: {e}")
        if len(infos) > MAX_MEMBERS:
            _refuse(f"the archive has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
        self._infos = {}
        for info in infos:
            name = info.filename
            if not _MEMBER_NAME.fullmatch(name):
                _refuse(f"member {name[:80]!r}: not a plain '<name>.npy' member name (paths, other "
                        f"extensions and special characters are refused)")
            if name in self._infos:
                _refuse(f"member {name!r} appears more than once")
            if info.flag_bits & 0x1:
                _refuse(f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                _refuse(f"member {name!r} uses compression method {info.compress_type}; only stored "
                        f"and deflated members are read")
            if info.file_size > self.max_member_bytes:
                _refuse(f"member {name!r} declares {info.file_size} bytes, more than the limit of "
                        f"{self.max_member_bytes}")
            self._infos[name] = info
        self.keys = [name[:-4] for name in self._infos]

    def read(self, key, shape, dtypes):
        """The array of member `key` + '.npy'. `shape` is the exact shape expected (a tuple) or a
        callable that checks the declared shape (and raises ModelFileError); `dtypes` the allowed
        dtype names (any byte order). Everything is checked before the data is read."""
        name = key + ".npy"
        info = self._infos.get(name)
        if info is None:
            _refuse(f"member {name!r} is missing")
        try:
            with self._zip.open(info) as member:
                declared_shape, dtype, fortran, offset = self._npy_header(name, member)
                if callable(shape):
                    shape(declared_shape)
                elif declared_shape != tuple(shape):
                    _refuse(f"member {name!r} holds shape {declared_shape}, expected {tuple(shape)}")
                if dtype.newbyteorder("=").name not in dtypes:
                    _refuse(f"member {name!r} holds dtype {dtype}, expected one of {sorted(dtypes)}")
                nbytes = math.prod(declared_shape) * dtype.itemsize
                if offset + nbytes != info.file_size:
                    _refuse(f"member {name!r}: its header declares {nbytes} bytes of data but the member "
                            f"holds {info.file_size - offset}")
                data = self._read_exactly(name, member, nbytes)
                if member.read(1):   # reaching the end checks the CRC
                    _refuse(f"member {name!r} holds more data than it declares")
        except _CONTAINER_ERRORS as e:
            if isinstance(e, ModelFileError):
                raise
            _refuse(f"member {name!r} is damaged: {type(e).__name__}: {e}")
        array = np.frombuffer(data, dtype=dtype)
        return array.reshape(declared_shape[::-1]).T if fortran else array.reshape(declared_shape)

    def _npy_header(self, name, member):
        """(shape, dtype, fortran_order, data offset) of a .npy member, read without eval or pickle."""
        try:
            return self._parse_npy_header(name, member)
        except ModelFileError:
            raise
        except _NPY_HEADER_ERRORS as e:
            _refuse(f"member {name!r} is not a valid .npy array: {type(e).__name__}: {e}")

    @staticmethod
    def _parse_npy_header(name, member):
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            _refuse(f"member {name!r} declares dtype {dtype}; only plain numeric dtypes are read")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            _refuse(f"member {name!r} declares an invalid shape {shape!r}")
        return tuple(shape), dtype, fortran, member.tell()

    @staticmethod
    def _read_exactly(name, member, nbytes):
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        done = 0
        while done < nbytes:
            chunk = member.read(min(CHUNK_BYTES, nbytes - done))
            if not chunk:
                _refuse(f"member {name!r} is truncated: {done} of {nbytes} data bytes")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        return buffer

    def close(self):
        if self._zip is not None:
            self._zip.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- JSON ------------------------------------------------------------------------------------------------
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')   # a string, or a bracket


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a float")
    return value


def _no_constants(name):
    raise ValueError(f"{name} is not allowed")


def parse_json(text, what):
    """json.loads(text), refusing nesting deeper than MAX_JSON_DEPTH (checked first, on a scan that
    skips strings exactly as JSON does), NaN/Infinity and overflowing numbers; ModelFileError naming
    `what` for anything wrong."""
    depth = 0
    brackets = text.count("[") + text.count("{")
    for token in _JSON_TOKENS.finditer(text) if brackets > MAX_JSON_DEPTH else ():
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                _refuse(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        elif bracket in "]}":
            depth -= 1
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:   # JSONDecodeError and the int digit limit are ValueErrors
        _refuse(f"{what} is not valid JSON: {e}")
