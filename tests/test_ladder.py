"""`python -m nnx.ladder`: the learner's table of rungs, on tiny sizes (the hidden --quick option), and
the multiply-add peak it measures (csrc/peak.c, `nnx.kernels.fma_peak`)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nnx.kernels
from nnx import ladder
from nnx._C import _native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = {"gemm": "| rung | GFLOP/s | x numpy | x torch | % of peak |",
          "conv": "| rung | GFLOP/s | x numpy | x torch | % of peak |",
          "pool": "| rung | GB/s | x numpy | x torch | % of peak |"}


def expected_rungs(family):
    """The rungs info() lists, or the single compiled kernel where the family has none."""
    return list(nnx.kernels.info().get(f"{family}_rungs") or ["compiled"])


def run_command(*args):
    return subprocess.run([sys.executable, "-m", "nnx.ladder", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def table_rows(output):
    """{row name: [cells]} of the Markdown table in the command's output."""
    lines = [line for line in output.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                               for line in lines[1:])}


@pytest.mark.parametrize("family, threads", [("gemm", "1"), ("conv", None), ("pool", None)])
def test_command_prints_one_row_per_rung_and_numpy(family, threads):
    result = run_command(family, "--quick", "--no-torch", *(["--threads", threads] if threads else []))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert HEADER[family] in out
    for label in ("CPU:", "SIMD:", "threads:", "peak:"):
        assert label in out, label
    simd = nnx.kernels.info()["simd"]
    if family == "pool":
        assert "estimated as the best GB/s of a NumPy copy" in out
    else:
        assert f"the float32 multiply-add peak of the {simd} path on " in out
        assert "measured by csrc/peak.c" in out
    if threads:  # the command restarted itself with NumPy's BLAS on the same threads
        assert f"threads: {threads} " in out and f"NumPy's BLAS: {threads} (" in out
        assert f"path on {threads} thread" in out
    rows = table_rows(out)
    assert list(rows) == expected_rungs(family) + ["numpy"]
    for name, (rate, vs_numpy, vs_torch, share) in rows.items():
        assert float(rate) > 0, name
        assert float(vs_numpy) > 0 and vs_torch == "-" and share.endswith("%"), name
    assert rows["numpy"][1] == "1.00"


def test_run_times_pytorch_when_it_is_installed():
    pytest.importorskip("torch")
    result = ladder.run("gemm", quick=True, repeats=2, budget_s=0.05)
    rows = {row.name: row for row in result.rows}
    assert list(rows) == expected_rungs("gemm") + ["numpy", "torch"]
    assert rows["torch"].vs_torch == 1.0
    assert all(row.vs_torch > 0 for row in result.rows)


def test_ratios_and_shares_are_the_rates_divided():
    result = ladder.run("pool", quick=True, with_torch=False, repeats=2, budget_s=0.05)
    numpy_rate = next(row.rate for row in result.rows if row.name == "numpy")
    for row in result.rows:
        assert row.vs_numpy == pytest.approx(row.rate / numpy_rate)
        assert row.share_of_peak == pytest.approx(row.rate / result.peak)
        assert row.vs_torch is None


def test_unknown_family_is_refused_clearly():
    result = run_command("fft", "--quick")
    assert result.returncode == 2
    assert "invalid choice: 'fft'" in result.stderr and "gemm" in result.stderr
    with pytest.raises(ValueError, match="unknown family 'fft'; choose one of gemm, conv, pool"):
        ladder.run("fft")


def test_bad_thread_count_is_refused():
    result = run_command("gemm", "--threads", "0")
    assert result.returncode == 2 and "--threads must be at least 1" in result.stderr


def test_a_rung_that_disagrees_with_the_reference_is_refused():
    problem = ladder.gemm_problem(quick=True)
    good = problem.reference(*problem.inputs)
    ladder.check_result(problem, "naive", good + np.float32(1e-6) * good, good)  # rounding passes
    wrong = good.copy()
    wrong[3, 5] += 1.0
    with pytest.raises(RuntimeError, match="gemm rung 'naive' disagrees"):
        ladder.check_result(problem, "naive", wrong, good)
    pool = ladder.pool_problem(quick=True)
    y, argmax = pool.reference(*pool.inputs)
    with pytest.raises(RuntimeError, match="pool rung 'compiled' disagrees"):
        ladder.check_result(pool, "compiled", (np.nextafter(y, np.inf), argmax), (y, argmax))


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    result = ladder.run("conv", quick=True, with_torch=False, repeats=2, budget_s=0.05)
    path = tmp_path / "conv.png"
    ladder.plot_ladder(result, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["conv.png"]  # no temporary file left behind


def test_plot_without_matplotlib_is_refused_before_timing(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    message = "--plot needs matplotlib; install it with `pip install matplotlib`"
    with pytest.raises(SystemExit, match=message):
        ladder.pyplot()
    with pytest.raises(SystemExit, match=message):
        ladder.main(["gemm", "--quick", "--no-torch", "--plot", str(tmp_path / "gemm.png")])
    assert capsys.readouterr().out == ""  # nothing was timed
    assert not os.listdir(tmp_path)


# ---- the multiply-add peak (csrc/peak.c) ---------------------------------------------------------

VECTOR_BYTES = {"avx512": 64, "avx2+fma": 32, "portable": 16}  # the portable path: SSE2 / NEON vectors
CHAINS = 12


@pytest.fixture
def threads():
    """Set the kernel thread count for a test; the previous count comes back after."""
    before = nnx.kernels.get_num_threads()
    yield nnx.kernels.set_num_threads
    nnx.kernels.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_chains_counts_every_lane_chain_step_and_thread(simd, threads, dtype):
    lanes = VECTOR_BYTES[simd] // np.dtype(dtype).itemsize
    for count in (1, 2):
        threads(count)
        team = count if nnx.kernels.info()["openmp"] else 1
        # one step: chain i (i = 0..11) goes from 3 + i to (3 + i) * 0.5 + 1; summed, 12 + 102/2 = 63
        assert _native.fma_chains(1, dtype) == (2.0 * CHAINS * lanes * team, 63.0 * lanes * team)
        # after 100 steps every accumulator sits at 2, the fixed point of acc * 0.5 + 1
        flops, checksum = _native.fma_chains(100, dtype)
        assert flops == 2.0 * 100 * CHAINS * lanes * team
        assert checksum == 2.0 * CHAINS * lanes * team


def test_fma_peak_is_positive_and_grows_with_the_vector_width(threads):
    """On one thread the peak is positive, float32 runs clearly faster than float64 (twice the lanes in
    the same registers), and no path is slower than a narrower one beyond the noise of a busy machine
    (wider may gain nothing: Zen 4 splits a 512-bit FMA in two, Zen 1 a 256-bit one)."""
    threads(1)
    before = nnx.kernels.info()["simd"]
    peaks = {}
    try:
        for path in nnx.kernels.info()["simd_available"]:   # widest first
            nnx.kernels.set_simd(path)
            peaks[path] = {dt: nnx.kernels.fma_peak(0.1, dt) for dt in ("float32", "float64")}
    finally:
        nnx.kernels.set_simd(before)
    for path, peak in peaks.items():
        assert peak["float64"] > 0, path
        assert peak["float32"] > 1.4 * peak["float64"], (path, peak)
    paths = list(peaks)
    for wider, narrower in zip(paths, paths[1:]):
        assert peaks[wider]["float32"] > 0.75 * peaks[narrower]["float32"], peaks


def test_gemm_rungs_stay_below_the_fma_peak(simd):
    result = ladder.run("gemm", threads=1, quick=True, with_torch=False, repeats=3, budget_s=0.05)
    assert result.peak > 0
    for row in result.rows:
        if row.name != "numpy":   # NumPy's BLAS runs its own (widest) path whatever nnx's is
            assert row.share_of_peak < 1.05, (simd, row)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nnx.kernels.fma_peak(0), ValueError, r"fma_peak: seconds must be in \(0, 60\], got 0"),
    (lambda: nnx.kernels.fma_peak(float("nan")), ValueError, "fma_peak: seconds must be in"),
    (lambda: nnx.kernels.fma_peak(61), ValueError, "fma_peak: seconds must be in"),
    (lambda: nnx.kernels.fma_peak("1"), TypeError, "fma_peak: seconds must be a real number, got '1'"),
    (lambda: nnx.kernels.fma_peak(True), TypeError, "fma_peak: seconds must be a real number"),
    (lambda: nnx.kernels.fma_peak(0.01, np.int32), TypeError, "fma_peak: dtype must be float32 or float64"),
    (lambda: nnx.kernels.fma_peak(0.01, "float16"), TypeError, "fma_peak: dtype must be float32 or"),
    (lambda: nnx.kernels.fma_peak(0.01, "no such type"), TypeError, "fma_peak: dtype must be float32"),
    (lambda: _native.fma_chains(0), ValueError, r"fma_chains: iterations must be in \[1, 2\*\*62\], got 0"),
    (lambda: _native.fma_chains(1.5), TypeError, "fma_chains: iterations must be an int, got 1.5"),
])
def test_bad_peak_arguments_are_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()
