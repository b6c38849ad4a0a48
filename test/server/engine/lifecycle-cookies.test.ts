/**
 * Attacks on the cookie's issue time and on adoption, on MemoryStore and on RedisStore with two
 * nodes: a cookie whose issue time was changed (to stretch the adoption window) is no cookie at
 * all; a cookie of the older `<id>.<mac>` form keeps a live session but can never adopt an id;
 * a first write after the window starts a new session; concurrent first writes of one page
 * from two nodes all land in the one adopted record.
 */
import { createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tagOf } from '../../../src/server/engine/cookie.js';
import {
  ask,
  listen,
  mutate,
  post,
  recordsOf,
  secret,
  sleep,
  startScene,
  stopTestRedis,
  type Kind,
  type Scene,
} from '../../support/lifecycle.js';
import type { Jar } from '../../support/http.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');
const LIFETIMES = { ttl: 24 * 3600_000, absolute: 30 * 24 * 3600_000 };

/** A cookie of the older form: `<id>.<mac of the id alone>`. */
const legacyCookie = (id: string): string => `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;

/** A visitor holding `value` as its cookie. */
function holding(s: Scene, value: string): Jar {
  const jar = s.visitor();
  jar.cookies.set('sid', value);
  return jar;
}

/** An id issued early (the SDK's GET), without a record. */
async function issued(s: Scene): Promise<Jar> {
  const jar = s.visitor();
  await jar.fetch(`${s.a.url}/get/session`, { headers: { 'x-session-sync': '1' } });
  assert.ok(jar.id());
  return jar;
}

// ---

for (const kind of KINDS) {
  const forged = suite(`${where(kind)}: a changed issue time is no cookie at all`);

  forged('stretching the adoption window of a dead id by rewriting the issue time fails', async () => {
    const s = await startScene(kind, { options: { ttl: 300 } });
    try {
      const jar = await issued(s);
      const id = jar.id()!;
      const value = jar.cookies.get('sid')!;
      const [, time, mac] = value.split('.');
      await sleep(400); // its window has closed, unused
      const later = (Date.now() + 3600_000).toString(36);
      const variants = [
        `${id}.${later}.${mac}`, // a later issue time, the old MAC
        `${id}.${time!.toUpperCase()}.${mac}`,
        `${id}.${time}0.${mac}`,
        `${id}.-${time}.${mac}`,
        `${id}.${mac}`, // the issue time dropped: the MAC covered it
        `${id}..${mac}`,
        `${id}.${'z'.repeat(12)}.${mac}`,
      ];
      for (const cookie of variants) {
        for (const node of s.nodes) {
          const attacker = holding(s, cookie);
          const read = await attacker.json(`${node.url}/read`);
          assert.equal([read.id, read.version], [null, 0], `${cookie.slice(44)}: not a session`);
          const wrote = await attacker.json(`${node.url}/write`, post({ evil: 1 }));
          assert.is.not(wrote.id, id, 'a write starts a new session');
          const route = await fetch(`${node.url}/get/session`, { headers: { cookie: `sid=${cookie}` } });
          assert.is((await route.json()).tag, null, 'the route names no session either');
        }
      }
      assert.equal(
        await recordsOf(s, id),
        s.nodes.map(() => undefined),
        'the id was never adopted',
      );
    } finally {
      await s.close();
    }
  });

  forged(
    'a first write after the adoption window starts a new session; a socket on io.use() is told ended',
    async () => {
      const s = await startScene(kind, { mount: 'use', options: { ttl: 300, clientWritable: ['prefs'] } });
      try {
        const jar = await issued(s);
        const id = jar.id()!;
        const socketJar = jar.clone();
        await sleep(400);
        for (const node of s.nodes) {
          const late = jar.clone();
          const wrote = await late.json(`${node.url}/write`, post({ late: 1 }));
          assert.is.not(wrote.id, id);
          assert.is(late.id(), wrote.id, 'with a new cookie');
          const socket = await s.connect(node, socketJar);
          const told = listen(socket);
          const answer = await mutate(socket, 'late', [{ op: 'set', path: ['prefs', 'x'], value: 1 }]);
          assert.equal([answer.ok, answer.code], [false, 'ended']);
          assert.equal(await told.ended, { reason: 'expired' });
        }
        assert.equal(
          await recordsOf(s, id),
          s.nodes.map(() => undefined),
        );
      } finally {
        await s.close();
      }
    },
  );

  forged.run();

  // ---

  const legacy = suite(`${where(kind)}: a cookie of the older <id>.<mac> form`);

  legacy('keeps its live session, and once that ends it can never adopt the id again', async () => {
    const s = await startScene(kind, { mount: 'use', options: { clientWritable: ['prefs'] } });
    try {
      const id = 'L'.repeat(20) + Math.random().toString(36).slice(2, 12).padEnd(23, 'x');
      assert.is(id.length, 43);
      await s.a.store.apply(id, [{ op: 'set', path: ['prefs'], value: { theme: 'dark' } }], LIFETIMES);
      const jar = holding(s, legacyCookie(id));
      for (const node of s.nodes) {
        const read = await jar.json(`${node.url}/read`);
        assert.equal([read.id, read.data], [id, { prefs: { theme: 'dark' } }], `node ${node.name} reads it`);
      }
      assert.is((await jar.json(`${s.b.url}/write`, post({ more: 1 }))).id, id, 'writes land while it lives');
      const socket = await s.connect(s.b, jar.clone());
      assert.ok((await mutate(socket, 'm1', [{ op: 'set', path: ['prefs', 'x'], value: 1 }])).ok);
      const told = listen(socket);
      await s.a.sync.destroy(id);
      assert.equal(await told.ended, { reason: 'destroyed' });
      for (const node of s.nodes) {
        const again = jar.clone();
        const wrote = await again.json(`${node.url}/write`, post({ evil: 1 }));
        assert.is.not(wrote.id, id, 'a write after the end starts a new session');
        const dead = await s.connect(node, jar.clone());
        const answer = await mutate(dead, 'm2', [{ op: 'set', path: ['prefs', 'y'], value: 1 }]);
        assert.equal([answer.ok, answer.code], [false, 'ended']);
      }
      assert.equal(
        await recordsOf(s, id),
        s.nodes.map(() => undefined),
      );
    } finally {
      await s.close();
    }
  });

  legacy('naming an id that never had a record: nothing is adopted, the SDK GET issues a fresh cookie', async () => {
    const s = await startScene(kind);
    try {
      const id = 'N'.repeat(20) + Math.random().toString(36).slice(2, 12).padEnd(23, 'y');
      const jar = holding(s, legacyCookie(id));
      for (const node of s.nodes) {
        const read = await jar.clone().json(`${node.url}/read`);
        assert.equal([read.id, read.version], [id, 0], 'a validly signed id, no data');
        const wrote = await jar.clone().json(`${node.url}/write`, post({ evil: 1 }));
        assert.is.not(wrote.id, id, 'its first write is a new session, not an adoption');
        const sdk = await fetch(`${node.url}/get/session`, { headers: { cookie: jar.header, 'x-session-sync': '1' } });
        assert.is.not((await sdk.json()).tag, tagOf(id), 'the SDK GET moves it to a fresh id');
      }
      assert.equal(
        await recordsOf(s, id),
        s.nodes.map(() => undefined),
      );
    } finally {
      await s.close();
    }
  });

  legacy.run();

  // ---

  const twice = suite(`${where(kind)}: concurrent first writes of one page land in the one adopted record`);

  twice('HTTP writes and socket mutations on both nodes, all first writes of one id', async () => {
    const s = await startScene(kind, { options: { clientWritable: ['prefs'], limits: { rate: 1e6, burst: 1e6 } } });
    try {
      for (let round = 0; round < 8; round++) {
        const jar = await issued(s);
        const id = jar.id()!;
        const sockets = await Promise.all([s.connect(s.a, jar.clone()), s.connect(s.b, jar.clone())]);
        const answers = await Promise.all([
          ...sockets.flatMap((socket, i) =>
            [0, 1, 2].map((n) => mutate(socket, `m${i}${n}`, [{ op: 'set', path: ['prefs', `s${i}${n}`], value: n }])),
          ),
          ...s.nodes.flatMap((node, i) =>
            [0, 1].map((n) => jar.clone().json(`${node.url}/write`, post({ [`h${i}${n}`]: n }))),
          ),
        ]);
        for (const answer of answers) {
          if ('id' in answer) assert.is(answer.id, id, 'every HTTP write adopted the same id');
          else assert.ok(answer.ok, `every mutation is acknowledged: ${JSON.stringify(answer)}`);
        }
        const stored = (await s.b.store.get(id))!;
        assert.is(stored.version, answers.length, 'one record, every write in it');
        assert.is(Object.keys(stored.data.prefs as object).length, sockets.length * 3);
        for (const socket of sockets) {
          assert.equal((await ask(socket, 'test:whoami')).id, id);
          socket.disconnect();
        }
      }
    } finally {
      await s.close();
    }
  });

  twice.run();
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();
