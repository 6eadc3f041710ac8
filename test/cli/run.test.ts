/** `--json` always answers with JSON on stdout, errors included: rpcd makes an empty stdout UBUS_STATUS_NO_DATA (5). */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../src/cli/run.ts";
import type { Host } from "../../src/host/host.ts";
import { createNodeHost } from "../../src/host/node.ts";
import { utf8Decode } from "../../src/base/utf8.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-run-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The Node host with its output captured; `change` replaces some of its methods. */
async function host(change: Partial<Host> = {}): Promise<{ h: Host; out: () => string; err: () => string }> {
  const base = await createNodeHost();
  let o = "";
  let e = "";
  const h: Host = {
    ...base,
    writeStdout: (d) => void (o += utf8Decode(d)),
    writeStderr: (d) => void (e += utf8Decode(d)),
    ...change,
  };
  return { h, out: () => o, err: () => e };
}

/** A clock that jumps 10 s at each sleep. */
function clock(): Partial<Host> {
  let t = 0;
  return { now: () => t, sleep: () => void (t += 10_000) };
}

describe("natnow --json on its error paths", () => {
  const cases: { name: string; argv: () => string[]; change?: Partial<Host>; prepare?: () => void; exit: number; error: RegExp }[] = [
    { name: "an unknown option", argv: () => ["status", "--json", "--bogus"], exit: 64, error: /^unknown option '--bogus'$/ },
    { name: "plan without its config", argv: () => ["plan", "--json", "--config", join(dir, "missing")], exit: 2, error: /^config: cannot read '.*missing'$/ },
    {
      name: "another run holds the lock", argv: () => ["run", "--json", "--state-dir", dir],
      // pid 1 is alive; the 30 s wait passes in three sleeps of this clock
      prepare: () => writeFileSync(join(dir, "lock"), "1\n"), change: clock(), exit: 69, error: /another run holds .*\/lock; nothing done$/,
    },
    {
      name: "an internal error", argv: () => ["status", "--json", "--state-dir", dir],
      change: { readFile: () => { throw new Error("the disk fell off"); } }, exit: 70, error: /^internal error: the disk fell off$/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: one JSON object on stdout with the reason, no stack; the exit status kept`, async () => {
      c.prepare?.();
      const { h, out, err } = await host(c.change);
      const code = run(h, c.argv());
      expect(code).toBe(c.exit);
      const answer = JSON.parse(out());
      expect(answer).toMatchObject({ ok: false, exit: c.exit });
      expect(answer.error).toMatch(c.error);
      expect(answer.error).not.toMatch(/\n|\bat /);
      expect(err()).not.toBe(""); // stderr keeps the text for the log
    });
  }

  it("without --json the same error prints nothing on stdout", async () => {
    const { h, out } = await host();
    expect(run(h, ["status", "--bogus"])).toBe(64);
    expect(out()).toBe("");
  });

  it("a command that answered keeps its own JSON, also when it failed", async () => {
    writeFileSync(join(dir, "bad.json"), "{");
    const { h, out } = await host();
    const code = run(h, ["apply", "--json", "--ruleset", join(dir, "bad.json"), "--state-dir", dir]);
    expect(code).not.toBe(0);
    const lines = out().trim().split("\n");
    expect(() => JSON.parse(out())).not.toThrow();
    expect(lines.filter((l) => l.startsWith("{")).length).toBe(1);
  });
});
