#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, type-checks and lints,
# runs the unit, DAP and real-source suites (mocha), then the tests in a real VS Code
# (code-server + Chromium). Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
# Under `npm test`, npm exports npm_config_* (its user agent names Node 20, for one); nested npm installs of
# other Node versions (code-server needs Node 24) would take them as their own config. Start clean.
for v in $(compgen -e | grep -E '^npm_'); do unset "$v"; done
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
# Oracles and real inputs (cached under .cache/, skipped when ready): Debian's Linux 6.1 and 6.12
# trees, prepared, for the real-source suites; a small 6.1 kernel + initramfs for the QEMU engine.
bash scripts/linux-trees.sh || { echo "0 passed, 1 failed"; exit 1; }
bash scripts/test-kernel/build.sh || { echo "0 passed, 1 failed"; exit 1; }
export KENTRY_QEMU_TESTS=1

failed=0; passed=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== $name FAILED"; fi
}

step "build" node scripts/build.mjs
step "lint + typecheck" npm run -s lint

mkdir -p test-artifacts
npx mocha --reporter spec 2>&1 | tee test-artifacts/mocha.log
mocha_rc=${PIPESTATUS[0]}
m_pass=$(grep -Eo '^ +[0-9]+ passing' test-artifacts/mocha.log | grep -Eo '[0-9]+' | tail -1)
m_fail=$(grep -Eo '^ +[0-9]+ failing' test-artifacts/mocha.log | grep -Eo '[0-9]+' | tail -1)
passed=$((passed + ${m_pass:-0})); failed=$((failed + ${m_fail:-0}))
if [ "$mocha_rc" != 0 ] && [ "${m_fail:-0}" = 0 ]; then failed=$((failed + 1)); fi

if [ "${KENTRY_SKIP_E2E:-0}" != 1 ] && [ -f scripts/e2e.sh ]; then
  step "tests in a real VS Code (code-server + Chromium)" bash scripts/e2e.sh
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
