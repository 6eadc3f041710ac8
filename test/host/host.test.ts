import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeHost } from "../../src/host/node.ts";
import { contractCases, runContract } from "./contract.ts";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { qjsPath } from "../helpers/qjs.ts";
import { repoRoot } from "../helpers/fixtures.ts";

let nodeResults: Record<string, unknown>;
let qjsResults: Record<string, unknown>;
const dirs: string[] = [];

beforeAll(async () => {
  process.env.NATNOW_CONTRACT_ENV = "xyz";
  // a FAKE logger first in PATH: records what it is given instead of syslog
  process.env.PATH = `${join(repoRoot, "test/fixtures/bin")}:${process.env.PATH}`;
  const savedArgv = process.argv;
  process.argv = [savedArgv[0], "contract-runner", "contract", "--flag"];
  const d1 = mkdtempSync(join(tmpdir(), "natnow-contract-node-"));
  const d2 = mkdtempSync(join(tmpdir(), "natnow-contract-qjs-"));
  dirs.push(d1, d2);
  process.env.NATNOW_FAKE_LOG = join(d1, "syslog");
  try {
    nodeResults = await runContract(await createNodeHost(), d1);
  } finally {
    process.argv = savedArgv;
  }
  const bundle = await build({
    entryPoints: [join(repoRoot, "test/host/contract-entry.ts")],
    bundle: true, write: false, format: "esm", platform: "neutral", target: "es2020", external: ["node:*"],
  });
  process.env.NATNOW_CONTRACT_DIR = d2;
  process.env.NATNOW_FAKE_LOG = join(d2, "syslog");
  // the router's engine, a native qjs with its std and os modules
  const script = join(d2, "contract.js");
  writeFileSync(script, bundle.outputFiles[0].text);
  const run = spawnSync(qjsPath(), ["--std", "-m", script, "contract", "--flag"], { encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) throw new Error(`QuickJS contract run failed (status ${run.status}): ${run.stderr}`);
  qjsResults = JSON.parse(run.stdout) as Record<string, unknown>;
}, 120_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("host contract", () => {
  for (const c of contractCases) {
    it(`node: ${c.name}`, () => expect(nodeResults[c.name]).toEqual(c.expect));
    it(`qjs: ${c.name}`, () => expect(qjsResults[c.name]).toEqual(c.expect));
  }
});
