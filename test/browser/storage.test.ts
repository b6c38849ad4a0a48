import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openStorage } from '../../src/browser/storage.js';
import { cleanup, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `storage-test-${process.pid}-${count++}`;

/** An IndexedDB whose open() throws, as in some private modes. */
const throwing = {
  open: () => {
    throw new DOMException('denied', 'SecurityError');
  },
} as unknown as IDBFactory;
/** An IndexedDB whose open() never answers, as when another tab blocks an upgrade. */
const hanging = { open: () => ({}) } as unknown as IDBFactory;
/** An IndexedDB whose requests fail. */
const failing = {
  open: () => {
    const request = {} as IDBOpenDBRequest & { onerror?: () => void };
    setTimeout(() => request.onerror?.());
    return request;
  },
} as unknown as IDBFactory;

function captureWarnings(): { warnings: unknown[][]; restore(): void } {
  const original = console.warn;
  const warnings: unknown[][] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args);
  return { warnings, restore: () => void (console.warn = original) };
}

// ---

const fallback = suite('a missing, blocked or failing IndexedDB falls back to memory');
fallback.after.each(cleanup);

fallback('the storage keeps working in memory, with one warning, whatever the failure', async () => {
  for (const [label, factory] of [
    ['throwing', throwing],
    ['hanging', hanging],
    ['failing', failing],
  ] as const) {
    const warned: unknown[] = [];
    const storage = openStorage(factory, 50, (why) => warned.push(why));
    assert.is(storage.persistent, true, label);
    await storage.set('k', { a: 1 });
    assert.equal(await storage.get('k'), { a: 1 }, label);
    await storage.update<number[]>('list', (old = []) => [...old, 1]);
    await storage.update<number[]>('list', (old = []) => [...old, 2]);
    assert.equal(await storage.get('list'), [1, 2], label);
    assert.is(storage.persistent, false, label);
    assert.is(warned.length, 1, `${label}: warned once`);
    storage.close();
  }
});

fallback('a working IndexedDB persists between two storages', async () => {
  const a = openStorage(indexedDB, 1000);
  await a.set(`${unique()}-k`, 1);
  const key = `${unique()}-shared`;
  await a.set(key, 'kept');
  a.close();
  const b = openStorage(indexedDB, 1000);
  assert.is(await b.get(key), 'kept');
  assert.is(b.persistent, true);
  b.close();
});

fallback('a session over a broken IndexedDB works, is not persistent, and warns once with the prefix', async () => {
  const capture = captureWarnings();
  try {
    const route = fakeRoute({ version: 1, tag: 'T', data: { a: 1 } });
    const first = open({
      fetch: route.fetch,
      socket: false,
      name: unique(),
      channel: false,
      indexedDB: throwing,
    });
    assert.equal(await first.ready, { a: 1 });
    await until(() => first.status === 'live', 'live');
    assert.is(first.persistent, false);
    const second = open({
      fetch: route.fetch,
      socket: false,
      name: unique(),
      channel: false,
      indexedDB: null,
    });
    assert.equal(await second.ready, { a: 1 });
    assert.is(second.persistent, false);
    first.close();
    second.close();
    assert.ok(capture.warnings.length <= 1, `warned ${capture.warnings.length} times`);
    // Printed at most once per page: an earlier test may have used it up already.
    for (const args of capture.warnings) assert.match(String(args[0]), /^session-sync: /);
  } finally {
    capture.restore();
  }
});

fallback('a hanging IndexedDB does not hold the start: the GET goes out after the timeout', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { a: 1 } });
  const s = open({
    fetch: route.fetch,
    socket: false,
    name: unique(),
    channel: false,
    indexedDB: hanging,
    timeout: 30,
  });
  assert.equal(await s.ready, { a: 1 });
  assert.is(s.persistent, false);
  s.close();
});

fallback.run();
