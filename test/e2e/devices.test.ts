// "Sign out everywhere else" in a real Chromium (issue 10): one person signed in on two devices
// (two browser contexts, the second with two tabs). Each page counts the other sessions live,
// without ever receiving their ids; one click on device A ends device B's tabs, live, and
// leaves A signed in with its data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { click, fill, loud, startE2E, stateOf, waitFor, type Device, type E2E, type Tab } from './harness.js';

interface Ctx {
  h: E2E;
  /** Device A's tab. */
  a: Tab;
  /** Device B: one browser, two tabs, one session. */
  other: Device;
  b1: Tab;
  b2: Tab;
  aId: string;
  bId: string;
}

const devices = suite<Ctx>('"sign out everywhere else" ends the user’s other devices live and keeps this one');

devices.before(
  loud(async (ctx) => {
    ctx.h = await startE2E();
    ctx.a = await ctx.h.open();
    ctx.other = await ctx.h.device();
    ctx.b1 = await ctx.other.open();
    ctx.b2 = await ctx.other.open();
  }),
);

devices.after(
  loud(async (ctx) => {
    await ctx.h?.close();
  }),
);

/** Waits until the "Your other sessions" line of a page starts with `text`. */
async function othersShown(page: Page, text: string): Promise<void> {
  try {
    await page.waitForFunction(
      (want) => document.getElementById('devices-text')?.textContent?.startsWith(want) ?? false,
      text,
      { timeout: 10_000, polling: 50 },
    );
  } catch (err) {
    const shown = await page.locator('#devices-text').textContent();
    throw new Error(`the line says ${JSON.stringify(shown)}, not ${JSON.stringify(text)}…`, { cause: err });
  }
}

async function signIn(tab: Tab, name: string): Promise<void> {
  await fill(tab, '#name', name);
  await click(tab, '#sign-in button[type="submit"]');
}

devices('one device signed in: no other session, and nothing to sign out', async (ctx) => {
  const { h, a, b1, b2 } = ctx;
  for (const tab of [a, b1, b2]) await waitFor(tab.page, (s) => s.status === 'live');
  assert.not.ok(await a.page.locator('#devices').isVisible(), 'hidden while signed out');
  await click(a, '#http-add');
  await signIn(a, 'Grace');
  await waitFor(a.page, (s) => s.status === 'live' && s.data.user?.name === 'Grace', 15_000);
  await othersShown(a.page, 'none');
  assert.ok(await a.page.locator('#sign-out-others').isDisabled(), 'nothing to sign out');
  ctx.aId = (await h.sessionId())!;
  assert.ok(ctx.aId);
});

devices('a second device signs in as the same user: each page counts the other, live', async (ctx) => {
  const { h, a, b1, b2, other } = ctx;
  await signIn(b1, 'grace'); // one user per name, whatever its case
  for (const tab of [b1, b2]) {
    await waitFor(tab.page, (s) => s.status === 'live' && s.data.user?.name === 'grace', 15_000);
  }
  ctx.bId = (await other.sessionId())!;
  assert.ok(ctx.bId && ctx.bId !== ctx.aId, 'two devices, two sessions');
  // A did nothing: the server nudged its page when B's session joined the user.
  await othersShown(a.page, '1 other device · last active');
  assert.ok(await a.page.locator('#sign-out-others').isEnabled());
  // B's two tabs share one session: one other device for each of them, not two.
  for (const tab of [b1, b2]) await othersShown(tab.page, '1 other device');
  const listed = (await h.demo.sync.sessionsOf('u-grace')).map((s) => s.id).sort();
  assert.equal(listed, [ctx.aId, ctx.bId].sort());
});

devices('the page learns counts, never session ids', async (ctx) => {
  const { a, b1 } = ctx;
  const body = await a.page.evaluate(() => fetch('/api/devices').then((r) => r.json()));
  assert.equal(Object.keys(body).sort(), ['now', 'others', 'user']);
  assert.equal(body.user, { name: 'Grace' });
  assert.is(body.others.count, 1);
  assert.type(body.others.lastActive, 'number');
  for (const tab of [a, b1]) {
    const seen = JSON.stringify(body) + tab.frames.join('\n') + tab.bodies.join('\n');
    assert.not.ok(seen.includes(ctx.aId), 'A’s id reached a page');
    assert.not.ok(seen.includes(ctx.bId), 'B’s id reached a page');
  }
});

devices('the line and its button fit a phone’s width', async ({ a }) => {
  await a.page.setViewportSize({ width: 360, height: 740 });
  for (const part of ['#devices-text', '#sign-out-others']) {
    const box = await a.page.locator(part).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${part} is on screen (${JSON.stringify(box)})`);
  }
  await a.page.setViewportSize({ width: 1100, height: 820 });
});

devices('"Sign out everywhere else" on A ends both tabs of B live; A stays live with its data', async (ctx) => {
  const { h, a, b1, b2 } = ctx;
  const before = await stateOf(a.page);
  await click(a, '#sign-out-others');
  for (const tab of [b1, b2]) {
    await waitFor(tab.page, (s) => s.status === 'ended');
    assert.equal((await stateOf(tab.page)).data, {}, 'B’s mirror is wiped');
    assert.ok(await tab.page.locator('#ended').isVisible(), 'B’s page says so');
    const told = tab.frames.filter((f) => f.includes('session:ended') && f.includes('destroyed'));
    assert.is(told.length, 1, 'each of B’s sockets was told once');
  }
  await othersShown(a.page, 'none');
  assert.ok(await a.page.locator('#sign-out-others').isDisabled());
  const after = await stateOf(a.page);
  assert.is(after.status, 'live');
  assert.is(after.tag, before.tag, 'A kept its session');
  assert.equal(after.data, { counter: 1, prefs: { theme: 'light' }, user: { id: 'u-grace', name: 'Grace' } });
  assert.is(await h.sessionId(), ctx.aId);
  assert.is(await h.demo.sync.get(ctx.bId), undefined, 'B’s record is gone');
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
