/** Flows for backend tests, written as `conntrack -L -o extended` prints them. */
import { parseTable } from "../../src/conntrack/parse.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { ANY_ADDR, ANY_PORT, type Selector } from "../../src/plan/selector.ts";

/** A flow from one line of `conntrack -L -o extended`. */
export function flow(line: string): Flow {
  const t = parseTable(line + "\n");
  if (t.problems.length) throw new Error(t.problems[0].reason);
  return t.flows[0];
}

/** A DNAT flow from client c:sport to the router's 198.19.0.1:dport, forwarded to `to`. */
export const fwd = (c: string, sport: number, dport: number, to: string, zone = 0): Flow =>
  flow(`ipv4 2 udp 17 29 src=${c} dst=198.19.0.1 sport=${sport} dport=${dport} src=${to} dst=${c} sport=${dport} dport=${sport} mark=0 zone=${zone} use=1`);

/** The revoke of redirect 'SIP' (udp 5060 to 198.18.1.20), as the planner writes it. */
export const revokeSip: Selector = {
  action: "revoke", reason: "redirect 'SIP' removed", family: 4, proto: 17,
  origSrc: ANY_ADDR, origDst: ANY_ADDR, origSport: ANY_PORT, origDport: { pos: [{ min: 5060, max: 5060 }], neg: [] },
  replySrc: { pos: ["198.18.1.20/32"], neg: [] }, replyDst: ANY_ADDR, replySport: ANY_PORT, replyDport: ANY_PORT,
  dnat: true, snat: null, replied: null, keep: [],
};
