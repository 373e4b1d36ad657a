#!/usr/bin/env bash
# scripts/e2e.sh - kentry's tests inside a real VS Code.
#
# The machine that runs CI cannot download VS Code (what @vscode/test-electron does), so we run the
# VS Code web workbench that code-server ships (VS Code 1.139 + a Node extension host) and drive it
# with headless Chromium through playwright-core:
#   A  extension-host mocha suite (test/e2e/suite/*.test.ts), loaded through extensionTestsPath,
#      the exit code comes back from the workbench (test/e2e/run-extension-tests.cjs);
#   B  UI test: gutter breakpoint on `swapgs` in the seed file, F5, read the views, hover, screenshots
#      (test/e2e/ui-test.cjs);
#   C  packaging: npm run package, check kentry.vsix (scripts/e2e/check-vsix.mjs), install it into a
#      clean code-server and run the UI test against the installed extension;
#   S  (not in the default set) the README's pictures: the UI test on the BUNDLED sample
#      (samples/entry_64.S, never the seed) with its screenshots copied to docs/images/.
#
# Usage: scripts/e2e.sh [--install-only]
# Env (all optional):
#   CS_CACHE=<repo>/.vscode-test-cs  where node@24, code-server, playwright-core and their HOME live
#   E2E_SUITES="A B C"               which suites to run
#   E2E_VSIX=path.vsix               suite C: test this package instead of running npm run package
#   E2E_SKIP_BUILD=1                 use the existing dist/ and out/e2e/
#   E2E_TIMEOUT=300                  seconds for suite A
#   ARTIFACTS=<repo>/test-artifacts  screenshots and logs
#   E2E_EXTENSION_DIR=<repo>         the extension under test (package.json + dist/)
#   E2E_TESTS=<repo>/out/e2e/index.js  the bundled extension-host suite
#   CHROME_BIN=/usr/bin/chromium     KEEP_SERVER=1 leaves code-server running   VERBOSE=1
# Runs the same with CI=true or not: nothing prompts, nothing reads stdin; installs are idempotent
# and cached; root is only needed the first time, for apt-get. Exit 0 only when every suite passed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CS_CACHE:-$REPO/.vscode-test-cs}
mkdir -p "$CACHE"; CACHE=$(cd "$CACHE" && pwd)
CS_VERSION=4.139.1
PW_VERSION=1.65.1
NODE_SPEC=node@24
export CHROME_BIN=${CHROME_BIN:-/usr/bin/chromium}
SUITES=${E2E_SUITES:-A B C}
ARTIFACTS=${ARTIFACTS:-$REPO/test-artifacts}
SEED_DIR=$(cd "$REPO/.." && pwd)/shared/seed
SEED_FILE=entry_SYSCALL_64.v5.8.13.annotated.S
log() { echo "[e2e ${SECONDS}s] $*"; }
# The project's own Node builds and packages; code-server and the drivers run on the cached Node 24.
ORIG_PATH=$PATH ORIG_HOME=$HOME
export DEBIAN_FRONTEND=noninteractive NPM_CONFIG_YES=true

# ------------------------------------------------------------------ installs (cached)
install_system_packages() {
  local missing=""
  command -v "$CHROME_BIN" >/dev/null 2>&1 || missing="chromium"
  # code-server's native modules (kerberos) build against these the first time only.
  if [ ! -f "$CACHE/cs/.installed" ]; then
    for p in libkrb5-dev pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  fi
  [ -z "$missing" ] && return 0
  log "apt-get install$missing"
  if [ "$(id -u)" != 0 ]; then log "need root to install:$missing"; exit 2; fi
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends $missing </dev/null >/dev/null
}

install_node_tools() {
  if [ ! -x "$CACHE/node/node_modules/node/bin/node" ]; then
    log "npm install $NODE_SPEC (code-server 4.139 needs Node 24)"
    mkdir -p "$CACHE/node"; echo '{"private":true}' > "$CACHE/node/package.json"
    (cd "$CACHE/node" && npm install --no-audit --no-fund --loglevel=error "$NODE_SPEC" </dev/null)
  fi
  export PATH="$CACHE/node/node_modules/node/bin:$PATH"
  if [ ! -f "$CACHE/cs/.installed" ]; then
    log "npm install code-server@$CS_VERSION playwright-core@$PW_VERSION with node $(node -v)"
    rm -rf "$CACHE/cs"; mkdir -p "$CACHE/cs"; echo '{"private":true}' > "$CACHE/cs/package.json"
    (cd "$CACHE/cs" && npm install --no-audit --no-fund --loglevel=error \
      "code-server@$CS_VERSION" "playwright-core@$PW_VERSION" </dev/null)
    # code-server's postinstall installs lib/vscode's own modules; without it the server cannot start.
    [ -d "$CACHE/cs/node_modules/code-server/lib/vscode/node_modules" ] \
      || { log "code-server's postinstall did not run (npm blocked install scripts?)"; exit 2; }
    touch "$CACHE/cs/.installed"
  fi
}

install_system_packages
install_node_tools
CS_BIN="$CACHE/cs/node_modules/.bin/code-server"
# From here on code-server and Chromium (even `code-server --version`) write config, logs and crash
# reports into HOME/XDG dirs: keep them inside the cache. (npm above used the real HOME for its cache.)
export HOME="$CACHE/home" XDG_CONFIG_HOME="$CACHE/home/.config" XDG_DATA_HOME="$CACHE/home/.local/share" \
  XDG_CACHE_HOME="$CACHE/home/.cache"
mkdir -p "$HOME"
log "tools: node $(node -v), code-server $("$CS_BIN" --version 2>/dev/null | grep -Eo '^[0-9]+\.[0-9.]+' | head -1), $("$CHROME_BIN" --version 2>/dev/null)"
[ "${1:-}" = "--install-only" ] && exit 0

# ------------------------------------------------------------------ build
if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then
  log "build: dist/ (scripts/build.mjs) and the e2e suite (out/e2e)"
  (cd "$REPO" && export PATH="$ORIG_PATH" HOME="$ORIG_HOME" && node scripts/build.mjs && node scripts/e2e/build-suite.mjs) \
    || { log "FAILED: the build failed, no suite ran"; exit 1; }
fi
EXT_DIR=${E2E_EXTENSION_DIR:-$REPO}
[ -f "$EXT_DIR/dist/extension.js" ] || { log "$EXT_DIR/dist/extension.js missing: run npm run build"; exit 2; }
TESTS=${E2E_TESTS:-$REPO/out/e2e/index.js}
[ -f "$TESTS" ] || { log "$TESTS missing: run node scripts/e2e/build-suite.mjs"; exit 2; }

# ------------------------------------------------------------------ workspace + server
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
mkdir -p "$ARTIFACTS"; ARTIFACTS=$(cd "$ARTIFACTS" && pwd)
# Suite A writes activation.json here (the extension host inherits code-server's environment).
export KENTRY_ARTIFACTS="$ARTIFACTS"
export PW_DIR="$CACHE/cs"
CS_PID=""

# A fresh workspace + user data dir for one server: the seed (read from ../shared/seed, copied only
# into this throwaway folder) and a launch.json that runs the bundled program through it; or, for
# the screenshots (suite S), the bundled sample entry_64.S and its own launch.json.
prepare_instance() {   # <dir> [sample]
  mkdir -p "$1/workspace/.vscode" "$1/ud/User" "$1/exts"
  if [ "${2:-}" = sample ]; then
    cp "$REPO/samples/entry_64.S" "$1/workspace/"
    cp "$REPO/test/e2e/workspace-sample/.vscode/launch.json" "$1/workspace/.vscode/launch.json"
  else
    cp "$SEED_DIR/$SEED_FILE" "$1/workspace/"
    # The seed's note, for the kentry.annotationNotes test (suite A).
    cp "$SEED_DIR/${SEED_FILE%.S}.md" "$1/workspace/" 2>/dev/null || true
    cp "$REPO/test/e2e/workspace/.vscode/launch.json" "$1/workspace/.vscode/launch.json"
  fi
  cp "$REPO/test/e2e/workspace/settings.json" "$1/ud/User/settings.json"
  echo 'auth: none' > "$1/config.yaml"   # else code-server writes ~/.config/code-server/config.yaml
}

start_server() {   # <dir>; sets BASE and CS_PID
  local dir=$1 port
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  # setsid: its own process group, so server, extension hosts, file watchers all go with one kill.
  # enable-smoke-test-driver: a built workbench honours the payload's extensionDevelopmentPath/TestsPath
  # only with it. reconnection-grace-time: else closed pages keep extension hosts alive for hours.
  setsid "$CS_BIN" --config "$dir/config.yaml" --auth none --bind-addr "127.0.0.1:$port" \
    --user-data-dir "$dir/ud" --extensions-dir "$dir/exts" --disable-telemetry --disable-update-check \
    --disable-workspace-trust --disable-getting-started-override --reconnection-grace-time 5 \
    --vscode-option enable-smoke-test-driver "$dir/workspace" >"$dir/code-server.log" 2>&1 </dev/null &
  CS_PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz" 2>/dev/null | grep -q 200 && { log "code-server at $BASE"; return 0; }
    kill -0 "$CS_PID" 2>/dev/null || { log "code-server died:"; tail -20 "$dir/code-server.log"; return 2; }
    sleep 0.2
  done
  log "code-server did not answer /healthz"; return 2
}

stop_server() {
  [ -n "$CS_PID" ] || return 0
  if [ "${KEEP_SERVER:-0}" = 1 ]; then log "code-server left running: $BASE (kill -- -$CS_PID)"; CS_PID=""; return 0; fi
  kill -- "-$CS_PID" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 -- "-$CS_PID" 2>/dev/null || break; sleep 0.2; done
  kill -9 -- "-$CS_PID" 2>/dev/null || true
  CS_PID=""
}

finish() {
  stop_server
  for d in "$RUN"/*/; do [ -f "$d/code-server.log" ] && cp "$d/code-server.log" "$ARTIFACTS/code-server-$(basename "$d").log"; done
  [ "${KEEP_SERVER:-0}" = 1 ] || rm -rf "$RUN"   # throwaway workspaces (seed copies), user data, logs
}
trap finish EXIT

rcA=0; rcB=0; rcC=0
if [[ " $SUITES " == *" A "* || " $SUITES " == *" B "* ]]; then
  prepare_instance "$RUN/dev"
  start_server "$RUN/dev"
  if [[ " $SUITES " == *" A "* ]]; then
    log "A: extension-host suite"
    set +e
    node "$REPO/test/e2e/run-extension-tests.cjs" "$BASE" "$RUN/dev/workspace" "$EXT_DIR" "$TESTS" \
      "${E2E_TIMEOUT:-300}" 2>&1 | tee "$ARTIFACTS/e2e-A.log"
    rcA=${PIPESTATUS[0]}; set -e
    log "A: exit $rcA"
  fi
  if [[ " $SUITES " == *" B "* ]]; then
    log "B: UI test (extension under development)"
    set +e
    node "$REPO/test/e2e/ui-test.cjs" "$BASE" "$RUN/dev/workspace" "$EXT_DIR" "$SEED_FILE" "$ARTIFACTS" 2>&1 | tee "$ARTIFACTS/e2e-B.log"
    rcB=${PIPESTATUS[0]}; set -e
    log "B: exit $rcB"
  fi
  stop_server
fi
if [[ " $SUITES " == *" C "* ]]; then
  # C: what a user installs. Package kentry.vsix, check its contents, install it into a clean
  # code-server and run the same UI test against the installed extension.
  VSIX=${E2E_VSIX:-}
  if [ -z "$VSIX" ]; then
    log "C: npm run package"
    (cd "$REPO" && PATH="$ORIG_PATH" HOME="$ORIG_HOME" npm run --silent package </dev/null >"$ARTIFACTS/package.log" 2>&1) \
      || { tail -20 "$ARTIFACTS/package.log"; rcC=1; }
    VSIX="$REPO/kentry.vsix"
  fi
  if [ "$rcC" = 0 ]; then
    set +e
    node "$REPO/scripts/e2e/check-vsix.mjs" "$VSIX" 2>&1 | tee "$ARTIFACTS/e2e-C.log"
    rcC=${PIPESTATUS[0]}; set -e
  fi
  if [ "$rcC" = 0 ]; then
    prepare_instance "$RUN/vsix"
    "$CS_BIN" --extensions-dir "$RUN/vsix/exts" --user-data-dir "$RUN/vsix/ud" --install-extension "$VSIX" </dev/null >>"$ARTIFACTS/e2e-C.log" 2>&1 \
      || { log "C: installing $VSIX failed"; rcC=1; }
  fi
  if [ "$rcC" = 0 ]; then
    start_server "$RUN/vsix"
    log "C: UI test (installed kentry.vsix)"
    set +e
    UI_SHOT_PREFIX=vsix- node "$REPO/test/e2e/ui-test.cjs" "$BASE" "$RUN/vsix/workspace" - "$SEED_FILE" "$ARTIFACTS" 2>&1 | tee -a "$ARTIFACTS/e2e-C.log"
    rcC=${PIPESTATUS[0]}; set -e
    stop_server
  fi
  log "C: exit $rcC"
fi
rcS=0
if [[ " $SUITES " == *" S "* ]]; then
  # S: README pictures from the bundled sample (ours, MIT): the same UI test, curated shots to docs/images.
  prepare_instance "$RUN/sample" sample
  start_server "$RUN/sample"
  log "S: UI test on samples/entry_64.S for docs/images"
  set +e
  UI_SHOT_PREFIX=sample- node "$REPO/test/e2e/ui-test.cjs" "$BASE" "$RUN/sample/workspace" "$EXT_DIR" entry_64.S "$ARTIFACTS" 2>&1 | tee "$ARTIFACTS/e2e-S.log"
  rcS=${PIPESTATUS[0]}; set -e
  stop_server
  if [ "$rcS" = 0 ]; then
    mkdir -p "$REPO/docs/images"
    for pair in ui-hover.png:hover-annotation.png ui-hover-live.png:hover-live-value.png ui-stopped.png:stopped-on-swapgs.png \
        ui-view-msrs.png:view-msrs.png ui-view-msrs-after-swapgs.png:view-msrs-after-swapgs.png ui-view-percpu.png:view-percpu-tss.png \
        ui-view-paging.png:view-cr3-paging.png ui-view-ptregs-frame.png:view-pt-regs.png ui-view-sysret.png:view-sysret-checks.png \
        ui-variables.png:variables.png ui-stack-diagram-frame.png:stack-diagram.png; do
      cp "$ARTIFACTS/sample-${pair%%:*}" "$REPO/docs/images/${pair##*:}"
    done
    log "S: pictures in docs/images/"
  fi
  log "S: exit $rcS"
fi
if [ "$rcA" = 0 ] && [ "$rcB" = 0 ] && [ "$rcC" = 0 ] && [ "$rcS" = 0 ]; then log "ALL PASSED ($SUITES)"; exit 0; fi
log "FAILED (A=$rcA B=$rcB C=$rcC S=$rcS)"; exit 1
