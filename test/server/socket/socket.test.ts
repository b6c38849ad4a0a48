import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import express from 'express';
import { Server } from 'socket.io';
import { createSessionSync } from '../../../src/server/index.js';
import { parseSetCookie, type Jar } from '../../support/http.js';
import {
  next,
  post,
  record,
  request,
  secret,
  sleep,
  startSocketServer,
  until,
  type SocketTestServer,
} from '../../support/socket-server.js';

/** A visitor with a cookie but no record yet, as the browser SDK's first GET leaves it. */
async function withCookie(t: SocketTestServer): Promise<Jar> {
  const jar = t.visitor();
  await jar.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
  assert.ok(jar.id(), 'the route issued a cookie');
  return jar;
}

const patches = (frames: { event: string; args: unknown[] }[]): any[] =>
  frames.filter((f) => f.event === 'session:patch').map((f) => f.args[0]);

// ---

const live = suite('an HTTP write reaches every socket of the session, and no other');

live('both tabs of one visitor get the patch; another visitor gets nothing', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const bob = await withCookie(t);
    const [a1, a2, b1] = await Promise.all([t.connect(ann), t.connect(ann), t.connect(bob)]);
    const fa1 = record(a1);
    const fa2 = record(a2);
    const fb1 = record(b1);
    await ann.fetch('/write', post({ cart: ['apple'] }));
    await until(() => patches(fa1).length === 1 && patches(fa2).length === 1, 2000, 'both of ann’s sockets');
    const expected = { version: 1, base: 0, ops: [{ op: 'set', path: ['cart'], value: ['apple'] }] };
    assert.equal(patches(fa1)[0], expected);
    assert.equal(patches(fa2)[0], expected);
    await bob.fetch('/write', post({ cart: ['pear'] }));
    await until(() => patches(fb1).length === 1, 2000, 'bob’s socket');
    await sleep(50);
    assert.equal(patches(fb1), [{ version: 1, base: 0, ops: [{ op: 'set', path: ['cart'], value: ['pear'] }] }]);
    assert.is(patches(fa1).length, 1, 'ann never sees bob’s write');
    assert.is(fb1.filter((f) => JSON.stringify(f).includes('apple')).length, 0);
  } finally {
    await t.close();
  }
});

live('patches flow without a hello, in version order, over polling too', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann, { transports: ['polling'] });
    const frames = record(socket);
    for (let i = 1; i <= 5; i++) await ann.fetch('/write', post({ n: i }));
    await until(() => patches(frames).length === 5);
    assert.equal(
      patches(frames).map((p) => [p.base, p.version, p.ops[0].value]),
      [
        [0, 1, 1],
        [1, 2, 2],
        [2, 3, 3],
        [3, 4, 4],
        [4, 5, 5],
      ],
    );
  } finally {
    await t.close();
  }
});

live('a change made out of band or on a socket reaches the other sockets', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const [a1, a2] = await Promise.all([t.connect(ann), t.connect(ann)]);
    const f2 = record(a2);
    await t.sync.update(ann.id()!, (s) => {
      s.credits = 10;
    });
    await until(() => patches(f2).length === 1);
    assert.equal(patches(f2)[0].ops, [{ op: 'set', path: ['credits'], value: 10 }]);
    const answer = await request(a1, 'test:write', { step: 2 });
    assert.equal(answer, { version: 2 });
    await until(() => patches(f2).length === 2);
    assert.equal(patches(f2)[1], { version: 2, base: 1, ops: [{ op: 'set', path: ['step'], value: 2 }] });
  } finally {
    await t.close();
  }
});

live('sockets in another namespace and on a second Socket.IO server of the same layer get patches too', async () => {
  const t = await startSocketServer();
  const http2 = createServer(express());
  const io2 = new Server(http2);
  t.sync.attach(io2);
  io2.of('/chat').use(t.sync.socketIO());
  t.io.of('/chat').use(t.sync.socketIO());
  await new Promise<void>((r) => http2.listen(0, '127.0.0.1', r));
  const url2 = `http://127.0.0.1:${(http2.address() as AddressInfo).port}`;
  try {
    const ann = await withCookie(t);
    const main = await t.connect(ann);
    const chat = await t.connect(ann, { nsp: '/chat' });
    const other = await t.connect(ann, { url: url2 });
    const frames = [record(main), record(chat), record(other)];
    await ann.fetch('/write', post({ x: 1 }));
    await until(() => frames.every((f) => patches(f).length === 1), 2000, 'all three sockets');
    await sleep(50);
    assert.equal(
      frames.map((f) => patches(f).length),
      [1, 1, 1],
      'exactly one patch each',
    );
  } finally {
    await new Promise<void>((r) => io2.close(() => r()));
    await t.close();
  }
});

live.run();

// ---

const handlers = suite('socket.session is live in socket handlers');

handlers('a handler sees HTTP and out-of-band writes without reload()', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    assert.equal(await request(socket, 'test:read'), {});
    await ann.fetch('/write', post({ cart: ['apple'] }));
    assert.equal(await request(socket, 'test:read'), { cart: ['apple'] });
    await t.sync.update(ann.id()!, [{ op: 'set', path: ['cart'], value: ['apple', 'pear'] }]);
    assert.equal(await request(socket, 'test:read'), { cart: ['apple', 'pear'] });
    assert.equal(await request(socket, 'test:whoami'), {
      id: ann.id(),
      tag: (await ann.json('/get/session')).tag,
      version: 2,
    });
  } finally {
    await t.close();
  }
});

handlers('a handler’s writes reach HTTP, committed at the end of the tick without synchronize()', async () => {
  const t = await startSocketServer(
    {},
    {
      connection(socket) {
        socket.on('bump', (ack: () => void) => {
          const val = socket.session.val as { n?: number };
          val.n = (val.n ?? 0) + 1;
          ack();
        });
      },
    },
  );
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    assert.equal(await request(socket, 'test:write', { prefs: { theme: 'dark' } }), { version: 1 });
    assert.equal(await ann.json('/read'), { prefs: { theme: 'dark' } });
    await request(socket, 'bump');
    await request(socket, 'bump');
    await until(() => t.sync.core.registry.peek(ann.id()!)?.version === 3, 2000, 'two commits');
    assert.equal(await ann.json('/read'), { prefs: { theme: 'dark' }, n: 2 });
  } finally {
    await t.close();
  }
});

handlers('socketIO(defaults, key) renames the key and fills the defaults', async () => {
  const sync = createSessionSync({ secret });
  const app = express();
  app.use(sync.express());
  const http = createServer(app);
  const io = new Server(http);
  sync.attach(io, { cart: [] }, 'data');
  io.on('connection', (socket) => {
    socket.on('read', (ack: (v: unknown) => void) =>
      ack([(socket.session as unknown as Record<string, unknown>).data, socket.session.val ?? null]),
    );
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { io: client } = await import('socket.io-client');
  const s = client(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
    transports: ['websocket'],
    reconnection: false,
  });
  try {
    await new Promise((r) => s.once('connect', () => r(undefined)));
    assert.equal(await s.timeout(2000).emitWithAck('read'), [{ cart: [] }, null]);
  } finally {
    s.disconnect();
    await new Promise<void>((r) => io.close(() => r()));
    await sync.close();
  }
});

handlers('bad socketIO() arguments and a second attach() are refused at once', async () => {
  const sync = createSessionSync({ secret });
  try {
    assert.throws(() => sync.socketIO([] as never), TypeError);
    assert.throws(() => sync.socketIO({}, ''), TypeError);
    assert.throws(() => sync.socketIO({}, 'destroy'), /taken by socket.session/);
    assert.throws(() => sync.socketIO({}, 'id'), /taken/);
    assert.type(sync.socketIO({}, 'data'), 'function', 'the seed’s own example key');
    assert.throws(() => sync.socketIO({ d: new Date() as never }), TypeError);
    assert.throws(() => sync.attach({}), TypeError);
    const io = new Server(createServer());
    assert.throws(() => sync.attach(new Server()), /attached to an HTTP server/);
    sync.attach(io);
    assert.throws(() => sync.attach(io), /already/);
    io.close();
  } finally {
    await sync.close();
  }
});

handlers(
  'with autoSync: false, a handler’s edits wait for synchronize(); socket.session has no regenerate()',
  async () => {
    const t = await startSocketServer(
      { autoSync: false },
      {
        connection(socket) {
          socket.on('edit', (ack: () => void) => {
            (socket.session.val as Record<string, unknown>).draft = 'typed';
            ack();
          });
          socket.on('save', async (ack: () => void) => {
            await socket.session.synchronize({ model: 'socket.io', target: 'http' });
            ack();
          });
        },
      },
    );
    try {
      const ann = await withCookie(t);
      const socket = await t.connect(ann);
      await request(socket, 'edit');
      await sleep(30);
      assert.equal(await ann.json('/read'), {}, 'not committed by itself');
      assert.equal(await request(socket, 'test:read'), { draft: 'typed' }, 'but the handle sees its own edit');
      await request(socket, 'save');
      assert.equal(await ann.json('/read'), { draft: 'typed' });
      const server = t.sockets[0]!;
      assert.is((server.session as unknown as Record<string, unknown>).regenerate, undefined);
      assert.type(server.session.destroy, 'function');
      assert.type(server.session.logoutOthers, 'function');
    } finally {
      await t.close();
    }
  },
);

handlers.run();

// ---

const cookies = suite('attach(io) gives a cookie-less handshake the id cookie');

/** A raw Engine.IO polling client: enough of the protocol to handshake, send and read. */
async function pollingHandshake(t: SocketTestServer, jar: Jar, headers: Record<string, string> = {}) {
  const res = await jar.fetch('/socket.io/?EIO=4&transport=polling', { headers });
  const body = await res.text();
  const open = JSON.parse(body.slice(1)) as { sid: string };
  const path = `/socket.io/?EIO=4&transport=polling&sid=${open.sid}`;
  return {
    res,
    setCookies: res.headers.getSetCookie(),
    send: async (packet: string) => {
      const r = await jar.fetch(path, { method: 'POST', body: packet, headers: { 'content-type': 'text/plain' } });
      assert.is(await r.text(), 'ok');
    },
    poll: async (): Promise<string[]> => (await (await jar.fetch(path)).text()).split('\x1e'),
  };
}

cookies('a polling handshake gets the cookie, its socket is that session, and HTTP then shares it', async () => {
  const t = await startSocketServer();
  try {
    const jar = t.visitor();
    const engine = await pollingHandshake(t, jar);
    assert.is(engine.setCookies.length, 1);
    const cookie = parseSetCookie(engine.setCookies[0]!);
    assert.is(cookie.name, 'sid');
    assert.ok('httponly' in cookie.attributes);
    assert.is(cookie.attributes.samesite?.toLowerCase(), 'lax');
    assert.is(cookie.attributes.path, '/');
    assert.not.ok('secure' in cookie.attributes, 'plain HTTP: no Secure');
    assert.ok(jar.id(), 'the jar holds it');
    await engine.send('40');
    assert.match((await engine.poll())[0]!, /^40\{"sid":/);
    await engine.send('421["test:whoami"]');
    const [ack] = await engine.poll();
    assert.is(JSON.parse(ack!.slice(3))[0].id, jar.id(), 'the socket knows the id it was given');
    assert.is(t.sync.core.registry.peek(jar.id()!)?.refs, 1, 'the socket holds the session');
    // HTTP with that cookie writes the socket's session, and the socket hears it.
    const polled = engine.poll();
    await jar.fetch('/write', post({ hello: 'from http' }));
    const frames = await polled;
    assert.ok(
      frames.some((f) => f.startsWith('42["session:patch"') && f.includes('from http')),
      `got ${frames.join(' | ')}`,
    );
    assert.is(jar.lastSetCookies.length, 0, 'HTTP kept the handshake’s cookie');
    await engine.send('41');
  } finally {
    await t.close();
  }
});

/** A raw websocket-first Engine.IO connection: the upgrade response's headers, then packets. */
function websocketHandshake(t: SocketTestServer, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${t.port}/socket.io/?EIO=4&transport=websocket`, { headers });
  const inbox: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    const text = String(data);
    if (text === '2') return ws.send('3'); // Engine.IO ping
    inbox.push(text);
    waiters.splice(0).forEach((w) => w());
  });
  const upgrade = new Promise<string[]>((resolve, reject) => {
    ws.once('upgrade', (res) => {
      const value = res.headers['set-cookie'];
      resolve(value === undefined ? [] : Array.isArray(value) ? value : [value]);
    });
    ws.once('error', reject);
  });
  const take = async (): Promise<string> => {
    const end = Date.now() + 2000;
    while (inbox.length === 0) {
      if (Date.now() > end) throw new Error('no websocket message');
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return inbox.shift()!;
  };
  return { ws, upgrade, take, send: (packet: string) => ws.send(packet) };
}

cookies('a websocket-only handshake gets the cookie on its upgrade response, and HTTP then shares it', async () => {
  const t = await startSocketServer();
  try {
    const engine = websocketHandshake(t);
    const setCookies = await engine.upgrade;
    assert.is(setCookies.length, 1, 'one Set-Cookie on the upgrade');
    const cookie = parseSetCookie(setCookies[0]!);
    assert.is(cookie.name, 'sid');
    assert.ok('httponly' in cookie.attributes);
    assert.match(await engine.take(), /^0\{/);
    engine.send('40');
    assert.match(await engine.take(), /^40\{"sid":/);
    engine.send('421["test:whoami"]');
    const who = JSON.parse((await engine.take()).slice(3))[0];
    assert.is(who.id, cookie.value.slice(0, 43));
    const jar = t.visitor();
    jar.cookies.set('sid', cookie.value);
    await jar.fetch('/write', post({ via: 'http' }));
    const frame = await engine.take();
    assert.ok(frame.startsWith('42["session:patch"') && frame.includes('"via"'), frame);
    engine.send('421["test:read"]');
    assert.equal(JSON.parse((await engine.take()).slice(3))[0], { via: 'http' });
    engine.ws.close();
  } finally {
    await t.close();
  }
});

cookies('a handshake with a valid cookie never gets another one; a badly signed one is replaced', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const before = ann.header;
    const polling = await pollingHandshake(t, ann);
    assert.equal(polling.setCookies, [], 'polling: no Set-Cookie');
    assert.is(ann.header, before);
    const ws = websocketHandshake(t, { cookie: ann.header });
    assert.equal(await ws.upgrade, [], 'websocket: no Set-Cookie');
    ws.ws.close();
    // socket.io-client over both transports (polling, then the upgrade) keeps the id too.
    const socket = await t.connect(ann, { transports: ['polling', 'websocket'] });
    await until(() => socket.io.engine.transport.name === 'websocket', 2000, 'the upgrade');
    assert.is((await request(socket, 'test:whoami')).id, ann.id());
    const forged = t.visitor();
    forged.cookies.set('sid', ann.cookies.get('sid')!.slice(0, 44) + 'A'.repeat(43));
    const replaced = await pollingHandshake(t, forged);
    assert.is(replaced.setCookies.length, 1, 'a bad signature counts as no cookie');
    assert.is.not(forged.id(), ann.id());
  } finally {
    await t.close();
  }
});

cookies('behind a trusted proxy, an HTTPS handshake gets a Secure cookie; untrusted headers are ignored', async () => {
  for (const trustProxy of [true, false]) {
    const t = await startSocketServer({ trustProxy });
    try {
      const engine = await pollingHandshake(t, t.visitor(), { 'x-forwarded-proto': 'https' });
      const cookie = parseSetCookie(engine.setCookies[0]!);
      assert.is('secure' in cookie.attributes, trustProxy, `trustProxy ${trustProxy}`);
    } finally {
      await t.close();
    }
  }
});

cookies('with io.use(socketIO()) alone, a cookie-less socket gets no cookie and cannot write', async () => {
  const t = await startSocketServer({ clientWritable: ['prefs'] }, { mount: 'use' });
  try {
    const engine = await pollingHandshake(t, t.visitor());
    assert.equal(engine.setCookies, []);
    const socket = await t.connect(t.visitor());
    assert.equal(await request(socket, 'test:whoami'), { id: null, tag: null, version: 0 });
    const write = await request(socket, 'test:write', { a: 1 });
    assert.is(write.code, 'unauthenticated');
    const mutate = await request(socket, 'session:mutate', {
      mutation: 'm1',
      base: 0,
      ops: [{ op: 'set', path: ['prefs'], value: 1 }],
    });
    assert.equal(mutate.code, 'unauthenticated');
    assert.is(mutate.ok, false);
    // A visitor with a cookie is served as with attach().
    const ann = await withCookie(t);
    const hers = await t.connect(ann);
    assert.is((await request(hers, 'test:whoami')).id, ann.id());
  } finally {
    await t.close();
  }
});

cookies.run();

// ---

const origins = suite('handshakes only from allowed origins');

async function refusal(t: SocketTestServer, jar: Jar | undefined, origin: string): Promise<any> {
  try {
    await t.connect(jar, { origin });
  } catch (err) {
    return err;
  }
  throw new Error(`the handshake from ${origin} was accepted`);
}

origins('a foreign Origin is refused with connect_error data.code forbidden, and gets no cookie', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const err = await refusal(t, ann, 'http://evil.test');
    assert.is(err.data?.code, 'forbidden');
    assert.match(err.data?.message, /evil\.test/);
    const engine = await pollingHandshake(t, t.visitor(), { origin: 'http://evil.test' });
    assert.equal(engine.setCookies, [], 'no cookie for a handshake the socket refuses');
    assert.is(t.sync.core.registry.peek(ann.id()!), undefined, 'nothing held for it');
  } finally {
    await t.close();
  }
});

origins('the same origin and no Origin at all are allowed', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    const same = await t.connect(ann, { origin: t.url });
    assert.is((await request(same, 'test:whoami')).id, ann.id());
    const none = await t.connect(ann);
    assert.is((await request(none, 'test:whoami')).id, ann.id());
    const polling = await t.connect(ann, { origin: t.url, transports: ['polling'] });
    assert.is((await request(polling, 'test:whoami')).id, ann.id());
  } finally {
    await t.close();
  }
});

origins('origins as a list and as a function; trustProxy makes X-Forwarded-Host the self origin', async () => {
  const t = await startSocketServer({ origins: ['http://app.test'] });
  try {
    const ann = await withCookie(t);
    await t.connect(ann, { origin: 'http://app.test' });
    await t.connect(ann, { origin: t.url });
    assert.is((await refusal(t, ann, 'http://other.test')).data.code, 'forbidden');
  } finally {
    await t.close();
  }
  const f = await startSocketServer({ origins: (o) => o.endsWith('.trusted.test') });
  try {
    await f.connect(undefined, { origin: 'https://a.trusted.test' });
    assert.is((await refusal(f, undefined, 'https://trusted.test.evil')).data.code, 'forbidden');
  } finally {
    await f.close();
  }
  for (const trustProxy of [true, false]) {
    const p = await startSocketServer({ trustProxy });
    try {
      const headers = { 'x-forwarded-host': 'public.example', 'x-forwarded-proto': 'https' };
      const attempt = p.connect(undefined, {
        origin: 'https://public.example',
        extraHeaders: { origin: 'https://public.example', ...headers },
      });
      if (trustProxy) await attempt;
      else assert.is((await attempt.then(() => ({})).catch((e) => e)).data?.code, 'forbidden');
    } finally {
      await p.close();
    }
  }
});

origins('the route answers a CORS preflight from an allowed origin only', async () => {
  const t = await startSocketServer({ origins: ['http://app.test'] });
  try {
    const jar = t.visitor();
    const preflight = (origin: string) =>
      jar.fetch('/get/session', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-session-sync' },
      });
    const ok = await preflight('http://app.test');
    assert.is(ok.status, 204);
    assert.is(ok.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.is(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /x-session-sync/i);
    const evil = await preflight('http://evil.test');
    assert.is(evil.headers.get('access-control-allow-origin'), null);
    const get = await jar.fetch('/get/session', { headers: { origin: 'http://app.test', 'x-session-sync': '1' } });
    assert.is(get.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.ok(jar.id(), 'the cross-origin GET issued the cookie');
  } finally {
    await t.close();
  }
});

origins.run();

// ---

const recovery = suite('connection-state recovery keeps socket.session');

recovery('a socket restored after a transport close has its session, its room and live data', async () => {
  const t = await startSocketServer({}, { io: { connectionStateRecovery: {} } });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann, { reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 50 });
    const frames = record(socket);
    assert.is(socket.recovered, false);
    // Socket.IO restores only a client that has received a broadcast (it resumes from its offset).
    await ann.fetch('/write', post({ a: 1 }));
    await until(() => patches(frames).length === 1);
    const reconnected = new Promise<void>((r) => socket.io.once('reconnect', () => r()));
    socket.io.engine.close(); // a network drop: "transport close"
    await reconnected;
    await until(() => socket.connected);
    assert.is(socket.recovered, true, 'Socket.IO restored the socket');
    const server = t.sockets[t.sockets.length - 1]!;
    assert.is(server.recovered, true);
    assert.is(server.session.id, ann.id());
    assert.equal(await request(socket, 'test:read'), { a: 1 });
    await ann.fetch('/write', post({ b: 2 }));
    await until(() => patches(frames).length === 2, 2000, 'a patch on the restored socket');
    assert.equal(patches(frames)[1].ops, [{ op: 'set', path: ['b'], value: 2 }]);
    assert.equal(await request(socket, 'test:read'), { a: 1, b: 2 });
    assert.equal(await request(socket, 'test:write', { c: 3 }), { version: 3 });
    assert.is(t.sync.core.registry.peek(ann.id()!)?.refs, 1, 'one hold: the restored socket’s');
  } finally {
    await t.close();
  }
});

recovery('a socket restored after regenerate() is told, and is in the new session, not the old one', async () => {
  const t = await startSocketServer({}, { io: { connectionStateRecovery: {} } });
  try {
    const ann = await withCookie(t);
    const oldId = ann.id()!;
    const socket = await t.connect(ann, { reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 300 });
    const frames = record(socket);
    await ann.fetch('/write', post({ a: 1 }));
    await until(() => patches(frames).length === 1);
    const recovered = new Promise<boolean>((r) => socket.once('connect', () => r(socket.recovered)));
    const ended = next(socket, 'session:ended', 3000);
    const closed = new Promise<string>((r) => socket.once('disconnect', (reason) => r(reason)));
    socket.io.engine.close();
    await closed;
    await until(() => !t.sockets[0]!.connected, 2000, 'the server to see the drop');
    await ann.fetch('/regenerate', { method: 'POST' }); // while the socket is away
    assert.is.not(ann.id(), oldId);
    assert.is(await recovered, true, 'restored by Socket.IO');
    assert.equal(await ended, { reason: 'regenerated' }, 'told what it missed');
    await until(() => !socket.connected, 2000, 'closed like any ended socket');
    assert.is(t.sync.core.registry.peek(oldId), undefined, 'the old session is let go');
    // Coming back without recovery, it is in the new session and not in the old room.
    const again = await t.connect(ann);
    const server = t.sockets[t.sockets.length - 1]!;
    assert.is(server.session.id, ann.id());
    assert.not.ok(server.rooms.has(`session-sync:${oldId}`));
    assert.equal(await request(again, 'test:read'), { a: 1 });
    assert.is(frames.filter((f) => f.event === 'session:ended').length, 1, 'told once');
  } finally {
    await t.close();
  }
});

recovery(
  'with io.use(socketIO()), the app’s connection listener finds socket.session on a restored socket',
  async () => {
    const seen: (string | null)[] = [];
    const t = await startSocketServer(
      {},
      {
        mount: 'use',
        io: { connectionStateRecovery: {} },
        connection(socket) {
          seen.push(socket.session?.id ?? null); // read synchronously, as apps do
        },
      },
    );
    try {
      const ann = await withCookie(t);
      const socket = await t.connect(ann, { reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 50 });
      const frames = record(socket);
      await ann.fetch('/write', post({ a: 1 }));
      await until(() => patches(frames).length === 1);
      const back = new Promise<void>((r) => socket.io.once('reconnect', () => r()));
      socket.io.engine.close();
      await back;
      await until(() => socket.connected);
      assert.is(socket.recovered, true);
      assert.equal(seen, [ann.id()!, ann.id()!]);
      assert.equal(await request(socket, 'test:read'), { a: 1 });
    } finally {
      await t.close();
    }
  },
);

recovery.run();
