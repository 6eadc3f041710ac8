#!/usr/bin/env node
// Prints the closing line of a test run from vitest's JSON report.
import { readFileSync } from "node:fs";

const file = process.argv[2];
let r;
try {
  r = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`summary: cannot read ${file}: ${e.message}`);
  process.exit(1);
}
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
if (r.numTotalTests === 0) process.exit(1);
