#!/usr/bin/env bash
# Runs every test of Distill Studio on a fresh Debian machine that has the .NET 10 SDK.
# Installs what the tests need when it is missing, builds once in Release, runs all test projects,
# and ends with one summary line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RESULTS="$ROOT/tests/.results"
rm -rf "$RESULTS"; mkdir -p "$RESULTS"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== tests/run.sh builds the solution in Release and runs every test project. It needs three Debian packages and"
echo "   installs the missing ones with apt-get (sudo when not root): chromium (the browser tests drive it through"
echo "   Playwright), postgresql and redis-server (the many-machines tests start private servers in temporary folders)."
echo "   Everything the tests read is in the repository (tests/fixtures, src/Studio.Ml/Assets); nothing beside it."
# Debian packages the browser tests need (Playwright drives Debian's chromium; no browser download is possible).
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# The many-machines tests run a real PostgreSQL and Redis (started below, in temporary directories).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || { echo "could not install ${need[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi

echo "== build (Release)"
if ! dotnet build Studio.sln -c Release -nologo -v:q -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

echo "== test services"
source tests/services.sh
trap stop_test_services EXIT
if ! start_test_services; then
  echo "could not start PostgreSQL and Redis for the tests"; echo "0 passed, 1 failed"; exit 1
fi

echo "== test"
# A 256 MB first-generation budget: a tenth of the garbage collections (a toy run of 200 updates: 26 against 295 with
# the default), so a tenth of the chances of the TorchSharp Scalar hazard in the test hosts and the studios they start
# (docs/ARCHITECTURE.md, "TorchSharp temporaries and the garbage collector"); it can only be set from the environment.
export DOTNET_GCgen0size=0x10000000
dotnet test Studio.sln -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$RESULTS" "$@"
status=$?

# Sum the counters of every TRX file (one per test project).
passed=0; failed=0
for trx in "$RESULTS"/*.trx; do
  [ -f "$trx" ] || continue
  line=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(echo "$line" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*')
  f=$(echo "$line" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*')
  e=$(echo "$line" | grep -o ' error="[0-9]*"' | grep -o '[0-9]*')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
done
projects=$(ls tests/*/*.Tests.csproj | wc -l)
trxs=$(ls "$RESULTS"/*.trx 2>/dev/null | wc -l)
if [ "$trxs" -lt "$projects" ]; then
  echo "only $trxs of $projects test projects reported results (a test host crashed?)"
  failed=$((failed + projects - trxs))
fi
if [ $status -ne 0 ] && [ $failed -eq 0 ]; then failed=1; fi
# Name every failed test again at the very end, with the first lines of its message, so that the tail of the
# log (all that a CI summary may keep) says what failed.
if [ $failed -gt 0 ]; then
  echo "== failed tests"
  python3 - "$RESULTS" <<'PY' || grep -h -o 'testName="[^"]*"[^>]*outcome="Failed"' "$RESULTS"/*.trx
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for trx in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for r in ET.parse(trx).getroot().iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") != "Failed": continue
        message = r.find(".//t:ErrorInfo/t:Message", ns)
        lines = (message.text or "").strip().splitlines() if message is not None else []
        print("FAILED " + r.get("testName", "?"))
        for line in lines[:6]: print("    " + line[:300])
PY
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
