#!/usr/bin/env bash
# Build nnx's sdist and wheel (the wheel from the sdist, so the sdist is checked too), install the wheel
# in a fresh venv whose PATH holds no C compiler, and run tools/wheel_smoke_test.py there.
#
#     tools/check_wheel.sh [PYTHON]        # PYTHON defaults to python3; needs `pip install build`
#
# On success the wheel and sdist are copied to dist/; everything else lives in a temporary directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building sdist and wheel"
"$python" -m build --outdir "$work/dist" "$root"
sdist=$(echo "$work"/dist/*.tar.gz)     # a fresh folder: exactly one of each
wheel=$(echo "$work"/dist/*.whl)

echo "== checking what they carry"
contents=$(tar -tzf "$sdist")            # (not piped into grep -q: pipefail would see tar's SIGPIPE)
for f in csrc/gemm.c csrc/nnx.h nnx/_C/_native.pyx; do
  grep -q "/$f$" <<<"$contents" || { echo "sdist lacks $f"; exit 1; }
done
echo "$sdist: csrc/ and the Cython sources present"
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["nnx/datasets/data/mnist.npz", "nnx/datasets/data/sentiment/yelp_labelled.txt"]
missing = [n for n in need if n not in names]
if not any(n.startswith("nnx/_C/_native") and n.endswith((".so", ".pyd")) for n in names):
    missing.append("nnx/_C/_native extension")
if missing:
    sys.exit(f"wheel lacks {missing}")
print(f"{sys.argv[1]}: {len(names)} files, extension and data present")
PY

echo "== installing into a fresh venv with no compiler on PATH"
"$python" -m venv "$work/venv"
(
  export PATH="$work/venv/bin"          # nothing else: no gcc, cc, clang
  export CC=/nonexistent-compiler CXX=/nonexistent-compiler
  for tool in gcc cc clang; do
    if command -v "$tool" >/dev/null; then echo "$tool is still reachable"; exit 1; fi
  done
  python -m pip install -q --only-binary :all: "$wheel"

  echo "== smoke test"
  cd "$work"                            # away from the checkout, so `import nnx` finds the wheel
  python "$root/tools/wheel_smoke_test.py"
)
mkdir -p "$root/dist"
cp "$sdist" "$wheel" "$root/dist/"
echo "== passed: $(basename "$wheel") and $(basename "$sdist") are in dist/"
