#!/usr/bin/env node
// Prints the closing line of a test run: vitest JSON reports and other
// suites' {"passed","failed"} summaries (a missing one is a failure, unless
// its suite was skipped on purpose with NATNOW_SKIP_KMOD / NATNOW_SKIP_E2E).
// Skipped tests (no root, no chromium, ...) are counted and make the run
// fail: a suite that did not run is not green.
import { existsSync, readFileSync } from "node:fs";

let passed = 0, failed = 0, skipped = 0;
for (const f of process.argv.slice(2)) {
  if (process.env.NATNOW_SKIP_KMOD === "1" && f.includes("kmod")) continue;
  if (process.env.NATNOW_SKIP_E2E === "1" && f.includes("e2e")) continue;
  if (!existsSync(f)) {
    console.error(`summary: ${f} missing: that suite did not finish`);
    failed += 1;
    continue;
  }
  try {
    const r = JSON.parse(readFileSync(f, "utf8"));
    if ("numTotalTests" in r) {
      // a vitest report
      passed += r.numPassedTests;
      failed += r.numFailedTests;
      skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      if (r.numTotalTests === 0) failed += 1;
    } else {
      passed += r.passed;
      failed += r.failed;
    }
  } catch (e) {
    console.error(`summary: cannot read ${f}: ${e.message}`);
    failed += 1;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (skipped) console.error("summary: skipped tests did not run: this run is not green");
process.exit(failed || skipped ? 1 : 0);
