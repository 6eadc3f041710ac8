/** mwan3's interface states: `ubus call mwan3 status` and the hotplug states its policies are built from. */
import { describe, expect, it } from "vitest";
import { readMwan3Status } from "../../src/routing/status.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const states = (text: string | null, hotplug: [string, string][] = []) => {
  const r = readMwan3Status(text, new Map(hotplug));
  if ("error" in r) throw new Error(r.error);
  return Object.fromEntries([...r.ok].map(([k, v]) => [k, v]));
};

describe("readMwan3Status", () => {
  it("rpcd's answer with the fibre offline: lte online for 7200 s, the disabled interface offline", () => {
    expect(states(fixtureText("mwan3", "status-fibre-down.json"))).toEqual({
      fibre: { online: false, onlineFor: null }, lte: { online: true, onlineFor: 7200 },
      fibre6: { online: false, onlineFor: null }, spare: { online: false, onlineFor: null },
    });
  });
  it.each([
    ["online", true, true], ["disconnecting", true, true], ["connecting", true, false], ["offline", true, false],
    ["disabled", true, true], ["disabled", false, false], ["unknown", true, false],
  ])("mwan3track %s with netifd up %s: online for the policies %s", (status, up, online) => {
    const text = JSON.stringify({ interfaces: { w: { status, up, enabled: true, online: 5 } } });
    expect(states(text).w.online).toBe(online);
  });
  it("the hotplug state wins where it was read", () => {
    const text = JSON.stringify({ interfaces: { w: { status: "disconnecting", up: true, enabled: true, online: 9 } } });
    expect(states(text, [["w", "offline\n"]]).w).toEqual({ online: false, onlineFor: null });
    expect(states(null, [["w", "online\n"]]).w).toEqual({ online: true, onlineFor: null });
  });
  it.each([["{", /not JSON/], ["{}", /no 'interfaces'/], [null, /neither/]])("%j cannot be read", (text, why) => {
    const r = readMwan3Status(text);
    expect("error" in r && r.error).toMatch(why);
  });
});
