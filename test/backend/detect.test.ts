import { describe, expect, it } from "vitest";
import { type Availability, availability, pickBackend } from "../../src/backend/detect.ts";
import type { Host } from "../../src/host/host.ts";
import type { BackendChoice } from "../../src/config/policy.ts";
import { utf8Encode } from "../../src/base/utf8.ts";

const av = (kmod: boolean, conntrack: boolean, procfs: boolean): Availability => ({
  kmod: { ok: kmod, why: kmod ? "K" : "no K" },
  conntrack: { ok: conntrack, why: conntrack ? "C" : "no C" },
  procfs: { ok: procfs, why: procfs ? "P" : "no P" },
});

describe("picking a backend", () => {
  const cases: [string, Availability, BackendChoice, string | null, string][] = [
    ["kmod first", av(true, true, true), "auto", "kmod", "K"],
    ["then conntrack", av(false, true, true), "auto", "conntrack", "C"],
    ["then procfs", av(false, false, true), "auto", "procfs", "P"],
    ["none", av(false, false, false), "auto", null, "no backend usable: no K; no C; no P"],
    ["asked for and there", av(true, true, true), "conntrack", "conntrack", "asked for; C"],
    ["asked for and missing: no fallback", av(true, true, true).kmod && av(false, true, true), "kmod", null, "backend 'kmod' asked for, but no K"],
  ];
  for (const [name, a, choice, backend, reason] of cases) {
    it(name, () => expect(pickBackend(a, choice)).toMatchObject({ backend, reason }));
  }
});

describe("looking at the machine", () => {
  const host = (files: Record<string, string>, programs: string[]): Host => ({
    readFile: (p: string) => (p in files ? utf8Encode(files[p]) : null),
    exists: (p: string) => p in files,
    findProgram: (n: string) => (programs.indexOf(n) >= 0 ? `/usr/sbin/${n}` : null),
  }) as unknown as Host;
  const paths = { kmod: "/k", procfs: "/p" };
  it("a loaded module is usable; a file in another format is not", () => {
    expect(availability(host({ "/k": "natnow 1\ntimestamps off\n" }, []), false, paths).kmod)
      .toEqual({ ok: true, why: "natnow.ko loaded (protocol 1)" });
    expect(availability(host({ "/k": "hello" }, []), false, paths).kmod.ok).toBe(false);
  });
  it("conntrack-tools when the command is there, with a hint when not", () => {
    expect(availability(host({}, ["conntrack"]), false, paths).conntrack).toEqual({ ok: true, why: "conntrack-tools at /usr/sbin/conntrack" });
    expect(availability(host({}, []), false, paths).conntrack.why).toMatch(/install conntrack$/);
  });
  it("procfs only with the policy's consent", () => {
    expect(availability(host({ "/p": "" }, []), false, paths).procfs.ok).toBe(false);
    expect(availability(host({ "/p": "" }, []), true, paths).procfs.ok).toBe(true);
    expect(availability(host({}, []), true, paths).procfs).toEqual({ ok: false, why: "/p missing" });
  });
});
