"""`model.save(path)` / `load_model(path)`, `save_weights` / `load_weights`: files that loading can
never turn into code.

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
               "config": {...}}, ...]}}   (nnx.models.serialization: also functional graphs and
               user classes by registered name),
     "weights": [{"name": "conv2d/kernel", "shape": [3, 3, 1, 32], "dtype": "float32"}, ...],
     "compile": null or {"optimizer": {"class_name": "Adam", "config": {...}},
                         "loss": "sparse_categorical_crossentropy" (or {"class_name", "config"};
                                 a list or dict of them, by output, for several outputs),
                         "loss_weights": null, a list or a dict, "metrics": ["accuracy"] (or per output)},
     "optimizer_state": [{"key": "iterations", "shape": [], "dtype": "int64"}, ...]}

A weights file (`save_weights`) is the same archive with `"format": "nnx-weights"` and no model,
compile or optimizer entries.

Loading validates everything before building anything it cannot trust: the container and every
member (nnx.models.archive: names, sizes, .npy headers, bounded reads), the header's structure and JSON
nesting, every class name (nnx layers, `custom_objects`, registered classes, `nnx.optimizers`;
anything else, like 'os.system', is refused), every config (JSON values only, no size beyond
MAX_CONFIG_INT, passed as keyword arguments), and every array's declared shape and dtype against the
rebuilt model before its data is read. Every problem raises `ModelFileError` (a ValueError) naming the
file, the member and the problem. Saving is atomic (see nnx.models.archive): a crash never leaves a
half-written model under `path`, and a later save to the same path removes the temporary files a
killed save left behind.
"""
import json
import math
import os

import numpy as np

from nnx.models.archive import ArchiveReader, ModelFileError, parse_json, write_archive
from nnx.models.serialization import CONFIG_ERRORS, deserialize_layer, expect as _expect, serialize_layer
from nnx.models.training import BaseModel

FORMAT, WEIGHTS_FORMAT, VERSION = "nnx-model", "nnx-weights", 1


def _json_ready(owner, value):
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"save: {owner} cannot be saved (its configuration is not plain JSON: {e}); "
                         f"use names for activations, initializers, losses and metrics") from e


def _map_leaves(value, fn):
    """Apply `fn` to each loss / metric in a compile argument (one, a list, or a dict by output)."""
    if isinstance(value, dict):
        return {k: _map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_leaves(v, fn) for v in value]
    return None if value is None else fn(value)


def _compile_header(model):
    if model.optimizer is None:
        return None, {}
    from nnx import losses, optimizers

    def loss_entry(loss):
        try:
            return _json_ready("the loss", losses.serialize(loss))
        except ValueError as e:
            raise ValueError(f"save: model '{model.name}' was compiled with a custom loss "
                             f"{loss!r}, which cannot be saved by name") from e

    def metric_entry(metric):
        if not isinstance(metric, str):
            raise ValueError(f"save: model '{model.name}' has a metric given as an object "
                             f"({metric!r}); only metric names can be saved")
        return metric

    args = model.compile_args
    optimizer = model.optimizer
    if getattr(optimizers, type(optimizer).__name__, None) is not type(optimizer):
        raise ValueError(f"save: optimizer {type(optimizer).__name__} is not an nnx.optimizers class")
    header = {"optimizer": {"class_name": type(optimizer).__name__,
                            "config": _json_ready("the optimizer", optimizer.get_config())},
              "loss": _map_leaves(args["loss"], loss_entry),
              "loss_weights": _json_ready("loss_weights", args["loss_weights"]),
              "metrics": _map_leaves(args["metrics"], metric_entry)}
    return header, dict(optimizer.get_state())


def save_model(model, path):
    """Write `model` to `path` atomically (format in the module docstring)."""
    if not isinstance(model, BaseModel):
        raise TypeError(f"save: expected a model, got {type(model).__name__}")
    weights = model.weights
    compile_header, state = _compile_header(model)
    header = {
        "format": FORMAT, "version": VERSION,
        "model": _json_ready(f"model '{model.name}'", serialize_layer(model)),
        "weights": _weight_specs(weights),
        "compile": compile_header,
        "optimizer_state": [{"key": str(k), "shape": list(np.shape(v)), "dtype": np.asarray(v).dtype.name}
                            for k, v in state.items()],
    }
    arrays = {f"weight_{i:05d}": w.data for i, w in enumerate(weights)}
    arrays.update({f"optimizer_{i:05d}": np.asarray(v) for i, v in enumerate(state.values())})
    _write_archive(path, header, arrays)


def save_weights(model, path):
    """Write the model's weights alone (in `model.weights` order) atomically."""
    if not isinstance(model, BaseModel):
        raise TypeError(f"save_weights: expected a model, got {type(model).__name__}")
    weights = model.weights
    header = {"format": WEIGHTS_FORMAT, "version": VERSION, "weights": _weight_specs(weights)}
    _write_archive(path, header, {f"weight_{i:05d}": w.data for i, w in enumerate(weights)})


def _weight_specs(weights):
    return [{"name": getattr(w, "name", f"weight_{i}"), "shape": list(w.data.shape),
             "dtype": w.data.dtype.name} for i, w in enumerate(weights)]


def _write_archive(path, header, arrays):
    """The archive: the JSON header, then the arrays, written atomically by nnx.models.archive."""
    header_bytes = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    write_archive(os.fspath(path), {"header": header_bytes, **arrays})


# --- loading -------------------------------------------------------------------------------------------
MAX_HEADER_BYTES = 2**24     # the JSON header of a model with thousands of layers is well under 1 MiB
MAX_CONFIG_INT = 2**24       # no size in an architecture (units, filters, input axes, ...) is larger
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
STATE_DTYPES = FLOAT_DTYPES | {"int32", "int64"}


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


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved by `model.save(path)`, compiled (unless compile=False), with its weights
    and optimizer state. User classes come from `custom_objects` ({name: class}) or the registry
    (nnx.utils.register_serializable). Raises ModelFileError (a ValueError) naming the file, the
    member and the problem for anything it cannot validate; FileNotFoundError / OSError when the file
    cannot be read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file {path!r}")
    return _load_from(path, custom_objects, compile, f"load_model({path!r})")


def _load_from(source, custom_objects, compile, who):
    """load_model on `source`, a path or a binary file object; `who` prefixes error messages."""
    try:
        with ArchiveReader(source) as archive:
            return _load(archive, custom_objects, compile)
    except ModelFileError as e:
        raise ModelFileError(f"{who}: {e}") from None


def _read_header(archive, fmt, fields):
    """The archive's JSON header, of format `fmt`, with the header fields of the given types."""
    _expect("header" in archive.keys, f"member 'header.npy' is missing: not an {fmt} file")
    raw = archive.read("header", _header_shape, {"uint8"})
    try:
        text = raw.tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"member 'header.npy' is not UTF-8 text: {e}") from None
    header = parse_json(text, "member 'header.npy'")
    found = header.get("format") if isinstance(header, dict) else None
    _expect(found == fmt, f"not an {fmt} file (header format field {str(found)[:40]!r})")
    _expect(header.get("version") == VERSION,
            f"unsupported format version {str(header.get('version'))[:40]} (this nnx reads {VERSION})")
    for key, kind in fields:
        _expect(isinstance(header.get(key), kind), f"header field {key!r} missing or malformed")
    return header


def _weight_values(weights, specs, archive):
    """The file's weight arrays, each declared shape checked against the model's weight (the first
    difference named with its layer) before any data is read; nothing is set here."""
    declared = [_array_spec(f"weight {i}", spec, FLOAT_DTYPES) for i, spec in enumerate(specs)]
    for i, (w, (shape, _)) in enumerate(zip(weights, declared)):
        name = getattr(w, "name", "?")
        _expect(shape == w.data.shape,
                f"weight {i} (saved as '{str(specs[i].get('name', '?'))[:100]}') has shape {shape} in "
                f"the file but the model's weight '{name}' (layer '{name.split('/')[0]}') has shape "
                f"{w.data.shape}")
    if len(declared) > len(weights):
        spec = specs[len(weights)]
        _expect(False, f"the file holds {len(specs)} weights but the model has {len(weights)}; the "
                       f"first extra one is '{str(spec.get('name', '?'))[:100]}' of shape "
                       f"{declared[len(weights)][0]}")
    if len(weights) > len(declared):
        w = weights[len(declared)]
        _expect(False, f"the model has {len(weights)} weights but the file holds {len(specs)}; the first "
                       f"missing one is '{getattr(w, 'name', '?')}' of shape {w.data.shape}")
    return [archive.read(f"weight_{i:05d}", shape, {dtype}) for i, (shape, dtype) in enumerate(declared)]


def _load(archive, custom_objects, compile):
    header = _read_header(archive, FORMAT, (("model", dict), ("weights", list), ("optimizer_state", list)))
    weight_specs, state_specs = header["weights"], header["optimizer_state"]
    expected = ({"header"} | {f"weight_{i:05d}" for i in range(len(weight_specs))} |
                {f"optimizer_{i:05d}" for i in range(len(state_specs))})
    _expect(set(archive.keys) == expected,
            f"unexpected archive members {sorted(set(archive.keys) ^ expected)[:10]}")
    _check_config_sizes(header["model"])
    model = deserialize_layer(header["model"], custom_objects, base=BaseModel)
    model.set_weights(_weight_values(model.weights, weight_specs, archive))
    if compile and header.get("compile") is not None:
        _compile(model, header["compile"], state_specs, archive)
    return model


def load_weights(model, path):
    """Set `model`'s weights from a `save_weights` file; refuses (changing nothing) a file whose
    weights do not match the model's, naming the first layer and the shapes that differ."""
    who = f"load_weights({os.fspath(path)!r})"
    if not model.weights and not model.built:
        raise ModelFileError(f"{who}: model '{model.name}' has no weights yet; build it first (call it "
                             f"on data, or give the first layer input_shape=)")
    if not os.path.isfile(os.fspath(path)):
        raise FileNotFoundError(f"{who}: no such file")
    try:
        with ArchiveReader(os.fspath(path)) as archive:
            header = _read_header(archive, WEIGHTS_FORMAT, (("weights", list),))
            specs = header["weights"]
            _expect(set(archive.keys) == {"header"} | {f"weight_{i:05d}" for i in range(len(specs))},
                    "unexpected archive members")
            model.set_weights(_weight_values(model.weights, specs, archive))
    except ModelFileError as e:
        raise ModelFileError(f"{who}: {e}") from None


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

    def loss_of(entry):
        _expect(isinstance(entry, str) or
                (isinstance(entry, dict) and set(entry) == {"class_name", "config"}),
                "the loss must be saved as a name or {'class_name', 'config'}")
        return losses.get(entry)

    def metric_of(entry):
        _expect(isinstance(entry, str), "metrics must be saved as names")
        return entry

    loss_id = spec.get("loss")
    try:
        if isinstance(loss_id, dict) and set(loss_id) == {"class_name", "config"}:
            loss = loss_of(loss_id)    # one loss object, not a dict by output
        else:
            loss = _map_leaves(loss_id, loss_of)
        optimizer = cls.from_config(config)
        model.compile(optimizer=optimizer, loss=loss, loss_weights=spec.get("loss_weights"),
                      metrics=_map_leaves(spec.get("metrics", []), metric_of))
    except ModelFileError:
        raise
    except CONFIG_ERRORS as e:
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
        except CONFIG_ERRORS as e:
            raise ModelFileError(f"cannot restore the optimizer state: {e}") from e
