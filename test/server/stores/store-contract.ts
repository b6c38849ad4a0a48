/**
 * The store contract as tests: every `SessionStore` (MemoryStore, RedisStore, a user's own)
 * must pass these. A store's test file calls {@link storeContract} with a factory; each test
 * gets a fresh store and closes it, and uses random ids so stores that share a backend
 * (one Redis for several test files) do not see each other's sessions.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionStore, StoreEvent } from '../../../src/server/stores/store.js';
import {
  MUTATION_MEMORY,
  SessionSyncError,
  type JsonObject,
  type JsonValue,
  type Op,
} from '../../../src/shared/index.js';

/** What a store factory hands the suite. */
export interface StoreHandle {
  store: SessionStore;
  /** Closes the store and whatever the factory opened for it. */
  close(): Promise<void>;
}

/** What the suite may assume about the store under test. */
export interface StoreCaps {
  /** Patches the store keeps per session at least (the suite writes more to overflow it). Default 32. */
  history?: number;
  /** Ms to wait before asserting that an event did NOT arrive. Default 60. */
  settle?: number;
  /** Longest wait for an awaited event, including an expiry notice after the ttl. Default 3000. */
  eventTimeout?: number;
}

const TTL = 60_000;
const ABSOLUTE = 600_000;
const LIFETIMES = { ttl: TTL, absolute: ABSOLUTE };

const newId = (): string => randomBytes(32).toString('base64url');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const set = (path: string[], value: JsonValue): Op => ({ op: 'set', path, value });
const del = (path: string[]): Op => ({ op: 'del', path });

/** Records the change feed and lets a test wait for an event or prove one never came. */
class Feed {
  readonly events: StoreEvent[] = [];
  private waiters: Array<() => void> = [];
  readonly stop: () => void;

  constructor(
    store: SessionStore,
    private readonly timeout: number,
  ) {
    this.stop = store.subscribe((event) => {
      this.events.push(event);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  of(id: string): StoreEvent[] {
    return this.events.filter((e) => e.id === id);
  }

  changes(id: string): Extract<StoreEvent, { type: 'change' }>[] {
    return this.events.filter((e): e is Extract<StoreEvent, { type: 'change' }> => e.id === id && e.type === 'change');
  }

  ends(id: string): Extract<StoreEvent, { type: 'end' }>[] {
    return this.events.filter((e): e is Extract<StoreEvent, { type: 'end' }> => e.id === id && e.type === 'end');
  }

  /** Resolves once `ready()` holds for the recorded events, failing after the timeout. */
  async until(ready: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeout;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event: ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the first recorded event matching `match`, failing after the timeout. */
  async next(match: (e: StoreEvent) => boolean, what: string): Promise<StoreEvent> {
    let found: StoreEvent | undefined;
    await this.until(() => (found = this.events.find(match)) !== undefined, what);
    return found!;
  }

  /** Waits for the change event of `version` of `id`. */
  change(id: string, version: number): Promise<StoreEvent> {
    return this.next(
      (e) => e.id === id && e.type === 'change' && e.version === version,
      `change ${version} of ${id.slice(0, 8)}`,
    );
  }

  /** Waits for an end event of `id`. */
  end(id: string): Promise<StoreEvent> {
    return this.next((e) => e.id === id && e.type === 'end', `end of ${id.slice(0, 8)}`);
  }
}

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  let error: unknown;
  let threw = false;
  try {
    await promise;
  } catch (err) {
    threw = true;
    error = err;
  }
  assert.ok(threw, `expected a SessionSyncError '${code}'`);
  assert.instance(error, SessionSyncError);
  assert.is((error as SessionSyncError).code, code);
}

const userOf = (data: JsonObject): string | undefined => {
  const user = data.user;
  return user !== null && typeof user === 'object' && !Array.isArray(user) && typeof user.id === 'string'
    ? user.id
    : undefined;
};

/**
 * Registers the store contract as uvu suites for any store.
 *
 * Stores may publish asynchronously (through Redis, say), so the suite waits for events
 * instead of expecting them when `apply` resolves, and proves the absence of an event by
 * writing a later change and checking that only that one arrived (the feed of one node is
 * ordered), or, where no later change fits, by waiting `caps.settle` ms.
 *
 * Beyond the store interface's documentation it pins down: `destroy` resolves at once (before `announceAfter`
 * settles) and publishes its end event even when no record existed, because sockets may
 * hold an id whose cookie was issued before the first write.
 *
 * @param name - shown in every suite name, e.g. `'MemoryStore'`
 * @param makeStore - makes a fresh, empty-enough store for one test
 * @param caps - what the suite may assume about the store
 * @returns nothing; the suites run when uvu runs the file
 * @example
 * storeContract('MemoryStore', async () => {
 *   const store = new MemoryStore();
 *   return { store, close: () => store.close() };
 * });
 */
export function storeContract(name: string, makeStore: () => Promise<StoreHandle>, caps: StoreCaps = {}): void {
  const history = caps.history ?? 32;
  const settle = caps.settle ?? 60;
  const timeout = caps.eventTimeout ?? 3000;

  const withStore = (fn: (store: SessionStore, feed: Feed) => Promise<void>) => async (): Promise<void> => {
    const handle = await makeStore();
    const feed = new Feed(handle.store, timeout);
    try {
      await fn(handle.store, feed);
    } finally {
      feed.stop();
      await handle.close();
    }
  };

  // ---

  const creating = suite(`${name}: the first write creates the record, later ones bump the version by one`);

  creating(
    'get of an unknown id is undefined',
    withStore(async (store) => {
      assert.is(await store.get(newId()), undefined);
    }),
  );

  creating(
    'versions start at 1 and are contiguous, and each change is published once',
    withStore(async (store, feed) => {
      const id = newId();
      const first = await store.apply(id, [set(['n'], 1)], LIFETIMES);
      assert.equal(first, { version: 1, ops: [set(['n'], 1)], changed: true });
      const second = await store.apply(id, [set(['n'], 2), set(['m'], 'x')], LIFETIMES);
      assert.is(second.version, 2);
      assert.ok(second.changed);
      const third = await store.apply(id, [del(['m'])], LIFETIMES);
      assert.is(third.version, 3);
      assert.equal(await store.get(id), { data: { n: 2 }, version: 3 });
      await feed.change(id, 3);
      assert.equal(
        feed.changes(id).map((e) => [e.version, e.base]),
        [
          [1, 0],
          [2, 1],
          [3, 2],
        ],
      );
      assert.equal(feed.changes(id)[1]!.ops, [set(['n'], 2), set(['m'], 'x')]);
      assert.equal(feed.changes(id)[0], { type: 'change', id, version: 1, base: 0, ops: [set(['n'], 1)] });
    }),
  );

  creating.run();

  // ---

  const noop = suite(`${name}: a change that changes nothing stores and publishes nothing`);

  noop(
    'no record is created for a visitor whose change changed nothing',
    withStore(async (store, feed) => {
      const id = newId();
      assert.equal(await store.apply(id, [del(['missing'])], LIFETIMES), {
        version: 0,
        ops: [del(['missing'])],
        changed: false,
      });
      assert.equal(await store.apply(id, [], LIFETIMES), { version: 0, ops: [], changed: false });
      assert.is(await store.get(id), undefined);
      assert.is(await store.since(id, 0), undefined);
      await sleep(settle);
      assert.equal(feed.of(id), []);
    }),
  );

  noop(
    'an existing record keeps its version and no change is published',
    withStore(async (store, feed) => {
      const id = newId();
      await store.apply(id, [set(['a'], { b: [1, 2] })], LIFETIMES);
      const same = await store.apply(id, [set(['a'], { b: [1, 2] }), del(['zzz'])], LIFETIMES);
      assert.is(same.version, 1);
      assert.is(same.changed, false);
      await store.apply(id, [set(['c'], true)], LIFETIMES);
      await feed.change(id, 2);
      assert.equal(
        feed.changes(id).map((e) => e.version),
        [1, 2],
      );
      assert.equal(await store.get(id), { data: { a: { b: [1, 2] }, c: true }, version: 2 });
    }),
  );

  noop.run();

  // ---

  const concurrent = suite(`${name}: concurrent writers never lose each other's work`);

  concurrent(
    '50 concurrent changes of different keys all land, versions 1..50, each published once',
    withStore(async (store, feed) => {
      const id = newId();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.apply(id, [set([`k${i}`], i)], LIFETIMES)),
      );
      assert.equal(
        results.map((r) => r.version).sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      const stored = await store.get(id);
      assert.is(stored?.version, 50);
      for (let i = 0; i < 50; i++) assert.is(stored?.data[`k${i}`], i);
      assert.is(Object.keys(stored!.data).length, 50);
      // A later change, then: once it has arrived, no duplicate of the first 50 can still be on its way.
      await store.apply(id, [set(['done'], true)], LIFETIMES);
      await feed.change(id, 51);
      const versions = feed.changes(id).map((e) => e.version);
      assert.equal(
        [...versions].sort((a, b) => a - b),
        Array.from({ length: 51 }, (_, i) => i + 1),
      );
      // Each published change carries the ops that made its version.
      for (const e of feed.changes(id)) {
        const r = results.find((x) => x.version === e.version);
        if (r) assert.equal(e.ops, r.ops);
        assert.is(e.base, e.version - 1);
      }
    }),
  );

  concurrent(
    'writes to one path are ordered by version and the last one wins',
    withStore(async (store) => {
      const id = newId();
      for (const v of [1, 2, 3]) await store.apply(id, [set(['x'], v)], LIFETIMES);
      assert.equal(await store.get(id), { data: { x: 3 }, version: 3 });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.apply(id, [set(['x'], 100 + i)], LIFETIMES)),
      );
      const last = results.reduce((a, b) => (b.version > a.version ? b : a));
      const stored = await store.get(id);
      assert.is(stored?.version, last.version);
      assert.equal(stored?.data.x, (last.ops[0] as { value: number }).value);
    }),
  );

  concurrent.run();

  // ---

  const refused = suite(`${name}: a refused change leaves the session as it was`);

  refused(
    "an op that cannot apply throws 'invalid' and nothing changes",
    withStore(async (store, feed) => {
      const id = newId();
      await store.apply(id, [set(['list'], [1, 2]), set(['s'], 'text')], LIFETIMES);
      await rejects(store.apply(id, [set(['ok'], 1), set(['list', '0'], 9)], LIFETIMES), 'invalid');
      await rejects(store.apply(id, [set(['s', 'x'], 1)], LIFETIMES), 'invalid');
      await rejects(store.apply(id, [set(['__proto__', 'x'], 1)], LIFETIMES), 'invalid');
      assert.equal(await store.get(id), { data: { list: [1, 2], s: 'text' }, version: 1 });
      const fresh = newId();
      await rejects(store.apply(fresh, [set([], 1)], LIFETIMES), 'invalid');
      assert.is(await store.get(fresh), undefined);
      await store.apply(id, [set(['after'], 1)], LIFETIMES);
      await feed.change(id, 2);
      assert.equal(
        feed.changes(id).map((e) => e.version),
        [1, 2],
      );
      assert.equal(feed.of(fresh), []);
    }),
  );

  refused(
    "a change past maxSize throws 'too_large' and nothing changes",
    withStore(async (store, feed) => {
      const id = newId();
      const limits = { ...LIFETIMES, maxSize: 100 };
      await store.apply(id, [set(['a'], 'x'.repeat(50))], limits);
      await rejects(store.apply(id, [set(['b'], 'y'.repeat(60))], limits), 'too_large');
      // Size is UTF-8 bytes, not UTF-16 units: {"a":"日 × 31"} is 39 units but 101 bytes.
      await rejects(store.apply(id, [set(['a'], '日'.repeat(31))], limits), 'too_large');
      assert.equal(await store.get(id), { data: { a: 'x'.repeat(50) }, version: 1 });
      const fresh = newId();
      await rejects(store.apply(fresh, [set(['big'], 'z'.repeat(200))], limits), 'too_large');
      assert.is(await store.get(fresh), undefined);
      await store.apply(id, [set(['a'], '日'.repeat(25))], limits);
      await feed.change(id, 2);
      assert.equal(
        feed.changes(id).map((e) => e.version),
        [1, 2],
      );
      assert.equal(feed.of(fresh), []);
    }),
  );

  refused.run();

  // ---

  const dedupe = suite(`${name}: a repeated mutation id is applied once and gets the first answer`);

  dedupe(
    'the second apply of a mutation id applies nothing and answers the first version',
    withStore(async (store, feed) => {
      const id = newId();
      const first = await store.apply(id, [set(['a'], 1)], { ...LIFETIMES, mutation: 'm-1' });
      assert.equal(first, { version: 1, ops: [set(['a'], 1)], changed: true });
      await store.apply(id, [set(['b'], 2)], LIFETIMES);
      const again = await store.apply(id, [set(['a'], 99)], { ...LIFETIMES, mutation: 'm-1' });
      assert.equal(again, { version: 1, ops: [], changed: false, duplicate: true });
      assert.equal(await store.get(id), { data: { a: 1, b: 2 }, version: 2 });
      await store.apply(id, [set(['c'], 3)], LIFETIMES);
      await feed.change(id, 3);
      assert.equal(
        feed.changes(id).map((e) => [e.version, e.mutation]),
        [
          [1, 'm-1'],
          [2, undefined],
          [3, undefined],
        ],
      );
      // Mutation ids belong to one session.
      const other = newId();
      assert.is((await store.apply(other, [set(['a'], 1)], { ...LIFETIMES, mutation: 'm-1' })).duplicate, undefined);
      assert.is((await store.get(other))?.version, 1);
    }),
  );

  dedupe(
    `the last ${MUTATION_MEMORY} mutation ids of a session are remembered`,
    withStore(async (store) => {
      const id = newId();
      const count = MUTATION_MEMORY + 1;
      for (let i = 0; i < count; i++) {
        const r = await store.apply(id, [set(['n'], i)], { ...LIFETIMES, mutation: `m${i}` });
        assert.is(r.version, i + 1);
      }
      for (let i = count - 1; i >= 1; i--) {
        const r = await store.apply(id, [set(['n'], -1)], { ...LIFETIMES, mutation: `m${i}` });
        assert.ok(r.duplicate, `m${i} remembered`);
        assert.is(r.version, i + 1);
      }
      assert.equal(await store.get(id), { data: { n: count - 1 }, version: count });
    }),
  );

  dedupe.run();

  // ---

  const since = suite(`${name}: since() answers the missed patches while the history reaches back`);

  since(
    'nothing missed, a few missed, unknown id, future version',
    withStore(async (store) => {
      const id = newId();
      await store.apply(id, [set(['a'], 1)], LIFETIMES);
      await store.apply(id, [set(['b'], [])], { ...LIFETIMES, mutation: 'mm' });
      await store.apply(id, [del(['a'])], LIFETIMES);
      assert.equal(await store.since(id, 3), []);
      assert.equal(await store.since(id, 1), [
        { version: 2, base: 1, ops: [set(['b'], [])], mutation: 'mm' },
        { version: 3, base: 2, ops: [del(['a'])] },
      ]);
      assert.equal(
        (await store.since(id, 0))?.map((p) => p.version),
        [1, 2, 3],
      );
      assert.is(await store.since(id, 4), undefined);
      assert.is(await store.since(newId(), 0), undefined);
    }),
  );

  since(
    'a version older than the history answers undefined',
    withStore(async (store) => {
      const id = newId();
      const total = history + 10;
      for (let i = 1; i <= total; i++) await store.apply(id, [set(['n'], i)], LIFETIMES);
      assert.is(await store.since(id, 0), undefined);
      const recent = await store.since(id, total - history);
      assert.equal(
        recent?.map((p) => p.version),
        Array.from({ length: history }, (_, i) => total - history + 1 + i),
      );
      assert.equal(recent?.at(-1), { version: total, base: total - 1, ops: [set(['n'], total)] });
    }),
  );

  since.run();

  // ---

  const destroy = suite(`${name}: destroy() removes the record and announces the end`);

  destroy(
    'the record is gone, an end event carries the reason, and a second destroy answers false',
    withStore(async (store, feed) => {
      const id = newId();
      await store.apply(id, [set(['a'], 1)], LIFETIMES);
      assert.is(await store.destroy(id, 'destroyed'), true);
      assert.is(await store.get(id), undefined);
      assert.is(await store.since(id, 1), undefined);
      const end = await feed.end(id);
      assert.equal(end, { type: 'end', id, reason: 'destroyed' });
      assert.is(await store.destroy(id, 'destroyed'), false);
      // The id may be written again: a fresh record from version 1.
      assert.is((await store.apply(id, [set(['b'], 2)], LIFETIMES)).version, 1);
      assert.equal(await store.get(id), { data: { b: 2 }, version: 1 });
    }),
  );

  destroy(
    'an id without a record still gets its end event (its cookie may be out already)',
    withStore(async (store, feed) => {
      const id = newId();
      assert.is(await store.destroy(id, 'regenerated'), false);
      assert.equal(await feed.end(id), { type: 'end', id, reason: 'regenerated' });
    }),
  );

  destroy(
    'announceAfter holds the end event back until it settles, even when it rejects',
    withStore(async (store, feed) => {
      const id = newId();
      const other = newId();
      await store.apply(id, [set(['a'], 1)], LIFETIMES);
      await store.apply(other, [set(['a'], 1)], LIFETIMES);
      let release!: () => void;
      const finished = new Promise<void>((resolve) => (release = resolve));
      let fail!: (err: Error) => void;
      const failed = new Promise<void>((_, reject) => (fail = reject));
      // The record goes at once: destroy does not wait for the announcement.
      assert.is(await store.destroy(id, 'regenerated', { announceAfter: finished }), true);
      assert.is(await store.destroy(other, 'destroyed', { announceAfter: failed }), true);
      assert.is(await store.get(id), undefined);
      assert.is(await store.get(other), undefined);
      await sleep(settle);
      assert.equal(feed.ends(id), []);
      assert.equal(feed.ends(other), []);
      release();
      assert.equal(await feed.end(id), { type: 'end', id, reason: 'regenerated' });
      fail(new Error('response failed'));
      assert.equal(await feed.end(other), { type: 'end', id: other, reason: 'destroyed' });
    }),
  );

  destroy.run();

  // ---

  const feedSuite = suite(`${name}: subscribe() delivers every change and end until unsubscribed`);

  feedSuite(
    'two listeners; the one that unsubscribed hears nothing more',
    withStore(async (store, feed) => {
      const id = newId();
      const heard: StoreEvent[] = [];
      const stop = store.subscribe((e) => {
        if (e.id === id) heard.push(e);
      });
      await store.apply(id, [set(['a'], 1)], LIFETIMES);
      await feed.change(id, 1);
      await store.destroy(id, 'destroyed');
      await feed.end(id);
      assert.equal(heard, [
        { type: 'change', id, version: 1, base: 0, ops: [set(['a'], 1)] },
        { type: 'end', id, reason: 'destroyed' },
      ]);
      stop();
      stop(); // unsubscribing twice is harmless
      await store.apply(id, [set(['b'], 1)], LIFETIMES);
      await feed.until(() => feed.changes(id).length === 2, 'the change after unsubscribing');
      await sleep(settle);
      assert.is(heard.length, 2);
    }),
  );

  feedSuite(
    'a listener that throws does not break apply or the other listeners',
    withStore(async (store, feed) => {
      const id = newId();
      const stop = store.subscribe(() => {
        throw new Error('listener bug');
      });
      try {
        assert.is((await store.apply(id, [set(['a'], 1)], LIFETIMES)).version, 1);
        await feed.change(id, 1);
        assert.is((await store.get(id))?.version, 1);
      } finally {
        stop();
      }
    }),
  );

  feedSuite.run();

  // ---

  const lifetime = suite(`${name}: idle and absolute lifetimes end a session`);

  lifetime(
    'a session idle past its ttl is gone and an expired end event is published',
    withStore(async (store, feed) => {
      const id = newId();
      const release = store.watch?.(id);
      try {
        await store.apply(id, [set(['a'], 1)], { ttl: 150, absolute: ABSOLUTE });
        await sleep(60);
        assert.is((await store.get(id))?.version, 1, 'alive before the ttl');
        await sleep(250);
        assert.is(await store.get(id), undefined);
        assert.equal(await feed.end(id), { type: 'end', id, reason: 'expired' });
        assert.is(await store.since(id, 0), undefined);
        await sleep(settle);
        assert.is(feed.ends(id).length, 1, 'expired once');
      } finally {
        release?.();
      }
    }),
  );

  lifetime(
    'activity (touch, apply) pushes the idle expiry back',
    withStore(async (store) => {
      const id = newId();
      await store.apply(id, [set(['a'], 1)], { ttl: 300, absolute: ABSOLUTE });
      for (let i = 0; i < 4; i++) {
        await sleep(100);
        if (i % 2) await store.touch(id, 300);
        else await store.apply(id, [set(['a'], 1)], { ttl: 300, absolute: ABSOLUTE }); // a no-op change is activity too
      }
      assert.is((await store.get(id))?.version, 1, 'alive 400 ms after the write thanks to activity');
      await store.touch(newId(), 200); // touching an unknown id is a no-op
    }),
  );

  lifetime(
    'the absolute lifetime ends a session even while it is active',
    withStore(async (store, feed) => {
      const id = newId();
      const release = store.watch?.(id);
      try {
        await store.apply(id, [set(['a'], 1)], { ttl: 10_000, absolute: 400 });
        await sleep(100);
        await store.touch(id, 10_000);
        await store.apply(id, [set(['a'], 2)], { ttl: 10_000, absolute: 400 });
        await sleep(100);
        await store.touch(id, 10_000);
        assert.is((await store.get(id))?.version, 2, 'alive before the absolute deadline');
        await sleep(300);
        await store.touch(id, 10_000);
        assert.is(await store.get(id), undefined);
        assert.equal(await feed.end(id), { type: 'end', id, reason: 'expired' });
      } finally {
        release?.();
      }
    }),
  );

  lifetime.run();

  // ---

  const users = suite(`${name}: sessionsOf() lists exactly the live sessions of one user`);

  users(
    'sessions join, move between and leave users with their changes, destroy and expiry',
    withStore(async (store) => {
      const alice = `alice-${newId().slice(0, 8)}`;
      const bob = `bob-${newId().slice(0, 8)}`;
      const [s1, s2, s3, s4, s5] = [newId(), newId(), newId(), newId(), newId()];
      const withUser = { ...LIFETIMES, user: userOf };
      for (const id of [s1, s2, s3]) await store.apply(id, [set(['user'], { id: alice })], withUser);
      await store.apply(s4, [set(['user'], { id: bob })], withUser);
      await store.apply(s2, [set(['cart'], [1])], withUser);
      const list = await store.sessionsOf(alice);
      assert.equal(list.map((s) => s.id).sort(), [s1, s2, s3].sort());
      const two = list.find((s) => s.id === s2)!;
      assert.is(two.version, 2);
      assert.type(two.lastActive, 'number');
      assert.ok(Math.abs(two.lastActive - Date.now()) < 5000, 'lastActive is epoch ms');
      assert.is((await store.get(s2))?.user, alice);
      assert.equal(
        (await store.sessionsOf(bob)).map((s) => s.id),
        [s4],
      );

      await store.apply(s2, [set(['user', 'id'], bob)], withUser); // switching user
      await store.apply(s3, [del(['user'])], withUser); // signing out
      assert.equal(
        (await store.sessionsOf(alice)).map((s) => s.id),
        [s1],
      );
      assert.equal((await store.sessionsOf(bob)).map((s) => s.id).sort(), [s2, s4].sort());
      assert.is((await store.get(s3))?.user, undefined);

      // Without the user option an apply leaves the index alone.
      await store.apply(s4, [set(['other'], 1)], LIFETIMES);
      assert.equal((await store.sessionsOf(bob)).map((s) => s.id).sort(), [s2, s4].sort());

      await store.destroy(s1, 'destroyed');
      assert.equal(await store.sessionsOf(alice), []);

      await store.apply(s5, [set(['user'], { id: bob })], { ttl: 150, absolute: ABSOLUTE, user: userOf });
      assert.is((await store.sessionsOf(bob)).length, 3);
      await sleep(300);
      assert.equal((await store.sessionsOf(bob)).map((s) => s.id).sort(), [s2, s4].sort());
      assert.equal(await store.sessionsOf(`nobody-${newId()}`), []);
    }),
  );

  users(
    'lastActive follows writes and touches',
    withStore(async (store) => {
      const user = `u-${newId().slice(0, 8)}`;
      const id = newId();
      const before = Date.now();
      await store.apply(id, [set(['user'], { id: user })], { ...LIFETIMES, user: userOf });
      const first = (await store.sessionsOf(user))[0]!.lastActive;
      assert.ok(first >= before - 20 && first <= Date.now() + 20, 'lastActive ≈ now');
      await sleep(60);
      await store.touch(id, TTL);
      const second = (await store.sessionsOf(user))[0]!.lastActive;
      assert.ok(second - first >= 40, `touch moved lastActive (${second - first} ms)`);
      await sleep(60);
      await store.apply(id, [set(['x'], 1)], { ...LIFETIMES, user: userOf });
      const third = (await store.sessionsOf(user))[0]!;
      assert.ok(third.lastActive - second >= 40, `apply moved lastActive (${third.lastActive - second} ms)`);
      assert.is(third.version, 2);
    }),
  );

  users.run();

  // ---

  const json = suite(`${name}: JSON values come back exactly, through get and through the feed`);

  json(
    'empty arrays and objects, long numbers, unicode and escapes survive',
    withStore(async (store, feed) => {
      const id = newId();
      const value: JsonObject = {
        emptyArray: [],
        emptyObject: {},
        nested: [[], [[]], {}, [{}], { a: [] }],
        float: 0.12345678901234567,
        tiny: 5e-324,
        huge: 1.7976931348623157e308,
        safe: 2 ** 53 - 1,
        negative: -123456789.123456789,
        zero: 0,
        unicode: '日本語🎉',
        escapes: 'quote " backslash \\ newline \n tab \t nul \u0000 sep \u2028 lone \ud800',
        bools: [true, false, null],
        empty: '',
      };
      const text = JSON.stringify(value);
      const result = await store.apply(id, [set(['v'], value), set(['negZero'], -0)], LIFETIMES);
      assert.is(JSON.stringify((result.ops[0] as { value: unknown }).value), text);
      const stored = await store.get(id);
      assert.is(JSON.stringify(stored?.data.v), text);
      assert.ok(Array.isArray((stored?.data.v as JsonObject).emptyArray), '[] stays an array');
      assert.is((stored?.data.v as JsonObject).float, 0.12345678901234567);
      assert.is((stored?.data.v as JsonObject).safe, 2 ** 53 - 1);
      // -0 is not JSON-distinguishable; 0 is an acceptable answer.
      assert.ok(stored?.data.negZero === 0, '-0 reads as 0');
      const change = (await feed.change(id, 1)) as Extract<StoreEvent, { type: 'change' }>;
      assert.is(JSON.stringify((change.ops[0] as { value: unknown }).value), text);
      const patches = await store.since(id, 0);
      assert.is(JSON.stringify((patches?.[0]?.ops[0] as { value: unknown }).value), text);
      // Later changes inside the stored value keep the rest exact.
      await store.apply(id, [set(['v', 'emptyObject', 'k'], [])], LIFETIMES);
      const after = await store.get(id);
      assert.is(JSON.stringify((after?.data.v as JsonObject).nested), JSON.stringify(value.nested));
      assert.equal((after?.data.v as JsonObject).emptyObject, { k: [] });
    }),
  );

  json(
    'values handed to apply or returned by get are copies, not the stored state',
    withStore(async (store) => {
      const id = newId();
      const value = { list: [1, 2], deep: { a: 1 } };
      const stored: JsonObject = value;
      await store.apply(id, [set(['v'], stored)], LIFETIMES);
      value.list.push(3);
      value.deep.a = 2;
      const got = await store.get(id);
      ((got!.data.v as JsonObject).list as number[]).push(4);
      assert.equal((await store.get(id))?.data, { v: { list: [1, 2], deep: { a: 1 } } });
    }),
  );

  json.run();
}
