/**
 * Small tools of the reliability suites: the soak switch, waiting, batching, the projection
 * oracle, the capture that searches what visitors receive for a needle, and a GC in this process.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { JsonObject } from '../../src/shared/index.js';

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether the long (soak) mode was asked for (`npm run test:reliability -- --soak`). */
export const SOAK = process.env.SESSION_SYNC_SOAK === '1';

/** A fresh random string, for canaries and ids. */
export const randomText = (bytes = 12): string => randomBytes(bytes).toString('base64url');

/**
 * Waits until `check` holds, polling; fails after `ms` naming `what`.
 *
 * @param check - the condition (may be async)
 * @param ms - the deadline
 * @param what - named in the failure
 * @example
 * await until(() => node.sockets() === 0, 10_000, 'every socket closed')
 */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * What the browser may see with the default `expose`: all but top-level keys starting with `_`.
 * Written here again, not imported from src/server, so the tests check the server against an
 * independent oracle.
 *
 * @param data - the whole session
 * @returns the projected data
 */
export function visible(data: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(data)) if (!key.startsWith('_')) out[key] = data[key]!;
  return out;
}

/**
 * Scans text for a needle and keeps the figures: frames and bytes seen, and every hit.
 *
 * @example
 * const leaks = new Capture(canary); leaks.scan('http /get/session', body)
 */
export class Capture {
  frames = 0;
  bytes = 0;
  readonly hits: string[] = [];

  /** @param needle - what must never appear */
  constructor(readonly needle: string) {}

  /**
   * Scans one body or frame.
   *
   * @param where - names the source in a hit
   * @param text - the text
   */
  scan(where: string, text: string): void {
    this.frames++;
    this.bytes += text.length;
    if (text.includes(this.needle)) this.hits.push(`${where}: ${text.slice(0, 300)}`);
  }
}

/**
 * Runs `fn` over `items`, `size` at a time.
 *
 * @param items - the items
 * @param size - batch size
 * @param fn - the work per item
 */
export async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * A quick figure for reports: bytes as MB with one decimal.
 *
 * @param bytes - bytes
 * @returns e.g. `'12.3 MB'`
 */
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * `gc()` in this process, without `--expose-gc` on the command line (uvu starts the process).
 *
 * @returns a function that runs a full GC a few times and answers heapUsed
 */
export function heapAfterGc(): () => Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return async () => {
    for (let i = 0; i < 6; i++) {
      gc();
      await sleep(10);
    }
    return process.memoryUsage().heapUsed;
  };
}
