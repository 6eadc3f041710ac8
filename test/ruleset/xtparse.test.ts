/** iptables-save text as tables, chains and rules: the words as iptables-restore splits them, on real iptables-nft-save output. */
import { describe, expect, it } from "vitest";
import { parseXtSave, splitWords, type XtRule } from "../../src/ruleset/xtparse.ts";
import { fixtureText } from "../helpers/fixtures.ts";

describe("words as iptables-restore splits them", () => {
  const cases: [string, string, string[]][] = [
    ["plain", "T -m comment --comment simple -j ACCEPT", ["T", "-m", "comment", "--comment", "simple", "-j", "ACCEPT"]],
    ["escaped quotes, apostrophe and backslash", 'T --comment "a \\"quoted\\" comment, it\\\'s \\\\ here" -j X',
      ["T", "--comment", 'a "quoted" comment, it\'s \\ here', "-j", "X"]],
    ["a tab and shell characters inside quotes", 'U --comment "tab\tand $dollar `bt`"', ["U", "--comment", "tab\tand $dollar `bt`"]],
    ["an empty quoted word", 'U --comment "" -j ACCEPT', ["U", "--comment", "", "-j", "ACCEPT"]],
    ["blanks between words", "A  -j   B", ["A", "-j", "B"]],
  ];
  for (const [name, line, want] of cases) it(name, () => expect(splitWords(line, "t").map((w) => w.text)).toEqual(want));
  it("a quoted word is marked quoted (it is a value even when it looks like an option)", () => {
    expect(splitWords('T --comment "--x" -j A', "t").map((w) => w.quoted)).toEqual([false, false, true, false, false]);
  });
  it("an unterminated quote is an error", () => expect(() => splitWords('T --comment "x', "nat T rule 1")).toThrow("nat T rule 1: unterminated quote"));
});

describe("real iptables-nft-save output", () => {
  const save = parseXtSave(fixtureText("xtables", "many.ip.save"));
  const nat = save.tables[0];
  const rule = (chain: string, i: number) => nat.rules.filter((r) => r.chain === chain)[i];
  it("has the family, the table, its chains in order, and nothing incompatible", () => {
    expect(save.family).toBe("ip");
    expect(save.incompatible).toEqual([]);
    expect(nat.name).toBe("nat");
    expect(nat.chains).toEqual(["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "T", "U"]);
    expect(["PREROUTING", "OUTPUT", "POSTROUTING", "T", "U"].map((c) => nat.rules.filter((r) => r.chain === c).length)).toEqual([2, 1, 5, 13, 5]);
  });
  const cases: [string, string, number, Partial<XtRule>][] = [
    ["basic matches with '!'", "POSTROUTING", 3, {
      src: { value: "198.18.200.0/24", neg: false }, oif: { value: "docker0", neg: true }, matches: [],
      target: { name: "MASQUERADE", options: [], goto: false },
    }],
    ["a negated option of a match", "T", 1, {
      proto: { value: "udp", neg: false },
      matches: [{ name: "multiport", options: [{ name: "--sports", neg: true, values: ["5353,53"] }] }],
      target: { name: "REDIRECT", options: [{ name: "--to-ports", neg: false, values: ["5353"] }], goto: false },
    }],
    ["a quoted comment between matches", "T", 2, {
      matches: [
        { name: "comment", options: [{ name: "--comment", neg: false, values: ['a "quoted" comment, it\'s \\ here'] }] },
        { name: "tcp", options: [{ name: "--dport", neg: false, values: ["22"] }] },
      ],
    }],
    ["an option with two values and target flags", "POSTROUTING", 1, {
      target: {
        name: "SNAT", goto: false, options: [
          { name: "--to-source", neg: false, values: ["198.18.0.1-198.18.0.4:1024-2048"] },
          { name: "--random-fully", neg: false, values: [] }, { name: "--persistent", neg: false, values: [] },
        ],
      },
    }],
    ["a jump", "PREROUTING", 0, { index: 0, matches: [], target: { name: "T", options: [], goto: false } }],
  ];
  for (const [name, chain, i, want] of cases) it(name, () => expect(rule(chain, i)).toMatchObject(want));
  it("options with several values", () => {
    expect(parseXtSave("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN -j ACCEPT\nCOMMIT\n").tables[0].rules[0].matches)
      .toEqual([{ name: "tcp", options: [{ name: "--tcp-flags", neg: false, values: ["SYN,ACK", "SYN"] }] }]);
  });
  it("an incompatible table, and ip6tables' header", () => {
    expect(parseXtSave(fixtureText("xtables", "incompatible.ip.save"))).toEqual({ family: null, tables: [], incompatible: ["nat"] });
    expect(parseXtSave(fixtureText("xtables", "many.ip6.save")).family).toBe("ip6");
  });
  it("counters before a rule (-c)", () => {
    expect(parseXtSave("*nat\n:X - [0:0]\n[3:180] -A X -j RETURN\nCOMMIT\n").tables[0].rules[0].target?.name).toBe("RETURN");
  });
});

describe("text that is not iptables-save output is an error with its line", () => {
  const cases: [string, string, string][] = [
    ["a rule outside a table", "-A X -j ACCEPT\n", "line 1: outside a table"],
    ["an undeclared chain", "*nat\n:A - [0:0]\n-A B -j ACCEPT\nCOMMIT\n", "line 3: chain 'B' was not declared"],
    ["no COMMIT", "*nat\n:A - [0:0]\n", "table 'nat' has no COMMIT"],
    ["a table inside a table", "*nat\n*filter\n", "line 2: table 'filter' before COMMIT of 'nat'"],
    ["an option without a match", "*nat\n:A - [0:0]\n-A A --dport 5 -j X\nCOMMIT\n", "nat A rule 1: unexpected '--dport'"],
    ["a '!' at the end", "*nat\n:A - [0:0]\n-A A -j X !\nCOMMIT\n", "nat A rule 1: '!' at the end"],
    ["two targets", "*nat\n:A - [0:0]\n-A A -j X -j Y\nCOMMIT\n", "nat A rule 1: two targets"],
    ["a tool's error message", fixtureText("xtables", "unparsable.ip.out"), "line 1: outside a table"],
  ];
  for (const [name, text, msg] of cases) it(name, () => expect(() => parseXtSave(text)).toThrow(msg));
});
