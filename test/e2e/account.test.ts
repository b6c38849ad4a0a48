// Signing in and out in a real Chromium: sign-in (regenerate) rotates the cookie, ends the old
// id's sockets and keeps both tabs live with their data; sign-out (destroy) ends every tab and
// leaves nothing behind, not even in the browser's cache.
import { statSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { click, fill, loud, screenshot, shownJson, startE2E, stateOf, waitFor, type E2E, type Tab } from './harness.js';

interface Ctx {
  h: E2E;
  a: Tab;
  b: Tab;
  oldId: string;
  newId: string;
}

const account = suite<Ctx>('sign-in keeps the session live under a new id; sign-out ends it everywhere');

account.before(
  loud(async (ctx) => {
    ctx.h = await startE2E();
    ctx.a = await ctx.h.open();
    ctx.b = await ctx.h.open();
  }),
);

account.after(
  loud(async (ctx) => {
    await ctx.h?.close();
  }),
);

const endedFrames = (tab: Tab, reason: string): string[] =>
  tab.frames.filter((f) => f.includes('session:ended') && f.includes(reason));

account('two live tabs with some data', async (ctx) => {
  const { h, a, b } = ctx;
  await waitFor(a.page, (s) => s.status === 'live');
  await waitFor(b.page, (s) => s.status === 'live');
  await click(a, '#http-add');
  await click(a, '[data-theme-choice="ocean"]');
  await waitFor(b.page, (s) => s.data.counter === 1 && s.data.prefs?.theme === 'ocean');
  await waitFor(a.page, (s) => s.pending === 0);
  ctx.oldId = (await h.sessionId())!;
  assert.ok(ctx.oldId);
  assert.equal(h.socketSessions(), [ctx.oldId, ctx.oldId]);
});

account('sign-in rotates the cookie and ends the old id’s sockets', async (ctx) => {
  const { h, a, b } = ctx;
  const oldTag = (await stateOf(a.page)).tag;
  await fill(a, '#name', 'Ada');
  await click(a, '#sign-in button[type="submit"]');
  for (const tab of [a, b]) {
    await waitFor(tab.page, (s) => s.status === 'live' && s.data.user?.name === 'Ada', 15_000);
  }
  ctx.newId = (await h.sessionId())!;
  assert.ok(ctx.newId);
  assert.is.not(ctx.newId, ctx.oldId, 'a new id in the cookie jar');
  assert.is(await h.demo.sync.get(ctx.oldId), undefined, 'the old id holds nothing');
  for (const tab of [a, b]) {
    assert.is(endedFrames(tab, 'regenerated').length, 1, 'each old socket was told once');
  }
  // Both tabs reconnected under the new id; no socket of the old id is left.
  const start = Date.now();
  const settled = (): boolean => {
    const ids = h.socketSessions();
    return ids.length === 2 && ids.every((id) => id === ctx.newId);
  };
  while (!settled() && Date.now() - start < 5000) await a.page.waitForTimeout(50);
  assert.equal(h.socketSessions(), [ctx.newId, ctx.newId]);
  const state = await stateOf(b.page);
  assert.is.not(state.tag, oldTag, 'the tab adopted the new tag');
});

account('after sign-in the data is kept and the page stays live', async (ctx) => {
  const { h, a, b } = ctx;
  for (const tab of [a, b]) {
    assert.equal(await shownJson(tab.page), {
      counter: 1,
      prefs: { theme: 'ocean' },
      user: { id: 'u-ada', name: 'Ada' },
    });
    assert.is(await tab.page.locator('#user-name').innerText(), 'Ada');
  }
  await click(b, '#socket-add');
  await waitFor(a.page, (s) => s.data.counter === 2);
  await click(a, '[data-theme-choice="dark"]');
  await waitFor(b.page, (s) => s.data.prefs?.theme === 'dark');
  await waitFor(a.page, (s) => s.pending === 0);
  const stored = await h.demo.sync.get(ctx.newId);
  assert.is(stored?.data.counter, 2);
  assert.equal(stored?.data.prefs, { theme: 'dark' });
  assert.is(stored?.user, 'u-ada', 'indexed by user');
});

account('a screenshot of the signed-in page is saved', async ({ a }) => {
  await a.page.locator('#data').evaluate((el) => el.classList.remove('flash'));
  const path = await screenshot(a.page, 'demo');
  assert.ok(statSync(path).size > 10_000, `${path} holds a picture`);
  // The README's picture (docs/demo.png) is taken by devices.test.ts, with two devices listed.
});

account('sign-out ends every tab', async (ctx) => {
  const { h, a, b } = ctx;
  await click(a, '#sign-out button[type="submit"]');
  for (const tab of [a, b]) {
    await waitFor(tab.page, (s) => s.status === 'ended');
    assert.equal((await stateOf(tab.page)).data, {}, 'the mirror is empty');
    assert.ok(await tab.page.locator('#ended').isVisible(), 'the page says so');
    assert.is(endedFrames(tab, 'destroyed').length, 1);
  }
  assert.is(await h.demo.sync.get(ctx.newId), undefined, 'the record is gone');
  assert.is(await h.sessionId(), undefined, 'the cookie is cleared');
});

account('nothing was logged as an error while signing in and out', async ({ a, b }) => {
  assert.equal(a.errors, []);
  assert.equal(b.errors, []);
});

account('after a reload the old data is gone, even from the cache', async (ctx) => {
  const { h, a } = ctx;
  // Unreachable first: only the browser's cache could bring the old data back.
  h.demo.setReachable(false);
  await a.page.reload();
  await waitFor(a.page, (s) => s.status === 'offline' || s.status === 'cached');
  let state = await stateOf(a.page);
  assert.not.ok('user' in state.data, `offline reload shows ${JSON.stringify(state.data)}`);
  assert.is.not(state.data.counter, 2);
  h.demo.setReachable(true);
  await a.page.reload();
  await waitFor(a.page, (s) => s.status === 'live');
  state = await stateOf(a.page);
  assert.equal(state.data, { counter: 0, prefs: { theme: 'light' } });
  const id = await h.sessionId();
  assert.ok(id && id !== ctx.newId && id !== ctx.oldId, 'a fresh session');
  assert.is(await a.page.evaluate(() => document.documentElement.dataset.theme), 'light');
});

account.run();
