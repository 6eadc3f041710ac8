#!/usr/bin/env node
// Prints the closing line of a test run: vitest's JSON report plus other
// suites' {"passed","failed"} summaries (a missing one is a failure).
import { existsSync, readFileSync } from "node:fs";

const [vitestFile, ...others] = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
try {
  const r = JSON.parse(readFileSync(vitestFile, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (r.numTotalTests === 0) failed += 1;
} catch (e) {
  console.error(`summary: cannot read ${vitestFile}: ${e.message}`);
  failed += 1;
}
for (const f of others) {
  if (process.env.NATNOW_SKIP_KMOD === "1" && f.includes("kmod")) continue;
  if (!existsSync(f)) {
    console.error(`summary: ${f} missing: that suite did not finish`);
    failed += 1;
    continue;
  }
  const s = JSON.parse(readFileSync(f, "utf8"));
  passed += s.passed;
  failed += s.failed;
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
