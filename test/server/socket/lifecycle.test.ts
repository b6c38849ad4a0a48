import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket as ClientSocket } from 'socket.io-client';
import { MemoryStore, type SessionStore } from '../../../src/server/index.js';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import type { Jar } from '../../support/http.js';
import { post, request, sleep, startSocketServer, until, type SocketTestServer } from '../../support/socket-server.js';

async function withSession(t: SocketTestServer, data: Record<string, unknown> = { a: 1 }): Promise<Jar> {
  const jar = t.visitor();
  await jar.fetch('/write', post(data));
  assert.ok(jar.id());
  return jar;
}

/** What a client socket saw at its end: every event, then the disconnect and its reason. */
function watchEnd(socket: ClientSocket): {
  log: string[];
  ended: Promise<{ reason: string }>;
  closed: Promise<string>;
} {
  const log: string[] = [];
  socket.onAny((event: string, ...args: unknown[]) => log.push(`${event} ${JSON.stringify(args[0])}`));
  const ended = new Promise<{ reason: string }>((resolve) => socket.once('session:ended', resolve));
  const closed = new Promise<string>((resolve) =>
    socket.once('disconnect', (reason) => {
      log.push(`disconnect ${reason}`);
      resolve(reason);
    }),
  );
  return { log, ended, closed };
}

// ---

const destroy = suite('destroy() ends every socket of the session, told first');

destroy('an HTTP destroy: every tab gets session:ended { destroyed } and then is disconnected', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withSession(t);
    const oldId = ann.id()!;
    const attacker = ann.clone();
    const bob = await withSession(t, { b: 1 });
    const [a1, a2, b1] = await Promise.all([
      t.connect(ann),
      t.connect(ann, { transports: ['polling'] }),
      t.connect(bob),
    ]);
    const w1 = watchEnd(a1);
    const w2 = watchEnd(a2);
    const wb = watchEnd(b1);
    await ann.fetch('/destroy', { method: 'POST' });
    assert.equal(await w1.ended, { reason: 'destroyed' });
    assert.equal(await w2.ended, { reason: 'destroyed' }, 'over polling too');
    await Promise.all([w1.closed, w2.closed]);
    assert.equal(
      w1.log,
      ['session:ended {"reason":"destroyed"}', 'disconnect io server disconnect'],
      'told, then closed',
    );
    assert.equal(w2.log, ['session:ended {"reason":"destroyed"}', 'disconnect io server disconnect']);
    assert.is(b1.connected, true, 'bob is untouched');
    assert.equal(wb.log, []);
    assert.is(await t.sync.get(oldId), undefined, 'the record is gone');
    assert.is(ann.id(), undefined, 'the cookie was cleared');
    await until(() => t.sync.core.registry.peek(oldId) === undefined, 2000, 'the holds to go');
    // The dead id, replayed: a valid signature but no data.
    const replay = await t.connect(attacker);
    assert.equal(await request(replay, 'test:read'), {});
  } finally {
    await t.close();
  }
});

destroy('an out-of-band sync.destroy(id) and socket.session.destroy() end the sockets the same way', async () => {
  const t = await startSocketServer(
    {},
    {
      connection(socket) {
        socket.on('logout', async (ack: () => void) => {
          await socket.session.destroy();
          ack();
        });
      },
    },
  );
  try {
    const ann = await withSession(t);
    const socket = await t.connect(ann);
    const w = watchEnd(socket);
    assert.is(await t.sync.destroy(ann.id()!), true);
    assert.equal(await w.ended, { reason: 'destroyed' });
    await w.closed;
    const bob = await withSession(t, { b: 1 });
    const [b1, b2] = await Promise.all([t.connect(bob), t.connect(bob)]);
    const wb = watchEnd(b2);
    b1.emit('logout', () => {});
    assert.equal(await wb.ended, { reason: 'destroyed' }, 'a socket handler’s destroy() reaches the other tab');
    assert.is(await t.sync.get(bob.id()!), undefined);
  } finally {
    await t.close();
  }
});

destroy('a write by a socket handler after the end is refused (ended) and does not bring the id back', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withSession(t);
    const id = ann.id()!;
    const socket = await t.connect(ann);
    const server = t.sockets[0]!;
    const w = watchEnd(socket);
    await t.sync.destroy(id);
    await w.closed;
    (server.session.val as Record<string, unknown>).late = true;
    const failure = await server.session.synchronize().then(
      () => undefined,
      (err) => err,
    );
    assert.is(failure?.code, 'ended');
    await sleep(20);
    assert.is(await t.sync.get(id), undefined);
  } finally {
    await t.close();
  }
});

destroy.run();

// ---

const regenerate = suite('regenerate() ends the old id’s sockets, never moves them');

regenerate(
  'the old sockets hear regenerated after the response; the new cookie reconnects to the kept data',
  async () => {
    const t = await startSocketServer(
      {},
      {
        routes(app) {
          app.post('/login', async (req, res) => {
            await req.session.regenerate();
            (req.session.val as Record<string, unknown>).user = 'ann';
            res.json({ ok: true });
          });
        },
      },
    );
    try {
      const ann = await withSession(t, { cart: ['apple'] });
      const oldId = ann.id()!;
      const attacker = ann.clone(); // a fixation attacker holding the pre-login cookie
      const [victim, evil] = await Promise.all([t.connect(ann), t.connect(attacker)]);
      const wv = watchEnd(victim);
      const we = watchEnd(evil);
      const login = await ann.fetch('/login', { method: 'POST' });
      assert.is(login.status, 200);
      assert.is.not(ann.id(), oldId, 'a new cookie');
      assert.equal(await wv.ended, { reason: 'regenerated' });
      assert.equal(await we.ended, { reason: 'regenerated' });
      await Promise.all([wv.closed, we.closed]);
      assert.is(await t.sync.get(oldId), undefined, 'the old id is dead');
      const back = await t.connect(ann);
      assert.equal(await request(back, 'test:read'), { cart: ['apple'], user: 'ann' });
      // The attacker comes back with the old cookie: an empty session, not the victim's.
      const again = await t.connect(attacker);
      assert.equal(await request(again, 'test:read'), {});
      const frames: string[] = [];
      again.onAny((event: string, ...args: unknown[]) => frames.push(`${event} ${JSON.stringify(args)}`));
      await ann.fetch('/write', post({ secret: 'card' }));
      await sleep(50);
      assert.equal(frames, [], 'no patch of the victim reaches the old id');
    } finally {
      await t.close();
    }
  },
);

regenerate(
  'inside a request, the old sockets are told only once the response with the new cookie has finished',
  async () => {
    let finishedAt = 0;
    const t = await startSocketServer(
      {},
      {
        routes(app) {
          app.post('/slow-login', async (req, res) => {
            await req.session.regenerate();
            res.once('finish', () => (finishedAt = Date.now()));
            await sleep(150); // the app keeps working after regenerate()
            res.json({ ok: true });
          });
        },
      },
    );
    try {
      const ann = await withSession(t);
      const socket = await t.connect(ann);
      let endedAt = 0;
      socket.once('session:ended', () => (endedAt = Date.now()));
      const w = watchEnd(socket);
      await ann.fetch('/slow-login', { method: 'POST' });
      await w.closed;
      assert.ok(
        finishedAt > 0 && endedAt >= finishedAt,
        `ended at +${endedAt - finishedAt} ms after the response finished`,
      );
      assert.equal(w.log[0], 'session:ended {"reason":"regenerated"}');
    } finally {
      await t.close();
    }
  },
);

regenerate.run();

// ---

const expiry = suite('expiry and eviction end the sockets');

expiry('an idle session expires and its sockets hear expired; the id stays dead', async () => {
  const store = new MemoryStore({ sweepInterval: 25 });
  const t = await startSocketServer({ store, ttl: 200 });
  try {
    const ann = await withSession(t);
    const id = ann.id()!;
    const socket = await t.connect(ann);
    const w = watchEnd(socket);
    const started = Date.now();
    assert.equal(await w.ended, { reason: 'expired' });
    assert.ok(Date.now() - started >= 150, 'not before the idle lifetime');
    await w.closed;
    assert.is(await t.sync.get(id), undefined);
    const back = await t.connect(ann);
    const { tag } = await request(back, 'test:whoami');
    assert.equal(await request(back, 'session:hello', { protocol: PROTOCOL_VERSION }), {
      ok: true,
      version: 0,
      tag,
      epoch: null,
      expiresIn: null,
      data: {},
    });
  } finally {
    await t.close();
  }
});

expiry('socket messages count as activity; a silent open socket does not', async () => {
  const store = new MemoryStore({ sweepInterval: 25 });
  const t = await startSocketServer({ store, ttl: 250 });
  try {
    const busy = await withSession(t, { who: 'busy' });
    const quiet = await withSession(t, { who: 'quiet' });
    const [b, q] = await Promise.all([t.connect(busy), t.connect(quiet)]);
    const wb = watchEnd(b);
    const wq = watchEnd(q);
    for (let i = 0; i < 12; i++) {
      b.emit('any:app-event', i); // not even a session:* event
      await sleep(50);
    }
    assert.equal(await wq.ended, { reason: 'expired' }, 'the silent one expired');
    assert.equal(wb.log, [], 'the busy one is alive after 600 ms with a 250 ms idle lifetime');
    assert.ok(await t.sync.get(busy.id()!));
    assert.equal(await wb.ended, { reason: 'expired' }, 'and expires once it goes quiet');
  } finally {
    await t.close();
  }
});

expiry('the absolute lifetime ends a busy session too', async () => {
  const store = new MemoryStore({ sweepInterval: 25 });
  const t = await startSocketServer({ store, ttl: 10_000, absolute: 300 });
  try {
    const ann = await withSession(t);
    const socket = await t.connect(ann);
    const w = watchEnd(socket);
    const timer = setInterval(() => socket.emit('any:app-event'), 40);
    try {
      assert.equal(await w.ended, { reason: 'expired' });
    } finally {
      clearInterval(timer);
    }
  } finally {
    await t.close();
  }
});

expiry('a session evicted by MemoryStore max ends its sockets with evicted', async () => {
  const warn = console.warn;
  console.warn = () => {}; // MemoryStore warns once when it starts evicting
  const t = await startSocketServer({ store: new MemoryStore({ max: 1 }) });
  try {
    const ann = await withSession(t);
    const socket = await t.connect(ann);
    const w = watchEnd(socket);
    await withSession(t, { b: 1 }); // a second session pushes ann's out
    assert.equal(await w.ended, { reason: 'evicted' });
    await w.closed;
    assert.is(await t.sync.get(ann.id()!), undefined);
  } finally {
    console.warn = warn;
    await t.close();
  }
});

expiry.run();

// ---

const holds = suite('a socket holds its session while connected, and lets go when it leaves');

holds('the live entry and the store watch last exactly as long as the sockets', async () => {
  const inner = new MemoryStore();
  const watching = new Map<string, number>();
  const store: SessionStore = Object.assign(Object.create(inner) as MemoryStore, {
    watch(id: string) {
      watching.set(id, (watching.get(id) ?? 0) + 1);
      return () => watching.set(id, watching.get(id)! - 1);
    },
  });
  const t = await startSocketServer({ store });
  try {
    const ann = await withSession(t);
    const id = ann.id()!;
    const [s1, s2] = await Promise.all([t.connect(ann), t.connect(ann)]);
    assert.is(t.sync.core.registry.peek(id)?.refs, 2);
    assert.is(watching.get(id), 1, 'one watch per session, not per socket');
    s1.disconnect();
    await until(() => t.sync.core.registry.peek(id)?.refs === 1, 2000, 'one hold left');
    assert.is(watching.get(id), 1);
    s2.disconnect();
    await until(() => t.sync.core.registry.peek(id) === undefined, 2000, 'the entry to go');
    assert.is(watching.get(id), 0, 'unwatched with the last socket');
  } finally {
    await t.close();
  }
});

holds('a socket dropped while its session loads leaves nothing held', async () => {
  const inner = new MemoryStore();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const store: SessionStore = Object.assign(Object.create(inner) as MemoryStore, {
    get: async (id: string) => {
      await gate;
      return inner.get(id);
    },
  });
  const t = await startSocketServer({ store });
  try {
    const ann = t.visitor();
    await ann.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
    const socket = await t.connect(ann, { wait: false });
    await sleep(50);
    socket.disconnect();
    await sleep(20);
    release();
    await sleep(50);
    assert.is(t.sync.core.registry.peek(ann.id()!), undefined);
  } finally {
    release();
    await t.close();
  }
});

holds.run();
