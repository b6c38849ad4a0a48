// Offline in a real Chromium: with the server unreachable the page still shows the cached
// session, a write made meanwhile is shown at once, survives a reload, and reaches the server
// exactly once when the network returns.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionChange } from '../../dist/server.js';
import { click, loud, shownJson, startE2E, stateOf, waitFor, type E2E, type Tab } from './harness.js';

interface Ctx {
  h: E2E;
  tab: Tab;
  id: string;
  /** The server's version before going offline. */
  before: number;
  /** Every change the server committed to the session, in order. */
  changes: SessionChange[];
}

const offline = suite<Ctx>('with the server unreachable the page keeps the session and its writes');

offline.before(
  loud(async (ctx) => {
    ctx.h = await startE2E();
    ctx.tab = await ctx.h.open();
    ctx.changes = [];
    ctx.h.demo.sync.on('change', (id, change) => {
      if (id === ctx.id) ctx.changes.push(change);
    });
  }),
);

offline.after(
  loud(async (ctx) => {
    await ctx.h?.close();
  }),
);

offline('a live page with a counter', async (ctx) => {
  const { h, tab } = ctx;
  await waitFor(tab.page, (s) => s.status === 'live');
  await click(tab, '#http-add');
  await waitFor(tab.page, (s) => s.data.counter === 1);
  ctx.id = (await h.sessionId())!;
  const stored = await h.demo.sync.get(ctx.id);
  assert.is(stored?.data.counter, 1);
  ctx.before = stored!.version;
});

offline('unreachable: the page goes offline and keeps its data', async ({ h, tab }) => {
  h.demo.setReachable(false);
  await waitFor(tab.page, (s) => s.status === 'offline');
  assert.is((await stateOf(tab.page)).data.counter, 1);
});

offline('a reload while unreachable shows the cached session', async ({ tab }) => {
  await tab.page.reload();
  await waitFor(tab.page, (s) => (s.status === 'cached' || s.status === 'offline') && s.data.counter === 1);
  assert.equal(await shownJson(tab.page), { counter: 1, prefs: { theme: 'light' } });
  const badge = await tab.page.locator('#status').getAttribute('data-status');
  assert.ok(badge === 'cached' || badge === 'offline', `badge: ${badge}`);
  await waitFor(tab.page, (s) => s.status === 'offline'); // the GET failed: offline, not ended, not empty
  assert.is((await stateOf(tab.page)).data.counter, 1);
});

offline('writes made while unreachable are shown at once', async ({ tab }) => {
  await click(tab, '[data-theme-choice="dark"]');
  assert.is(await tab.page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await click(tab, '[data-theme-choice="ocean"]');
  const state = await stateOf(tab.page);
  assert.equal(state.data.prefs, { theme: 'ocean' });
  assert.is(state.pending, 2);
  assert.is(await tab.page.evaluate(() => document.documentElement.dataset.theme), 'ocean');
  await tab.page.waitForFunction(() => document.getElementById('pending')?.textContent === '2 pending');
});

offline('they survive a reload while still unreachable', async ({ h, tab }) => {
  await tab.page.reload();
  await waitFor(tab.page, (s) => s.data.prefs?.theme === 'ocean' && s.data.counter === 1 && s.pending === 2);
  assert.is(await tab.page.evaluate(() => document.documentElement.dataset.theme), 'ocean');
  const stored = await h.demo.sync.get((await h.sessionId())!);
  assert.equal(stored?.data.prefs, undefined, 'nothing reached the server yet');
});

offline('when the network returns they reach the server exactly once', async (ctx) => {
  const { h, tab } = ctx;
  h.demo.setReachable(true);
  await waitFor(tab.page, (s) => s.status === 'live' && s.pending === 0, 20_000);
  const stored = await h.demo.sync.get(ctx.id);
  assert.equal(stored?.data.prefs, { theme: 'ocean' });
  assert.is(stored?.data.counter, 1);
  // Two writes, two versions: a replayed write would add more (dark, ocean, dark, ocean).
  await tab.page.waitForTimeout(300);
  const writes = ctx.changes.filter((c) => c.mutation !== undefined);
  assert.is(writes.length, 2, `browser writes committed: ${JSON.stringify(writes)}`);
  assert.is.not(writes[0]!.mutation, writes[1]!.mutation);
  assert.is((await h.demo.sync.get(ctx.id))?.version, ctx.before + 2);
  const state = await stateOf(tab.page);
  assert.is(state.version, ctx.before + 2, 'the page holds the server’s version');
  // The badge follows: live, nothing pending.
  assert.is(await tab.page.locator('#status').getAttribute('data-status'), 'live');
  assert.not.ok(await tab.page.locator('#pending').isVisible(), 'no pending count shown');
  assert.equal(state.data.prefs, { theme: 'ocean' });
});

offline.run();
