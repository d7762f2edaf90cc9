"""`model.save(path)` / `load_model(path)`: a model file that loading can never turn into code.

File format (version 1; suggested extension `.nnx`, any path works). The file is an uncompressed ZIP
archive of `.npy` members, what `numpy.savez` writes (`numpy.load` reads it), read back by
nnx.models.archive, which parses .npy headers without eval and never unpickles (object dtypes are
refused before any data is read):

    header.npy          uint8 array: the UTF-8 JSON header below
    weight_00000.npy    model weights, in `model.weights` order (Keras order and layout)
    weight_00001.npy    ...
    optimizer_00000.npy optimizer state arrays, in the order of header["optimizer_state"]

The JSON header:

    {"format": "nnx-model", "version": 1,
     "model": {"class_name": "Sequential", "config": {..., "layers": [{"class_name": "Conv2D",
               "config": {...}}, ...]}},
     "weights": [{"name": "conv2d/kernel", "shape": [3, 3, 1, 32], "dtype": "float32"}, ...],
     "compile": null or {"optimizer": {"class_name": "Adam", "config": {...}},
                         "loss": "sparse_categorical_crossentropy" (or {"class_name", "config"}),
                         "metrics": ["accuracy"]},
     "optimizer_state": [{"key": "iterations", "shape": [], "dtype": "int64"}, ...]}

Loading validates everything before building anything it cannot trust: the container and every
member (nnx.models.archive: names, sizes, .npy headers, bounded reads), the header's structure and JSON
nesting, every class name (looked up in `Layer.registry` / `nnx.optimizers`; anything else, like
'os.system', is refused), every config (JSON values only, no size beyond MAX_CONFIG_INT, passed as
keyword arguments), and every array's declared shape and dtype against the rebuilt model before its
data is read. Every problem raises `ModelFileError` (a ValueError) naming the file, the member and the
problem. Saving is atomic (see nnx.models.archive): a crash never leaves a half-written model under
`path`, and a later save to the same path removes the temporary files a killed save left behind.
"""
import json
import math
import os

import numpy as np

from nnx.layers.base import Layer
from nnx.models.archive import ArchiveReader, ModelFileError, parse_json, write_archive
from nnx.models.training import BaseModel

FORMAT, VERSION = "nnx-model", 1


def _json_ready(owner, value):
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"save: {owner} cannot be saved (its configuration is not plain JSON: {e}); "
                         f"use names for activations, initializers, losses and metrics") from e


def _compile_header(model):
    if model.optimizer is None:
        return None, {}
    from nnx import losses, optimizers
    try:
        loss = _json_ready("the loss", losses.serialize(model.loss))
    except ValueError as e:
        raise ValueError(f"save: model '{model.name}' was compiled with a custom loss "
                         f"{model.loss!r}, which cannot be saved by name") from e
    metrics = model.compile_args["metrics"]
    if not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"save: model '{model.name}' has metrics given as objects ({metrics!r}); "
                         f"only metric names can be saved")
    optimizer = model.optimizer
    if getattr(optimizers, type(optimizer).__name__, None) is not type(optimizer):
        raise ValueError(f"save: optimizer {type(optimizer).__name__} is not an nnx.optimizers class")
    header = {"optimizer": {"class_name": type(optimizer).__name__,
                            "config": _json_ready("the optimizer", optimizer.get_config())},
              "loss": loss, "metrics": metrics}
    return header, dict(optimizer.get_state())


def save_model(model, path):
    """Write `model` to `path` atomically (format in the module docstring)."""
    if not isinstance(model, BaseModel):
        raise TypeError(f"save: expected a model, got {type(model).__name__}")
    path = os.fspath(path)
    weights = model.weights
    compile_header, state = _compile_header(model)
    header = {
        "format": FORMAT, "version": VERSION,
        "model": {"class_name": type(model).__name__,
                  "config": _json_ready(f"model '{model.name}'", model.get_config())},
        "weights": [{"name": getattr(w, "name", f"weight_{i}"), "shape": list(w.data.shape),
                     "dtype": w.data.dtype.name} for i, w in enumerate(weights)],
        "compile": compile_header,
        "optimizer_state": [{"key": str(k), "shape": list(np.shape(v)), "dtype": np.asarray(v).dtype.name}
                            for k, v in state.items()],
    }
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    arrays.update({f"weight_{i:05d}": w.data for i, w in enumerate(weights)})
    arrays.update({f"optimizer_{i:05d}": np.asarray(v) for i, v in enumerate(state.values())})
    write_archive(path, arrays)


# --- loading -------------------------------------------------------------------------------------------
MAX_HEADER_BYTES = 2**24     # the JSON header of a model with thousands of layers is well under 1 MiB
MAX_CONFIG_INT = 2**24       # no size in an architecture (units, filters, input axes, ...) is larger
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
STATE_DTYPES = FLOAT_DTYPES | {"int32", "int64"}
# What a layer or optimizer constructor may raise on values it refuses (a hostile file's values included;
# SyntaxError: numpy.dtype parses a string such as 'f4,(' with ast.literal_eval).
_CONFIG_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
                  ZeroDivisionError, MemoryError, SyntaxError)


def _expect(condition, message):
    if not condition:
        raise ModelFileError(message)


def _check_config_sizes(value, where="model"):
    """Refuse any int beyond MAX_CONFIG_INT in an architecture before it can size an allocation."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_config_sizes(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_config_sizes(item, f"{where}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        _expect(abs(value) <= MAX_CONFIG_INT,
                f"the architecture's {where} = {value} is beyond any plausible size (limit {MAX_CONFIG_INT})")


def _layer_from_config(entry, base=Layer):
    _expect(isinstance(entry, dict) and set(entry) == {"class_name", "config"},
            f"a layer entry must be {{'class_name', 'config'}}, got {str(entry)[:200]}")
    name, config = entry["class_name"], entry["config"]
    cls = Layer.registry.get(name) if isinstance(name, str) else None
    _expect(cls is not None and issubclass(cls, base),
            f"unknown layer class {str(name)[:100]!r} (known: {', '.join(sorted(Layer.registry))})")
    _expect(isinstance(config, dict) and all(isinstance(k, str) for k in config),
            f"the config of {name} must be a dict with string keys")
    if issubclass(cls, BaseModel):
        config = dict(config)
        try:
            return cls.from_config(config, layer_from_config=_layer_from_config)
        except ModelFileError:
            raise
        except _CONFIG_ERRORS as e:
            raise ModelFileError(f"cannot rebuild {name} from its config: {e}") from e
    try:
        return cls.from_config(config)
    except _CONFIG_ERRORS as e:
        raise ModelFileError(f"cannot rebuild layer {name} from config {str(config)[:300]}: {e}") from e


def _array_spec(label, spec, dtypes):
    """The (shape, dtype name) a header entry declares, checked."""
    _expect(isinstance(spec, dict) and isinstance(spec.get("shape"), list) and
            all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 2**62 for d in spec["shape"])
            and isinstance(spec.get("dtype"), str) and spec["dtype"] in dtypes,
            f"bad header entry for {label}: {str(spec)[:200]} (expected shape: a list of sizes, "
            f"dtype: one of {sorted(dtypes)})")
    return tuple(spec["shape"]), spec["dtype"]


def _header_shape(shape):
    _expect(len(shape) == 1 and shape[0] <= MAX_HEADER_BYTES,
            f"member 'header.npy' must be a 1-D byte array of at most {MAX_HEADER_BYTES} bytes, "
            f"declares shape {shape}")


def load_model(path, compile=True):
    """Rebuild a model saved by `model.save(path)`, compiled (unless compile=False), with its weights
    and optimizer state. Raises ModelFileError (a ValueError) naming the file, the member and the
    problem for anything it cannot validate; FileNotFoundError / OSError when the file cannot be read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file {path!r}")
    return _load_from(path, compile, f"load_model({path!r})")


def _load_from(source, compile, who):
    """load_model on `source`, a path or a binary file object; `who` prefixes error messages."""
    try:
        with ArchiveReader(source) as archive:
            return _load(archive, compile)
    except ModelFileError as e:
        raise ModelFileError(f"{who}: {e}") from None


def _load(archive, compile):
    _expect("header" in archive.keys, "member 'header.npy' is missing: not an nnx model file")
    raw = archive.read("header", _header_shape, {"uint8"})
    try:
        text = raw.tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"member 'header.npy' is not UTF-8 text: {e}") from None
    header = parse_json(text, "member 'header.npy'")
    _expect(isinstance(header, dict) and header.get("format") == FORMAT,
            "not an nnx model file (header format field)")
    _expect(header.get("version") == VERSION,
            f"unsupported format version {str(header.get('version'))[:40]} (this nnx reads {VERSION})")
    for key, kind in (("model", dict), ("weights", list), ("optimizer_state", list)):
        _expect(isinstance(header.get(key), kind), f"header field {key!r} missing or malformed")
    weight_specs = [_array_spec(f"weight {i}", spec, FLOAT_DTYPES)
                    for i, spec in enumerate(header["weights"])]
    state_specs = header["optimizer_state"]
    expected = ({"header"} | {f"weight_{i:05d}" for i in range(len(weight_specs))} |
                {f"optimizer_{i:05d}" for i in range(len(state_specs))})
    _expect(set(archive.keys) == expected,
            f"unexpected archive members {sorted(set(archive.keys) ^ expected)[:10]}")

    _check_config_sizes(header["model"])
    model = _layer_from_config(header["model"], base=BaseModel)
    weights = model.weights
    _expect(len(weights) == len(weight_specs),
            f"the architecture has {len(weights)} weights but the file holds {len(weight_specs)}")
    values = []
    for i, (w, (shape, dtype)) in enumerate(zip(weights, weight_specs)):
        _expect(shape == w.data.shape,
                f"weight {i} ({getattr(w, 'name', '?')}) has shape {shape} in the file but the "
                f"architecture needs {w.data.shape}")
        values.append(archive.read(f"weight_{i:05d}", shape, {dtype}))
    model.set_weights(values)

    if compile and header.get("compile") is not None:
        _compile(model, header["compile"], state_specs, archive)
    return model


def _compile(model, spec, state_specs, archive):
    from nnx import losses, optimizers
    _expect(isinstance(spec, dict) and isinstance(spec.get("optimizer"), dict),
            "malformed compile settings")
    opt = spec["optimizer"]
    name, config = opt.get("class_name"), opt.get("config")
    cls = getattr(optimizers, name, None) if isinstance(name, str) and name.isidentifier() else None
    _expect(isinstance(cls, type) and hasattr(cls, "apply_gradients") and hasattr(cls, "from_config"),
            f"unknown optimizer class {str(name)[:100]!r}")
    _expect(isinstance(config, dict), "malformed optimizer config")
    loss_id, metrics = spec.get("loss"), spec.get("metrics", [])
    _expect(isinstance(loss_id, str) or
            (isinstance(loss_id, dict) and set(loss_id) == {"class_name", "config"}),
            "the loss must be saved as a name or {'class_name', 'config'}")
    _expect(isinstance(metrics, list) and all(isinstance(m, str) for m in metrics),
            "metrics must be saved as names")
    try:
        optimizer = cls.from_config(config)
        model.compile(optimizer=optimizer, loss=losses.get(loss_id), metrics=metrics)
    except _CONFIG_ERRORS as e:
        raise ModelFileError(f"cannot restore the compile settings: {e}") from e
    state = {}
    largest = max([w.data.size for w in model.weights] + [1])
    for i, entry in enumerate(state_specs):
        shape, dtype = _array_spec(f"optimizer state {i}", entry, STATE_DTYPES)
        _expect(isinstance(entry.get("key"), str), "malformed optimizer state key")
        _expect(math.prod(shape) <= largest,   # a slot mirrors a weight, so it is never larger
                f"optimizer state {i} declares shape {shape}, larger than any weight of the model")
        state[entry["key"]] = archive.read(f"optimizer_{i:05d}", shape, {dtype})
    if state:
        try:   # slots are matched to the weights by index, in model.trainable_weights order
            optimizer.set_state(state)
        except _CONFIG_ERRORS as e:
            raise ModelFileError(f"cannot restore the optimizer state: {e}") from e
