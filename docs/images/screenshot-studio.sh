# Sourced by docs/images/*-screenshot.sh: a temporary folder, a studio started in it and a Playwright app run against
# it, and the PNG written atomically. The caller sets `repo` (the checkout) first and uses `work`, `url` and `started`.

# A temporary folder ($work, removed on exit with the studio stopped) named after the script; `started` for the time.
screenshot_begin() {
  started=$SECONDS
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  web_pid=
  trap screenshot_end EXIT
}

screenshot_end() {
  if [[ -n $web_pid ]]; then kill "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# start_studio DATA [VAR=VALUE...]: the built studio (as the E2E tests start it) on a free loopback port with the data
# directory DATA (single-user mode, so no login) and the extra settings; sets `url` once /healthz answers.
start_studio() {
  local data=$1
  shift
  echo "starting the studio"
  env Urls=http://127.0.0.1:0 Studio__DataDirectory="$data" "$@" \
    dotnet "$repo/src/Studio.Web/bin/Release/net10.0/Studio.Web.dll" > "$work/studio.log" 2>&1 &
  web_pid=$!
  url=
  for _ in $(seq 1 240); do
    url=$(sed -n 's/^Distill Studio is listening on //p' "$work/studio.log" | head -n 1)
    [[ -n $url ]] && curl -sf "$url/healthz" > /dev/null && break
    if ! kill -0 "$web_pid" 2>/dev/null; then cat "$work/studio.log" >&2; echo "error: the studio exited" >&2; exit 1; fi
    url=
    sleep 0.5
  done
  if [[ -z $url ]]; then cat "$work/studio.log" >&2; echo "error: the studio did not become healthy in 2 minutes" >&2; exit 1; fi
  echo "studio at $url"
}

# playwright_app FILE [PROJECT.csproj...]: starts FILE, a .NET file-based app that references Playwright,
# tests/Studio.TestSupport (Browser.LaunchAsync) and the projects named; the caller appends its code. Outside the
# repository (so none of its build settings apply); PublishAot=false because such apps default to AOT settings, which
# turn off the reflection-based JSON that Playwright needs.
playwright_app() {
  local file=$1 project
  shift
  local version
  version=$(sed -n 's/.*PackageVersion Include="Microsoft.Playwright" Version="\([^"]*\)".*/\1/p' "$repo/Directory.Packages.props")
  if [[ -z $version ]]; then echo "error: Directory.Packages.props names no Microsoft.Playwright version" >&2; exit 1; fi
  mkdir -p "$(dirname "$file")"
  {
    echo "#:property PublishAot=false"
    echo "#:package Microsoft.Playwright@$version"
    echo "#:project $repo/tests/Studio.TestSupport/Studio.TestSupport.csproj"
    for project in "$@"; do echo "#:project $project"; done
  } > "$file"
}

# run_playwright_app FILE ARGS...: compiles and runs it; on failure shows the end of the studio's log.
run_playwright_app() {
  local file=$1
  shift
  echo "driving the studio (compiling $(basename "$file") first)"
  if ! dotnet run -c Release "$file" -- "$@"; then
    echo "the studio's log ends:" >&2; tail -n 40 "$work/studio.log" >&2; exit 1
  fi
}

# install_png FROM OUT: copies FROM to OUT atomically and says how long it all took.
install_png() {
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
  echo "wrote $2 in $((SECONDS - started)) s"
}
