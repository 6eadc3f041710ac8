/** natnow's failover and failback options in /etc/config/natnow: defaults, values, and bad values reported and replaced. */
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, parseFailback, readPolicy } from "../../src/config/policy.ts";

const read = (opts: string) => readPolicy(new TextEncoder().encode(`config natnow 'main'\n${opts}`));

describe("failback policy", () => {
  it("defaults: failover on, UDP fails back at once, no delay", () => {
    expect(DEFAULT_POLICY).toMatchObject({ failover: true, failback: [17], failbackPolicies: {}, failbackDelay: 0 });
  });
  it.each([["udp", [17]], ["udp icmp", [17, 1]], ["udp,gre,50", [17, 47, 50]], ["all", null], ["none", []], ["bogus", undefined], ["", undefined]])(
    "parseFailback(%j)", (text, want) => expect(parseFailback(text)?.protocols).toEqual(want),
  );
  it("reads the options", () => {
    const p = read("\toption failover '0'\n\toption failback 'all'\n\tlist failback_policy 'voip=udp'\n\tlist failback_policy 'bulk=none'\n" +
      "\toption failback_delay '30'\n");
    expect(p.warnings).toEqual([]);
    expect(p.policy).toMatchObject({ failover: false, failback: null, failbackPolicies: { voip: [17], bulk: [] }, failbackDelay: 30 });
  });
  it("a bad value is said and the default kept", () => {
    const p = read("\toption failback 'tcp-ish'\n\tlist failback_policy 'voip'\n\toption failback_delay 'soon'\n\toption failover 'maybe'\n");
    expect(p.policy).toMatchObject({ failover: true, failback: [17], failbackPolicies: {}, failbackDelay: 0 });
    expect(p.warnings.length).toBe(4);
  });
});
