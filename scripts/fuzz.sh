#!/usr/bin/env bash
# Long fuzzing run: every property in test/fuzz with N cases each (default 1000) and a random seed.
#   npm run fuzz                 # 1000 cases per property
#   bash scripts/fuzz.sh 20000   # more
#   KENTRY_FUZZ_SEED=123 bash scripts/fuzz.sh 1000   # replay the seed fast-check printed
# A failure prints the shrunk counterexample; keep it in test/fuzz/regressions.test.ts once fixed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null || exit 1
export KENTRY_FUZZ_RUNS="${1:-${KENTRY_FUZZ_RUNS:-1000}}"
echo "[fuzz] $KENTRY_FUZZ_RUNS cases per property${KENTRY_FUZZ_SEED:+, seed $KENTRY_FUZZ_SEED}"
exec npx mocha --no-config --require tsx/cjs --extension ts --timeout 0 --reporter spec 'test/fuzz/*.fuzz.test.ts'
