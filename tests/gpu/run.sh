#!/usr/bin/env bash
# The GPU checks of Distill Studio in one script (tests/gpu/README.md): the CUDA xunit facts, then the benches.
#
#   bash tests/gpu/run.sh            # on a CUDA machine, from the repository root
#
# Two ways to get a studio and a test runner:
#   - a machine with the .NET SDK and a CUDA build of TorchSharp: builds, runs `dotnet test` on the Gpu facts and the
#     benches with the built CLI;
#   - the GPU kit in gpu-kit/ (git-ignored; a machine with PyTorch but no .NET): its run.sh unpacks the runtime and the
#     app, builds TorchSharp's native library against the local PyTorch and then sources this script's commands
#     (GPU_KIT=1 is set by gpu-kit/commands.sh; see the README).
# Without CUDA it still runs end to end on the CPU: the facts skip (and say so) and the benches run at CPU size,
# so the script itself can be checked anywhere. A short report goes to $OUT (default ./gpu-report).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/gpu-report}"
mkdir -p "$OUT"
REPORT="$OUT/gpu-report.md"
: > "$REPORT"
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
failures=0

# How to run the CLI and the tests: the kit's unpacked app (GPU_KIT=1), else a Release build of this checkout.
if [ "${GPU_KIT:-0}" = 1 ]; then
  STUDIO=(studio)            # the kit's function: its dotnet + studio.dll under a timeout
  DOTNET_HOST=("$DOTNET")
  TESTS_DLL="${KIT_TESTS_DLL:-$APP/tests/Studio.Ml.Tests.dll}"
  # tests/gpu/pack-kit.sh packs no Assets (the checkout has them) and the kit places its native library in the app only.
  for dir in "$APP" "$APP/tests"; do
    [ -e "$dir/Assets" ] || ln -s "$ROOT/src/Studio.Ml/Assets" "$dir/Assets"
  done
  mkdir -p "$APP/tests/runtimes/linux-x64/native"
  cp -f "$APP/runtimes/linux-x64/native/libLibTorchSharp.so" "$APP/tests/runtimes/linux-x64/native/" 2>/dev/null
else
  [ "${GPU_NO_BUILD:-0}" = 1 ] || dotnet build Studio.sln -c Release -nologo -v:q -clp:ErrorsOnly || { say "FAIL build"; exit 1; }
  STUDIO=(dotnet "$ROOT/src/Studio.Cli/bin/Release/net10.0/studio.dll")
  DOTNET_HOST=(dotnet)
  TESTS_DLL="$ROOT/tests/Studio.Ml.Tests/bin/Release/net10.0/Studio.Ml.Tests.dll"
fi

say "# GPU checks $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
VERSION="$("${STUDIO[@]}" version 2>&1)"; say "$VERSION" | head -3
if echo "$VERSION" | grep -q 'CUDA ('; then CUDA=1; DEVICE=cuda; else CUDA=0; DEVICE=cpu; say "no CUDA here: facts skip, benches run on the CPU at CPU size"; fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$REPORT"

# ---- the CUDA facts: the test assembly is its own runner (xunit v3), so the .NET runtime alone runs it ----
say ""; say "## facts (Category=Gpu)"
if [ $CUDA = 0 ]; then
  export STUDIO_GPU_FACTS_ON_CPU=1; say "(dry run: no CUDA, so the facts run with the CPU in the GPU's place; this checks the facts, not CUDA)"
fi
if [ -f "$TESTS_DLL" ]; then
  timeout 900 "${DOTNET_HOST[@]}" "$TESTS_DLL" -trait "Category=Gpu" -noColor -reporter verbose > "$OUT/facts.log" 2>&1
  rc=$?
  grep -E '\[(FINISHED|FAIL|SKIP)\]|Total: ' "$OUT/facts.log" | sed -E 's/^ +//; s/Studio\.Ml\.Tests\.Gpu\.//' | tee -a "$REPORT"
  grep -q 'Failed: 0,' "$OUT/facts.log" && grep -q 'Errors: 0,' "$OUT/facts.log" || rc=1
  [ $rc -eq 0 ] || { failures=$((failures + 1)); say "FAIL facts (exit $rc; see facts.log)"; }
else
  failures=$((failures + 1)); say "FAIL facts: no test assembly at $TESTS_DLL (pack it into the kit: tests/gpu/pack-kit.sh)"
fi

# ---- the device paths of the CLI (no SDK needed): sample with and without freeing the text encoders, toy pretrain ----
say ""; say "## CLI on $DEVICE"
WORK="$(mktemp -d)"
cli() { # cli NAME ARGS...: one studio command; its output goes to cli.log
  local name="$1"; shift
  echo "### $name: studio $*" >> "$OUT/cli.log"
  if timeout 600 "${STUDIO[@]}" "$@" >> "$OUT/cli.log" 2>&1; then say "ok $name"; else failures=$((failures + 1)); say "FAIL $name (see cli.log)"; fi
}
SAMPLE=(sample --pipeline "$ROOT/src/Studio.Ml/Assets/toy-teacher" --prompt "a red circle above a blue square" --steps 8 --width 64 --height 64 --device "$DEVICE")
cli sample "${SAMPLE[@]}" --out "$WORK/kept.png"
cli sample-free-text-encoders "${SAMPLE[@]}" --free-text-encoders --out "$WORK/freed.png"
if cmp -s "$WORK/kept.png" "$WORK/freed.png"; then say "ok --free-text-encoders gives the same PNG"; else failures=$((failures + 1)); say "FAIL --free-text-encoders changed the PNG"; fi
cli toy-pretrain toy pretrain --out "$WORK/teacher" --batch 8 --vae-steps 20 --flux-steps 20 --pool 64 --checkpoint-every 10 --device "$DEVICE"
grep -E 'eval L1|eval MSE' "$OUT/cli.log" | sed 's/^[0-9:]* /  /' | tee -a "$REPORT" >/dev/null
if "${STUDIO[@]}" eval --device gpu > /dev/null 2> "$WORK/bad-device.err"; then failures=$((failures + 1)); say "FAIL eval --device gpu exited 0"
else say "ok a bad device: $(cat "$WORK/bad-device.err")"; fi
rm -rf "$WORK"

# ---- the benches ----
say ""; say "## benches ($DEVICE)"
bench() { # bench NAME ARGS...: one studio command, its JSON lines into the report
  local name="$1"; shift
  if timeout 900 "${STUDIO[@]}" "$@" > "$OUT/$name.jsonl" 2> "$OUT/$name.err"; then
    say "### $name"; sed 's/"config":.*$/...}/' "$OUT/$name.jsonl" | tee -a "$REPORT" >/dev/null; cat "$OUT/$name.jsonl" | cut -c1-400
  else
    failures=$((failures + 1)); say "FAIL $name: $(tail -n 3 "$OUT/$name.err")"
  fi
}
if [ $CUDA = 1 ]; then
  bench distill-paper bench distill --config bench/distill-paper.json --batch 1 --batch 4
  sed 's/"gradient_checkpointing": false/"gradient_checkpointing": true/' bench/distill-paper.json > "$OUT/distill-paper-checkpointed.json"
  bench distill-paper-checkpointed bench distill --config "$OUT/distill-paper-checkpointed.json" --batch 1 --batch 4
  sed 's/"device": "cpu"/"device": "cuda"/' bench/distill-toy.json > "$OUT/distill-toy-cuda.json"
  bench distill-toy bench distill --config "$OUT/distill-toy-cuda.json"
else
  bench distill-toy bench distill --config bench/distill-toy.json
fi

# ---- the toy preset's updates/s (the issue's run, with samples) ----
say ""; say "## toy preset on $DEVICE"
RUN_YAML="$OUT/toy-$DEVICE.yaml"
UPDATES=$([ $CUDA = 1 ] && echo 2000 || echo 40)
sed -e "s/updates: 2000/updates: $UPDATES/" -e "s/device: cuda/device: $DEVICE/" tests/gpu/toy-preset.yaml > "$RUN_YAML"
if timeout 900 "${STUDIO[@]}" distill --config "$RUN_YAML" --out "$OUT/toy-run" > "$OUT/toy-run.log" 2>&1; then
  say "toy preset, $UPDATES updates: $(grep -oE '[0-9.]+ upd/s' "$OUT/toy-run.log" | tail -1), samples: $(find "$OUT/toy-run" -name '*.png' | wc -l) png"
else
  failures=$((failures + 1)); say "FAIL toy run: $(tail -n 5 "$OUT/toy-run.log")"
fi
rm -rf "$OUT/toy-run/checkpoints"

say ""; say "failures: $failures"
exit $(( failures > 0 ))
