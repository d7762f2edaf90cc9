"""`model.save(path)` / `load_model(path)`, `save_weights` / `load_weights`: files that loading can
never turn into code.

File format (version 1; suggested extension `.nnx`, any path works). The file is an uncompressed ZIP
archive of `.npy` members, exactly what `numpy.savez` writes, read back with `allow_pickle=False`, so
no member can hold a pickle (object arrays are refused by NumPy before any byte is unpickled):

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

Loading validates everything before building anything it cannot trust: the member names, the header's
structure, every class name (nnx layers, `custom_objects`, registered classes, `nnx.optimizers`;
anything else, like 'os.system', is refused), every config (JSON values only, passed as keyword
arguments; bad ones raise ValueError), and every array's shape and dtype against the rebuilt model.
Problems raise ValueError naming the file. Saving is atomic: a temporary file in the same directory,
fsync, then os.replace, so a crash never leaves a half-written model under `path`.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from nnx.models.serialization import Refused as _Refused, deserialize_layer, expect as _expect, \
    serialize_layer
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
    """The archive: the JSON header, then the arrays; a temporary file renamed over `path`."""
    path = os.fspath(path)
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays}
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise ValueError(f"save: array {key} has dtype object, which the format does not allow")

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:   # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# --- loading -------------------------------------------------------------------------------------------
def _read_arrays(path):
    """All members of the archive as arrays; refuses pickles, non-.npy members and non-archives."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            _expect(isinstance(archive, np.lib.npyio.NpzFile), "not an nnx model archive")
            names = archive.files
            return {name: archive[name] for name in names}
    except _Refused:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise _Refused(f"not a readable nnx model archive ({type(e).__name__}: {e})") from e


def _check_array(label, array, spec):
    _expect(isinstance(spec, dict) and isinstance(spec.get("shape"), list) and
            isinstance(spec.get("dtype"), str), f"bad header entry for {label}")
    _expect(list(array.shape) == spec["shape"] and array.dtype.name == spec["dtype"],
            f"{label}: array of shape {array.shape} and dtype {array.dtype} does not match the header "
            f"({spec['shape']}, {spec['dtype']})")


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved by `model.save(path)`, compiled (unless compile=False), with its weights
    and optimizer state. User classes come from `custom_objects` ({name: class}) or the registry
    (nnx.utils.register_serializable). Raises ValueError for anything it cannot validate."""
    try:
        return _load(os.fspath(path), custom_objects, compile)
    except _Refused as e:
        raise ValueError(f"load_model({os.fspath(path)!r}): {e}") from None


def _read_header(path, fmt, fields):
    """(header, arrays) of an archive of format `fmt`, with the header fields of the given types."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file {path!r}")
    arrays = _read_arrays(path)
    _expect("header" in arrays and arrays["header"].dtype == np.uint8 and arrays["header"].ndim == 1,
            "missing or malformed header")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _Refused(f"the header is not valid JSON: {e}") from e
    found = header.get("format") if isinstance(header, dict) else None
    _expect(found == fmt, f"not an {fmt} file (header format field {found!r})")
    _expect(header.get("version") == VERSION,
            f"unsupported format version {header.get('version')!r} (this nnx reads {VERSION})")
    for key, kind in fields:
        _expect(isinstance(header.get(key), kind), f"header field {key!r} missing or malformed")
    return header, arrays


def _weight_values(weights, specs, arrays):
    """The file's weight arrays, checked one by one against the model's weights (count, shape,
    dtype) before anything is set; the first difference is named with its layer."""
    values = []
    for i, spec in enumerate(specs):
        array = arrays[f"weight_{i:05d}"]
        _check_array(f"weight {i}", array, spec)
        _expect(array.dtype.kind == "f", f"weight {i} has non-float dtype {array.dtype}")
        if i >= len(weights):
            _expect(False, f"the file holds {len(specs)} weights but the model has {len(weights)}; the "
                           f"first extra one is '{spec.get('name', '?')}' of shape {tuple(array.shape)}")
        w = weights[i]
        name = getattr(w, "name", "?")
        _expect(array.shape == w.data.shape,
                f"weight {i} (saved as '{spec.get('name', '?')}') has shape {array.shape} in the file "
                f"but the model's weight '{name}' (layer '{name.split('/')[0]}') has shape {w.data.shape}")
        values.append(array)
    if len(weights) > len(specs):
        w = weights[len(specs)]
        _expect(False, f"the model has {len(weights)} weights but the file holds {len(specs)}; the first "
                       f"missing one is '{getattr(w, 'name', '?')}' of shape {w.data.shape}")
    return values


def _load(path, custom_objects, compile):
    header, arrays = _read_header(path, FORMAT, (("model", dict), ("weights", list),
                                                 ("optimizer_state", list)))
    weight_specs, state_specs = header["weights"], header["optimizer_state"]
    expected = ({f"weight_{i:05d}" for i in range(len(weight_specs))} |
                {f"optimizer_{i:05d}" for i in range(len(state_specs))})
    _expect(set(arrays) == expected,
            f"unexpected archive members {sorted(set(arrays) ^ expected)[:10]}")

    model = deserialize_layer(header["model"], custom_objects, base=BaseModel)
    model.set_weights(_weight_values(model.weights, weight_specs, arrays))
    if compile and header.get("compile") is not None:
        _compile(model, header["compile"], state_specs, arrays)
    return model


def load_weights(model, path):
    """Set `model`'s weights from a `save_weights` file; refuses (changing nothing) a file whose
    weights do not match the model's, naming the first layer and the shapes that differ."""
    try:
        if not model.weights and not model.built:
            raise _Refused(f"model '{model.name}' has no weights yet; build it first (call it on "
                           f"data, or give the first layer input_shape=)")
        header, arrays = _read_header(os.fspath(path), WEIGHTS_FORMAT, (("weights", list),))
        specs = header["weights"]
        _expect(set(arrays) == {f"weight_{i:05d}" for i in range(len(specs))},
                "unexpected archive members")
        model.set_weights(_weight_values(model.weights, specs, arrays))
    except _Refused as e:
        raise ValueError(f"load_weights({os.fspath(path)!r}): {e}") from None


def _compile(model, spec, state_specs, arrays):
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
    except _Refused:
        raise
    except (TypeError, ValueError, KeyError) as e:
        raise _Refused(f"cannot restore the compile settings: {e}") from e
    state = {}
    for i, entry in enumerate(state_specs):
        array = arrays[f"optimizer_{i:05d}"]
        _check_array(f"optimizer state {i}", array, entry)
        _expect(isinstance(entry.get("key"), str), "malformed optimizer state key")
        state[entry["key"]] = array
    if state:
        try:   # slots are matched to the weights by index, in model.trainable_weights order
            optimizer.set_state(state)
        except (TypeError, ValueError, KeyError) as e:
            raise _Refused(f"cannot restore the optimizer state: {e}") from e
