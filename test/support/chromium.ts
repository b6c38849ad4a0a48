/**
 * Launches Debian's Chromium (`/usr/bin/chromium`) with playwright-core for the e2e tests.
 * No downloaded browsers: CI installs the distribution package (`.ci/run`, `npm test`'s
 * pretest), and a machine without it gets the exact command instead of a silent skip.
 */
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The command that installs it (as root). */
export const INSTALL_COMMAND = 'apt-get update && apt-get install -y --no-install-recommends chromium';

// QUIC, background networking, component updates and sync would open connections of their own
// that a loopback-only test neither needs nor wants to wait for.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts a headless Chromium.
 *
 * @returns the browser; close it with `browser.close()` so the test process can exit
 * @throws Error naming the install command when `/usr/bin/chromium` is missing
 * @example
 * const browser = await launchChromium()
 * const page = await (await browser.newContext()).newPage()
 * await browser.close()
 */
export async function launchChromium(): Promise<Browser> {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `session-sync e2e tests need Chromium at ${CHROMIUM_PATH}. Install it with:\n\n  ${INSTALL_COMMAND}\n`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS });
}
