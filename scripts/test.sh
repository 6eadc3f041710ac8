#!/usr/bin/env bash
# The whole test suite: set-up, bundle, type checks, every test. Prints a
# closing "tests: N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
mkdir -p test-artifacts
node scripts/build.mjs || exit 1
npx tsc --noEmit -p tsconfig.json || exit 1
npx tsc --noEmit -p tsconfig.test.json || exit 1
npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@"
rc=$?
node scripts/summary.mjs test-artifacts/vitest.json || rc=1
exit $rc
