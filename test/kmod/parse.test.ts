/**
 * natnow.ko's command parser (openwrt-feed/kmod-natnow/src/natnow_parse.c)
 * run alone: the same file built in userspace with gcc (-Wall -Wextra
 * -Werror, AddressSanitizer and UBSan) against small stand-ins for the
 * kernel helpers it uses (test/kmod/parse/shim/), driven by parse_main.c,
 * which prints each parsed command in the syntax the module shows scopes in.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planWrites } from "../../src/backend/kmod-protocol.ts";
import { repoRoot } from "../helpers/fixtures.ts";
import { configText, planOf } from "../helpers/plan.ts";

let dir: string;
let bin: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-parse-"));
  bin = join(dir, "parse");
  execFileSync("gcc", ["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
    "-I", join(repoRoot, "test/kmod/parse/shim"), "-I", join(repoRoot, "openwrt-feed/kmod-natnow/src"), "-o", bin,
    join(repoRoot, "test/kmod/parse/parse_main.c"), join(repoRoot, "openwrt-feed/kmod-natnow/src/natnow_parse.c")]);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the parser made of a write: its commands as shown, or the refusal; the exit status apart. */
function parse(write: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(bin, [], { input: write, encoding: "utf8", env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1" } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe("natnow_parse.c in userspace", () => {
  const accepted: [string, string][] = [
    ["arm family=ipv4 proto=17 dport=5060", "arm ttl=0 family=ipv4 proto=17 dport=5060"],
    ["arm ttl=30 family=ipv4 dst=198.18.1.7/24,!198.18.1.1 | family=ipv6 src=2001:db8::1/64",
      "arm ttl=30 family=ipv4 dst=198.18.1.0/24,!198.18.1.1/32 | family=ipv6 src=2001:db8::/64"],
    ["kill family=ipv4 reply-src=198.18.1.20 reply-sport=5060 dnat=1 except family=ipv4 snat=1",
      "kill hold=2000 family=ipv4 reply-src=198.18.1.20/32 reply-sport=5060 dnat=1 except family=ipv4 snat=1"],
    ["kill hold=0 family=ipv6 sport=1-1024,!22 replied=0", "kill hold=0 family=ipv6 sport=1-1024,!22 replied=0"],
    ["  disarm", "disarm"],
    ["arm family=ipv4  proto=6", "arm ttl=0 family=ipv4 proto=6"],
  ];
  for (const [write, shown] of accepted) {
    it(`accepts ${JSON.stringify(write)}`, () => {
      expect(parse(`${write}\n`)).toEqual({ status: 0, out: `${shown}\n`, err: "" });
    });
  }

  const refused: [string, string][] = [
    ["arm family=ipv4 bogus=1", "unknown key"],
    ["arm proto=17", "a selector starts with family="],
    ["arm family=ipx", "family is ipv4 or ipv6"],
    ["arm ttl=0 family=ipv4", "ttl must be positive"],
    ["arm ttl=432001 family=ipv4", "bad number"],
    ["kill hold=60001 family=ipv4", "bad number"],
    ["arm family=ipv4 dst=198.18.1.300", "bad address"],
    ["arm family=ipv4 dst=198.18.1.0/33", "bad prefix length"],
    ["arm family=ipv4 dport=70000", "bad port"],
    ["arm family=ipv4 dport=9-5", "port range backwards"],
    ["arm family=ipv4 dport=5 dport=6", "field given twice"],
    ["arm family=ipv4 dnat=2", "expected 0 or 1"],
    ["arm family=ipv4 proto=256", "bad protocol number"],
    ["kill family=ipv4 | family=ipv4", "kill takes except clauses"],
    ["arm family=ipv4 except family=ipv4", "arm selectors are separated by |"],
    ["disarm now", "disarm takes nothing"],
    ["reboot", "unknown command"],
    ["arm family=ipv4 dst=", "expected key=value"],
    ["arm family=ipv4 dst=\t1.2.3.4", "unprintable character"],
    ["", "empty command"],
  ];
  for (const [write, why] of refused) {
    it(`refuses ${JSON.stringify(write)}: ${why}`, () => {
      const r = parse(`${write}\n`);
      expect(r.status).toBe(1);
      expect(r.out).toMatch(new RegExp(`^refused line 1: ${why.replace(/[|]/g, "\\|")} \\(-22\\)\n$`));
      expect(r.err).toBe("");
    });
  }

  it("refuses a write of 65 lines, and names the line that failed", () => {
    expect(parse("disarm\n".repeat(65)).out).toBe("refused line 65: too many lines (-22)\n");
    expect(parse("disarm\nreboot\n").out).toBe("refused line 2: unknown command (-22)\n");
    expect(parse("").out).toBe("refused line 1: nothing to do (-22)\n");
  });

  it("parses every write natnow makes for the fw4 examples, and what it shows parses to itself", () => {
    const pairs: [string, string][] = [["fw4:a", "fw4:b"], ["fw4:b", "fw4:a"], ["fw4:a", "fw4:c"], ["fw4:c", "fw4:a"]];
    let n = 0;
    for (const [from, to] of pairs) {
      for (const w of planWrites(planOf(configText(from), configText(to)).plan.selectors, { ttl: 60 })) {
        const first = parse(w);
        expect(first.status, w).toBe(0);
        expect(parse(first.out)).toEqual(first);
        n++;
      }
    }
    expect(n).toBeGreaterThan(4);
  });

  it("never crashes, leaks or reads out of bounds on mangled writes (AddressSanitizer, UBSan)", () => {
    const base = "arm ttl=30 family=ipv4 proto=17 src=198.18.1.0/24,!198.18.1.1 dport=5060-5061 | family=ipv6 dst=2001:db8::1/64\n" +
      "kill hold=100 family=ipv4 reply-src=198.18.1.20 except family=ipv4 snat=1\n";
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length), fc.string({ maxLength: 3 }))), (edits) => {
      let w = base;
      for (const [at, s] of edits) w = w.slice(0, at) + s + w.slice(at + 1);
      const r = parse(w);
      return (r.status === 0 || r.status === 1) && r.err === "";
    }), { numRuns: 150 });
  });
});
