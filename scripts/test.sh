#!/usr/bin/env bash
# The whole test suite: set-up, bundle, type checks, unit/property/bundle
# tests (vitest), the namespace end-to-end tests (vitest, one file at a
# time: they measure timing), then the kernel module in qemu. Prints a
# closing "tests: N passed, N failed" line over all of it.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
mkdir -p test-artifacts
rm -f test-artifacts/kmod/summary.json
node scripts/build.mjs || exit 1
npx tsc --noEmit -p tsconfig.json || exit 1
npx tsc --noEmit -p tsconfig.test.json || exit 1
rm -f test-artifacts/vitest.json test-artifacts/vitest-e2e.json test-artifacts/vitest-e2e-ct148.json
npx vitest run --exclude 'test/e2e/**' --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@"
rc=$?
e2e_reports=()
if [ "${NATNOW_SKIP_E2E:-0}" != 1 ]; then
  npx vitest run test/e2e --no-file-parallelism --reporter=default --reporter=json \
    --outputFile.json=test-artifacts/vitest-e2e.json || rc=1
  # the conntrack backend again with OpenWrt 24.10's conntrack-tools (1.4.8, built by setup.sh)
  NATNOW_CONNTRACK=${NATNOW_CACHE:-/var/cache/natnow}/tools/conntrack-1.4.8 \
    npx vitest run test/e2e/forward-added.test.ts test/e2e/forward-removed.test.ts test/e2e/masquerade.test.ts \
    test/e2e/bystanders.test.ts test/e2e/daemon.test.ts --no-file-parallelism --reporter=default --reporter=json \
    --outputFile.json=test-artifacts/vitest-e2e-ct148.json || rc=1
  e2e_reports=(test-artifacts/vitest-e2e.json test-artifacts/vitest-e2e-ct148.json)
fi
if [ "${NATNOW_SKIP_KMOD:-0}" != 1 ]; then
  bash test/kmod/run.sh || rc=1
fi
node scripts/summary.mjs test-artifacts/vitest.json "${e2e_reports[@]}" test-artifacts/kmod/summary.json || rc=1
exit $rc
