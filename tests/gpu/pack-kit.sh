#!/usr/bin/env bash
# Packs the GPU kit for one device call (tests/gpu/README.md), from the repository root:
#
#   bash tests/gpu/pack-kit.sh [--slim] [KIT_SOURCE]
#   bash tests/gpu/pack-kit.sh --restore
#
# KIT_SOURCE is a copy of the GPU kit (its run.sh, build-native.sh, native/, prebuilt/, ...); its scripts are copied
# into the git-ignored gpu-kit/. Without it, gpu-kit/ must hold them already. Then:
#   1. builds the solution (Release, CPU TorchSharp: the kit brings its own native library to the GPU machine);
#   2. runs tests/gpu/run.sh on this CPU under strace: the dry run (facts with the CPU in the GPU's place, the CLI
#      checks, the toy bench, a short toy preset) and the list of the files it opened from the .NET runtime, the
#      CLI's output folder and the test assembly's;
#   3. packs only those files: gpu-kit/dotnet-runtime.tar.xz and gpu-kit/app.tar.xz (the CLI, the test assembly in
#      tests/, no Assets: run.sh links the checkout's src/Studio.Ml/Assets there), writes gpu-kit/commands.sh;
#   4. prints what a device call would carry (tracked and unignored files + gpu-kit/) against its 64 MiB; when the
#      whole is over, it leaves the prebuilt native library out (the kit then builds it there, about a minute).
# --slim (on a clean checkout) then deletes from the working tree the tracked files the dry run did not open (sources,
# docs, the other fixtures; kept: bench/, tests/gpu/, the opened fixtures, Studio.sln, .gitignore), and carries
# src/Studio.Ml/Assets (the toy teacher, tokenizers, font: 40 MB) as gpu-kit/assets.tar.xz (24 MB) in place of its
# files, which run.sh unpacks there; so the call carries only what it needs. Afterwards `--restore` puts the files back
# (git checkout of the list in gpu-kit/slimmed.txt). Commit nothing in between.
# A device call then runs `bash gpu-kit/run.sh` (after `xz -d gpu-kit/prebuilt/*.xz` when packed) with carry ["gpu-kit"].
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
KIT="$ROOT/gpu-kit"
LIMIT_MIB=64

if [ "${1:-}" = --restore ]; then
  [ -f "$KIT/slimmed.txt" ] || { echo "nothing to restore (no gpu-kit/slimmed.txt)"; exit 0; }
  xargs -a "$KIT/slimmed.txt" -d '\n' git checkout -- && rm -f "$KIT/slimmed.txt" "$KIT/assets.tar.xz"
  echo "restored; git status:"; git status --short | head
  exit 0
fi
SLIM=0
if [ "${1:-}" = --slim ]; then
  SLIM=1; shift
  [ -z "$(git status --porcelain)" ] || { echo "--slim needs a clean checkout (commit first): git status is not empty" >&2; exit 2; }
fi
if [ $# -gt 0 ]; then
  SRC="$(cd "$1" && pwd)"
  [ -f "$SRC/run.sh" ] && [ -f "$SRC/build-native.sh" ] || { echo "$SRC: not a GPU kit (no run.sh or build-native.sh)" >&2; exit 2; }
  mkdir -p "$KIT"
  # Everything but packed apps and runtimes (made below) and the examples (tests/gpu has the checks).
  (cd "$SRC" && find . -mindepth 1 -maxdepth 1 ! -name '*.tar.xz' ! -name examples -print0) |
    (cd "$SRC" && xargs -0 cp -r -t "$KIT")
fi
[ -f "$KIT/run.sh" ] || { echo "no gpu-kit/run.sh: pass the kit's folder (bash tests/gpu/pack-kit.sh KIT_SOURCE)" >&2; exit 2; }

echo "== build"
dotnet build Studio.sln -c Release -nologo -v:q -clp:ErrorsOnly
CLI_BIN="$ROOT/src/Studio.Cli/bin/Release/net10.0"
TESTS_BIN="$ROOT/tests/Studio.Ml.Tests/bin/Release/net10.0"
DOTNET_DIR="$(dirname "$(readlink -f "$(command -v dotnet)")")"

echo "== dry run of tests/gpu/run.sh under strace (about five minutes on two cores)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if ! GPU_NO_BUILD=1 OUT="$WORK/report" strace -f -qq -e trace=openat,execve -e signal=none -o "$WORK/trace" \
     bash tests/gpu/run.sh > "$WORK/run.log" 2>&1; then
  cat "$WORK/run.log"; echo "the dry run failed: fix that first" >&2; exit 1
fi
grep -E '^(failures|toy preset|Studio.Ml.Tests)' "$WORK/report/gpu-report.md" | sed 's/^/  /'
# Files opened successfully (or executed), as given: the bin folders hold links into the NuGet cache.
grep -v ' = -1 ' "$WORK/trace" | sed -nE 's/.*(openat\(AT_FDCWD, |execve\()"([^"]+)".*/\2/p' | sort -u > "$WORK/opened"
opened_under() { # opened_under DIR: the opened files inside DIR, relative to it
  local dir="$1"; { grep -F "$dir/" "$WORK/opened" || true; } | sed "s#^$dir/##" | while read -r f; do if [ -f "$dir/$f" ]; then echo "$f"; fi; done; }

echo "== runtime: the files the dry run opened in $DOTNET_DIR"
VER="$(ls "$DOTNET_DIR/shared/Microsoft.NETCore.App" | sort -V | tail -1)"
{
  echo dotnet; echo "host/fxr/$VER/libhostfxr.so"
  opened_under "$DOTNET_DIR" | grep -E '^(host|shared)/'
  # Loaded only when an exception's stack trace is printed with line numbers: a failure must still be readable.
  for a in System.Diagnostics.StackTrace System.Reflection.Metadata System.Collections.Immutable; do
    echo "shared/Microsoft.NETCore.App/$VER/$a.dll"
  done
  # A margin for the paths only CUDA takes: the kit's own list, which ran the studio on an H200 (about 2 MiB more).
  if [ -f "$KIT/tools/runtime-files.txt" ]; then
    sed "s/@VER@/$VER/g" "$KIT/tools/runtime-files.txt" | while read -r f; do if [ -e "$DOTNET_DIR/$f" ]; then echo "$f"; fi; done
  fi
} | sort -u > "$WORK/runtime-files"
tar -C "$DOTNET_DIR" --owner=0 --group=0 --numeric-owner -cf - -T "$WORK/runtime-files" | xz -9e -T2 > "$KIT/dotnet-runtime.tar.xz"
echo "  $(wc -l < "$WORK/runtime-files") files"

echo "== app: the files the dry run opened in the CLI's and the test assembly's output folders (no Assets, no libtorch)"
STAGE="$WORK/app"
mkdir -p "$STAGE/tests"
keep() { # keep FROM TO: copies the opened files of FROM (configs always) into TO, leaving out Assets and natives
  local from="$1" to="$2"
  { opened_under "$from"; (cd "$from" && ls -1 ./*.json | sed 's#^\./##'); } | sort -u |
    grep -vE '^(Assets/|runtimes/linux-x64/native/lib(torch|c10|gomp|LibTorchSharp))' |
    while read -r f; do mkdir -p "$to/$(dirname "$f")"; cp -L "$from/$f" "$to/$f"; done
}
keep "$CLI_BIN" "$STAGE"
keep "$TESTS_BIN" "$STAGE/tests"
[ -f "$STAGE/studio.dll" ] && [ -f "$STAGE/tests/Studio.Ml.Tests.dll" ] || { echo "the dry run did not open studio.dll and Studio.Ml.Tests.dll" >&2; exit 1; }
tar -C "$STAGE" --owner=0 --group=0 --numeric-owner -cf - . | xz -9e -T2 > "$KIT/app.tar.xz"
echo "  $(find "$STAGE" -type f | wc -l) files"

cat > "$KIT/commands.sh" <<'EOF'
# shellcheck shell=bash
# Written by tests/gpu/pack-kit.sh: the GPU checks of tests/gpu/run.sh with this kit's runtime and app.
export GPU_KIT=1 DOTNET
source tests/gpu/run.sh
EOF

if [ $SLIM = 1 ]; then
  echo "== --slim: deleting the tracked files the dry run did not open; src/Studio.Ml/Assets goes as gpu-kit/assets.tar.xz"
  tar -C "$ROOT" --owner=0 --group=0 --numeric-owner -cf - src/Studio.Ml/Assets | xz -6 -T2 > "$KIT/assets.tar.xz"
  { opened_under "$ROOT" | grep -vE '(^|/)(bin|obj)/|^gpu-kit/|^src/Studio\.Ml/Assets/'
    git ls-files bench tests/gpu tests/fixtures/models/distill_update # the PyTorch yardstick checks itself on that case
    printf '%s\n' Studio.sln .gitignore; } | sort -u > "$WORK/needed"
  git ls-files | sort | comm -23 - "$WORK/needed" > "$KIT/slimmed.txt"
  xargs -a "$KIT/slimmed.txt" -d '\n' rm -f
  echo "  $(wc -l < "$KIT/slimmed.txt") files deleted (listed in gpu-kit/slimmed.txt); after the call: bash tests/gpu/pack-kit.sh --restore"
fi

echo "== what a device call carries"
carried() { # the bytes a device call carries: tracked files that exist, unignored untracked ones, gpu-kit/
  { git ls-files -z --cached --others --exclude-standard; printf 'gpu-kit\0'; } |
    { xargs -0 du -cb 2>/dev/null || true; } | awk '/total$/{s+=$1} END{print s+0}'; } # (du skips deleted files)
LIMIT=$((LIMIT_MIB * 1048576))
if [ -f "$KIT/prebuilt/libLibTorchSharp.so" ]; then
  xz -9e -T2 -f "$KIT/prebuilt/libLibTorchSharp.so"
  [ "$(carried)" -le $LIMIT ] || { rm -f "$KIT/prebuilt/libLibTorchSharp.so.xz"; echo "  prebuilt native library left out: it would not fit"; }
fi
{ ls -l "$KIT"/*.tar.xz "$KIT"/prebuilt/*.xz 2>/dev/null || true; } | awk '{printf "  %-60s %6.1f MiB\n", $9, $5/1048576}'
total=$(carried)
awk -v t="$total" -v l=$LIMIT_MIB 'BEGIN{ printf "  a device call carries %.1f MiB of %d MiB\n", t/1048576, l }'
if [ "$total" -gt $LIMIT ]; then
  echo "  OVER THE LIMIT: run with --slim (a clean checkout), or leave more out" >&2; exit 1
fi
if [ -f "$KIT/prebuilt/libLibTorchSharp.so.xz" ]; then
  echo "  device command: xz -d gpu-kit/prebuilt/libLibTorchSharp.so.xz && bash gpu-kit/run.sh   (carry [\"gpu-kit\"])"
else
  echo "  device command: bash gpu-kit/run.sh   (carry [\"gpu-kit\"]; the native library is built there)"
fi
