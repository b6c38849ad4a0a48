/**
 * The end-to-end harness: the demo app (demo/server.js, over the built dist/) on a free
 * loopback port, a headless Chromium, and helpers to watch what the page shows and what
 * crosses the wire.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import type { Demo } from '../../demo/server.js';
import type { SessionStore } from '../../dist/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Where test artifacts (screenshots) go; gitignored. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-results/', import.meta.url));

// One Chromium for every e2e file of the process (uvu runs them one after another in one
// process): each file takes it in `before` and gives it back in `after`; it closes shortly
// after the last one gave it back, so the process can exit. Each file still gets its own
// context (cookie jar, IndexedDB, BroadcastChannel): nothing leaks from one file to the next.
let shared: Promise<Browser> | undefined;
let users = 0;
let closeTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * Takes the shared Chromium (launched on first use); give it back with {@link giveBackBrowser}.
 *
 * @returns the browser
 */
export async function takeBrowser(): Promise<Browser> {
  users++;
  clearTimeout(closeTimer);
  const launching = (shared ??= launchChromium());
  try {
    return await launching;
  } catch (err) {
    users--;
    if (shared === launching) shared = undefined;
    throw err;
  }
}

/** Gives the shared Chromium back; it closes shortly after the last user gave it back. */
export async function giveBackBrowser(): Promise<void> {
  if (--users > 0 || !shared) return;
  const browser = shared;
  // The next file's `before` runs right after this file's `after`.
  closeTimer = setTimeout(() => {
    if (users > 0 || shared !== browser) return;
    shared = undefined;
    browser.then((b) => b.close()).catch(() => {});
  }, 200);
}

const VIEWPORT = { viewport: { width: 1100, height: 820 } };
const contextOptions = ({ userAgent }: DeviceOptions): typeof VIEWPORT & DeviceOptions =>
  userAgent === undefined ? VIEWPORT : { ...VIEWPORT, userAgent };

let built = false;
// The demo runs the BUILT package, as a user would; `npm test` builds first (pretest), and a
// direct `uvu test/e2e` run must not test a stale dist/ either.
/** Builds dist/ when it is older than the sources (once per process). */
export function ensureBuilt(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('session-sync e2e: building dist/ failed');
  built = true;
}

/** What the page's mirror holds (`window.demo.session`). */
export interface PageState {
  status: string;
  pending: number;
  version: number;
  tag: string | null;
  data: Record<string, any>;
}

/** One tab, with everything it received recorded. */
export interface Tab {
  page: Page;
  /** Payloads of every WebSocket frame the page received. */
  frames: string[];
  /** Bodies of every HTTP response of the JSON route and of Socket.IO long-polling. */
  bodies: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

/** One browser context: a visitor's device (its own cookie jar, IndexedDB and BroadcastChannel). */
export interface Device {
  context: BrowserContext;
  /** Opens the demo (of node `node`, default the first) in a new tab and waits for the page to load. */
  open(node?: number): Promise<Tab>;
  /** The session id in this device's cookie jar (the signed cookie's id part), or undefined. */
  sessionId(): Promise<string | undefined>;
}

/** A demo server (or several), a browser and one browser context (one visitor: one cookie jar). */
export interface E2E {
  /** The first (or only) demo node. */
  demo: Demo;
  /** Every demo node (several share one store, e.g. Redis). */
  demos: Demo[];
  browser: Browser;
  context: BrowserContext;
  /** Opens the demo (of node `node`, default the first) in a new tab and waits for the page to load. */
  open(node?: number): Promise<Tab>;
  /** The session id in the context's cookie jar (the signed cookie's id part), or undefined. */
  sessionId(): Promise<string | undefined>;
  /** Another device (a new context; `userAgent` to present another browser), closed by `close()`. */
  device(options?: DeviceOptions): Promise<Device>;
  /** The session ids of the open sockets of node `node` (default the first). */
  socketSessions(node?: number): (string | undefined)[];
  /** Closes the context, the demos and the stores made for them (and the browser after the last file). */
  close(): Promise<void>;
}

/** Options of a browser context: one device. */
export interface DeviceOptions {
  /** The `User-Agent` the device sends (default: Chromium's own). */
  userAgent?: string;
}

/** Options of {@link startE2E}. */
export interface E2EOptions extends DeviceOptions {
  /** How many demo nodes to start (default 1). */
  nodes?: number;
  /** Makes the store of each node (default: each demo's own MemoryStore); closed by `close()`. */
  store?: () => SessionStore;
}

/**
 * Starts the demo on 127.0.0.1 (free port) and Chromium with one context.
 *
 * @returns the harness; `close()` it in the suite's `after`
 * @example
 * const h = await startE2E()
 * const tab = await h.open()
 * await h.close()
 */
export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  ensureBuilt();
  const { startDemo } = await import('../../demo/server.js');
  const demos: Demo[] = [];
  const stores: SessionStore[] = [];
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const more: BrowserContext[] = [];
  const close = async (): Promise<void> => {
    for (const c of more) await c.close();
    await context?.close();
    if (browser) await giveBackBrowser();
    for (const demo of demos) await demo.close();
    for (const store of stores) await store.close();
  };
  try {
    for (let i = 0; i < (options.nodes ?? 1); i++) {
      const store = options.store?.();
      if (store) stores.push(store);
      demos.push(await startDemo({ port: 0, host: '127.0.0.1', store }));
    }
    browser = await takeBrowser();
    context = await browser.newContext(contextOptions(options));
  } catch (err) {
    await close();
    throw err;
  }
  // Cookies are per host, not per port: every node's page shares the visitor's cookie.
  const base = (node = 0): string => `http://127.0.0.1:${demos[node]!.port}`;

  const deviceOf = (ctx: BrowserContext): Device => ({
    context: ctx,
    async open(node = 0) {
      const page = await ctx.newPage();
      const tab: Tab = { page, frames: [], bodies: [], errors: [] };
      page.on('websocket', (ws) => {
        ws.on('framereceived', (frame) => tab.frames.push(String(frame.payload)));
      });
      page.on('response', (res) => {
        const path = new URL(res.url()).pathname;
        if (path === '/get/session' || path.startsWith('/socket.io/')) {
          if (path.endsWith('.js')) return; // the client script itself
          res.text().then(
            (body) => tab.bodies.push(body),
            () => {}, // a response cut by navigation has no body to look at
          );
        }
      });
      page.on('console', (msg) => {
        if (msg.type() === 'error') tab.errors.push(msg.text());
      });
      page.on('pageerror', (err) => tab.errors.push(String(err)));
      await page.goto(base(node) + '/');
      return tab;
    },
    async sessionId() {
      const cookie = (await ctx.cookies(base())).find((c) => c.name === 'sid');
      return cookie ? decodeURIComponent(cookie.value).split('.')[0] : undefined;
    },
  });

  const first = deviceOf(context);
  const b = browser;
  return {
    demo: demos[0]!,
    demos,
    browser,
    ...first,
    async device(options = {}) {
      const ctx = await b.newContext(contextOptions(options));
      more.push(ctx);
      return deviceOf(ctx);
    },
    socketSessions(node = 0) {
      return [...demos[node]!.io.of('/').sockets.values()].map((s) => s.session.id);
    },
    close,
  };
}

/**
 * Reads the page's mirror.
 *
 * @param page - a tab of the demo
 * @returns status, pending count, version, tag and data
 */
export function stateOf(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const s = (window as any).demo.session;
    return { status: s.status, pending: s.pending, version: s.version, tag: s.tag, data: s.data };
  });
}

/**
 * Waits until the page's mirror satisfies a condition (checked in the page, by polling).
 *
 * @param page - a tab of the demo
 * @param check - a predicate over the mirror's state; runs in the page, so it must be self-contained
 * @param timeout - milliseconds
 * @returns when it holds
 */
export async function waitFor(page: Page, check: (s: PageState) => boolean, timeout = 10_000): Promise<void> {
  const source = check.toString();
  try {
    await page.waitForFunction(
      (src) => {
        const s = (window as any).demo?.session;
        if (!s) return false;
        // eslint-disable-next-line no-new-func
        const fn = new Function(`return (${src})`)();
        return fn({ status: s.status, pending: s.pending, version: s.version, tag: s.tag, data: s.data });
      },
      source,
      { timeout, polling: 50 },
    );
  } catch (err) {
    const state = await stateOf(page).catch(() => undefined);
    throw new Error(`timed out waiting for ${source}; the page holds ${JSON.stringify(state)}`, { cause: err });
  }
}

/**
 * Clicks in a tab the way a person would: the tab comes to the front first. Playwright waits
 * for a control to be "stable" over animation frames, and a tab behind another gets frames
 * slowly: a click there would cost a second or two of nothing.
 *
 * @param tab - the tab
 * @param selector - what to click
 * @returns when clicked
 * @example
 * await click(a, '#http-add')
 */
export async function click(tab: Tab, selector: string): Promise<void> {
  await tab.page.bringToFront();
  await tab.page.click(selector);
}

/**
 * Types into a field of a tab, the tab brought to the front first (see {@link click}).
 *
 * @param tab - the tab
 * @param selector - the field
 * @param value - the text
 * @returns when typed
 */
export async function fill(tab: Tab, selector: string, value: string): Promise<void> {
  await tab.page.bringToFront();
  await tab.page.fill(selector, value);
}

/**
 * Wraps a suite hook so its error is printed: uvu counts a failed `before` hook as failed tests
 * but does not say why.
 *
 * @param fn - the hook
 * @returns the same hook, loud
 * @example
 * suite.before(loud(async (ctx) => { ctx.h = await startE2E() }))
 */
export function loud<C>(fn: (ctx: C) => Promise<void>): (ctx: C) => Promise<void> {
  return async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      console.error('session-sync e2e: a suite hook failed:', err);
      throw err;
    }
  };
}

/**
 * Saves a screenshot under test-results/.
 *
 * @param page - the tab
 * @param name - file name without extension
 * @returns the file's path
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  // A tab behind another paints slowly (seconds) when captured; the front one does not.
  await page.bringToFront();
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * The text the page shows for the session (the pretty-printed JSON).
 *
 * @param page - the tab
 * @returns the text of the JSON panel
 */
export function shownJson(page: Page): Promise<unknown> {
  return page
    .locator('#data')
    .innerText()
    .then((text) => JSON.parse(text));
}
