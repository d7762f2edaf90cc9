"""save / load_model: bit-exact round trips, continued training, atomic writes, and files crafted to
attack the loader (pickles, foreign class names, wrong shapes) refused with ModelFileError without
executing anything (tests/test_model_files.py holds the full corpus of crafted files)."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import nnx
from nnx.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from nnx.models import ModelFileError, Sequential, load_model


def small_cnn(seed=0):
    nnx.manual_seed(seed)
    model = Sequential([Input((8, 8, 1)), Conv2D(4, 3, activation="relu", padding="same"),
                        MaxPooling2D(), BatchNormalization(), Flatten(), Dropout(0.2),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=nnx.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_round_trip_is_bit_exact_and_training_continues_identically(tmp_path):
    x, y = data()
    model = small_cnn()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.nnx"
    model.save(path)
    loaded = load_model(path)

    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.optimizer) is nnx.optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.compile_args["metrics"] == ["accuracy"]
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)

    # continuing from the file is the same as continuing in memory (optimizer moments included)
    nnx.manual_seed(7)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    nnx.manual_seed(7)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 9
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uncompiled_and_float64_models(tmp_path):
    model = Sequential([Dense(3, input_shape=(2,), dtype="float64"), Dense(1, dtype="float64")])
    path = tmp_path / "m"
    model.save(path)                                  # any path works, no extension added
    loaded = load_model(path)
    assert loaded.optimizer is None and loaded.dtype == np.float64
    x = np.random.default_rng(0).random((4, 2))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert load_model(path, compile=False).optimizer is None


def test_save_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "m.nnx"
    path.write_bytes(b"old contents")
    model = small_cnn()
    model.build_for((None, 8, 8, 1))
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["m.nnx"]  # no temporary file left behind
    assert zipfile.is_zipfile(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        header = json.loads(np.load(io.BytesIO(z.read("header.npy"))).tobytes())
    assert header["format"] == "nnx-model" and header["version"] == 1
    assert names[0] == "header.npy" and all(n.endswith(".npy") for n in names)
    assert header["model"]["config"]["layers"][0]["class_name"] == "Conv2D"


def test_custom_objects_cannot_be_saved(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,), activation=lambda t: t * 2)])
    with pytest.raises(ValueError, match="Dense 'dense.*custom activation"):
        model.save(tmp_path / "m.nnx")
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile("adam", loss=lambda y_true, y_pred: (y_pred - y_true).square().mean())
    with pytest.raises(ValueError, match="custom loss"):
        model.save(tmp_path / "m.nnx")
    assert not (tmp_path / "m.nnx").exists()


# --- crafted files --------------------------------------------------------------------------------------
def write_archive(path, header, arrays):
    members = {"header": np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays}
    with open(path, "wb") as f:
        np.savez(f, **members)


def valid_parts(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,), activation="relu")])
    model.compile("sgd", "mse")
    path = tmp_path / "good.nnx"
    model.save(path)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays.pop("header").tobytes())
    return header, arrays


class Exploit:
    """Unpickling this creates a marker file: proof that code ran."""
    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_payloads_are_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    Exploit.marker = str(marker)
    # 1. a raw pickle instead of an archive
    raw = tmp_path / "raw.nnx"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelFileError, match="load_model"):
        load_model(raw)
    # 2. an object array (a pickle) inside an otherwise valid archive
    header, arrays = valid_parts(tmp_path)
    with open(tmp_path / "obj.nnx", "wb") as f:
        np.savez(f, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                 weight_00000=np.array([Exploit()], dtype=object), weight_00001=arrays["weight_00001"])
    with pytest.raises(ModelFileError, match="load_model"):
        load_model(tmp_path / "obj.nnx")
    # 3. the header itself as a pickled object
    with open(tmp_path / "hdr.nnx", "wb") as f:
        np.savez(f, header=np.array([Exploit()], dtype=object), **arrays)
    with pytest.raises(ModelFileError, match="load_model"):
        load_model(tmp_path / "hdr.nnx")
    assert not marker.exists()


@pytest.mark.parametrize("mutate,message", [
    (lambda h, a: h["model"]["config"]["layers"][0].__setitem__("class_name", "os.system"),
     "unknown layer class 'os.system'"),
    (lambda h, a: h["model"].__setitem__("class_name", "Dense"), "unknown layer class 'Dense'"),
    (lambda h, a: h["model"]["config"]["layers"][0]["config"].__setitem__("activation", "os.system"),
     "activation"),
    (lambda h, a: h["model"]["config"]["layers"][0]["config"].__setitem__("__init__", 1), "Dense"),
    (lambda h, a: h["compile"]["optimizer"].__setitem__("class_name", "__builtins__"), "optimizer"),
    (lambda h, a: h["compile"].__setitem__("loss", "eval"), "loss"),
    (lambda h, a: a.__setitem__("weight_00000", np.zeros((2, 3), np.float32)), "shape"),
    (lambda h, a: (a.__setitem__("weight_00000", np.zeros((4, 2), np.float32)),
                   h["weights"][0].__setitem__("shape", [4, 2])), r"\(4, 2\).*\(3, 2\)"),
    (lambda h, a: a.__setitem__("extra", np.zeros(1)), "unexpected archive members"),
    (lambda h, a: a.pop("weight_00001"), "unexpected archive members"),
    (lambda h, a: h.__setitem__("version", 99), "version"),
    (lambda h, a: h.__setitem__("format", "other"), "format"),
    (lambda h, a: h["weights"].pop(), "unexpected archive members"),
])
def test_crafted_files_are_refused(tmp_path, mutate, message):
    header, arrays = valid_parts(tmp_path)
    mutate(header, arrays)
    path = tmp_path / "bad.nnx"
    write_archive(path, header, arrays)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_garbage_files_are_refused(tmp_path):
    for content in (b"", b"not a zip at all", b"PK\x03\x04broken"):
        path = tmp_path / "garbage.nnx"
        path.write_bytes(content)
        with pytest.raises(ModelFileError, match="load_model"):
            load_model(path)
    header, arrays = valid_parts(tmp_path)
    with open(tmp_path / "json.nnx", "wb") as f:
        np.savez(f, header=np.frombuffer(b"{not json", np.uint8), **arrays)
    with pytest.raises(ModelFileError, match="JSON"):
        load_model(tmp_path / "json.nnx")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.nnx")


# --- every model kind ------------------------------------------------------------------------------------
from nnx.layers import Add, Concatenate, Layer  # noqa: E402
from nnx.models import Functional, Model, model_from_json  # noqa: E402
from nnx.utils import register_serializable  # noqa: E402


def functional_two_branch(seed=0):
    """A residual branch, a layer shared by two call sites, BatchNormalization statistics."""
    nnx.manual_seed(seed)
    inp = Input((8, 8, 1), name="image")
    x = Conv2D(4, 3, padding="same", activation="relu", name="conv2d_1")(inp)
    y = Conv2D(4, 3, padding="same", name="branch")(x)
    x = MaxPooling2D()(Add()([x, y]))
    shared = Dense(6, activation="relu", name="shared")
    h = Concatenate()([shared(Dense(32)(Flatten()(x))), shared(Dense(32)(Flatten()(inp)))])
    out = Dense(3, activation="softmax", name="classes")(BatchNormalization()(h))
    return Model(inp, out, name="two_branch")


@register_serializable(package="Tests")
class Residual(Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = [Dense(units, activation="relu"), Dense(units)]

    def call(self, x, training=False):
        h = x
        for layer in self.inner:
            h = layer(h)
        return x + h

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register_serializable(package="Tests")
class Classifier(Model):
    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.stem = Dense(units, activation="relu")
        self.blocks = {"one": Residual(units), "two": Residual(units)}
        self.head = Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.head(self.blocks["two"](self.blocks["one"](self.stem(x))))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Unregistered(Classifier):
    pass


def flat_data(n=48, seed=0):
    x, y = data(n, seed)
    return x.reshape(n, -1), y


def check_round_trip_and_continued_training(model, x, y, path, **load_args):
    model.compile(optimizer=nnx.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(path)
    loaded = load_model(path, **load_args)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    nnx.manual_seed(7)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    nnx.manual_seed(7)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    return loaded


def test_functional_round_trip_and_continued_training(tmp_path):
    x, y = data()
    model = functional_two_branch()
    loaded = check_round_trip_and_continued_training(model, x, y, tmp_path / "f.nnx")
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert len(loaded.get_layer("shared").inbound_nodes) == 2 and len(loaded.weights) == len(model.weights)
    features = Model(loaded.inputs, loaded.get_layer("conv2d_1").output)
    assert features.predict(x, verbose=0).shape == (48, 8, 8, 4)


def test_subclassed_round_trip_by_registered_name_and_custom_objects(tmp_path):
    x, y = flat_data()
    loaded = check_round_trip_and_continued_training(Classifier(units=8), x, y, tmp_path / "s.nnx")
    assert loaded.units == 8 and len(loaded.weights) == 12
    with zipfile.ZipFile(tmp_path / "s.nnx") as z:
        header = json.loads(np.load(io.BytesIO(z.read("header.npy"))).tobytes())
    assert header["model"]["registered_name"] == "Tests>Classifier"
    assert header["model"]["build_config"] == {"input_shape": [None, 64]}

    model = Unregistered(units=4)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "u.nnx")
    with pytest.raises(ValueError, match=r"unknown layer class 'Unregistered'.*custom_objects"):
        load_model(tmp_path / "u.nnx")
    loaded = load_model(tmp_path / "u.nnx", custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_custom_layer_inside_sequential_saves_by_registered_name(tmp_path):
    x, y = flat_data()
    model = Sequential([Input((64,)), Residual(64), Dense(3, activation="softmax")])
    check_round_trip_and_continued_training(model, x, y, tmp_path / "q.nnx")


def test_user_layer_without_get_config_cannot_be_saved(tmp_path):
    class NoConfig(Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, x):
            return x

    model = Sequential([Input((3,)), NoConfig(2)])
    with pytest.raises(ValueError, match=r"NoConfig 'no_config.*\['units'\].*get_config"):
        model.save(tmp_path / "n.nnx")
    assert not (tmp_path / "n.nnx").exists()


def test_save_weights_and_load_weights(tmp_path):
    x, _ = data()
    model = functional_two_branch(seed=0)
    path = tmp_path / "w.nnx"
    model.save_weights(path)
    other = functional_two_branch(seed=1)
    assert not np.array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with zipfile.ZipFile(path) as z:
        header = json.loads(np.load(io.BytesIO(z.read("header.npy"))).tobytes())
    assert header["format"] == "nnx-weights" and set(header) == {"format", "version", "weights"}

    # a different architecture is refused, naming the first layer and shapes that differ; nothing changes
    nnx.manual_seed(2)
    inp = Input((8, 8, 1))
    wrong = Model(inp, Dense(3)(Flatten()(Conv2D(5, 3, padding="same", name="wide")(inp))))
    before = wrong.get_weights()
    with pytest.raises(ValueError, match=r"load_weights.*\(3, 3, 1, 4\) in the file.*'wide/kernel' "
                                         r"\(layer 'wide'\) has shape \(3, 3, 1, 5\)"):
        wrong.load_weights(path)
    for a, b in zip(wrong.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    short = Sequential([Dense(4, input_shape=(3,))])
    with pytest.raises(ValueError, match="load_weights"):
        short.load_weights(path)
    with pytest.raises(ValueError, match="not an nnx-weights file"):
        load_weights_from_model_file = Sequential([Dense(2, input_shape=(3,))])
        load_weights_from_model_file.save(tmp_path / "model.nnx")
        load_weights_from_model_file.load_weights(tmp_path / "model.nnx")


def test_to_json_and_model_from_json():
    model = functional_two_branch()
    rebuilt = model_from_json(model.to_json())
    assert type(rebuilt) is Functional
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    assert rebuilt.optimizer is None
    assert json.loads(rebuilt.to_json()) == json.loads(model.to_json())
    sub = model_from_json(Classifier(units=5).to_json())
    assert isinstance(sub, Classifier) and sub.units == 5 and not sub.weights   # never built
    with pytest.raises(ValueError, match="model_from_json: not valid JSON"):
        model_from_json("{")
    with pytest.raises(ValueError, match="unknown layer class 'os.system'"):
        model_from_json(json.dumps({"class_name": "os.system", "config": {}}))


def test_nested_and_shared_models_round_trip(tmp_path):
    nnx.manual_seed(0)
    inner = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    x = Input((3,))
    branch = Model(x, Dense(2, name="tail")(x), name="branch")
    inp = Input((3,))
    outer = Model(inp, Concatenate()([inner(inp), branch(inp), branch(inp)]))   # branch called twice
    outer.save(tmp_path / "nested.nnx")
    loaded = load_model(tmp_path / "nested.nnx")
    data = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), outer.predict(data, verbose=0))
    assert [type(l).__name__ for l in loaded.layers] == ["InputLayer", "Sequential", "Functional", "Concatenate"]
    assert len(loaded.weights) == 6 and len(loaded.get_layer("branch").inbound_nodes) == 2
