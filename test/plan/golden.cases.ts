/** Plan cases over the real-world config fixtures: previous (or boot) → config, and the expected plan file. */
export interface GoldenCase {
  name: string;
  previous: string | null;
  config: string;
}

/** Each case's expected output is test/fixtures/plans/NAME.txt (`natnow plan` text, example a's interface dump). */
export const goldenCases: GoldenCase[] = [
  { name: "default-boot", previous: null, config: "01-default" },
  { name: "sip-added", previous: "01-default", config: "02-forward-sip" },
  { name: "web-removed", previous: "03-two-forwards", config: "02-forward-sip" },
  { name: "snat-removed", previous: "04-nat-snat", config: "01-default" },
  { name: "ipv6-boot", previous: null, config: "05-ipv6-forward" },
  { name: "masq-restricted", previous: "01-default", config: "06-masq-src-dest" },
  { name: "disabled-sections", previous: "01-default", config: "07-disabled" },
  { name: "luci-boot", previous: null, config: "08-luci-written" },
  { name: "handwritten-boot", previous: null, config: "09-handwritten" },
  { name: "snat-redirect-boot", previous: null, config: "10-snat-redirect" },
  { name: "multiwan-unknown-networks", previous: "01-default", config: "11-multiwan" },
  { name: "fw4-skips", previous: "01-default", config: "12-fw4-skips" },
];
