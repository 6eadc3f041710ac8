/**
 * The daemon's ear on the bus (src/daemon/bus.ts), against an in-process
 * FAKE bus that behaves like ubusd and its CLI: `ubus send` fails while
 * ubusd is down; a listener hears only the ubusd instance it subscribed to,
 * and keeps running, deaf, when ubusd restarts (as the real client does).
 */
import { describe, expect, it } from "vitest";
import { ALIVE_EVENT, listenOnBus } from "../../src/daemon/bus.ts";
import type { BusEvent } from "../../src/daemon/events.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { clock } from "../helpers/clock.ts";

interface Listener { instance: number; onLine: (l: string) => void; stopped: boolean }

function world() {
  const c = clock();
  const bus = { instance: 1 as number | null, listeners: [] as Listener[], sends: 0 };
  const logs: string[] = [];
  const host = {
    ...c.timing,
    pid: () => 42,
    log: (m: string) => void logs.push(m),
    exec(argv: string[]): ExecResult {
      expect(argv.slice(0, 3)).toEqual(["ubus", "send", ALIVE_EVENT]);
      bus.sends++;
      if (bus.instance === null) return { status: 255, stdout: "", stderr: "Failed to connect to ubus\n" };
      bus.listeners.filter((l) => !l.stopped && l.instance === bus.instance)
        .forEach((l) => c.later(() => l.onLine(`{ "${argv[2]}": ${argv[3]} }`), 5));
      return { status: 0, stdout: "", stderr: "" };
    },
    spawnLines(argv: string[], onLine: (l: string) => void) {
      expect(argv.slice(0, 2)).toEqual(["ubus", "listen"]);
      const l: Listener = { instance: bus.instance ?? -1, onLine, stopped: false };
      bus.listeners.push(l);
      return { stop: () => void (l.stopped = true) };
    },
  } as unknown as Host;
  const advance = c.advance;
  /** An event someone else sends (fw4's include). */
  const send = (type: string, data: string) =>
    bus.listeners.filter((l) => !l.stopped && l.instance === bus.instance).forEach((l) => l.onLine(`{ "${type}": ${data} }`));
  return { host, advance, bus, logs, send };
}

function start(w: ReturnType<typeof world>) {
  const heard: boolean[] = [];
  const events: BusEvent[] = [];
  listenOnBus(w.host, { everyMs: 5000, echoMs: 2000, onEvent: (e) => events.push(e), onListening: (h) => heard.push(h) });
  return { heard, events };
}

describe("the daemon's ear on the bus", () => {
  it("is heard once its own echo comes back, and passes other events on", () => {
    const w = world();
    const s = start(w);
    expect(s.heard).toEqual([]);
    w.advance(400);
    expect(s.heard).toEqual([true]);
    w.send("natnow.reload", '{"action":"reload"}');
    w.send(ALIVE_EVENT, '{"pid":7,"n":1}'); // another daemon's echo
    expect(s.events).toEqual([{ type: "natnow.reload", data: { action: "reload" } }]);
    w.advance(60_000);
    expect(s.heard).toEqual([true]);
    expect(w.bus.listeners.length).toBe(1);
    expect(w.bus.sends).toBeGreaterThanOrEqual(12);
  });
  it("after a ubusd restart it notices the silence, subscribes again and hears new events", () => {
    const w = world();
    const s = start(w);
    w.advance(400);
    w.bus.instance = 2; // ubusd restarted: the first listener is deaf, not gone
    w.send("natnow.reload", '{"action":"reload"}');
    expect(s.events).toEqual([]);
    w.advance(7400); // at most one interval and one echo wait, then a new listener
    expect(s.heard).toEqual([true, false, true]);
    expect(w.bus.listeners.map((l) => l.stopped)).toEqual([true, false]);
    w.send("natnow.reload", '{"action":"reload"}');
    expect(s.events).toEqual([{ type: "natnow.reload", data: { action: "reload" } }]);
    expect(w.logs.join("\n")).toMatch(/no echo within 2000 ms \(ubusd restarted\?\)/);
  });
  it("while ubusd is gone it is not heard, with the CLI's reason, and hears again when ubusd is back", () => {
    const w = world();
    const s = start(w);
    w.advance(400);
    w.bus.instance = null;
    w.advance(5000);
    expect(s.heard).toEqual([true, false]);
    expect(w.logs).toContain("ubus: not heard: ubus send natnow.alive {\"pid\":42,\"n\":2} failed (status 255): Failed to connect to ubus");
    w.advance(20_000);
    expect(s.heard).toEqual([true, false]);
    w.bus.instance = 3;
    w.advance(5000);
    expect(s.heard).toEqual([true, false, true]);
    w.send("natnow.reload", "{}");
    expect(s.events.length).toBe(1);
  });
});
