/**
 * Validators that cannot be raced, and no size oracle, on MemoryStore and on RedisStore with
 * two nodes. `clientWritable`'s validators (functions and Standard Schema, sync or async) and
 * its function form judge the data each change is actually applied to, inside the store's
 * apply: 12 or 100 mutations sent at once never leave data the validator refuses; a validator
 * that throws refuses; ops that do not apply to a node's stale copy are still judged. A
 * browser's `too_large` depends only on what it can see; a server write past
 * `limits.serverSize` is its own error.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { SessionSyncOptions } from '../../../src/server/options.js';
import type { JsonObject } from '../../../src/shared/index.js';
import {
  mutate,
  post,
  sleep,
  startScene,
  stopTestRedis,
  testRedis,
  type Kind,
  type Scene,
} from '../../support/lifecycle.js';
import type { Jar } from '../../support/http.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');
const FAST = { rate: 1e6, burst: 1e6 };
const keysOf = (value: unknown): number =>
  value !== null && typeof value === 'object' ? Object.keys(value as object).length : 0;

/** A session with sockets on every node (two per node), all of one visitor. */
async function visitor(
  s: Scene,
  data: JsonObject = { start: 1 },
): Promise<{ jar: Jar; id: string; sockets: ClientSocket[] }> {
  const jar = s.visitor();
  await jar.fetch(`${s.a.url}/write`, post(data));
  const sockets: ClientSocket[] = [];
  for (const node of s.nodes) for (let i = 0; i < 2; i++) sockets.push(await s.connect(node, jar.clone()));
  return { jar, id: jar.id()!, sockets };
}

/** Sends `count` mutations at once, spread over the sockets, each adding its own key under prefs. */
function burst(sockets: ClientSocket[], count: number, tag: string): Promise<any[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      mutate(sockets[i % sockets.length]!, `${tag}-${i}`, [{ op: 'set', path: ['prefs', `k${i}`], value: i }]),
    ),
  );
}

/** Runs the burst and checks: exactly `allowed` accepted, every refusal forbidden, the stored data valid. */
async function assertHolds(s: Scene, count: number, allowed = 3): Promise<void> {
  const { id, sockets } = await visitor(s);
  const answers = await burst(sockets, count, `b${count}`);
  const accepted = answers.filter((a) => a.ok).length;
  const codes = new Set(answers.filter((a) => !a.ok).map((a) => a.code));
  const stored = (await s.b.store.get(id))!;
  assert.ok(
    keysOf(stored.data.prefs) <= allowed,
    `stored prefs satisfy the validator: ${JSON.stringify(stored.data.prefs)}`,
  );
  assert.is(accepted, keysOf(stored.data.prefs), 'every accepted mutation is stored');
  assert.is(accepted, allowed, `exactly ${allowed} of ${count} accepted`);
  assert.equal([...codes], ['forbidden'], 'every refusal is forbidden');
  for (const socket of sockets) socket.disconnect();
}

// At most three keys under prefs, each a number, in every form a validator can take.
const atMostThree = (value: unknown): true | string =>
  value === undefined || (keysOf(value) <= 3 && Object.values(value as object).every((v) => typeof v === 'number'))
    ? true
    : 'at most three numbers';
const FORMS: [string, SessionSyncOptions['clientWritable']][] = [
  ['a function validator', { prefs: atMostThree }],
  [
    'a Standard Schema (zod)',
    {
      prefs: z
        .record(z.string(), z.number())
        .refine((o) => keysOf(o) <= 3)
        .optional(),
    },
  ],
  [
    'an async function validator',
    {
      prefs: async (value: unknown) => {
        await sleep(Math.random() * 8);
        return atMostThree(value);
      },
    },
  ],
  [
    'an async Standard Schema (zod, async refine)',
    {
      prefs: z
        .record(z.string(), z.number())
        .refine(async (o) => {
          await sleep(Math.random() * 8);
          return keysOf(o) <= 3;
        })
        .optional(),
    },
  ],
  [
    'the clientWritable function (async), told the data the change applies to',
    async (ops, { data }) => {
      await sleep(Math.random() * 8);
      const keys = new Set(Object.keys((data.prefs as object) ?? {}));
      for (const op of ops) if (op.path[0] === 'prefs' && op.path.length === 2) keys.add(op.path[1]!);
      return ops.every((op) => op.path[0] === 'prefs') && keys.size <= 3 ? true : 'at most three';
    },
  ],
];

// ---

for (const kind of KINDS) {
  const race = suite(`${where(kind)}: mutations sent at once cannot race past a validator`);

  for (const [form, clientWritable] of FORMS) {
    race(`12 and 100 at once, ${form}: the stored data always satisfies it`, async () => {
      const s = await startScene(kind, { options: { clientWritable, limits: FAST } });
      try {
        await assertHolds(s, 12);
        await assertHolds(s, 100);
      } finally {
        await s.close();
      }
    });
  }

  race('a validator that throws refuses, and nothing is stored', async () => {
    const s = await startScene(kind, {
      options: {
        limits: FAST,
        clientWritable: {
          prefs: (value: unknown) => {
            if (keysOf(value) > 1) throw new Error('boom');
            return true;
          },
          draft: async () => {
            throw new Error('async boom');
          },
        },
      },
    });
    try {
      const { id, sockets } = await visitor(s);
      const first = await mutate(sockets[0]!, 'ok', [{ op: 'set', path: ['prefs', 'a'], value: 1 }]);
      assert.ok(first.ok);
      const before = (await s.b.store.get(id))!;
      for (const [i, ops] of [
        [{ op: 'set', path: ['prefs', 'b'], value: 2 }],
        [{ op: 'set', path: ['draft'], value: 'x' }],
      ].entries()) {
        const answer = await mutate(sockets[i % sockets.length]!, `throws-${i}`, ops);
        assert.equal([answer.ok, answer.code], [false, 'forbidden']);
        assert.match(answer.message, /threw/);
      }
      assert.equal(await s.b.store.get(id), before, 'nothing stored');
    } finally {
      await s.close();
    }
  });

  race('ops that do not apply to the data are refused invalid, never let through unjudged', async () => {
    const s = await startScene(kind, { options: { limits: FAST, clientWritable: { prefs: () => true } } });
    try {
      const { id, sockets } = await visitor(s, { prefs: 'plain' });
      const answer = await mutate(sockets.at(-1)!, 'through', [{ op: 'set', path: ['prefs', 'theme', 'x'], value: 1 }]);
      assert.equal([answer.ok, answer.code], [false, 'invalid']);
      assert.equal((await s.b.store.get(id))!.data, { prefs: 'plain' });
    } finally {
      await s.close();
    }
  });

  if (kind === 'redis')
    race(
      'a node whose copy is stale (a lost pub/sub message): its socket’s ops are judged on the stored data',
      async () => {
        const strict = z.strictObject({ theme: z.enum(['light', 'dark']) });
        const s = await startScene(kind, { options: { limits: FAST, clientWritable: { prefs: strict } } });
        const raw = new Redis((await testRedis()).url);
        try {
          const { id, sockets } = await visitor(s, { prefs: 'plain' });
          const onB = sockets.filter((_, i) => i >= 2);
          // Behind every node's back: the stored prefs become an object, with no event published.
          const [key] = await raw.keys(`*s:{${id}}`);
          const version = Number(await raw.hget(key!, 'v'));
          await raw.hset(key!, 'd', JSON.stringify({ prefs: { theme: 'light' } }), 'v', String(version + 1));
          const xss = [
            { op: 'set', path: ['prefs', 'theme'], value: { x: '<img src=x onerror=alert(1)>' } },
            { op: 'set', path: ['prefs', 'isAdmin'], value: true },
          ];
          // On node B's copy (prefs is a string) these ops do not apply; on the stored data they do.
          const answer = await mutate(onB[0]!, 'stale', xss);
          assert.equal([answer.ok, answer.code], [false, 'forbidden'], 'the validator judged the stored data');
          const first = await mutate(onB[1]!, 'stale-1', [xss[1]]);
          assert.equal([first.ok, first.code], [false, 'forbidden']);
          assert.equal((await s.b.store.get(id))!.data, { prefs: { theme: 'light' } }, 'nothing stored');
          // And the reverse: the copy would take the ops, the stored data does not.
          await raw.hset(key!, 'd', JSON.stringify({ prefs: 'plain again' }), 'v', String(version + 2));
          const reverse = await mutate(onB[0]!, 'reverse', [{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]);
          assert.equal([reverse.ok, reverse.code], [false, 'invalid']);
          assert.equal((await s.b.store.get(id))!.data, { prefs: 'plain again' });
        } finally {
          raw.disconnect();
          await s.close();
        }
      },
    );

  race.run();

  // ---

  const oracle = suite(`${where(kind)}: no size oracle; server-only data has its own limit`);

  /** The longest string the browser can put at `path`, found by binary search (as an attacker would). */
  async function probe(socket: ClientSocket, path: string[], tag: string): Promise<number> {
    let lo = 0;
    let hi = 200 * 1024;
    let n = 0;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const answer = await mutate(socket, `${tag}-${n++}`, [{ op: 'set', path, value: 'x'.repeat(mid) }]);
      if (answer.ok) lo = mid;
      else {
        assert.is(answer.code, 'too_large', answer.message);
        hi = mid - 1;
      }
    }
    return lo;
  }

  oracle('a binary search of a writable path never tells two sessions apart by their server-only data', async () => {
    const s = await startScene(kind, { options: { limits: FAST, clientWritable: ['draft'] } });
    try {
      const admin = await visitor(s, { shown: 'same', _role: 'admin' });
      const user = await visitor(s, { shown: 'same', _role: 'user' });
      const heavy = await visitor(s, { shown: 'same', _role: 'user', _blob: 'b'.repeat(60_000) });
      const found = [
        await probe(admin.sockets[0]!, ['draft'], 'admin'),
        await probe(user.sockets.at(-1)!, ['draft'], 'user'),
        await probe(heavy.sockets[1]!, ['draft'], 'heavy'),
      ];
      assert.equal(new Set(found).size, 1, `every session finds the same edge: ${found}`);
      // The edge is the visible limit exactly: {"shown":"same","draft":"x…"} is 64 KiB.
      assert.is(found[0], 64 * 1024 - JSON.stringify({ shown: 'same', draft: '' }).length);
      console.log(
        `  size probe (${where(kind)}): 3 sessions with 5, 4 and 60,009 bytes of server-only data all find ${found[0]}`,
      );
    } finally {
      await s.close();
    }
  });

  oracle('a path the browser may write but not see (expose as paths) is no oracle either', async () => {
    const s = await startScene(kind, { options: { limits: FAST, clientWritable: ['draft'], expose: ['shown'] } });
    try {
      const light = await visitor(s, { shown: 'same', _role: 'user' });
      const heavy = await visitor(s, { shown: 'same', _role: 'user', _blob: 'b'.repeat(60_000) });
      // Written in two parts, since one change is held to limits.size on its own.
      const fill = [{ op: 'set', path: ['draft', 'a'], value: 'a'.repeat(60_000) }];
      for (const v of [light, heavy]) assert.ok((await mutate(v.sockets[0]!, 'fill', fill)).ok);
      const found = [
        await probe(light.sockets[0]!, ['draft', 'b'], 'light'),
        await probe(heavy.sockets.at(-1)!, ['draft', 'b'], 'heavy'),
      ];
      assert.equal(new Set(found).size, 1, `both sessions find the same edge: ${found}`);
    } finally {
      await s.close();
    }
  });

  oracle('a server write past limits.serverSize is its own clear error; visible data has its own', async () => {
    const s = await startScene(kind);
    try {
      const jar = s.visitor();
      await jar.fetch(`${s.a.url}/write`, post({ shown: 1 }));
      const server = await jar.fetch(`${s.b.url}/write`, post({ _blob: 's'.repeat(70_000) }));
      const body = await server.json();
      assert.is(server.status, 413);
      assert.is(body.code, 'too_large');
      assert.match(body.error, /server-only data.*limits\.serverSize/);
      const visible = await jar.fetch(`${s.b.url}/write`, post({ big: 'v'.repeat(70_000) }));
      const vbody = await visible.json();
      assert.is(visible.status, 413);
      assert.match(vbody.error, /the browser can see/);
      // Each within its own limit, together past either one alone: fine.
      const both = await jar.fetch(`${s.b.url}/write`, post({ _blob: 's'.repeat(60_000), big: 'v'.repeat(60_000) }));
      assert.is(both.status, 200, await both.clone().text());
      assert.is(((await s.a.store.get(jar.id()!))!.data._blob as string).length, 60_000);
    } finally {
      await s.close();
    }
  });

  oracle('a larger serverSize lets one server write hold more server-only data than limits.size', async () => {
    const s = await startScene(kind, { options: { limits: { serverSize: 256 * 1024 } } });
    try {
      const jar = s.visitor();
      const res = await jar.fetch(`${s.a.url}/write`, post({ _cache: 'c'.repeat(200_000), shown: 1 }));
      assert.is(res.status, 200, await res.clone().text());
      assert.is(((await s.b.store.get(jar.id()!))!.data._cache as string).length, 200_000);
      const past = await jar.fetch(`${s.b.url}/write`, post({ _more: 'm'.repeat(70_000) }));
      assert.is(past.status, 413);
      assert.match((await past.json()).error, /limits\.serverSize/);
    } finally {
      await s.close();
    }
  });

  oracle.run();
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();
