"""Smoke tests of benchmarks/train_mnist.py's interleaved driver: a tiny run, then the shape of its
report (the JSON it writes and the lines it prints). PyTorch joins when importable; Keras/TF when
NNX_KERAS_PYTHON names a Python that has tensorflow and keras (e.g. /work/tfenv/bin/python)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "train_mnist.py"
IMAGES, BATCH, ROUNDS = 256, 32, 2


def load_script():
    # as when run as a script: its folder on sys.path, for its sibling kernel_timer.py
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("train_mnist", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_driver(tmp_path, *options, rounds=ROUNDS):
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}         # this checkout's nnx, not the installed one
    done = subprocess.run([sys.executable, str(SCRIPT), "--limit", str(IMAGES), "--test-limit", "1000",
                           "--rounds", str(rounds), "--threads", "1", "--json", str(out), *options],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def check_report(figures, text, others, rounds=ROUNDS):
    steps = IMAGES // BATCH
    assert figures["rounds"] == rounds and figures["images"] == IMAGES
    assert list(figures["frameworks"]) == ["nnx", *others]
    inference_rounds = max(rounds, 3)
    for name, f in figures["frameworks"].items():
        assert len(f["slice_s"]) == rounds and all(s > 0 for s in f["slice_s"]), name
        assert f["epoch_s"] == pytest.approx(sum(f["slice_s"]))
        assert len(f["round_images_per_s"]) == inference_rounds
        assert min(f["round_images_per_s"]) <= f["images_per_s"] <= max(f["round_images_per_s"])
        assert 0.0 <= f["accuracy"] <= 1.0
        assert f"{name}:" in text
    assert list(figures["ratios"]) == list(others)
    ours = figures["frameworks"]["nnx"]
    for name, r in figures["ratios"].items():
        theirs = figures["frameworks"][name]
        assert r["epoch"] == pytest.approx(ours["epoch_s"] / theirs["epoch_s"])
        per_round = sorted(a / b for a, b in zip(ours["slice_s"], theirs["slice_s"]))
        assert r["epoch_rounds"]["min"] == pytest.approx(per_round[0])
        assert r["epoch_rounds"]["max"] == pytest.approx(per_round[-1])
        assert r["inference"] == pytest.approx(ours["images_per_s"] / theirs["images_per_s"])
        assert r["inference_rounds"]["min"] <= r["inference_rounds"]["median"] \
            <= r["inference_rounds"]["max"]
        assert f"ratio nnx / {name}: epoch time {r['epoch']:.2f}x" in text
    assert f"{IMAGES} training images" in text
    if rounds > 1:
        assert f"slices of {steps // rounds} batches (of {steps})" in text
    else:
        assert "each framework trains a whole epoch in turn" in text


def test_slice_bounds_cover_the_epoch_in_near_equal_consecutive_slices():
    slice_bounds = load_script().slice_bounds
    for steps in (2, 7, 40, 1875):
        for rounds in range(1, steps // 2 + 1, max(1, steps // 20)):
            bounds = slice_bounds(steps, rounds)
            assert len(bounds) == rounds and bounds[0][0] == 0 and bounds[-1][1] == steps
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [end - first for first, end in bounds]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 2, (steps, rounds, sizes)


@pytest.mark.parametrize("rounds", [ROUNDS, 1])
def test_driver_nnx_alone(tmp_path, rounds):
    """Keras: not asked for (rounds 1), or asked of a Python without TensorFlow: a note, and the
    run goes on."""
    keras = [] if rounds == 1 else ["--keras-python", sys.executable]
    if keras and importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("this Python has tensorflow: the Keras worker would run")
    figures, text = run_driver(tmp_path, "--no-torch", *keras, rounds=rounds)
    check_report(figures, text, [], rounds)
    assert "PyTorch comparison skipped" not in text             # not asked for: no note
    if keras:
        assert f"Keras/TF comparison skipped: cannot run {sys.executable}" in text
        assert "No module named 'tensorflow'" in text
    else:
        assert "Keras/TF comparison skipped: pass --keras-python" in text
    assert "nnx per-step profile" in text                       # the profile still follows
    assert figures["nnx_fit_setup_s"] > 0


@pytest.mark.slow          # importing torch alone takes seconds; the whole run 25 s on a loaded machine
def test_driver_with_torch(tmp_path):
    pytest.importorskip("torch")
    figures, text = run_driver(tmp_path, "--no-profile")
    check_report(figures, text, ["PyTorch"])


@pytest.mark.slow          # TensorFlow starts in seconds
def test_driver_with_keras(tmp_path):
    keras_python = os.environ.get("NNX_KERAS_PYTHON")
    if not keras_python:
        pytest.skip("set NNX_KERAS_PYTHON to a Python with tensorflow and keras")
    figures, text = run_driver(tmp_path, "--no-profile", "--no-torch", "--keras-python", keras_python)
    check_report(figures, text, ["Keras/TF"])
    assert "first step with tracing" in text


def test_too_many_rounds_is_refused(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--limit", str(IMAGES), "--rounds", "5"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--rounds must be 1 to 4" in done.stderr and "(the epoch has 8)" in done.stderr
