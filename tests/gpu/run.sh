#!/usr/bin/env bash
# The GPU checks of Distill Studio in one script (tests/gpu/README.md), most important first, so that a deadline cuts
# the least important:
#   1. the CUDA facts (Category=Gpu in Studio.Ml.Tests: CPU = CUDA on the same seeds, a run with samples);
#   2. the toy preset with samples and validation (the run of issue #14) and its updates/s;
#   3. the CLI's device paths: sample (with and without --free-text-encoders), a short toy pretrain, a bad --device;
#   4. the benches: the paper-size update at batch 1 and 4 (with each phase's time), without and with gradient
#      checkpointing, and the toy one; then PyTorch's time for the same update on the same GPU
#      (tests/gpu/pytorch_reference.py, first checked against the distill_update fixture) and the ratios;
#   5. toy pretraining time: a tenth of the default recipe's steps, in float32 and in bfloat16.
#
#   bash tests/gpu/run.sh            # from the repository root: a CUDA machine with the .NET SDK (or a dry run here)
#
# Two ways to get a studio and a test runner:
#   - the .NET SDK: builds this checkout (GPU_NO_BUILD=1 skips that) and runs the built CLI and test assembly;
#   - the GPU kit in gpu-kit/ (git-ignored; tests/gpu/pack-kit.sh packs it): on a machine with PyTorch and no .NET,
#     gpu-kit/run.sh unpacks a .NET runtime and the app, builds TorchSharp's native library against the local PyTorch
#     and sources gpu-kit/commands.sh, which sets GPU_KIT=1 and sources this script.
# Without CUDA it still runs end to end on the CPU (the facts with the CPU in the GPU's place, short runs), so the
# script itself can be checked anywhere. The report is $OUT/gpu-report.md; the logs and JSON lines go to $OUT/details/,
# packed into $OUT/details.tar.gz with the kit (a device call brings back 8 files at most).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/gpu-report}"
DETAILS="$OUT/details"
mkdir -p "$DETAILS"
REPORT="$OUT/gpu-report.md"
: > "$REPORT"
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
failures=0
fail() { failures=$((failures + 1)); say "FAIL $*"; }
export STUDIO_REPO_ROOT="$ROOT" # the test assembly finds the fixtures from here, also when it is a packed copy

# How to run the CLI and the tests: the kit's unpacked app (GPU_KIT=1), else a Release build of this checkout.
if [ "${GPU_KIT:-0}" = 1 ]; then
  STUDIO_CMD=("$DOTNET" "$STUDIO_DLL") # the kit's runtime and app
  within() { cap "$1"; }               # the kit's cap: SECONDS, or less so that its deadline holds
  DOTNET_HOST="$DOTNET"
  TESTS_DLL="$APP/tests/Studio.Ml.Tests.dll"
  # pack-kit.sh packs no Assets (the checkout has them; a --slim pack carries them as gpu-kit/assets.tar.xz) and the
  # kit puts its native library into the app only.
  ASSETS="$ROOT/src/Studio.Ml/Assets"
  if [ ! -f "$ASSETS/toy-teacher/model_index.json" ] && [ -f "$ROOT/gpu-kit/assets.tar.xz" ]; then
    mkdir -p "$APP/unpacked" && tar -xJf "$ROOT/gpu-kit/assets.tar.xz" -C "$APP/unpacked" && ASSETS="$APP/unpacked/src/Studio.Ml/Assets"
  fi
  for dir in "$APP" "$APP/tests"; do
    [ -e "$dir/Assets" ] || ln -s "$ASSETS" "$dir/Assets"
  done
  mkdir -p "$APP/tests/runtimes/linux-x64/native"
  cp -f "$APP/runtimes/linux-x64/native/libLibTorchSharp.so" "$APP/tests/runtimes/linux-x64/native/"
else
  if [ "${GPU_NO_BUILD:-0}" != 1 ]; then
    dotnet build Studio.sln -c Release -nologo -v:q -clp:ErrorsOnly || { say "FAIL build"; exit 1; }
  fi
  STUDIO_CMD=(dotnet "$ROOT/src/Studio.Cli/bin/Release/net10.0/studio.dll")
  within() { echo "$1"; }
  DOTNET_HOST=dotnet
  TESTS_DLL="$ROOT/tests/Studio.Ml.Tests/bin/Release/net10.0/Studio.Ml.Tests.dll"
fi
studio_for() { # studio_for SECONDS ARGS...: one studio command under a timeout
  local seconds; seconds="$(within "$1")"; shift
  timeout --kill-after=10 "$seconds" "${STUDIO_CMD[@]}" "$@"
}
SCRATCH="$(mktemp -d)"
T0=$(date +%s)
seconds_since() { echo $(( $(date +%s) - $1 )); }

say "# GPU checks $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
VERSION="$(studio_for 120 version 2>&1)"; say "$VERSION" | head -3
if echo "$VERSION" | grep -q 'CUDA ('; then CUDA=1; DEVICE=cuda; else CUDA=0; DEVICE=cpu; say "no CUDA here: a dry run on the CPU"; fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$REPORT"

# ---- 1. the CUDA facts: the test assembly is its own runner (xunit v3), so the .NET runtime alone runs it ----
say ""; say "## 1. facts (Category=Gpu)"
if [ $CUDA = 0 ]; then
  export STUDIO_GPU_FACTS_ON_CPU=1; say "(dry run: the facts run with the CPU in the GPU's place; this checks the facts, not CUDA)"
fi
if [ -f "$TESTS_DLL" ]; then
  t=$(date +%s)
  timeout --kill-after=10 "$(within 300)" "$DOTNET_HOST" "$TESTS_DLL" -trait "Category=Gpu" -noColor -reporter verbose > "$DETAILS/facts.log" 2>&1
  rc=$?
  grep -E '\[(FINISHED|FAIL|SKIP)\]|Total: ' "$DETAILS/facts.log" | sed -E 's/^ +//; s/Studio\.Ml\.Tests\.Gpu\.//' | tee -a "$REPORT"
  if [ $rc -ne 0 ] || ! grep -q 'Failed: 0,' "$DETAILS/facts.log" || ! grep -q 'Errors: 0,' "$DETAILS/facts.log"; then
    fail "facts (exit $rc; details/facts.log)"; grep -m3 -A4 '\[FAIL\]' "$DETAILS/facts.log" | tee -a "$REPORT"
  fi
  say "($(seconds_since $t) s)"
else
  fail "facts: no test assembly at $TESTS_DLL (tests/gpu/pack-kit.sh packs it)"
fi

# ---- 2. the toy preset with samples and validation (the run of issue #14) ----
say ""; say "## 2. toy preset on $DEVICE (samples and validation)"
UPDATES=$([ $CUDA = 1 ] && echo 2000 || echo 40)
sed -e "s/updates: 2000/updates: $UPDATES/" -e "s/device: cuda/device: $DEVICE/" tests/gpu/toy-preset.yaml > "$DETAILS/toy-preset.yaml"
t=$(date +%s)
if studio_for 300 distill --config "$DETAILS/toy-preset.yaml" --out "$SCRATCH/toy-run" > "$DETAILS/toy-run.log" 2>&1; then
  say "toy preset, $UPDATES updates in $(seconds_since $t) s: $(grep -oE '[0-9.]+ upd/s' "$DETAILS/toy-run.log" | tail -1), samples: $(find "$SCRATCH/toy-run" -name '*.png' | wc -l) png"
  cp -r "$SCRATCH/toy-run/samples" "$DETAILS/toy-samples"
else
  fail "toy run: $(tail -n 5 "$DETAILS/toy-run.log")"
fi

# ---- 3. the device paths of the CLI ----
say ""; say "## 3. CLI on $DEVICE"
cli() { # cli NAME ARGS...: one studio command; its output goes to details/cli.log
  local name="$1"; shift
  echo "### $name: studio $*" >> "$DETAILS/cli.log"
  if studio_for 180 "$@" >> "$DETAILS/cli.log" 2>&1; then say "ok $name"; else fail "$name (details/cli.log)"; fi
}
SAMPLE=(sample --pipeline toy --prompt "a red circle above a blue square" --steps 8 --width 64 --height 64 --device "$DEVICE")
cli sample "${SAMPLE[@]}" --out "$SCRATCH/kept.png"
cli sample-free-text-encoders "${SAMPLE[@]}" --free-text-encoders --out "$SCRATCH/freed.png"
if cmp -s "$SCRATCH/kept.png" "$SCRATCH/freed.png"; then say "ok --free-text-encoders gives the same PNG"; else fail "--free-text-encoders changed the PNG"; fi
cli toy-pretrain toy pretrain --out "$SCRATCH/teacher" --batch 8 --vae-steps 20 --flux-steps 20 --pool 64 --checkpoint-every 10 --device "$DEVICE"
grep -E 'eval L1|eval MSE' "$DETAILS/cli.log" | sed 's/^[0-9:]* /  /' | tee -a "$REPORT" >/dev/null
# The toy run's student in the teacher's T5 slot: each batch drawn twice (student, teacher) for the mean |Δ| to the teacher.
STUDENT=$(ls -d "$SCRATCH/toy-run/checkpoints"/step-* 2>/dev/null | tail -n 1)
if [ -n "$STUDENT" ]; then
  cli eval-student eval --pipeline toy --text-encoder-2 "$STUDENT" --count 1 --steps 4 --device "$DEVICE" --report "$DETAILS/eval-student.json"
  grep -F 'mean |Δ| to teacher' "$DETAILS/cli.log" | sed 's/^/  /' | tee -a "$REPORT" >/dev/null
  # Teacher agreement (what a FLUX.1 run's evaluations measure) at another size than the toy world's.
  cli eval-agreement eval --pipeline toy --text-encoder-2 "$STUDENT" --agreement-only --resolution 128 --count 1 --steps 4 --device "$DEVICE" --report "$DETAILS/eval-agreement.json"
else fail "eval-student: the toy run left no checkpoint"; fi
# A worker's Studio:DType: the evaluation routine of its jobs in float32 and in bfloat16 on this device, timed.
for dtype in float32 bfloat16; do
  t=$(date +%s)
  cli "eval-$dtype" eval --pipeline toy --count "$([ $CUDA = 1 ] && echo 10 || echo 1)" --steps 20 --device "$DEVICE" --dtype "$dtype" --report "$DETAILS/eval-$dtype.json"
  say "  the teacher's evaluation in $dtype: $(seconds_since $t) s (the process included)"
done
if studio_for 60 eval --device gpu > /dev/null 2> "$SCRATCH/bad-device.err"; then fail "eval --device gpu exited 0"
else say "ok a bad device: $(grep -v '^<<<\|^>>>' "$SCRATCH/bad-device.err" | head -n 1)"; fi

# ---- 4. the benches ----
say ""; say "## 4. benches ($DEVICE)"
bench() { # bench NAME SECONDS ARGS...: one studio command, its JSON lines into the report
  local name="$1" seconds="$2"; shift 2
  if studio_for "$seconds" "$@" > "$DETAILS/$name.jsonl" 2> "$DETAILS/$name.err"; then
    say "### $name"; grep '^{' "$DETAILS/$name.jsonl" | sed 's/"config":.*$/...}/' | tee -a "$REPORT" >/dev/null
  else
    fail "$name: $(tail -n 3 "$DETAILS/$name.err")"
  fi
}
if [ $CUDA = 1 ]; then
  bench distill-paper 270 bench distill --config bench/distill-paper.json --batch 1 --batch 4 --phases
  sed 's/"gradient_checkpointing": false/"gradient_checkpointing": true/' bench/distill-paper.json > "$DETAILS/distill-paper-checkpointed.json"
  bench distill-paper-checkpointed 240 bench distill --config "$DETAILS/distill-paper-checkpointed.json" --batch 1 --batch 4
  sed 's/"device": "cpu"/"device": "cuda"/' bench/distill-toy.json > "$DETAILS/distill-toy-cuda.json"
  bench distill-toy 120 bench distill --config "$DETAILS/distill-toy-cuda.json" --phases
else
  bench distill-toy 300 bench distill --config bench/distill-toy.json --phases
fi

# ---- 4b. PyTorch's time for the same update: the issue's yardstick, measured in this same call ----
say ""; say "## 4b. the PyTorch yardstick ($DEVICE)"
REFERENCE_PY="${REFERENCE_PYTHON:-${PY:-python3}}" # the kit's python with torch, or REFERENCE_PYTHON
reference() { # reference NAME SECONDS ARGS...: tests/gpu/pytorch_reference.py under a timeout, its output into the report
  local name="$1" seconds; seconds="$(within "$2")"; shift 2
  if timeout --kill-after=10 "$seconds" "$REFERENCE_PY" tests/gpu/pytorch_reference.py "$@" > "$DETAILS/$name.jsonl" 2> "$DETAILS/$name.err"; then
    say "### $name"; tee -a "$REPORT" < "$DETAILS/$name.jsonl" >/dev/null
  else
    fail "$name: $(tail -n 3 "$DETAILS/$name.err")"
  fi
}
if "$REFERENCE_PY" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null | grep -q '^torch '; then
  # First that the reference computes the paper's update: the repository's fixture, on this device.
  reference pytorch-check 120 --check tests/fixtures/models/distill_update --device "$DEVICE"
  if [ $CUDA = 1 ]; then
    reference pytorch-count 60 --config bench/distill-paper.json --count-only # FLUX.1-dev's 11.9B and T5-Base's, from the dims alone
    reference pytorch-paper 180 --config bench/distill-paper.json --batch 1 --batch 4
    reference pytorch-paper-checkpointed 150 --config bench/distill-paper.json --gradient-checkpointing true --batch 1 --batch 4
    reference pytorch-toy 60 --config "$DETAILS/distill-toy-cuda.json" # the toy update (float32), as the studio's toy bench
    say "### the studio against PyTorch (same GPU, same call)"
    "$REFERENCE_PY" tests/gpu/pytorch_reference.py --compare "$DETAILS/distill-paper.jsonl" "$DETAILS/pytorch-paper.jsonl" \
      --compare "$DETAILS/distill-paper-checkpointed.jsonl" "$DETAILS/pytorch-paper-checkpointed.jsonl" \
      --compare "$DETAILS/distill-toy.jsonl" "$DETAILS/pytorch-toy.jsonl" 2>&1 | tee -a "$REPORT" >/dev/null
  else
    reference pytorch-toy 240 --config bench/distill-toy.json --device cpu --repeats 2
    say "### the studio against PyTorch (a check of the table: this python's PyTorch, not the GPU's)"
    "$REFERENCE_PY" tests/gpu/pytorch_reference.py --compare "$DETAILS/distill-toy.jsonl" "$DETAILS/pytorch-toy.jsonl" 2>&1 | tee -a "$REPORT" >/dev/null
  fi
else
  say "skipped: no python with torch here ($REFERENCE_PY; set REFERENCE_PYTHON)"
fi

# ---- 5. toy pretraining time: a tenth of the default recipe's steps (3,000 VAE + 9,000 transformer), in float32 and
# in bfloat16 (float32 master weights), so the README can say what each dtype costs on this GPU ----
say ""; say "## 5. toy pretrain on $DEVICE"
# On the CPU (a dry run) a small prompt pool: encoding the default 8,192 prompts takes a minute there.
STEPS=$([ $CUDA = 1 ] && echo "300 900 8192" || echo "10 10 64")
read -r VAE_STEPS FLUX_STEPS POOL <<< "$STEPS"
for dtype in float32 bfloat16; do
  t=$(date +%s)
  log="$DETAILS/toy-pretrain-$dtype.log"
  if studio_for 240 toy pretrain --out "$SCRATCH/teacher-timed-$dtype" --vae-steps "$VAE_STEPS" --flux-steps "$FLUX_STEPS" --pool "$POOL" --device "$DEVICE" --dtype "$dtype" > "$log" 2>&1; then
    s=$(seconds_since $t)
    a=$(grep -oE 'stage A done in [0-9]+s' "$log" | grep -oE '[0-9]+' | head -1)
    b=$(grep -oE 'stage B done in [0-9]+s' "$log" | grep -oE '[0-9]+' | head -1)
    grep -E 'done in|encoded' "$log" | sed 's/^[0-9:]* /  /' | tee -a "$REPORT"
    # The steps scale with the recipe, the rest (start, encoding the prompts, evaluations) does not.
    say "toy pretrain in $dtype, $VAE_STEPS VAE + $FLUX_STEPS transformer steps: $s s in all, so the default recipe (3,000 + 9,000 steps) takes about $(( s - a - b + a * 3000 / VAE_STEPS + b * 9000 / FLUX_STEPS )) s"
  else
    fail "toy pretrain timing in $dtype: $(tail -n 3 "$log")"
  fi
done

say ""; say "failures: $failures (all checks: $(seconds_since $T0) s)"
rm -rf "$SCRATCH"
if [ "${GPU_KIT:-0}" = 1 ]; then
  tar -C "$OUT" -czf "$OUT/details.tar.gz" details && rm -rf "$DETAILS"
  # The kit's summary counts a failed check as a failed command.
  [ $failures -eq 0 ] || echo "tests/gpu/run.sh: $failures failed check(s), see gpu-report.md" >> "$WORK/failed-commands.txt"
fi
[ $failures -eq 0 ]
