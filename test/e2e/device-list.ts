/**
 * The demo's account card for the device-list e2e tests: signing in by name, and reading the
 * "Your devices" list as a person reads it.
 */
import type { Page } from 'playwright-core';
import { click, fill, type Tab } from './harness.js';

/** Signs a tab in by name (the demo's form); the caller waits for the page to show it. */
export async function signIn(tab: Tab, name: string): Promise<void> {
  await fill(tab, '#name', name);
  await click(tab, '#sign-in button[type="submit"]');
}

/**
 * The device list as shown: one line per device, `"<name> · <when>"`.
 *
 * @param page - a tab of the demo
 * @returns the lines, in order
 */
export function deviceList(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#device-list li')].map(
      (li) => `${li.querySelector('b')?.textContent ?? ''} · ${li.querySelector('.device-when')?.textContent ?? ''}`,
    ),
  );
}

/**
 * Waits until the device list has exactly one line per expectation, in that order.
 *
 * @param page - a tab of the demo
 * @param starts - how each line starts (`'Chrome on macOS · this device'`), or a pattern it matches
 * @param timeout - ms
 * @returns when it does
 */
export async function listShows(page: Page, starts: (string | RegExp)[], timeout = 10_000): Promise<void> {
  const want = starts.map((s) => (typeof s === 'string' ? { start: s } : { pattern: s.source }));
  try {
    await page.waitForFunction(
      (want) => {
        const lines = [...document.querySelectorAll('#device-list li')].map(
          (li) =>
            `${li.querySelector('b')?.textContent ?? ''} · ${li.querySelector('.device-when')?.textContent ?? ''}`,
        );
        return (
          lines.length === want.length &&
          want.every((w, i) =>
            w.start !== undefined ? lines[i]!.startsWith(w.start) : new RegExp(w.pattern!).test(lines[i]!),
          )
        );
      },
      want as { start?: string; pattern?: string }[],
      { timeout, polling: 50 },
    );
  } catch (err) {
    throw new Error(`the list shows ${JSON.stringify(await deviceList(page))}, not ${String(starts)}`, {
      cause: err,
    });
  }
}
