/** The rpcd answers the LuCI page is tested with have the fields natnow's CLI prints today. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emptyResult } from "../../src/backend/result.ts";
import { run } from "../../src/cli/run.ts";
import { formatRuns } from "../../src/apply/state.ts";
import type { Host } from "../../src/host/host.ts";
import { createNodeHost } from "../../src/host/node.ts";
import { utf8Decode } from "../../src/base/utf8.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const reply = (n: string) => JSON.parse(readFileSync(fixturePath("luci", `${n}.json`), "utf8"));
const keys = (o: object) => Object.keys(o).sort();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-luci-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<unknown> {
  const base = await createNodeHost();
  let o = "";
  const h: Host = { ...base, writeStdout: (d) => void (o += utf8Decode(d)), writeStderr: () => undefined };
  run(h, argv);
  return JSON.parse(o);
}

describe("test/fixtures/luci", () => {
  it("status.json has the fields of `natnow status --json`, and its runs those of a run record", async () => {
    const status = reply("status");
    writeFileSync(join(dir, "runs.json"), formatRuns(status.runs));
    const printed = await cli(["status", "--json", "--state-dir", dir, "--policy", join(dir, "none")]) as Record<string, unknown>;
    expect(keys(status)).toEqual(keys(printed));
    expect(printed.runs).toEqual(status.runs);
    expect(keys(status.daemon)).toEqual(keys(printed.daemon as object));
  });

  it("apply.json and plan.json have the fields of `natnow run --json`: a run record, the plan in words, the commands", async () => {
    const rs = (n: string) => fixturePath("ruleset", `${n}.json`);
    const record = await cli(["apply", "--json", "--dry-run", "--ruleset", rs("a"), "--previous-ruleset", rs("b"),
      "--interfaces", fixturePath("fw4-examples", "a", "interfaces.json"), "--state-dir", dir]) as Record<string, unknown>;
    const result = { ...emptyResult("conntrack") } as Record<string, unknown>;
    delete result.commands;
    delete result.errors;
    for (const n of ["apply", "plan"]) {
      expect(keys(reply(n))).toEqual([...keys(record), "planned"].sort());
      expect(keys(reply(n).result)).toEqual(keys(result));
    }
  });
});
