// The demo's main flow in a real Chromium: two tabs of one visitor follow each other live, and
// the server-only value never reaches the browser.
import { statSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { click, loud, screenshot, shownJson, startE2E, stateOf, waitFor, type E2E, type Tab } from './harness.js';

interface Ctx {
  h: E2E;
  a: Tab;
  b: Tab;
}

const tabs = suite<Ctx>('two tabs of one visitor follow each other live');

tabs.before(
  loud(async (ctx) => {
    ctx.h = await startE2E();
    ctx.a = await ctx.h.open();
    ctx.b = await ctx.h.open();
  }),
);

tabs.after(
  loud(async (ctx) => {
    await ctx.h?.close();
  }),
);

tabs('both tabs go live on one session', async ({ h, a, b }) => {
  await waitFor(a.page, (s) => s.status === 'live');
  await waitFor(b.page, (s) => s.status === 'live');
  const id = await h.sessionId();
  assert.ok(id, 'the page load gave the visitor a cookie');
  const sessions = h.socketSessions();
  assert.is(sessions.length, 2, 'one socket per tab');
  assert.ok(
    sessions.every((s) => s === id),
    'both sockets belong to the cookie’s session',
  );
  assert.is((await stateOf(a.page)).tag, (await stateOf(b.page)).tag);
  assert.equal(await shownJson(a.page), { counter: 0, prefs: { theme: 'light' } });
});

tabs('an HTTP write (Express handler) in one tab is seen in the other', async ({ a, b }) => {
  await click(a, '#http-add');
  await waitFor(b.page, (s) => s.data.counter === 1);
  assert.is(((await shownJson(b.page)) as { counter: number }).counter, 1, 'the other tab renders it');
});

tabs('a socket write (Socket.IO handler) in one tab is seen in the other', async ({ a, b }) => {
  await click(b, '#socket-add');
  await waitFor(a.page, (s) => s.data.counter === 2);
  assert.is(((await shownJson(a.page)) as { counter: number }).counter, 2);
});

tabs('a browser write (session.set) in one tab is seen in the other and restyles it', async ({ h, a, b }) => {
  await click(a, '[data-theme-choice="dark"]');
  // Shown at once in the writing tab (offline.test.ts shows it with no server at all).
  assert.is(await a.page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await b.page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', undefined, { timeout: 10_000 });
  await waitFor(a.page, (s) => s.pending === 0 && s.status === 'live');
  const stored = await h.demo.sync.get((await h.sessionId())!);
  assert.equal(stored?.data.prefs, { theme: 'dark' }, 'the server has it');
  assert.is(stored?.data.counter, 2);
});

tabs('the server-only value never reaches the page', async ({ h, a, b }) => {
  const stored = await h.demo.sync.get((await h.sessionId())!);
  assert.ok(typeof stored?.data._visits === 'number' && stored.data._visits >= 2, 'the server counted both page loads');
  for (const tab of [a, b]) {
    const state = await stateOf(tab.page);
    assert.not.ok('_visits' in state.data, 'not in the mirror');
    assert.not.ok((await tab.page.locator('#data').innerText()).includes('_visits'), 'not rendered');
    assert.ok(tab.frames.length > 0, 'WebSocket frames were recorded');
    assert.ok(tab.bodies.length > 0, 'route and polling bodies were recorded');
    for (const text of [...tab.frames, ...tab.bodies]) assert.not.ok(text.includes('_visits'), `leaked in: ${text}`);
  }
});

tabs('the page logs no errors', async ({ a, b }) => {
  assert.equal(a.errors, []);
  assert.equal(b.errors, []);
});

tabs('the page fits a phone’s width', async ({ b }) => {
  await b.page.setViewportSize({ width: 360, height: 740 });
  const overflow = await b.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  for (const control of ['#http-add', '#socket-add', '[data-theme-choice="ocean"]', '#sign-in button']) {
    const box = await b.page.locator(control).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${control} is on screen`);
  }
  await screenshot(b.page, 'phone');
  await b.page.setViewportSize({ width: 1100, height: 820 });
});

tabs('a screenshot of both tabs is saved', async ({ a, b }) => {
  for (const [tab, name] of [
    [a, 'two-tabs-a'],
    [b, 'two-tabs-b'],
  ] as const) {
    const path = await screenshot(tab.page, name);
    assert.ok(statSync(path).size > 10_000, `${path} holds a picture`);
  }
});

tabs.run();
