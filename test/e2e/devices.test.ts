// The device list in a real Chromium (issues 10 and 16): one person signed in on two devices
// (two browser contexts with their own User-Agent, the second with two tabs). Each page lists
// both devices live, names its own "this device", and never receives an id or a raw
// User-Agent; "Sign out" on the other device ends its tabs live and both lists follow;
// "Sign out everywhere else" ends the rest; a tag that is not the user's is refused.
import { copyFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AGENTS } from '../support/devices.js';
import { click, loud, screenshot, startE2E, stateOf, waitFor, type Device, type E2E, type Tab } from './harness.js';
import { listShows, signIn } from './device-list.js';

interface Ctx {
  h: E2E;
  /** Device A ("Chrome on macOS"): one tab. */
  a: Tab;
  /** Device B ("Firefox on Android"): one browser, two tabs, one session. */
  other: Device;
  b1: Tab;
  b2: Tab;
  aId: string;
  bId: string;
}

const devices = suite<Ctx>('the account card lists the user’s devices live and signs one out');

devices.before(
  loud(async (ctx) => {
    ctx.h = await startE2E({ userAgent: AGENTS.chromeMac });
    ctx.a = await ctx.h.open();
    ctx.other = await ctx.h.device({ userAgent: AGENTS.firefoxAndroid });
    ctx.b1 = await ctx.other.open();
    ctx.b2 = await ctx.other.open();
  }),
);

devices.after(
  loud(async (ctx) => {
    await ctx.h?.close();
  }),
);

devices('one device signed in: the list names it as this device, with nothing to sign out', async (ctx) => {
  const { h, a, b1, b2 } = ctx;
  for (const tab of [a, b1, b2]) await waitFor(tab.page, (s) => s.status === 'live');
  assert.not.ok(await a.page.locator('#devices').isVisible(), 'hidden while signed out');
  await click(a, '#http-add');
  await signIn(a, 'Grace');
  await waitFor(a.page, (s) => s.status === 'live' && s.data.user?.name === 'Grace', 15_000);
  await listShows(a.page, ['Chrome on macOS · this device']);
  assert.is(await a.page.locator('#device-list button').count(), 0, 'no sign-out button for this device');
  assert.ok(await a.page.locator('#sign-out-others').isDisabled(), 'nothing else to sign out');
  ctx.aId = (await h.sessionId())!;
  assert.ok(ctx.aId);
});

devices('a second device signs in as the same user: each page lists both, its own first, live', async (ctx) => {
  const { h, a, b1, b2, other } = ctx;
  await signIn(b1, 'grace'); // one user per name, whatever its case
  for (const tab of [b1, b2]) {
    await waitFor(tab.page, (s) => s.status === 'live' && s.data.user?.name === 'grace', 15_000);
  }
  ctx.bId = (await other.sessionId())!;
  assert.ok(ctx.bId && ctx.bId !== ctx.aId, 'two devices, two sessions');
  // A did nothing: the server nudged its page when B's session joined the user.
  await listShows(a.page, ['Chrome on macOS · this device', 'Firefox on Android · active']);
  // B's two tabs share one session: one device, listed once, current in both.
  for (const tab of [b1, b2])
    await listShows(tab.page, ['Firefox on Android · this device', 'Chrome on macOS · active']);
  assert.ok(await a.page.locator('#sign-out-others').isEnabled());
  assert.is(await a.page.locator('#device-list button').count(), 1, 'one "Sign out", for the other device');
  const listed = (await h.demo.sync.sessionsOf('u-grace')).map((s) => s.id).sort();
  assert.equal(listed, [ctx.aId, ctx.bId].sort());
});

devices(
  'the page learns tags and summaries, never ids, and never the device note unless the app exposes it',
  async (ctx) => {
    const { h, a, b1, b2 } = ctx;
    const body = await a.page.evaluate(() => fetch('/api/devices').then((r) => r.json()));
    assert.equal(Object.keys(body).sort(), ['devices', 'now', 'user']);
    assert.equal(body.user, { name: 'Grace' });
    const tags = Object.fromEntries((await h.demo.sync.sessionsOf('u-grace')).map((s) => [s.id, s.tag]));
    assert.equal(
      body.devices.map((d: any) => [d.tag, d.current, d.summary]),
      [
        [tags[ctx.aId], true, 'Chrome on macOS'],
        [tags[ctx.bId], false, 'Firefox on Android'],
      ],
    );
    for (const d of body.devices)
      assert.equal(Object.keys(d).sort(), ['createdAt', 'current', 'lastActive', 'summary', 'tag']);
    for (const tab of [a, b1, b2]) {
      const seen = JSON.stringify(body) + tab.frames.join('\n') + tab.bodies.join('\n');
      for (const id of [ctx.aId, ctx.bId]) assert.not.ok(seen.includes(id), 'an id reached a page');
      // The session protocol (route, socket frames) carries the data only: no device note.
      const wire = tab.frames.join('\n') + tab.bodies.join('\n');
      for (const agent of [AGENTS.chromeMac, AGENTS.firefoxAndroid, 'Chrome on macOS', 'Firefox on Android'])
        assert.not.ok(wire.includes(agent), `${agent} crossed the session protocol`);
    }
    const state = await stateOf(a.page);
    assert.equal(Object.keys(state.data).sort(), ['counter', 'prefs', 'user']);
  },
);

devices('a screenshot of the device list is saved', async ({ a }) => {
  await a.page.locator('#data').evaluate((el) => el.classList.remove('flash'));
  const path = await screenshot(a.page, 'devices');
  assert.ok(statSync(path).size > 10_000, `${path} holds a picture`);
  // `UPDATE_DOCS_SCREENSHOT=1` makes this run's picture the README's (docs/demo.png).
  if (process.env.UPDATE_DOCS_SCREENSHOT)
    copyFileSync(path, fileURLToPath(new URL('../../docs/demo.png', import.meta.url)));
});

devices('the list and its buttons fit a phone’s width', async ({ a }) => {
  await a.page.setViewportSize({ width: 360, height: 740 });
  // Measured in the page in one go: the list is re-rendered every few seconds ("3 min ago").
  const parts = ['#device-list li', '#device-list button', '#sign-out-others'];
  for (const part of parts) {
    const boxes = await a.page.$$eval(part, (els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        return { x: r.x, width: r.width };
      }),
    );
    assert.ok(boxes.length > 0, `${part} is there`);
    for (const box of boxes)
      assert.ok(box.x >= 0 && box.x + box.width <= 360, `${part} is on screen (${JSON.stringify(box)})`);
  }
  await a.page.setViewportSize({ width: 1100, height: 820 });
});

devices('a tag that is not this user’s is refused: forged, or another user’s', async (ctx) => {
  const { h, a } = ctx;
  const third = await h.device({ userAgent: AGENTS.safariIphone });
  const c = await third.open();
  await waitFor(c.page, (s) => s.status === 'live');
  await signIn(c, 'Linus');
  await waitFor(c.page, (s) => s.status === 'live' && s.data.user?.name === 'Linus', 15_000);
  const linus = (await h.demo.sync.sessionsOf('u-linus'))[0]!;
  const bTag = (await h.demo.sync.sessionsOf('u-grace')).find((s) => s.id === ctx.bId)!.tag;
  const forged = bTag.slice(0, -1) + (bTag.endsWith('A') ? 'B' : 'A');
  // Through the page's own cookies, without the page (a refused fetch would log an error there).
  for (const tag of [forged, linus.tag]) {
    const res = await a.page.request.post(`${h.demo.url}api/devices/revoke`, {
      data: { tag },
      headers: { Accept: 'application/json' },
    });
    assert.is(res.status(), 403, `revoke ${tag}`);
    assert.is((await res.json()).error, 'forbidden');
  }
  assert.ok(await h.demo.sync.get(linus.id), 'Linus is still signed in');
  assert.is((await stateOf(c.page)).status, 'live');
  assert.is((await h.demo.sync.sessionsOf('u-grace')).length, 2, 'Grace lost nothing');
  await listShows(a.page, ['Chrome on macOS · this device', 'Firefox on Android · active']);
  await c.page.close();
});

devices('"Sign out" on the other device ends both of its tabs live; both lists follow', async (ctx) => {
  const { h, a, b1, b2 } = ctx;
  const before = await stateOf(a.page);
  await click(a, '#device-list button');
  for (const tab of [b1, b2]) {
    await waitFor(tab.page, (s) => s.status === 'ended');
    assert.equal((await stateOf(tab.page)).data, {}, 'B’s mirror is wiped');
    assert.ok(await tab.page.locator('#ended').isVisible(), 'B’s page says so');
    assert.not.ok(await tab.page.locator('#devices').isVisible(), 'and lists no devices any more');
    const told = tab.frames.filter((f) => f.includes('session:ended') && f.includes('destroyed'));
    assert.is(told.length, 1, 'each of B’s sockets was told once');
  }
  await listShows(a.page, ['Chrome on macOS · this device']);
  assert.ok(await a.page.locator('#sign-out-others').isDisabled());
  const after = await stateOf(a.page);
  assert.is(after.status, 'live');
  assert.is(after.tag, before.tag, 'A kept its session');
  assert.is(await h.demo.sync.get(ctx.bId), undefined, 'B’s record is gone');
  assert.equal(
    (await h.demo.sync.sessionsOf('u-grace')).map((s) => s.id),
    [ctx.aId],
  );
});

devices('B signs in again: A’s list grows live; "Sign out everywhere else" on A ends B again', async (ctx) => {
  const { h, a, b1, other } = ctx;
  await click(b1, '#restart');
  await waitFor(b1.page, (s) => s.status === 'live');
  await signIn(b1, 'Grace');
  await waitFor(b1.page, (s) => s.status === 'live' && s.data.user?.name === 'Grace', 15_000);
  ctx.bId = (await other.sessionId())!;
  await listShows(a.page, ['Chrome on macOS · this device', 'Firefox on Android · active']);
  await click(a, '#sign-out-others');
  await waitFor(b1.page, (s) => s.status === 'ended');
  await listShows(a.page, ['Chrome on macOS · this device']);
  assert.equal(
    (await h.demo.sync.sessionsOf('u-grace')).map((s) => s.id),
    [ctx.aId],
  );
  // A keeps working live after the others are gone.
  await click(a, '#socket-add');
  await waitFor(a.page, (s) => s.data.counter === 2);
  assert.is((await h.demo.sync.get(ctx.aId))?.data.counter, 2);
});

devices('nothing was logged as an error on either device', async ({ a, b1, b2 }) => {
  assert.equal(a.errors, []);
  assert.equal(b1.errors, []);
  assert.equal(b2.errors, []);
});

devices.run();
