/**
 * luci-app-natnow's page in a real browser (Debian's chromium, driven by
 * playwright-core) against the FAKE LuCI runtime (test/luci/fake-luci: a
 * stand-in for luci-base written from its sources, quirks kept; the router
 * behind it answers as uhttpd and rpcd do, with the page's own ACL). natnow's
 * answers are its JSON (test/fixtures/luci, checked against the CLI in
 * fixtures.test.ts). A screenshot of each state is kept in test-artifacts/luci/.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixturePath, repoRoot } from "../helpers/fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const APP = join(repoRoot, "luci/luci-app-natnow");
const VIEW = readFileSync(join(APP, "htdocs/luci-static/resources/view/natnow/instant.js"), "utf8");
const ACL = JSON.parse(readFileSync(join(APP, "root/usr/share/rpcd/acl.d/luci-app-natnow.json"), "utf8"));
const PAGE = `file://${join(repoRoot, "test/luci/fake-luci/index.html")}`;
const SHOTS = join(repoRoot, "test-artifacts", "luci");
const reply = (n: string) => JSON.parse(readFileSync(fixturePath("luci", `${n}.json`), "utf8"));
const INCLUDE = { ".type": "include", path: "/usr/share/natnow/fw4.include", enabled: "1" };

/** The router's UCI state the page starts from (what `ubus call uci get` would answer). */
function uciState(include: Record<string, unknown> | null = { natnow: INCLUDE }) {
  return {
    firewall: {
      ...(include ?? {}),
      cfg0a92bd: { ".type": "redirect", name: "SIP", src: "wan", src_dport: "5060", dest_ip: "198.18.1.20" },
      cfg0b92bd: { ".type": "redirect", name: "web", src: "wan", src_dport: "8080", dest_ip: "198.18.1.10" },
    },
    natnow: { main: { ".type": "natnow", renew: "1", revoke: "1", established: "0", debounce: "2" } },
  };
}

/** An rpcd answer: natnow's JSON, a bare ubus status, optionally late. */
type Answer = { data: unknown; delayMs?: number } | { status: number; delayMs?: number };
const natnow = (over: Partial<Record<"status" | "plan" | "apply" | "dismiss", Answer>> = {}) => ({
  natnow: {
    status: { data: reply("status") }, plan: { data: reply("plan") }, apply: { data: reply("apply") },
    dismiss: { data: { ok: true, dismissed: [] } }, ...over,
  },
});

interface Opened {
  page: Page;
  router: () => Promise<{ calls: string[]; uciCalls: unknown[][]; applied: string[]; alerts: string[] }>;
}

let browser: Browser;

/** msgid → msgstr of a translation. */
function translations(lang: string): Record<string, string> {
  const out: Record<string, string> = {};
  const text = readFileSync(join(APP, "po", lang, "natnow.po"), "utf8");
  for (const m of text.matchAll(/^msgid (".*")\nmsgstr (".*")$/gm)) out[JSON.parse(m[1])] = JSON.parse(m[2]);
  return out;
}

async function open(opts: { ubus?: unknown; uci?: unknown; lang?: string; width?: number } = {}): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: opts.width ?? 1100, height: 1400 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(PAGE);
  await page.evaluate(([ubus, uci, acl]) => {
    (globalThis as Record<string, unknown>).__router = { ubus, uci, acl: { "luci-app-natnow": acl }, calls: [], uciCalls: [], applied: [], alerts: [] };
  }, [opts.ubus ?? natnow(), opts.uci ?? uciState(), ACL["luci-app-natnow"]]);
  await page.evaluate(([src, tr]) => (globalThis as unknown as { loadView: (s: string, t: unknown) => Promise<void> }).loadView(src as string, tr),
    [VIEW, opts.lang ? translations(opts.lang) : {}]);
  await page.waitForSelector(".natnow-status, .natnow-unavailable");
  expect(errors).toEqual([]);
  const router = () => page.evaluate(() => JSON.parse(JSON.stringify((globalThis as Record<string, unknown>).__router)));
  return { page, router };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const SWITCH = "[id='cbid.firewall.natnow.enabled']";
const footer = (label: "Save & Apply" | "Save" | "Reset") =>
  ({ "Save & Apply": ".cbi-button-apply", Save: ".cbi-button-save", Reset: ".cbi-button-reset" })[label];
/** Clicks a button and waits until its handler settled (LuCI's createHandlerFn re-enables it then). */
async function press(page: Page, sel: string): Promise<void> {
  await page.click(sel);
  const q = `document.querySelector(${JSON.stringify(sel)})`;
  await page.waitForFunction(`!${q} || !${q}.disabled`);
}

describe.skipIf(!existsSync(CHROMIUM))("luci-app-natnow in chromium (FAKE LuCI runtime)", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("renders the switch, the policy and the status: daemon, when natnow last acted and what it did", async () => {
    const { page } = await open();
    expect(await page.isChecked(SWITCH)).toBe(true);
    const status = await page.textContent(".natnow-status");
    expect(status).toContain("Switch: on");
    expect(status).toContain("Daemon: listening (pid 2417)");
    expect(await page.textContent(".natnow-last")).toMatch(/^Last acted: .+ \(fw4 reload\): renewed 0, revoked 2 for redirect 'SIP' removed$/);
    expect(status).toContain("Backend: conntrack (conntrack-tools at ");
    expect(await page.locator(".natnow-runs tr").count()).toBe(1 + reply("status").runs.length);
    expect(await page.inputValue("[id='cbid.natnow.main.backend']")).toBe("auto");
    expect(await page.locator(".cbi-page-actions button").allTextContents()).toEqual(["Save & Apply", "Save", "Reset"]);
    await shot(page, "01-status");
    await page.close();
  });

  it("Save & Apply on an untouched page writes nothing (no flag re-set, no default deleted)", async () => {
    const { page, router } = await open();
    await press(page, footer("Save & Apply"));
    expect(await router()).toMatchObject({ uciCalls: [], applied: ["checked"] });
    await page.close();
  });

  it("turning the switch off and saving sends exactly firewall.natnow.enabled=0, once", async () => {
    const { page, router } = await open();
    await page.uncheck(SWITCH);
    await press(page, footer("Save & Apply"));
    expect(await router()).toMatchObject({ uciCalls: [["set", "firewall", "natnow", { enabled: "0" }]], applied: ["checked"] });
    expect(await page.isChecked(SWITCH)).toBe(false);
    await shot(page, "02-switch-off");
    await page.close();
  });

  it("excluding a port forward chosen by name writes the list, nothing else", async () => {
    const { page, router } = await open();
    expect(await page.locator("[data-name='exclude'] select.add option").allTextContents()).toEqual(["-", "SIP", "web"]);
    await page.selectOption("[data-name='exclude'] select.add", "SIP");
    await press(page, footer("Save"));
    expect((await router()).uciCalls).toEqual([["set", "natnow", "main", { exclude: ["SIP"] }]]);
    await page.close();
  });

  it("a backend set back to Automatic is written as 'auto', not deleted", async () => {
    const { page, router } = await open();
    await page.selectOption("[id='cbid.natnow.main.backend']", "kmod");
    await press(page, footer("Save"));
    await page.selectOption("[id='cbid.natnow.main.backend']", "auto");
    await press(page, footer("Save"));
    expect((await router()).uciCalls).toEqual([["set", "natnow", "main", { backend: "kmod" }], ["set", "natnow", "main", { backend: "auto" }]]);
    await page.close();
  });

  it("LuCI's footer Reset discards form input and resets no connection", async () => {
    const { page, router } = await open();
    await page.uncheck(SWITCH);
    await press(page, footer("Reset"));
    expect(await page.isChecked(SWITCH)).toBe(true);
    expect(await page.locator("#modal_overlay").count()).toBe(0);
    const r = await router();
    expect(r.calls.filter((c) => c !== "natnow.status")).toEqual([]);
    expect(r.uciCalls).toEqual([]);
    await page.close();
  });

  it("Preview shows the plan, each selector in words", async () => {
    const { page, router } = await open();
    await press(page, ".natnow-preview");
    const text = await page.textContent("#modal_overlay");
    expect(text).toContain("redirect 'SIP' removed");
    for (const s of reply("plan").planned[0].selectors) expect(text).toContain(`Revoke: ${s.text}`);
    await shot(page, "03-preview");
    expect((await router()).calls).toContain("natnow.plan");
    await page.close();
  });

  it("Reset now asks first, then applies once and shows the result", async () => {
    const { page, router } = await open();
    await press(page, ".natnow-reset");
    expect((await router()).calls).not.toContain("natnow.apply");
    await shot(page, "04-reset-confirm");
    await press(page, ".natnow-confirm");
    const a = reply("apply");
    expect(await page.textContent(".natnow-result")).toBe(`Done: renewed ${a.result.renewed}, revoked ${a.result.revoked} in ${a.durationMs} ms.`);
    expect((await router()).calls.filter((c) => c === "natnow.apply")).toHaveLength(1);
    await shot(page, "05-reset-done");
    await page.close();
  });

  it("unhandled changes are shown above the status until dismissed; Dismiss calls natnow.dismiss once", async () => {
    const u = "rule 'ip nat post handle 9' removed: zone 'oifname ppp0' has no known address; what it translated to is unknown";
    const { page, router } = await open({ ubus: natnow({ status: { data: { ...reply("status"), unhandled: [u] } } }) });
    expect(await page.textContent(".natnow-unhandled li")).toBe(u);
    await shot(page, "04b-unhandled");
    await press(page, ".natnow-dismiss");
    await page.waitForFunction("document.querySelector('.natnow-unhandled')?.textContent === 'Dismissed.'");
    expect((await router()).calls.filter((c) => c === "natnow.dismiss")).toHaveLength(1);
    await page.close();
  });
  it("nothing unhandled: no box", async () => {
    const { page } = await open();
    expect(await page.$(".natnow-unhandled")).toBeNull();
    await page.close();
  });

  it("a slow apply: the confirm button is disabled while it runs, a double click applies once", async () => {
    const { page, router } = await open({ ubus: natnow({ apply: { data: reply("apply"), delayMs: 1500 } }) });
    await press(page, ".natnow-reset");
    await page.dblclick(".natnow-confirm");
    await page.evaluate("document.querySelector('.natnow-confirm').click()");
    expect(await page.isDisabled(".natnow-confirm")).toBe(true);
    await shot(page, "06-apply-running");
    await page.waitForSelector(".natnow-result");
    expect((await router()).calls.filter((c) => c === "natnow.apply")).toHaveLength(1);
    await page.close();
  });

  const STATUS_TEXT: Record<number, string> = {
    5: 'natnow gave no answer (ubus status 5, no data). See "logread -e natnow" on the router.',
    7: "natnow did not answer in time (ubus status 7, request timeout).",
  };
  for (const code of [5, 7]) {
    it(`ubus status ${code} from status: the page and its switch render, the status says why`, async () => {
      const { page } = await open({ ubus: natnow({ status: { status: code } }) });
      expect(await page.textContent(".natnow-unavailable")).toBe(`Status failed: ${STATUS_TEXT[code]}`);
      expect(await page.isChecked(SWITCH)).toBe(true);
      await shot(page, `07-status-${code}`);
      await page.close();
    });
    it(`ubus status ${code} from plan and apply: each says why, nothing claimed`, async () => {
      const { page } = await open({ ubus: natnow({ plan: { status: code }, apply: { status: code } }) });
      await press(page, ".natnow-preview");
      expect(await page.textContent("#notifications")).toBe(`Preview failed: ${STATUS_TEXT[code]}`);
      await press(page, ".natnow-reset");
      await press(page, ".natnow-confirm");
      expect(await page.textContent(".natnow-result")).toBe(`Reset failed: ${STATUS_TEXT[code]}`);
      await shot(page, `08-apply-${code}`);
      await page.close();
    });
  }

  it("natnow's own JSON error answer (--json always answers) is shown as the reason", async () => {
    const error = "another run holds /var/run/natnow/lock; nothing done";
    const { page } = await open({ ubus: natnow({ apply: { data: { ok: false, error, errors: [error], exit: 69 } } }) });
    await press(page, ".natnow-reset");
    await press(page, ".natnow-confirm");
    expect(await page.textContent(".natnow-result")).toBe(`Reset failed: ${error}`);
    await page.close();
  });

  it("the rpcd plugin missing: every call says so in one line, without stack lines", async () => {
    const { page } = await open({ ubus: {} });
    expect(await page.textContent(".natnow-unavailable")).toBe("Status failed: RPC call to natnow/status failed with error -32000: Object not found");
    expect(await page.isChecked(SWITCH)).toBe(true);
    await press(page, ".natnow-preview");
    expect(await page.textContent("#notifications")).toBe("Preview failed: RPC call to natnow/plan failed with error -32000: Object not found");
    expect(await page.textContent("body")).not.toContain(" at ");
    await shot(page, "09-plugin-missing");
    await page.close();
  });

  it("no include section: the page offers to add it, and Save & Apply adds exactly that", async () => {
    const { page, router } = await open({ uci: uciState(null) });
    expect(await page.locator(SWITCH).count()).toBe(0);
    expect(await page.textContent(".natnow-no-include")).toContain("has no include section for natnow");
    await shot(page, "10-no-include");
    await press(page, ".natnow-add-include");
    expect(await page.isChecked(SWITCH)).toBe(true);
    expect(await page.locator(".natnow-no-include").count()).toBe(0);
    await press(page, footer("Save & Apply"));
    expect(await router()).toMatchObject({
      uciCalls: [["add", "firewall", "natnow", { type: "include", values: { path: INCLUDE.path, enabled: "1" } }]], applied: ["checked"],
    });
    await page.close();
  });

  it("an anonymous include with natnow's path is the switch", async () => {
    const { page, router } = await open({ uci: uciState({ cfg04c2f1: INCLUDE }) });
    await page.uncheck("[id='cbid.firewall.cfg04c2f1.enabled']");
    await press(page, footer("Save"));
    expect((await router()).uciCalls).toEqual([["set", "firewall", "cfg04c2f1", { enabled: "0" }]]);
    await page.close();
  });

  it("a run opens to what it did per change", async () => {
    const { page } = await open();
    await page.click(".natnow-runs .natnow-details >> nth=0");
    expect(await page.textContent(".natnow-run-changes")).toBe("redirect 'SIP' removed: revoked 2");
    await shot(page, "11-run-details");
    await page.click("#modal_overlay .btn");
    await page.click(".natnow-runs .natnow-details >> nth=1");
    expect(await page.textContent("#modal_overlay .natnow-errors")).toContain("invalid input: config: Parse error");
    await page.close();
  });

  it("on a 420 px screen every run cell keeps its label", async () => {
    const { page } = await open({ width: 420 });
    const labels = await page.evaluate(`Array.from(document.querySelectorAll(".natnow-runs tr:not(.table-titles) .td"))
      .map((td) => getComputedStyle(td, "::before").content + " " + td.textContent)`) as string[];
    expect(labels.slice(0, 7)).toEqual([
      expect.stringMatching(/^"Time: " /), "\"Trigger: \" fw4 reload", "\"Changes: \" redirect 'SIP' removed",
      "\"Flows: \" renewed 0, revoked 2", "\"Duration: \" 41 ms", "\"Errors: \" no error", "\"Details: \" Details",
    ]);
    expect(labels[9]).toBe("\"Changes: \" no NAT change");
    await shot(page, "12-narrow");
    await page.close();
  });

  for (const [lang, title, reset] of [["de", "Sofort-NAT", "Jetzt zurücksetzen"], ["zh_Hans", "即时 NAT", "立即重置"]]) {
    it(`renders in ${lang}, with no English left in the status`, async () => {
      const { page } = await open({ lang });
      expect(await page.textContent("#cbi-firewall h2")).toBe(title);
      expect(await page.textContent(".natnow-reset")).toBe(reset);
      const status = (await page.textContent(".natnow-status")) ?? "";
      for (const en of ["Switch", "Daemon", "Last acted", "listening", "Last runs", "available"]) expect(status).not.toContain(en);
      await page.click(".natnow-runs .natnow-details >> nth=0");
      await shot(page, `13-${lang}`);
      await page.close();
    });
  }
});
