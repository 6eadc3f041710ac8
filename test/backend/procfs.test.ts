/**
 * The procfs backend against a fake of OpenWrt's patched /proc/net/nf_conntrack
 * (600-netfilter_conntrack_flush.patch): a write with ':' or '.' is an
 * address and kills every entry of that family with the address anywhere in
 * its tuples; any other write flushes. The fake holds the table as the text
 * the file shows and applies exactly that.
 */
import { describe, expect, it } from "vitest";
import { addressWrite, applyProcfs, reduce } from "../../src/backend/procfs.ts";
import type { Host } from "../../src/host/host.ts";
import { parseIp } from "../../src/net/ip.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { utf8Decode, utf8Encode } from "../../src/base/utf8.ts";
import { planOf, configText } from "../helpers/plan.ts";

const PATH = "/proc/net/nf_conntrack";

/** The fake patched file: a table of lines; writes follow the patch's documented semantics. */
class FakePatchedProcfs {
  writes: string[] = [];
  flushed = false;
  constructor(public lines: string[]) {}
  host(): Host {
    const fail = () => {
      throw new Error("not in this fake");
    };
    return {
      readFile: (p: string) => (p === PATH ? utf8Encode(this.lines.map((l) => l + "\n").join("")) : null),
      writeControl: (p: string, chunks: readonly string[]) => {
        if (p !== PATH) return `'${p}': ENOENT`;
        for (const c of chunks) {
          this.writes.push(c);
          const req = c.slice(0, 45).replace(/\n.*$/s, "");
          if (req.indexOf(":") < 0 && req.indexOf(".") < 0) {
            this.flushed = true;
            this.lines = [];
            continue;
          }
          const a = parseIp(req);
          if (!a) return `'${p}': EINVAL`;
          // kill_matching(): every entry of the family with the address as
          // source or destination of either tuple (read off the line's own
          // src=/dst= words, not through the backend's killedBy)
          const family = a.length === 4 ? "ipv4" : "ipv6";
          this.lines = this.lines.filter((l) => {
            const words = l.trim().split(/\s+/);
            const addrs = words.filter((w) => /^(src|dst)=/.test(w)).map((w) => parseIp(w.slice(4)));
            return words[0] !== family || !addrs.some((x) => x !== null && x.length === a.length && x.every((b, i) => b === a[i]));
          });
        }
        return null;
      },
    } as unknown as Host & { exec: typeof fail };
  }
}

const line = (src: string, dst: string, sport: number, dport: number, rsrc: string, rdst: string, unreplied = false) =>
  `ipv4     2 udp      17 29 src=${src} dst=${dst} sport=${sport} dport=${dport} ${unreplied ? "[UNREPLIED] " : ""}` +
  `src=${rsrc} dst=${rdst} sport=${dport} dport=${sport} mark=0 zone=0 use=2`;

// example b → a: redirect 'SIP' (wan 5060 → 198.18.1.20) removed
const SIP_FLOW = line("198.19.100.1", "198.19.100.2", 4000, 5060, "198.18.1.20", "198.19.100.1");
const OLD_HOST_OWN = line("198.18.1.20", "198.19.100.7", 5000, 443, "198.19.100.7", "198.19.100.2"); // collateral
// another forward to the same host: the address is only in its reply tuple (collateral)
const OTHER_FORWARD = line("198.19.100.9", "198.19.100.2", 6000, 8080, "198.18.1.20", "198.19.100.9");
const BYSTANDER = line("198.18.1.30", "198.19.100.7", 5001, 443, "198.19.100.7", "198.19.100.2");
const ROUTER = ["198.18.1.1/32", "198.19.100.2/32"];

describe("procfs writes", () => {
  const cases: [string, string | null][] = [
    ["198.18.1.20", "198.18.1.20\n"],
    ["2001:db8::20", "2001:db8::20\n"],
    ["fd00::1", "fd00::1\n"], // starts with f, but has ':' so the patch reads an address
    ["f", null],
    ["", null],
    ["198.18.1", null],
  ];
  for (const [addr, want] of cases) it(`'${addr}' → ${JSON.stringify(want)}`, () => expect(addressWrite(addr)).toBe(want));
});

describe("reducing selectors to one address", () => {
  it("a removed forward reduces to its old target, never to the router's address", () => {
    const p = planOf(configText("fw4:b"), configText("fw4:a"));
    const r = reduce(p.plan.selectors, ROUTER);
    expect(r.map((x) => x.address)).toEqual(["198.18.1.20", "198.18.1.20", "198.18.1.20"]);
  });
  it("an added forward: flows to the router have no single address; reflected ones have the target", () => {
    const p = planOf(configText("fw4:a"), configText("fw4:b"));
    const r = reduce(p.plan.selectors, ROUTER);
    expect(r.map((x) => x.address)).toEqual([null, "198.18.1.20", null]);
    expect(r[0].why).toMatch(/^not one address: renew ipv4 udp src 198.18.1.0\/24,!198.18.1.1 dst 198.19.100.2 dport 5060/);
  });
});

describe("procfs backend on the fake patched file", () => {
  const revokes = (): Selector[] => planOf(configText("fw4:b"), configText("fw4:a")).plan.selectors;

  it("refuses without the policy's consent and changes nothing", () => {
    const fake = new FakePatchedProcfs([SIP_FLOW, OLD_HOST_OWN, BYSTANDER]);
    const r = applyProcfs(fake.host(), revokes(), { collateral: false, routerAddresses: ROUTER });
    expect(r.errors[0]).toMatch(/procfs_collateral '1'/);
    expect([fake.writes, fake.lines.length]).toEqual([[], 3]);
  });

  it("with consent: writes the address once, counts the collateral, never flushes", () => {
    const fake = new FakePatchedProcfs([SIP_FLOW, OLD_HOST_OWN, OTHER_FORWARD, BYSTANDER]);
    const r = applyProcfs(fake.host(), revokes(), { collateral: true, routerAddresses: ROUTER });
    expect(fake.writes).toEqual(["198.18.1.20\n"]);
    expect(fake.flushed).toBe(false);
    expect(fake.lines).toEqual([BYSTANDER]);
    expect([r.matched, r.revoked, r.collateral, r.errors]).toEqual([1, 1, 2, []]);
    expect(r.byChange).toEqual([{ change: revokes()[0].reason, renewed: 0, revoked: 1, armed: 0 }]);
  });

  it("a dry run counts and writes nothing", () => {
    const fake = new FakePatchedProcfs([SIP_FLOW, OLD_HOST_OWN, BYSTANDER]);
    const r = applyProcfs(fake.host(), revokes(), { collateral: true, routerAddresses: ROUTER, dryRun: true });
    expect([r.matched, r.collateral, fake.writes]).toEqual([1, 1, []]);
  });

  it("skips what has no single address, and says so", () => {
    const stuck = line("198.19.100.1", "198.19.100.2", 4000, 5060, "198.19.100.2", "198.19.100.1", true);
    const fake = new FakePatchedProcfs([stuck, BYSTANDER]);
    const adds = planOf(configText("fw4:a"), configText("fw4:b")).plan.selectors;
    const r = applyProcfs(fake.host(), adds, { collateral: true, routerAddresses: ROUTER });
    expect(fake.writes).toEqual(["198.18.1.20\n"]);
    expect(r.errors.length).toBe(2);
    expect(r.renewed).toBe(0);
    expect(utf8Decode(fake.host().readFile(PATH) as Uint8Array)).toBe(`${stuck}\n${BYSTANDER}\n`);
  });

  it("reports a missing file", () => {
    const fake = new FakePatchedProcfs([]);
    const h = { ...fake.host(), readFile: () => null } as Host;
    expect(applyProcfs(h, revokes(), { collateral: true, routerAddresses: ROUTER }).errors).toEqual([
      "cannot read /proc/net/nf_conntrack: is conntrack running?",
    ]);
  });
});
