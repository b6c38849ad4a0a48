import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

// ---

const lazy = suite('the default session is made on first use, for the page origin');

lazy('importing does nothing; the first use GETs /get/session of the page; methods work unbound', async () => {
  const calls: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async (input: RequestInfo | URL) => {
    calls.push(String(input));
    throw new TypeError('fetch failed');
  }) as typeof fetch;
  try {
    const { session } = await import('../../src/browser/index.js');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, [], 'no request before first use');
    const { subscribe, getSnapshot, close } = session;
    const seen: unknown[] = [];
    const off = subscribe((d) => seen.push(d));
    assert.equal(seen, [{}]);
    assert.is(getSnapshot(), session.data);
    const until = Date.now() + 2000;
    while (calls.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(calls[0], 'http://localhost/get/session');
    off();
    close();
  } finally {
    globalThis.fetch = realFetch;
  }
});

lazy.run();
