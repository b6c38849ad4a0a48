// The device list across two demo nodes on one Redis, in a real Chromium (issue 16): device A
// on node 0, device B on node 1. Each lists both; A signs B out from node 0 and B's page on
// node 1 ends live while A's list follows; B signing in again shows up on A live.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RedisStore as Store } from '../../dist/server.js';
import { AGENTS } from '../support/devices.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { listShows, signIn } from './device-list.js';
import { click, loud, startE2E, stateOf, waitFor, type Device, type E2E, type Tab } from './harness.js';

interface Ctx {
  redis: TestRedis;
  h: E2E;
  /** Device A ("Chrome on Windows") on node 0. */
  a: Tab;
  /** Device B ("Safari on iOS") on node 1. */
  other: Device;
  b: Tab;
  aId: string;
  bId: string;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nodes = suite<Ctx>('two demo nodes on Redis: one device list, and "Sign out" reaches the other node live');

nodes.before(
  loud(async (ctx) => {
    ctx.redis = await startRedis();
    // The demo's own copy of the package: this file is loaded as CommonJS (uvu -r tsx), so a
    // static import would be a second copy, whose errors the demo's would not recognize.
    const { RedisStore } = (await import('../../dist/server.js')) as { RedisStore: typeof Store };
    ctx.h = await startE2E({
      nodes: 2,
      store: () => new RedisStore({ url: ctx.redis.url }),
      userAgent: AGENTS.chromeWindows,
    });
    ctx.a = await ctx.h.open(0);
    ctx.other = await ctx.h.device({ userAgent: AGENTS.safariIphone });
    ctx.b = await ctx.other.open(1);
  }),
);

nodes.after(
  loud(async (ctx) => {
    await ctx.h?.close();
    await ctx.redis?.stop();
  }),
);

nodes('a device on each node signs in as one user: both pages list both', async (ctx) => {
  const { h, a, b, other } = ctx;
  for (const tab of [a, b]) await waitFor(tab.page, (s) => s.status === 'live');
  await signIn(a, 'Ada');
  await waitFor(a.page, (s) => s.status === 'live' && s.data.user?.name === 'Ada', 15_000);
  await signIn(b, 'Ada');
  await waitFor(b.page, (s) => s.status === 'live' && s.data.user?.name === 'Ada', 15_000);
  ctx.aId = (await h.sessionId())!;
  ctx.bId = (await other.sessionId())!;
  assert.ok(ctx.aId && ctx.bId && ctx.aId !== ctx.bId);
  await listShows(a.page, ['Chrome on Windows · this device', 'Safari on iOS · active']);
  await listShows(b.page, ['Safari on iOS · this device', 'Chrome on Windows · active']);
  for (const node of h.demos) {
    assert.equal((await node.sync.sessionsOf('u-ada')).map((s) => s.device.summary).sort(), [
      'Chrome on Windows',
      'Safari on iOS',
    ]);
  }
});

nodes('"Sign out" on node 0 ends device B’s page on node 1 live; both lists follow', async (ctx) => {
  const { h, a, b } = ctx;
  await click(a, '#device-list button');
  await waitFor(b.page, (s) => s.status === 'ended');
  assert.equal((await stateOf(b.page)).data, {}, 'B’s mirror is wiped');
  // The page may turn 'ended' from a hello answered `ended` before the notice frame that
  // follows it is recorded here: wait for the frame, then count it.
  const told = (): number => b.frames.filter((f) => f.includes('session:ended') && f.includes('destroyed')).length;
  for (const deadline = Date.now() + 5000; told() === 0 && Date.now() < deadline;) await pause(50);
  assert.is(told(), 1);
  assert.not.ok(await b.page.locator('#devices').isVisible(), 'B lists nothing any more');
  await listShows(a.page, ['Chrome on Windows · this device']);
  assert.is(await h.demos[1]!.sync.get(ctx.bId), undefined, 'gone on every node');
  assert.equal(
    (await h.demos[1]!.sync.sessionsOf('u-ada')).map((s) => s.id),
    [ctx.aId],
  );
});

nodes('B signs in again on node 1: A’s list on node 0 grows live', async (ctx) => {
  const { a, b, other } = ctx;
  await click(b, '#restart');
  await waitFor(b.page, (s) => s.status === 'live');
  await signIn(b, 'Ada');
  await waitFor(b.page, (s) => s.status === 'live' && s.data.user?.name === 'Ada', 15_000);
  ctx.bId = (await other.sessionId())!;
  await listShows(a.page, ['Chrome on Windows · this device', 'Safari on iOS · active']);
  await listShows(b.page, ['Safari on iOS · this device', 'Chrome on Windows · active']);
});

nodes('no id, and no device note, ever crossed the session protocol; nothing was logged as an error', async (ctx) => {
  const { a, b } = ctx;
  for (const tab of [a, b]) {
    const wire = tab.frames.join('\n') + tab.bodies.join('\n');
    for (const secret of [ctx.aId, ctx.bId, AGENTS.chromeWindows, AGENTS.safariIphone]) {
      assert.not.ok(wire.includes(secret), 'a session id or a User-Agent reached a page over the session protocol');
    }
    assert.equal(tab.errors, []);
  }
});

nodes.run();
