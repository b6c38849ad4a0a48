// Two demo nodes on one Redis (`REDIS_URL=... npm start` twice) behave as one app in a real
// Chromium: a tab on each node, one session, changes cross nodes live.
//
// The two pages have different origins (ports), so they share no IndexedDB and no
// BroadcastChannel: whatever one tab sees of the other's writes came through the servers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../dist/server.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { listShows } from './device-list.js';
import { click, fill, loud, startE2E, stateOf, waitFor, type E2E, type Tab } from './harness.js';

interface Ctx {
  redis: TestRedis;
  h: E2E;
  a: Tab;
  b: Tab;
}

const nodes = suite<Ctx>('two demo nodes on one Redis serve one live session');

nodes.before(
  loud(async (ctx) => {
    ctx.redis = await startRedis();
    ctx.h = await startE2E({ nodes: 2, store: () => new RedisStore({ url: ctx.redis.url }) });
    ctx.a = await ctx.h.open(0);
    ctx.b = await ctx.h.open(1);
  }),
);

nodes.after(
  loud(async (ctx) => {
    await ctx.h?.close();
    await ctx.redis?.stop();
  }),
);

nodes('a tab on each node, one session', async ({ h, a, b }) => {
  await waitFor(a.page, (s) => s.status === 'live');
  await waitFor(b.page, (s) => s.status === 'live');
  const id = await h.sessionId();
  assert.ok(id);
  assert.equal(h.socketSessions(0), [id]);
  assert.equal(h.socketSessions(1), [id]);
});

nodes('an HTTP write on node A and a socket write on node B reach the other node’s tab', async ({ a, b }) => {
  await click(a, '#http-add');
  await waitFor(b.page, (s) => s.data.counter === 1);
  await click(b, '#socket-add');
  await waitFor(a.page, (s) => s.data.counter === 2);
});

nodes('a browser write through node B reaches the tab on node A', async ({ h, a, b }) => {
  await click(b, '[data-theme-choice="ocean"]');
  await a.page.waitForFunction(() => document.documentElement.dataset.theme === 'ocean', undefined, {
    timeout: 10_000,
  });
  const stored = await h.demo.sync.get((await h.sessionId())!);
  assert.equal(stored?.data.prefs, { theme: 'ocean' });
  assert.is((await stateOf(a.page)).version, (await stateOf(b.page)).version);
});

nodes('"Sign out everywhere else" on node A ends another device of the user on node B', async ({ h, a, b }) => {
  await fill(a, '#name', 'Grace');
  await click(a, '#sign-in button[type="submit"]');
  await waitFor(b.page, (s) => s.status === 'live' && s.data.user?.name === 'Grace', 15_000);
  const phone = await (await h.device()).open(1);
  await waitFor(phone.page, (s) => s.status === 'live');
  await fill(phone, '#name', 'Grace');
  await click(phone, '#sign-in button[type="submit"]');
  await waitFor(phone.page, (s) => s.status === 'live' && s.data.user?.name === 'Grace', 15_000);
  // The sign-in happened on node B; node A heard of it through Redis and nudged its page.
  await listShows(a.page, [/ · this device/, / · active/]);
  await click(a, '#sign-out-others');
  await waitFor(phone.page, (s) => s.status === 'ended');
  await listShows(a.page, [/ · this device/]);
  for (const tab of [a, b]) assert.is((await stateOf(tab.page)).status, 'live', 'this device stays live on both nodes');
  assert.equal(phone.errors, []);
});

nodes('sign-out on node A ends the tab on node B', async ({ a, b }) => {
  await click(a, '#sign-out button[type="submit"]');
  await waitFor(b.page, (s) => s.status === 'ended');
  await waitFor(a.page, (s) => s.status === 'ended');
});

nodes.run();
