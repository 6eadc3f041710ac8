/**
 * luci-app-natnow's page in a real browser (Debian's chromium, driven by
 * playwright-core) against the FAKE LuCI runtime (test/luci/fake-luci: only
 * what the page uses, following luci-base's API). rpcd's replies are the
 * real natnow's, recorded in test/fixtures/luci. A screenshot of each state
 * is kept in test-artifacts/luci/.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixturePath, repoRoot } from "../helpers/fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const VIEW = readFileSync(join(repoRoot, "luci/luci-app-natnow/htdocs/luci-static/resources/view/natnow/instant.js"), "utf8");
const PAGE = `file://${join(repoRoot, "test/luci/fake-luci/index.html")}`;
const SHOTS = join(repoRoot, "test-artifacts", "luci");
const reply = (n: string) => JSON.parse(readFileSync(fixturePath("luci", `${n}.json`), "utf8"));

/** The router's UCI state the page starts from. */
const UCI = {
  firewall: {
    natnow: { ".type": "include", path: "/usr/share/natnow/fw4.include", enabled: "1" },
    cfg0a92bd: { ".type": "redirect", name: "SIP", src: "wan", src_dport: "5060", dest_ip: "198.18.1.20" },
    cfg0b92bd: { ".type": "redirect", name: "web", src: "wan", src_dport: "8080", dest_ip: "198.18.1.10" },
  },
  natnow: {
    main: { ".type": "natnow", renew: "1", revoke: "1", established: "0", debounce: "2", backend: "auto", kmod_ttl: "0", procfs_collateral: "0" },
  },
};
const RPCD = { natnow: { status: reply("status"), plan: reply("plan"), apply: reply("apply") } };

/** msgid → msgstr of a translation. */
function translations(lang: string): Record<string, string> {
  const out: Record<string, string> = {};
  const text = readFileSync(join(repoRoot, "luci/luci-app-natnow/po", lang, "natnow.po"), "utf8");
  for (const m of text.matchAll(/^msgid (".*")\nmsgstr (".*")$/gm)) out[JSON.parse(m[1])] = JSON.parse(m[2]);
  return out;
}

let browser: Browser;

async function open(rpcd: unknown = RPCD, lang?: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(PAGE);
  await page.evaluate(([uci, rpc]) => {
    (globalThis as unknown as Record<string, unknown>).__uci = uci;
    (globalThis as unknown as Record<string, unknown>).__rpcd = rpc;
  }, [JSON.parse(JSON.stringify(UCI)), rpcd]);
  await page.evaluate(([src, tr]) => (globalThis as unknown as { loadView: (s: string, t: unknown) => Promise<void> }).loadView(src as string, tr),
    [VIEW, lang ? translations(lang) : {}]);
  await page.waitForSelector(".natnow-status, .natnow-missing");
  expect(errors).toEqual([]);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const state = (page: Page) => page.evaluate(() => {
  const w = globalThis as unknown as { __uciWrites: unknown[]; __rpcCalls: string[]; __applied?: number };
  return { writes: w.__uciWrites, calls: w.__rpcCalls, applied: w.__applied ?? 0 };
});

describe.skipIf(!existsSync(CHROMIUM))("luci-app-natnow in chromium (FAKE LuCI runtime)", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("renders the switch, the policy and the status from natnow's replies", async () => {
    const page = await open();
    expect(await page.isChecked("[id='cbid.firewall.natnow.enabled']")).toBe(true);
    const status = await page.textContent(".natnow-status");
    expect(status).toContain("Switch: on");
    expect(status).toContain("Backend: conntrack (conntrack-tools at ");
    expect(await page.locator(".natnow-runs tr").count()).toBe(1 + reply("status").runs.length);
    expect(await page.inputValue("[id='cbid.natnow.main.backend']")).toBe("auto");
    await shot(page, "1-status");
    await page.close();
  });

  it("turning the switch off and saving writes exactly firewall.natnow.enabled=0", async () => {
    const page = await open();
    await page.uncheck("[id='cbid.firewall.natnow.enabled']");
    await page.click("#save-apply");
    expect(await state(page)).toMatchObject({ writes: [["firewall", "natnow", "enabled", "0"]], applied: 1 });
    await shot(page, "2-switch-off");
    await page.close();
  });

  it("excluding a port forward chosen by name writes the list, nothing else", async () => {
    const page = await open();
    expect(await page.locator("[data-name='exclude'] select.add option").allTextContents()).toEqual(["-", "SIP", "web"]);
    await page.selectOption("[data-name='exclude'] select.add", "SIP");
    await page.click("#save-apply");
    expect((await state(page)).writes).toEqual([["natnow", "main", "exclude", ["SIP"]]]);
    await page.close();
  });

  it("Preview shows the plan, each selector in words", async () => {
    const page = await open();
    await page.click(".natnow-preview");
    await page.waitForSelector("#modal_overlay .natnow-plan");
    const text = await page.textContent("#modal_overlay");
    expect(text).toContain("redirect 'SIP' removed");
    for (const s of reply("plan").planned[0].selectors) expect(text).toContain(`Revoke: ${s.text}`);
    await shot(page, "3-preview");
    expect((await state(page)).calls).toContain("natnow.plan");
    await page.close();
  });

  it("Reset now asks first, then applies once and shows the result", async () => {
    const page = await open();
    await page.click(".natnow-reset");
    await page.waitForSelector("#modal_overlay .natnow-confirm");
    expect((await state(page)).calls).not.toContain("natnow.apply");
    await shot(page, "4-reset-confirm");
    await page.click(".natnow-confirm");
    await page.waitForSelector("#modal_overlay .natnow-result");
    const a = reply("apply");
    expect(await page.textContent(".natnow-result")).toBe(`Done: renewed ${a.result.renewed}, revoked ${a.result.revoked} in ${a.durationMs} ms.`);
    expect((await state(page)).calls.filter((c) => c === "natnow.apply")).toHaveLength(1);
    await shot(page, "5-reset-done");
    await page.close();
  });

  it("says so when the rpcd plugin is missing, instead of failing", async () => {
    const page = await open({});
    expect(await page.textContent(".natnow-missing")).toContain("its rpcd plugin is missing");
    await page.click(".natnow-preview");
    await page.waitForSelector("#notifications .alert-message");
    expect(await page.textContent("#notifications")).toContain("Preview failed: Object not found");
    await shot(page, "6-plugin-missing");
    await page.close();
  });

  it("renders in German", async () => {
    const page = await open(RPCD, "de");
    expect(await page.textContent("#cbi-firewall h2")).toBe("Sofort-NAT");
    expect(await page.textContent(".natnow-reset")).toBe("Jetzt zurücksetzen");
    await shot(page, "7-de");
    await page.close();
  });
});
