#!/usr/bin/env bash
# Runs the packed GPU kit (tests/gpu/pack-kit.sh) here, on the CPU, the way a device call would run it there:
# gpu-kit/run.sh unpacks its runtime and app, loads the build's CPU native library, and sources tests/gpu/run.sh.
# A missing runtime file, app file or path shows up here instead of in scarce GPU minutes.
#
#   bash tests/gpu/kit-dry-run.sh        # from the repository root, after pack-kit.sh; report in ./gpu-kit-dry-run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -f gpu-kit/run.sh ] && [ -f gpu-kit/app.tar.xz ] || { echo "no packed kit in gpu-kit/: run tests/gpu/pack-kit.sh first" >&2; exit 2; }
OUT="${OUT:-$ROOT/gpu-kit-dry-run}"
rm -rf "$OUT"; mkdir -p "$OUT"
STAND_IN="$(mktemp -d)"
trap 'rm -rf "$STAND_IN"' EXIT

# The kit asks python where torch's libraries are: here they are the libtorch-cpu package's natives.
TORCH_LIB="$(dirname "$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/libtorch-cpu-linux-x64" -name libtorch_cpu.so | head -n 1)")"
[ -d "$TORCH_LIB" ] || { echo "no libtorch-cpu-linux-x64 package in the NuGet cache (build the solution first)" >&2; exit 2; }
mkdir -p "$STAND_IN/site/torch"
ln -s "$TORCH_LIB" "$STAND_IN/site/torch/lib"
cat > "$STAND_IN/python" <<EOF
#!/usr/bin/env bash
# Stands in for a python with torch: answers the kit's questions; its dlopen check is the kit's own business.
case "\${1:-}" in
  --version) echo "Python (stand-in for the kit's dry run)" ;;
  -) if grep -q TORCH_DIR; then
       printf '%s\n' 'TORCH_DIR="$STAND_IN/site/torch"' 'SITE_DIR="$STAND_IN/site"' 'TORCH_VERSION="cpu-dry-run"' \
         'TORCH_CUDA=""' 'TORCH_CUDA_OK="0"' 'TORCH_GPU=""'
     fi ;;
esac
exit 0
EOF
chmod +x "$STAND_IN/python"

# The build's own native library (the kit builds one against the GPU machine's PyTorch instead).
SO="$ROOT/src/Studio.Cli/bin/Release/net10.0/runtimes/linux-x64/native/libLibTorchSharp.so"
[ -f "$SO" ] || { echo "no $SO: build the solution first" >&2; exit 2; }
# The PyTorch yardstick (tests/gpu/pytorch_reference.py) needs a real python with torch: Debian's python3-torch
# serves for this check where it is installed; without one the report says the section was skipped.
if [ -z "${REFERENCE_PYTHON:-}" ] && /usr/bin/python3 -c 'import torch' > /dev/null 2>&1; then export REFERENCE_PYTHON=/usr/bin/python3; fi
KIT_ALLOW_CPU=1 KIT_PYTHON="$STAND_IN/python" KIT_PREBUILT_SO="$SO" OUT="$OUT" KIT_WORK="$STAND_IN/work" \
  KIT_DOTNET_DIR="$STAND_IN/dotnet" bash gpu-kit/run.sh > "$OUT/console.txt" 2>&1 || true
cat "$OUT/summary.txt"
echo "--- gpu-report.md"
cat "$OUT/gpu-report.md" 2>/dev/null || echo "(no report: see $OUT/log.txt)"
echo "--- files that would come back: $(ls "$OUT" | tr '\n' ' ')"
grep -q '^FAIL' "$OUT/summary.txt" && exit 1 || exit 0
