/**
 * Dead ids over Socket.IO, on MemoryStore and on RedisStore with two nodes: after logout, idle
 * expiry or the absolute lifetime, a socket presenting the old cookie never writes under it.
 * With `io.use(sync.socketIO())` its hello and mutations are answered `ended`, then
 * `session:ended` with the reason (`'expired'` when unknown) and the socket is closed; with
 * `attach(io)` the handshake (polling or websocket-first) hands it a fresh id and cookie. A
 * mutation acknowledged before the logout and replayed after it is refused the same way, and
 * no record ever comes back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import { tagOf } from '../../../src/server/engine/cookie.js';
import {
  ask,
  listen,
  mutate,
  post,
  recordsOf,
  sleep,
  startScene,
  stopTestRedis,
  testRedis,
  until,
  type Kind,
  type LifecycleNode,
  type Scene,
} from '../../support/lifecycle.js';
import type { Jar } from '../../support/http.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');
const SET = (key: string, value: unknown = 1) => [{ op: 'set', path: ['prefs', key], value }];

async function live(s: Scene): Promise<{ jar: Jar; id: string }> {
  const jar = s.visitor();
  await jar.fetch(`${s.a.url}/write`, post({ prefs: { theme: 'dark' } }));
  return { jar, id: jar.id()! };
}

/**
 * A socket with the dead cookie on `io.use()`: hello and mutate are answered `ended`, then
 * `session:ended { reason }`, then the socket is closed; nothing is stored.
 */
async function assertRefused(s: Scene, node: LifecycleNode, jar: Jar, id: string, reason: string): Promise<void> {
  for (const first of ['hello', 'mutate'] as const) {
    const socket = await s.connect(node, jar.clone());
    const told = listen(socket);
    const answer =
      first === 'hello'
        ? await ask(socket, 'session:hello', { protocol: PROTOCOL_VERSION, version: 3 })
        : await mutate(socket, `dead-${first}`, SET('evil'));
    assert.equal([answer.ok, answer.code], [false, 'ended'], `${first} on node ${node.name} is answered ended`);
    assert.equal(await told.ended, { reason }, `then session:ended (${reason})`);
    await until(() => !socket.connected, 'the socket to be closed');
    assert.equal(told.log, [`session:ended {"reason":"${reason}"}`, 'disconnect io server disconnect']);
  }
  assert.equal(
    await recordsOf(s, id),
    s.nodes.map(() => undefined),
    'nothing was stored under the dead id',
  );
}

/** With `attach(io)`: the socket is moved to a fresh id, its writes never reach the dead one. */
async function assertMoved(s: Scene, node: LifecycleNode, jar: Jar, id: string): Promise<void> {
  const socket = await s.connect(node, jar.clone());
  const me = await ask(socket, 'test:whoami');
  assert.is.not(me.id, id, `node ${node.name}: the handshake gave a fresh id`);
  const hello = await ask(socket, 'session:hello', { protocol: PROTOCOL_VERSION, version: 3, tag: tagOf(id) });
  assert.equal([hello.ok, hello.version, hello.epoch], [true, 0, null], 'a new visitor, with nothing');
  assert.is.not(hello.tag, tagOf(id));
  assert.ok((await mutate(socket, 'fresh', SET('fresh'))).ok, 'its writes land in its own new session');
  assert.equal(
    await recordsOf(s, id),
    s.nodes.map(() => undefined),
    'never under the dead id',
  );
  socket.disconnect();
}

// ---

for (const kind of KINDS) {
  const dead = suite(`${where(kind)}: socket writes under a dead id are refused, nothing is stored`);

  dead('after logout (destroy)', async () => {
    const s = await startScene(kind, { mount: 'use', options: { clientWritable: ['prefs'] } });
    const attached = await startScene(kind, { options: { clientWritable: ['prefs'] } });
    try {
      for (const scene of [s, attached]) {
        const { jar, id } = await live(scene);
        const stolen = jar.clone();
        await jar.fetch(`${scene.a.url}/destroy`, post());
        for (const node of scene.nodes) {
          if (scene === s) await assertRefused(scene, node, stolen, id, 'destroyed');
          else await assertMoved(scene, node, stolen, id);
        }
      }
    } finally {
      await s.close();
      await attached.close();
    }
  });

  dead('after idle expiry', async () => {
    const s = await startScene(kind, { mount: 'use', options: { clientWritable: ['prefs'], ttl: 300 } });
    const attached = await startScene(kind, { options: { clientWritable: ['prefs'], ttl: 300 } });
    try {
      for (const scene of [s, attached]) {
        const { jar, id } = await live(scene);
        await sleep(450);
        for (const node of scene.nodes) {
          if (scene === s) await assertRefused(scene, node, jar, id, 'expired');
          else await assertMoved(scene, node, jar, id);
        }
      }
    } finally {
      await s.close();
      await attached.close();
    }
  });

  dead('after the absolute lifetime, though the visitor kept it busy', async () => {
    const options = { clientWritable: ['prefs'], absolute: 500 };
    const s = await startScene(kind, { mount: 'use', options });
    const attached = await startScene(kind, { options });
    try {
      for (const scene of [s, attached]) {
        const { jar, id } = await live(scene);
        const socket = await scene.connect(scene.b, jar.clone());
        const told = listen(socket);
        // Busy all along: activity renews the idle lifetime, never the absolute one.
        let n = 0;
        while (socket.connected && n < 40) {
          const answer = await mutate(socket, `busy-${n++}`, SET('n', n)).catch(() => ({ ok: false }));
          if (!answer.ok) break;
          await sleep(40);
        }
        assert.equal(await told.ended, { reason: 'expired' }, 'the busy socket is told at the absolute deadline');
        assert.ok(n < 25, `it ended on time (${n} writes)`);
        for (const node of scene.nodes) {
          if (scene === s) await assertRefused(scene, node, jar, id, 'expired');
          else await assertMoved(scene, node, jar, id);
        }
      }
    } finally {
      await s.close();
      await attached.close();
    }
  });

  dead('a mutation acknowledged before the logout, replayed after it', async () => {
    const s = await startScene(kind, { mount: 'use', options: { clientWritable: ['prefs'] } });
    try {
      const { jar, id } = await live(s);
      const socket = await s.connect(s.b, jar.clone());
      const told = listen(socket);
      const first = await mutate(socket, 'pay-once', SET('paid', true));
      assert.equal(first, { ok: true, version: 2 });
      // The same id again while live: the first answer, applied once.
      assert.equal(await mutate(socket, 'pay-once', SET('paid', true)), { ok: true, version: 2 });
      const stolen = jar.clone();
      await jar.fetch(`${s.a.url}/destroy`, post());
      assert.equal(await told.ended, { reason: 'destroyed' });
      for (const node of s.nodes) {
        const thief = await s.connect(node, stolen.clone());
        const toldThief = listen(thief);
        const answer = await mutate(thief, 'pay-once', SET('paid', true));
        assert.equal([answer.ok, answer.code], [false, 'ended'], `node ${node.name}: the replay is refused`);
        assert.equal(await toldThief.ended, { reason: 'destroyed' });
      }
      assert.equal(
        await recordsOf(s, id),
        s.nodes.map(() => undefined),
        'no record comes back',
      );
    } finally {
      await s.close();
    }
  });

  // One process hears every end synchronously: only a second node can lag behind.
  if (kind === 'redis')
    dead('a socket that saw the session live and writes after it ended, before its node heard', async () => {
      const s = await startScene(kind, { options: { clientWritable: ['prefs'] } });
      const raw = new Redis((await testRedis()).url);
      try {
        const { jar, id } = await live(s);
        const socket = await s.connect(s.b, jar.clone());
        const told = listen(socket);
        assert.ok((await mutate(socket, 'seen', SET('seen'))).ok);
        // The record vanishes without any event (as an expiry nobody announced yet).
        const keys = await raw.keys(`*s:{${id}}`);
        assert.is(keys.length, 1);
        await raw.del(keys[0]!);
        const answer = await mutate(socket, 'late', SET('late'));
        assert.equal([answer.ok, answer.code], [false, 'ended'], 'the store refuses: only while the record exists');
        assert.equal(await told.ended, { reason: 'expired' }, 'and the node tells the socket once it notices');
        assert.equal(
          await recordsOf(s, id),
          s.nodes.map(() => undefined),
        );
      } finally {
        raw.disconnect();
        await s.close();
      }
    });

  dead.run();

  // ---

  const way = suite(`${where(kind)}: a dead cookie always has a way out`);

  way('the X-Session-Sync GET and both handshake transports issue a fresh cookie; a plain GET does not', async () => {
    const s = await startScene(kind);
    try {
      const { jar, id } = await live(s);
      await s.a.sync.destroy(id);
      const cookie = jar.header;
      for (const node of s.nodes) {
        const plain = await fetch(`${node.url}/get/session`, { headers: { cookie } });
        assert.equal(await plain.json(), { version: 0, tag: tagOf(id), epoch: null, expiresIn: null, data: {} });
        assert.equal(plain.headers.getSetCookie(), [], 'a plain reader gets no cookie');
        const sdk = await fetch(`${node.url}/get/session`, { headers: { cookie, 'x-session-sync': '1' } });
        const body = await sdk.json();
        const [set] = sdk.headers.getSetCookie();
        assert.ok(set, 'the SDK GET gets a fresh cookie');
        assert.is.not(set!.slice(4, 47), id);
        assert.is(body.tag, tagOf(set!.slice(4, 47)), 'and the body names the fresh id');
        const polling = await fetch(`${node.url}/socket.io/?EIO=4&transport=polling`, { headers: { cookie } });
        await polling.text();
        const [viaPolling] = polling.headers.getSetCookie();
        assert.ok(viaPolling?.startsWith('sid='), 'a polling handshake gets a fresh cookie');
        assert.is.not(viaPolling!.slice(4, 47), id);
        const viaWebsocket = await websocketFirst(node, cookie);
        assert.ok(viaWebsocket?.startsWith('sid='), 'a websocket-first handshake gets one in its upgrade response');
        assert.is.not(viaWebsocket!.slice(4, 47), id);
      }
      // A live cookie is never replaced.
      const other = await live(s);
      for (const node of s.nodes) {
        assert.is(await websocketFirst(node, other.jar.header), undefined, 'no cookie for a live id');
        const res = await fetch(`${node.url}/get/session`, {
          headers: { cookie: other.jar.header, 'x-session-sync': '1' },
        });
        await res.text();
        assert.equal(res.headers.getSetCookie(), []);
      }
    } finally {
      await s.close();
    }
  });

  way.run();
}

/** Opens a websocket-first Engine.IO connection and answers the Set-Cookie of its upgrade response. */
function websocketFirst(node: LifecycleNode, cookie: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      headers: { cookie },
    });
    ws.once('upgrade', (res) => {
      const set = res.headers['set-cookie'];
      resolve(Array.isArray(set) ? set[0] : set);
      ws.close();
    });
    ws.once('error', reject);
  });
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();
