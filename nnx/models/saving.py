"""`model.save(path)` / `load_model(path)`: a model file that loading can never turn into code.

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
               "config": {...}}, ...]}},
     "weights": [{"name": "conv2d/kernel", "shape": [3, 3, 1, 32], "dtype": "float32"}, ...],
     "compile": null or {"optimizer": {"class_name": "Adam", "config": {...}},
                         "loss": "sparse_categorical_crossentropy" (or {"class_name", "config"}),
                         "metrics": ["accuracy"]},
     "optimizer_state": [{"key": "iterations", "shape": [], "dtype": "int64"}, ...]}

Loading validates everything before building anything it cannot trust: the member names, the header's
structure, every class name (looked up in `Layer.registry` / `nnx.optimizers`; anything else, like
'os.system', is refused), every config (JSON values only, passed as keyword arguments; bad ones raise
ValueError), and every array's shape and dtype against the rebuilt model. Problems raise ValueError
naming the file. Saving is atomic: a temporary file in the same directory, fsync, then os.replace, so a
crash never leaves a half-written model under `path`.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from nnx.layers.base import Layer
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
class _Refused(ValueError):
    pass


def _expect(condition, message):
    if not condition:
        raise _Refused(message)


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
        except _Refused:
            raise
        except (TypeError, ValueError, KeyError) as e:
            raise _Refused(f"cannot rebuild {name} from its config: {e}") from e
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, KeyError) as e:
        raise _Refused(f"cannot rebuild layer {name} from config {str(config)[:300]}: {e}") from e


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


def load_model(path, compile=True):
    """Rebuild a model saved by `model.save(path)`, compiled (unless compile=False), with its weights
    and optimizer state. Raises ValueError for anything it cannot validate."""
    try:
        return _load(os.fspath(path), compile)
    except _Refused as e:
        raise ValueError(f"load_model({os.fspath(path)!r}): {e}") from None


def _load(path, compile):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no such file {path!r}")
    arrays = _read_arrays(path)
    _expect("header" in arrays and arrays["header"].dtype == np.uint8 and arrays["header"].ndim == 1,
            "missing or malformed header")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _Refused(f"the header is not valid JSON: {e}") from e
    _expect(isinstance(header, dict) and header.get("format") == FORMAT,
            "not an nnx model file (header format field)")
    _expect(header.get("version") == VERSION,
            f"unsupported format version {header.get('version')!r} (this nnx reads {VERSION})")
    for key, kind in (("model", dict), ("weights", list), ("optimizer_state", list)):
        _expect(isinstance(header.get(key), kind), f"header field {key!r} missing or malformed")
    weight_specs, state_specs = header["weights"], header["optimizer_state"]
    expected = ({f"weight_{i:05d}" for i in range(len(weight_specs))} |
                {f"optimizer_{i:05d}" for i in range(len(state_specs))})
    _expect(set(arrays) == expected,
            f"unexpected archive members {sorted(set(arrays) ^ expected)[:10]}")

    model = _layer_from_config(header["model"], base=BaseModel)
    weights = model.weights
    _expect(len(weights) == len(weight_specs),
            f"the architecture has {len(weights)} weights but the file holds {len(weight_specs)}")
    values = []
    for i, (w, spec) in enumerate(zip(weights, weight_specs)):
        array = arrays[f"weight_{i:05d}"]
        _check_array(f"weight {i} ({getattr(w, 'name', '?')})", array, spec)
        _expect(array.shape == w.data.shape,
                f"weight {i} ({getattr(w, 'name', '?')}) has shape {array.shape} in the file but the "
                f"architecture needs {w.data.shape}")
        _expect(array.dtype.kind == "f", f"weight {i} has non-float dtype {array.dtype}")
        values.append(array)
    model.set_weights(values)

    if compile and header.get("compile") is not None:
        _compile(model, header["compile"], state_specs, arrays)
    return model


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
    loss_id, metrics = spec.get("loss"), spec.get("metrics", [])
    _expect(isinstance(loss_id, str) or
            (isinstance(loss_id, dict) and set(loss_id) == {"class_name", "config"}),
            "the loss must be saved as a name or {'class_name', 'config'}")
    _expect(isinstance(metrics, list) and all(isinstance(m, str) for m in metrics),
            "metrics must be saved as names")
    try:
        optimizer = cls.from_config(config)
        model.compile(optimizer=optimizer, loss=losses.get(loss_id), metrics=metrics)
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
