// Sessions that end, move or belong to someone else, in a real Chromium: a sign-in racing a
// write, a shared computer after the previous person's session ended (by another device, by
// idle expiry, by a server restart), and a pending write that must never reach the next person.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { giveBackBrowser, loud, stateOf, takeBrowser, waitFor } from './harness.js';
import { startPages, type Pages } from './pages.js';

interface Ctx {
  browser: Browser;
  apps: Pages[];
  contexts: BrowserContext[];
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function app(ctx: Ctx, options?: Parameters<typeof startPages>[0]): Promise<Pages> {
  const started = await startPages(options);
  ctx.apps.push(started);
  return started;
}

/** A browser profile (cookies, IndexedDB): one computer. */
async function computer(ctx: Ctx): Promise<BrowserContext> {
  const context = await ctx.browser.newContext();
  ctx.contexts.push(context);
  return context;
}

async function visit(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => (window as any).demo?.session);
  return page;
}

/** The session id in a profile's cookie (the signed value's id part). */
async function sessionId(context: BrowserContext, url: string): Promise<string | undefined> {
  const cookie = (await context.cookies(url)).find((c) => c.name === 'sid');
  return cookie ? decodeURIComponent(cookie.value).split('.')[0] : undefined;
}

/** Every data the page's session showed since the page loaded, as JSON text. */
const shown = (page: Page): Promise<string[]> => page.evaluate(() => (window as any).seen);

/**
 * Waits until the page's cached record holds the idle deadline the server told. A record
 * created by the page's own first write learns it one round trip after the write is
 * acknowledged (the SDK says hello again); a tab closed inside that round trip leaves a copy
 * with no known deadline, shown until the server answers (README, Decisions).
 */
async function deadlineCached(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      new Promise<boolean>((resolve) => {
        const open = indexedDB.open('session-sync');
        open.onerror = () => resolve(false);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onerror = () => resolve(false);
          all.onsuccess = () => {
            open.result.close();
            resolve(all.result.some((r: any) => r?.version > 0 && typeof r.until === 'number'));
          };
        };
      }),
    undefined,
    { polling: 50, timeout: 10_000 },
  );
}

function lifecycle(name: string) {
  const s = suite<Ctx>(name);
  s.before(
    loud(async (ctx) => {
      ctx.browser = await takeBrowser();
      ctx.apps = [];
      ctx.contexts = [];
    }),
  );
  s.after.each(async (ctx) => {
    for (const context of ctx.contexts.splice(0)) await context.close();
    for (const started of ctx.apps.splice(0)) await started.close().catch(() => {});
  });
  s.after(loud(async () => giveBackBrowser()));
  return s;
}

// ---

const signIn = lifecycle('a sign-in while a write of the old session is under way');

signIn('the victim’s write reaches the new session once the page follows the new cookie', async (ctx) => {
  const pages = await app(ctx);
  const context = await computer(ctx);
  const page = await visit(context, `${pages.url}/`);
  await waitFor(page, (s) => s.status === 'live');
  await page.evaluate(() => (window as any).demo.session.set('prefs.size', 'L'));
  const oldId = await sessionId(context, pages.url);
  assert.ok(await pages.sync.get(oldId!), 'the old id has a record');
  const held = pages.holdNextWrite();
  await page.evaluate(() => void (window as any).demo.session.set('prefs.theme', 'victim').catch(() => {}));
  await held.arrived;
  // The sign-in (regenerate) completes while the write is still on its way under the old id.
  const { tag } = await page.evaluate(() => fetch('/sign-in?name=victim', { method: 'POST' }).then((r) => r.json()));
  await pause(100);
  held.release();
  // Checked from here, not in the page: the check reads `tag`.
  const end = Date.now() + 10_000;
  let state = await stateOf(page);
  while (!(state.tag === tag && state.status === 'live' && state.pending === 0)) {
    if (Date.now() > end) throw new Error(`the page never followed the new cookie: ${JSON.stringify(state)}`);
    await pause(50);
    state = await stateOf(page);
  }
  const newId = await sessionId(context, pages.url);
  assert.is.not(newId, oldId);
  const expected = { size: 'L', theme: 'victim' };
  assert.equal((await pages.sync.get(newId!))?.data.prefs, expected, 'the write is in the new session');
  assert.is(await pages.sync.get(oldId!), undefined, 'the old id never gets a record back');
  assert.equal((await stateOf(page)).data.prefs, expected);
});

signIn.run();

// ---

const shared = lifecycle('a shared computer: the next person never keeps the previous session');

shared(
  'ended from another device while no tab was open: gone once the server answered, and after new writes',
  async (ctx) => {
    const pages = await app(ctx);
    const context = await computer(ctx);
    const alice = await visit(context, `${pages.url}/`);
    await waitFor(alice, (s) => s.status === 'live');
    await alice.evaluate(() => fetch('/sign-in?name=alice', { method: 'POST' }));
    await waitFor(alice, (s) => s.status === 'live' && s.data.user?.id === 'alice');
    await alice.evaluate(() => (window as any).demo.session.set('prefs.theme', 'alice-theme'));
    await waitFor(alice, (s) => s.pending === 0);
    await alice.close();
    assert.is(await pages.sync.destroyUser('alice'), 1, 'signed out everywhere from another device');

    const next = await visit(context, `${pages.url}/`);
    await waitFor(next, (s) => s.status === 'live');
    const state = await stateOf(next);
    assert.equal(state.data, {}, `the page holds ${JSON.stringify(state.data)}`);
    await next.evaluate(() => (window as any).demo.session.set('prefs.theme', 'bob-theme'));
    await waitFor(next, (s) => s.pending === 0);
    const id = await sessionId(context, pages.url);
    assert.equal((await pages.sync.get(id!))?.data, { prefs: { theme: 'bob-theme' } });
    assert.equal((await stateOf(next)).data, { prefs: { theme: 'bob-theme' } }, 'nothing of Alice came back');
  },
);

shared('ended by idle expiry: a copy past the deadline the server told is never shown at all', async (ctx) => {
  const pages = await app(ctx, { ttl: 1500 });
  const context = await computer(ctx);
  const alice = await visit(context, `${pages.url}/`);
  await waitFor(alice, (s) => s.status === 'live');
  await alice.evaluate(() => (window as any).demo.session.set('prefs.theme', 'alice-theme'));
  await waitFor(alice, (s) => s.pending === 0);
  await deadlineCached(alice);
  await alice.close();
  await pause(2000);

  const next = await visit(context, `${pages.url}/`);
  await waitFor(next, (s) => s.status === 'live');
  assert.equal((await stateOf(next)).data, {}, 'gone once the server answered');
  const all = await shown(next);
  assert.ok(
    all.every((data) => !data.includes('alice')),
    `shown before the server answered: ${JSON.stringify(all)}`,
  );
});

shared('after a MemoryStore restart with the same secret the page converges on the server', async (ctx) => {
  const first = await app(ctx);
  const context = await computer(ctx);
  const page = await visit(context, `${first.url}/`);
  await waitFor(page, (s) => s.status === 'live');
  for (const theme of ['a', 'b', 'c', 'd', 'e', 'f']) {
    await page.evaluate((t) => (window as any).demo.session.set('prefs.theme', t), theme);
  }
  await waitFor(page, (s) => s.pending === 0 && s.version === 6);
  await page.close();
  await first.close();
  const second = await app(ctx, { port: first.port });

  const again = await visit(context, `${second.url}/`);
  await waitFor(again, (s) => s.status === 'live');
  await again.evaluate(() => (window as any).demo.session.set('prefs.theme', 'after'));
  await waitFor(again, (s) => s.pending === 0);
  const id = await sessionId(context, second.url);
  const server = await second.sync.get(id!);
  const state = await stateOf(again);
  assert.equal(state.data, server?.data);
  assert.equal(state.data, { prefs: { theme: 'after' } });
  assert.is(state.version, server?.version, 'the page holds the server’s version, not the old 6');
});

shared.run();

// ---

const crossing = lifecycle('a pending write of one visitor never reaches the next visitor’s session');

/** Alice writes while her page cannot reach the server, then leaves; the cookies are cleared. */
async function aliceLeavesAWrite(pages: Pages, context: BrowserContext, path: string): Promise<string | undefined> {
  const alice = await visit(context, `${pages.url}${path}`);
  await waitFor(alice, (s) => s.status === 'live');
  const id = await sessionId(context, pages.url);
  pages.setReachable(false);
  await waitFor(alice, (s) => s.status === 'offline');
  await alice.evaluate(() => void (window as any).demo.session.set('prefs.theme', 'alice-dark').catch(() => {}));
  await waitFor(alice, (s) => s.pending === 1);
  await alice.close();
  pages.setReachable(true);
  await context.clearCookies();
  return id;
}

async function bobArrives(pages: Pages, context: BrowserContext, path: string, aliceId?: string): Promise<void> {
  const bob = await visit(context, `${pages.url}${path}`);
  await waitFor(bob, (s) => s.status === 'live');
  await bob.evaluate(() => (window as any).demo.session.set('prefs.theme', 'bob-light'));
  await waitFor(bob, (s) => s.pending === 0);
  await pause(200);
  const id = await sessionId(context, pages.url);
  assert.is.not(id, aliceId);
  assert.equal((await pages.sync.get(id!))?.data.prefs, { theme: 'bob-light' });
  assert.equal((await stateOf(bob)).data.prefs, { theme: 'bob-light' });
  if (aliceId) assert.not.ok(JSON.stringify((await pages.sync.get(aliceId)) ?? null).includes('alice-dark'));
}

crossing(
  'cookies cleared, then a plain page: Alice’s write is dropped, not replayed into Bob’s session',
  async (ctx) => {
    const pages = await app(ctx);
    const context = await computer(ctx);
    const aliceId = await aliceLeavesAWrite(pages, context, '/');
    await bobArrives(pages, context, '/', aliceId);
  },
);

crossing('cookies cleared, then a server-rendered page (initial with tag null): dropped too', async (ctx) => {
  const pages = await app(ctx);
  const context = await computer(ctx);
  const aliceId = await aliceLeavesAWrite(pages, context, '/ssr');
  await bobArrives(pages, context, '/ssr', aliceId);
});

crossing('a page from initial whose route answers 304 and whose socket never connects', async (ctx) => {
  const pages = await app(ctx);
  const context = await computer(ctx);
  // Alice's first load issues her cookie; the second is rendered for her session.
  const first = await visit(context, `${pages.url}/`);
  await waitFor(first, (s) => s.status === 'live' && s.tag !== null);
  await first.close();
  const alice = await context.newPage();
  await alice.route('**/get/session', (route) => route.fulfill({ status: 304 }));
  await alice.route('**/socket.io/**', (route) => route.abort());
  await alice.goto(`${pages.url}/ssr`);
  await alice.waitForFunction(() => (window as any).demo?.session);
  await alice.evaluate(() => void (window as any).demo.session.set('prefs.theme', 'alice-dark').catch(() => {}));
  await waitFor(alice, (s) => s.pending === 1 && s.tag !== null);
  const tag = (await stateOf(alice)).tag;
  // What IndexedDB holds: the write beside the session it was made in, in one record.
  const records = await alice.evaluate(
    () =>
      new Promise<unknown[]>((resolve, reject) => {
        const open = indexedDB.open('session-sync');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onsuccess = () => resolve(all.result);
        };
      }),
  );
  const mine = (records as { tag?: string; writes?: { tag: string }[] }[]).filter((r) =>
    JSON.stringify(r).includes('alice-dark'),
  );
  assert.is(mine.length, 1);
  assert.is(mine[0]!.tag, tag);
  assert.equal(
    mine[0]!.writes!.map((w) => w.tag),
    [tag],
  );
  await alice.close();
  await context.clearCookies();
  await bobArrives(pages, context, '/');
});

crossing.run();
