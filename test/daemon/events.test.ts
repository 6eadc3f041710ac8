import { describe, expect, it } from "vitest";
import { Debouncer, describeEvent, parseListenLine } from "../../src/daemon/events.ts";
import type { Host } from "../../src/host/host.ts";
import { clock } from "../helpers/clock.ts";

describe("ubus listen lines", () => {
  const cases: [string, ReturnType<typeof parseListenLine>][] = [
    ['{ "natnow.reload": {"action":"reload"} }', { type: "natnow.reload", data: { action: "reload" } }],
    ['{ "network.interface": {"action":"ifup","interface":"wan"} }', { type: "network.interface", data: { action: "ifup", interface: "wan" } }],
    ['{ "natnow.reload": {} }', { type: "natnow.reload", data: {} }],
    ["Failed to connect to ubus", null],
    ['{ "a": 1 }', null],
    ['{ "a": {}, "b": {} }', null],
    ["[]", null],
  ];
  for (const [line, want] of cases) it(line, () => expect(parseListenLine(line)).toEqual(want));
  it("names the trigger", () => {
    expect(describeEvent({ type: "natnow.reload", data: { action: "restart" } })).toBe("fw4 restart");
    expect(describeEvent({ type: "natnow.reload", data: {} })).toBe("fw4 reload");
    expect(describeEvent({ type: "network.interface", data: { action: "ifup", interface: "wan" } })).toBe("interface wan ifup");
  });
});

/** The debouncer's host: a FAKE clock the test drives. */
function clockHost() {
  const c = clock();
  return { host: c.timing as unknown as Host, advance: c.advance };
}

describe("debouncing", () => {
  const timing = { settleMs: 100, quietMs: 2000, maxMs: 10_000 };
  it("the first event after a quiet spell runs after the settle time, with what came within it", () => {
    const { host, advance } = clockHost();
    const fired: [number, string[]][] = [];
    const d = new Debouncer(host, timing, (t) => fired.push([host.now(), t]));
    d.poke("ruleset changed");
    advance(30);
    d.poke("fw4 reload");
    advance(69);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual([[100, ["ruleset changed", "fw4 reload"]]]);
  });
  it("a storm of 100 events in 1 s is two runs: at once, and when it is over", () => {
    const { host, advance } = clockHost();
    const fired: [number, number][] = [];
    const d = new Debouncer(host, timing, (t) => fired.push([host.now(), t.length]));
    for (let i = 0; i < 100; i++) {
      d.poke(i % 2 ? "fw4 reload" : "interface wan ifup");
      advance(10);
    }
    advance(5000);
    expect(fired).toEqual([[100, 2], [990 + 2000, 2]]);
  });
  it("a storm that never stops still runs every longest wait", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    for (let i = 0; i < 250; i++) {
      d.poke("fw4 reload");
      advance(100);
    }
    expect(fired).toEqual([100, 10_100, 20_100]);
  });
  it("after a quiet spell the next event leads again", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    d.poke("fw4 reload");
    advance(2100);
    d.poke("fw4 reload");
    advance(500);
    expect(fired).toEqual([100, 2200]);
  });
  it("an event soon after a run waits for the quiet time", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    d.poke("fw4 reload");
    advance(1000);
    d.poke("fw4 reload");
    advance(3000);
    expect(fired).toEqual([100, 3000]);
  });
});
