/** The daemon's route event (natnow's hotplug script): parsed, described, and which triggers make a run look at mwan3's flows. */
import { describe, expect, it } from "vitest";
import { describeEvent, EVENT_TYPES, parseListenLine, ROUTE_ACTIONS, ROUTE_EVENT, routeEvent, routingTrigger } from "../../src/daemon/events.ts";

describe("the natnow.route event", () => {
  it("is listened to", () => expect(EVENT_TYPES).toContain(ROUTE_EVENT));
  it.each(ROUTE_ACTIONS)("%s, as ubus listen prints it", (action) => {
    const e = parseListenLine(`{ "natnow.route": {"interface":"wan1","action":"${action}"} }`);
    expect(e && routeEvent(e)).toEqual({ iface: "wan1", action });
    expect(e && describeEvent(e)).toBe(`mwan3 wan1 ${action}`);
  });
  it.each([
    '{"interface":"wan1","action":"connecting"}', '{"interface":"wan 1","action":"ifup"}', '{"action":"ifup"}', '{"interface":7,"action":"ifup"}',
  ])("%s is no route event (described, not acted on as one)", (data) => {
    const e = parseListenLine(`{ "natnow.route": ${data} }`);
    expect(e && routeEvent(e)).toBeNull();
    expect(e && describeEvent(e)).toBe("mwan3 event");
  });
  it.each([
    ["mwan3 wan1 disconnected", true], ["fw4 reload, mwan3 wan2 connected", true], ["interface wan ifdown", true],
    ["default route changed", true], ["start", true], ["run", true], ["fw4 reload", false], ["ruleset changed", false], ["runner", false],
  ])("trigger %j looks at routing: %s", (t, want) => expect(routingTrigger(t)).toBe(want));
});
