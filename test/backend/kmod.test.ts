/**
 * The kmod backend against a fake /proc/net/natnow that records writes and
 * answers in docs/kmod-protocol.md's status format. The real module is driven by the
 * same code in test/kmod (qemu).
 */
import { describe, expect, it } from "vitest";
import { applyKmod } from "../../src/backend/kmod.ts";
import type { Host } from "../../src/host/host.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { configText, planOf } from "../helpers/plan.ts";

/**
 * FAKE natnow.ko: status as natnow_ctl.c prints it; `kills[i]` entries are
 * destroyed by the i-th kill write (the module's own count, which the
 * backend must report rather than derive from its writes).
 */
function fakeModule(opts: { kills?: number[]; refuse?: string; loaded?: boolean; offloaded?: number } = {}) {
  const state = { writes: [] as string[], killed: 0, nkill: 0, offloaded: 0 };
  const status = () =>
    `natnow 1\ntimestamps off\narmed 0\nstale 0\nholds 0\nchecked 0\nrenewed 0\n` +
    `offload_renewed ${state.offloaded}\nrenew_failed 0\nkilled ${state.killed}\nheld_drops 0\nbad_commands 0\n`;
  const host = {
    readFile: (p: string) => (p === "/proc/net/natnow" && opts.loaded !== false ? utf8Encode(status()) : null),
    writeControl: (_p: string, chunks: readonly string[]) => {
      for (const c of chunks) {
        if (opts.refuse && c.startsWith(opts.refuse)) return "'/proc/net/natnow': EINVAL";
        state.writes.push(c);
        if (c.startsWith("kill")) state.killed += opts.kills?.[state.nkill++] ?? 0;
        // an arm deletes the stale flows a flowtable has offloaded at once
        if (c.startsWith("arm")) state.offloaded += opts.offloaded ?? 0;
      }
      return null;
    },
  } as unknown as Host;
  return { host, state };
}

const removed = () => planOf(configText("fw4:b"), configText("fw4:a")).plan.selectors;
const added = () => planOf(configText("fw4:a"), configText("fw4:b")).plan.selectors;

describe("kmod backend", () => {
  it("writes one kill per revoke selector and reports the module's count", () => {
    const m = fakeModule({ kills: [4, 0, 1] });
    const r = applyKmod(m.host, removed(), { ttl: 0 });
    expect(m.state.writes.length).toBe(3);
    expect(m.state.writes.every((w) => w.startsWith("kill family=ipv4 proto=17 ") && w.endsWith("\n"))).toBe(true);
    expect([r.revoked, r.armed, r.errors]).toEqual([5, 0, []]);
    // one change: the run's kills are its kills
    expect(r.byChange).toEqual([{ change: "redirect 'SIP' removed", renewed: 0, revoked: 5, armed: 0 }]);
  });
  it("arms the renew scopes in one write, with the policy's TTL", () => {
    const m = fakeModule();
    const r = applyKmod(m.host, added(), { ttl: 120 });
    expect(m.state.writes).toHaveLength(1);
    expect(m.state.writes[0]).toMatch(/^arm ttl=120 family=ipv4 .* \| family=ipv4 .* \| family=ipv4 .*\n$/);
    expect([r.armed, r.errors]).toEqual([3, []]);
    expect(r.byChange).toEqual([{ change: "redirect 'SIP' added", renewed: 0, revoked: 0, armed: 3 }]);
  });
  it("reports the offloaded stale flows the arm renewed at once as renewed", () => {
    const r = applyKmod(fakeModule({ offloaded: 2 }).host, added(), { ttl: 0 });
    expect([r.matched, r.renewed, r.armed, r.errors]).toEqual([2, 2, 3, []]);
    expect(r.byChange).toEqual([{ change: "redirect 'SIP' added", renewed: 2, revoked: 0, armed: 3 }]);
  });
  it("a dry run lists the commands and writes nothing", () => {
    const m = fakeModule();
    const r = applyKmod(m.host, removed(), { ttl: 0, dryRun: true });
    expect([m.state.writes, r.commands.length]).toEqual([[], 3]);
  });
  it("says when the module is not loaded", () => {
    const r = applyKmod(fakeModule({ loaded: false }).host, removed(), { ttl: 0 });
    expect(r.errors).toEqual(["natnow.ko is not loaded (/proc/net/natnow is missing or unreadable)"]);
  });
  it("reports a refused write", () => {
    const r = applyKmod(fakeModule({ refuse: "arm" }).host, added(), { ttl: 0 });
    expect([r.failed, r.errors]).toEqual([1, ["writing /proc/net/natnow failed: '/proc/net/natnow': EINVAL"]]);
  });
});
