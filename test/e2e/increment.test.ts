// Counters in a real Chromium: increments made offline in two tabs of one visitor all land.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { giveBackBrowser, loud, stateOf, takeBrowser, waitFor } from './harness.js';
import { startPages, type Pages } from './pages.js';

interface Ctx {
  browser: Browser;
  pages: Pages;
  context: BrowserContext;
  one: Page;
  two: Page;
}

const counting = suite<Ctx>('two tabs offline each increment 5 times, back online: +10 everywhere');

counting.before(
  loud(async (ctx) => {
    ctx.browser = await takeBrowser();
    ctx.pages = await startPages();
    ctx.context = await ctx.browser.newContext();
  }),
);

counting.after(
  loud(async (ctx) => {
    await ctx.context?.close();
    await ctx.pages?.close();
    await giveBackBrowser();
  }),
);

const open = async (ctx: Ctx): Promise<Page> => {
  const page = await ctx.context.newPage();
  await page.goto(`${ctx.pages.url}/`);
  await waitFor(page, (s) => s.status === 'live');
  return page;
};

counting('two live tabs of one visitor, a counter at 100', async (ctx) => {
  ctx.one = await open(ctx);
  ctx.two = await open(ctx);
  await ctx.one.evaluate(() =>
    fetch('/write', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"counter":100}' }),
  );
  await waitFor(ctx.one, (s) => s.data.counter === 100);
  await waitFor(ctx.two, (s) => s.data.counter === 100);
});

counting('offline, each tab adds 1 five times and shows its own steps at once', async (ctx) => {
  ctx.pages.setReachable(false);
  await waitFor(ctx.one, (s) => s.status === 'offline');
  await waitFor(ctx.two, (s) => s.status === 'offline');
  for (const tab of [ctx.one, ctx.two]) {
    await tab.evaluate(() => {
      for (let i = 0; i < 5; i++) void (window as any).demo.session.increment('counter').catch(() => {});
    });
    const state = await stateOf(tab);
    assert.is(state.data.counter, 105);
    assert.is(state.pending, 5);
  }
});

counting('back online: +10 in both tabs and in the store, each step applied once', async (ctx) => {
  const changes: (string | undefined)[] = [];
  const id = (await ctx.context.cookies(ctx.pages.url)).find((c) => c.name === 'sid')!.value;
  ctx.pages.sync.on('change', (sid, change) => {
    if (decodeURIComponent(id).startsWith(sid)) changes.push(change.mutation);
  });
  ctx.pages.setReachable(true);
  for (const tab of [ctx.one, ctx.two]) {
    await waitFor(tab, (s) => s.status === 'live' && s.pending === 0 && s.data.counter === 110, 20_000);
  }
  const stored = await ctx.pages.sync.get(decodeURIComponent(id).split('.')[0]!);
  assert.is(stored?.data.counter, 110);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(changes.length, 10, 'ten mutations, none twice');
  assert.is(new Set(changes).size, 10);
});

counting.run();
