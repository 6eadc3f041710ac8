import { describe, expect, it } from "vitest";
import { configText, planOf } from "../helpers/plan.ts";

const A = configText("fw4:a");
const C = configText("fw4:c");

function texts(before: string, after: string): string[] {
  return planOf(before, after).changes.map((c) => c.text);
}

function sectionsOf(cfg: string): string[] {
  return cfg.split(/\n(?=config )/);
}

describe("diff", () => {
  it("identical configs have no change", () => {
    expect(texts(C, C)).toEqual([]);
  });
  it("reordered anonymous sections are matched by content, not by position", () => {
    const parts = sectionsOf(C);
    const sip = parts.findIndex((p) => p.includes("'SIP'"));
    const web = parts.findIndex((p) => p.includes("'web'"));
    [parts[sip], parts[web]] = [parts[web], parts[sip]];
    const swapped = parts.join("\n");
    expect(swapped).not.toBe(C);
    expect(texts(C, swapped)).toEqual([]);
  });
  it("a section moved behind another one keeps its identity even though libuci renames it", () => {
    const parts = sectionsOf(C);
    const rule = parts.splice(parts.findIndex((p) => p.includes("Allow-ISAKMP")), 1)[0];
    parts.push(rule.endsWith("\n") ? rule : rule + "\n");
    expect(texts(C, parts.join("\n"))).toEqual([]);
  });
  it("a changed option is named, before and after", () => {
    const c2 = C.replace("option dest_port '80'", "option dest_port '8081'");
    expect(texts(C, c2)).toEqual(["redirect 'web' changed: dest_port 80→8081"]);
  });
  it("a renamed forward with other content is a removal and an addition", () => {
    const c2 = C.replace("option name 'web'", "option name 'www'").replace("'198.18.1.10'", "'198.18.1.11'");
    expect(texts(C, c2)).toEqual(["redirect 'web' removed", "redirect 'www' added"]);
  });
  it("a rename alone changes no rule and so no flow", () => {
    const c2 = C.replace("option name 'web'", "option name 'www'");
    // the name is part of fw4's rule comment only: a change of label, not of NAT
    expect(planOf(C, c2).plan.changes).toEqual([]);
    expect(planOf(C, c2).plan.selectors).toEqual([]);
  });
  it("masquerading on and off, masq_src changes", () => {
    const off = A.replace("\toption masq '1'\n", "");
    expect(texts(off, A)).toEqual(["zone 'wan' masquerading on"]);
    expect(texts(A, off)).toEqual(["zone 'wan' masquerading off"]);
    const src = A.replace("\toption masq '1'\n", "\toption masq '1'\n\tlist masq_src '198.18.1.0/25'\n");
    expect(texts(A, src)).toEqual(["zone 'wan' changed: masq_src -→198.18.1.0/25"]);
  });
  it("a zone's new subnet shows up on the redirects it changes", () => {
    const withSubnet = C.replace("\tlist network 'lan'\n", "\tlist network 'lan'\n\tlist subnet '198.18.9.0/24'\n");
    expect(texts(C, withSubnet)).toEqual([
      "redirect 'SIP' changed: zone 'lan' subnets 198.18.1.0/24 2001:db8:1::/64→198.18.1.0/24 198.18.9.0/24 2001:db8:1::/64",
      "redirect 'web' changed: zone 'lan' subnets 198.18.1.0/24 2001:db8:1::/64→198.18.1.0/24 198.18.9.0/24 2001:db8:1::/64",
    ]);
  });
});
