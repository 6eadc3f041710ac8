/**
 * The FAKE LuCI runtime keeps luci-base's behaviours that decided the
 * page's defects (issue: "luci-app-natnow as real LuCI runs it"): each is
 * shown here with a small view written the way the old page was, so the
 * page tests can fail where real LuCI would.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const PAGE = `file://${join(repoRoot, "test/luci/fake-luci/index.html")}`;
let browser: Browser;

/** A view in LuCI's format: the body of a module with 'require' lines. */
const VIEW = `'use strict';
'require view';
'require form';
'require rpc';
'require uci';
var call5 = rpc.declare({ object: 'natnow', method: 'status' });
var call5reject = rpc.declare({ object: 'natnow', method: 'status', reject: true });
var callExpect = rpc.declare({ object: 'natnow', method: 'status', expect: { '': {} } });
return view.extend({
	load: function() { return Promise.all([ uci.load('firewall'), uci.load('natnow') ]); },
	handleReset: function() { window.__resetCalled = (window.__resetCalled || 0) + 1; },
	probe: function() {
		return Promise.all([ call5(), call5reject().catch(function(e) { return e.message; }), callExpect() ]);
	},
	render: function() {
		var m = new form.Map('firewall'), s = m.section(form.NamedSection, 'natnow', 'include'), o;
		o = s.option(form.Flag, 'enabled', 'Enabled');
		o.default = '1';
		o.rmempty = false;
		var p = new form.Map('natnow'), t = p.section(form.NamedSection, 'main', 'natnow');
		o = t.option(form.ListValue, 'backend', 'Backend');
		o.value('auto');
		o.value('kmod');
		o.default = 'auto';
		return Promise.all([ m.render(), p.render() ]).then(function(n) { return E('div', {}, n); });
	}
});`;

async function open(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(PAGE);
  await page.evaluate(() => {
    (globalThis as Record<string, unknown>).__router = {
      ubus: { natnow: { status: { status: 5 } } },
      acl: { a: { read: { ubus: { natnow: ["status"] } } } },
      uci: {
        firewall: { natnow: { ".type": "include", path: "/usr/share/natnow/fw4.include", enabled: "1" } },
        natnow: { main: { ".type": "natnow", backend: "auto" } },
      },
      calls: [], uciCalls: [], applied: [], alerts: [],
    };
  });
  await page.evaluate((src) => (globalThis as unknown as { loadView: (s: string) => Promise<void> }).loadView(src), VIEW);
  return page;
}

describe.skipIf(!existsSync(CHROMIUM))("the FAKE LuCI runtime behaves as luci-base", () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("the footer has Save & Apply, Save and Reset, and Reset calls the view's handleReset", async () => {
    const page = await open();
    expect(await page.locator(".cbi-page-actions button").allTextContents()).toEqual(["Save & Apply", "Save", "Reset"]);
    await page.click(".cbi-button-reset");
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__resetCalled)).toBe(1);
    await page.close();
  });

  it("rpc without expect resolves a bare ubus status; reject: true raises with stack lines; expect replaces it", async () => {
    const page = await open();
    const [bare, raised, expected] = await page.evaluate(() =>
      (globalThis as unknown as { __view: { probe: () => Promise<unknown[]> } }).__view.probe());
    expect(bare).toBe(5);
    expect(raised).toMatch(/^RPC call to natnow\/status failed with ubus code 5: No data received\n {2}at ClassConstructor\.handleCallReply/);
    expect(expected).toEqual({});
    await page.close();
  });

  it("saving unchanged forms the way LuCI's footer does re-sets a flag, deletes a list value at its default, and sends each batch once per map", async () => {
    const page = await open();
    await page.click(".cbi-button-save");
    await page.waitForFunction("!document.querySelector('.cbi-button-save').disabled");
    const calls = await page.evaluate(() => ((globalThis as Record<string, unknown>).__router as { uciCalls: unknown[] }).uciCalls);
    const batch = [["set", "firewall", "natnow", { enabled: "1" }], ["delete", "natnow", "main", ["backend"]]];
    expect(calls).toEqual([...batch, ...batch]);
    await page.close();
  });
});
