/**
 * Security: server-only data never leaves the server (a canary searched for in every HTTP body
 * and socket frame of a mixed run), cross-site WebSocket hijacking refused by the Origin check,
 * session fixation defeated by regenerate(), rate limits that trip and recover, every input limit
 * enforced with its code, and no record (nor cookie) for visitors who never write.
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore } from '../../src/server/index.js';
import { PROTOCOL_VERSION, type JsonObject } from '../../src/shared/index.js';
import {
  Capture,
  inBatches,
  Load,
  LoadClient,
  mb,
  randomText,
  sleep,
  SOAK,
  startLocal,
  until,
  type LocalServer,
  Visitor,
} from '../support/load.js';

const EVIL = 'http://evil.example';

function open(t: LocalServer, v: Visitor | undefined, origin?: string, transports = ['websocket']): Socket {
  const headers: Record<string, string> = {};
  if (v) headers.cookie = v.jar.header;
  if (origin) headers.origin = origin;
  return connectClient(t.url, { transports, reconnection: false, forceNew: true, extraHeaders: headers });
}

function outcome(socket: Socket): Promise<{ connected: boolean; code?: string }> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ connected: true }));
    socket.once('connect_error', (err: Error & { data?: { code?: string } }) =>
      resolve({ connected: false, code: err.data?.code }),
    );
  });
}

const mutate = (socket: Socket, message: unknown): Promise<any> =>
  socket.timeout(10_000).emitWithAck('session:mutate', message);

// ---

const canary = suite<{ t: LocalServer; needle: string }>('server-only data never leaves the server');

canary.before(async (ctx) => {
  ctx.needle = `canary-${randomText()}`;
  ctx.t = await startLocal(
    { clientWritable: ['prefs', 'draft'] },
    {
      canary: ctx.needle,
      // Deliberate leaks, for the control: the capture must catch them.
      routes: (app) => app.get('/leak', (req, res) => void res.json({ leak: req.session.val._canary })),
    },
  );
  ctx.t.io.on('connection', (socket) =>
    socket.on('test:leak', (_: unknown, ack: (v: unknown) => void) => ack(socket.session.val._canary)),
  );
});
canary.after(async ({ t }) => t.close());

canary(
  'a canary in every session never appears in any HTTP body or header, or any socket frame',
  async ({ t, needle }) => {
    const capture = new Capture(needle);
    const load = new Load({ rate: 200, capture, concurrency: 50, mix: { http: 0.3, socket: 0.25, mutate: 0.3 } });
    await load.open(t, 40, 3);
    await load.drive(SOAK ? 30_000 : 4000);
    await load.settle();
    // Hello answers of every kind: snapshot (no version), patches (an older version), unchanged.
    await inBatches(load.clients, 40, async (c) => {
      for (const version of [undefined, Math.max(0, c.mirror.version - 3), c.mirror.version]) {
        const message =
          version === undefined ? { protocol: PROTOCOL_VERSION } : { protocol: PROTOCOL_VERSION, version };
        capture.scan(
          'hello ack',
          JSON.stringify(await c.socket!.timeout(10_000).emitWithAck('session:hello', message)),
        );
      }
    });
    await load.verify(t);
    // Route answers with and without If-None-Match, HEAD, error bodies (a session grown past its
    // size limit), and the end of a session (session:ended frames).
    await inBatches(load.visitors, 20, async (v) => {
      await v.http('/get/session', undefined, { 'if-none-match': '"stale"' });
      await v.http('/w', { key: 'huge', value: 'x'.repeat(70_000) });
    });
    const last = load.visitors.slice(-10);
    await inBatches(last, 10, (v) => v.http('/logout', {}));
    await until(
      () => last.every((v) => v.clients.every((c) => c.ended.length > 0)),
      10_000,
      'session:ended on every socket',
    );
    // The control: a route and a handler that do leak it (as an app could) are caught, so the
    // capture does see bodies, headers and every frame, acks included.
    const control = new Capture(needle);
    const v = load.visitors[0]!;
    const probe = new Visitor(v.jar, t.url, control);
    await probe.http('/leak');
    const client = new LoadClient(v.jar, control);
    await client.connect(t.url);
    await client.call('test:leak', {});
    client.close();
    assert.equal(
      control.hits.map((h) => h.split(':')[0]),
      ['http /leak', 'frame message'],
      'the capture sees a leaking body and a leaking ack frame',
    );
    assert.ok(capture.frames > 1000, 'a substantial capture');
    assert.equal(capture.hits, [], 'the canary never reached a visitor');
    const record = await t.sync.get(load.visitors[0]!.id);
    assert.ok(String(record!.data._canary).startsWith(needle), 'the canary is in the store');
    console.log(
      `  reliability/security: canary absent from ${capture.frames} captured bodies and frames (${mb(capture.bytes)}) ` +
        `of ${load.visitors.length} sessions, ${load.clients.length} sockets, ${load.acked.http + load.acked.socket + load.acked.mutate + load.acked.secret} writes`,
    );
    load.close();
  },
);

canary('with expose as a list of paths, a canary at an ordinary key stays on the server too', async () => {
  const needle = `canary-${randomText()}`;
  const pick = (data: JsonObject): JsonObject => {
    const out: JsonObject = {};
    for (const key of ['draft', 'created']) if (key in data) out[key] = data[key]!;
    return out;
  };
  // Writes to `h…` and `s…` keys and to `vault` are all server-only here: their patches carry
  // `ops: []`, and hello answers are always whole snapshots (history cannot be projected alone).
  const t = await startLocal(
    { clientWritable: ['prefs', 'draft'], expose: ['draft', 'created'] },
    { canary: needle, canaryKey: 'vault' },
  );
  try {
    const capture = new Capture(needle);
    const load = new Load({ rate: 150, capture, concurrency: 40, project: pick });
    await load.open(t, 20, 3);
    await load.drive(SOAK ? 20_000 : 3000);
    await load.settle();
    await inBatches(load.clients, 30, async (c) => {
      const message = { protocol: PROTOCOL_VERSION, version: Math.max(0, c.mirror.version - 2) };
      capture.scan('hello ack', JSON.stringify(await c.socket!.timeout(10_000).emitWithAck('session:hello', message)));
    });
    const figures = await load.verify(t);
    assert.equal(capture.hits, [], 'the canary never reached a visitor');
    assert.ok(String((await t.sync.get(load.visitors[0]!.id))!.data.vault).startsWith(needle));
    console.log(
      `  reliability/security: expose as paths: canary absent from ${capture.frames} bodies and frames, ${figures.sockets} mirrors converged on the projection`,
    );
    load.close();
  } finally {
    await t.close();
  }
});

canary.run();

// ---

const cswsh = suite<{ t: LocalServer; listed: LocalServer }>(
  'cross-site WebSocket hijacking (foreign Origin) is refused',
);

cswsh.before(async (ctx) => {
  ctx.t = await startLocal();
  ctx.listed = await startLocal({ origins: ['http://app.example'] });
});
cswsh.after(async ({ t, listed }) => {
  await t.close();
  await listed.close();
});

cswsh(
  'a foreign page holding the victim cookie cannot connect, over websocket or polling, and gets no cookie',
  async ({ t }) => {
    const victim = t.visitor();
    await victim.http('/w', { key: 'secretish', value: 'victim data' });
    for (const transports of [['websocket'], ['polling']]) {
      const socket = open(t, victim, EVIL, transports);
      const frames: string[] = [];
      socket.onAny((event: string, ...args: unknown[]) => frames.push(event + JSON.stringify(args)));
      assert.equal(await outcome(socket), { connected: false, code: 'forbidden' }, `refused over ${transports[0]}`);
      assert.equal(frames, []);
      socket.close();
    }
    // Same origin and no Origin (a non-browser client) connect.
    for (const origin of [t.url, undefined]) {
      const socket = open(t, victim, origin);
      assert.equal(await outcome(socket), { connected: true });
      socket.close();
    }
    // The handshake hook gives no cookie to a foreign page.
    const handshake = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: EVIL } });
    await handshake.text();
    assert.equal(handshake.headers.getSetCookie(), [], 'no cookie for a foreign handshake');
    const own = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: t.url } });
    await own.text();
    assert.is(own.headers.getSetCookie().length, 1, 'a same-origin handshake without a cookie gets one');
    // The route: no CORS grant for a foreign origin, on the preflight or the GET.
    const preflight = await fetch(`${t.url}/get/session`, {
      method: 'OPTIONS',
      headers: {
        origin: EVIL,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-session-sync',
      },
    });
    await preflight.text();
    assert.is(preflight.headers.get('access-control-allow-origin'), null);
    const read = await fetch(`${t.url}/get/session`, { headers: { origin: EVIL, cookie: victim.jar.header } });
    await read.text();
    assert.is(read.headers.get('access-control-allow-origin'), null, 'a foreign page cannot read the route');
  },
);

cswsh('with an origins list: a listed origin connects, any other is refused', async ({ listed }) => {
  const v = listed.visitor();
  await v.http('/w', { key: 'a', value: 1 });
  const ok = open(listed, v, 'http://app.example');
  assert.equal(await outcome(ok), { connected: true });
  ok.close();
  for (const origin of [EVIL, 'http://app.example.evil.example', 'null', 'https://app.example']) {
    const bad = open(listed, v, origin);
    assert.equal(await outcome(bad), { connected: false, code: 'forbidden' }, origin);
    bad.close();
  }
});

cswsh.run();

// ---

const fixation = suite<{ t: LocalServer }>('session fixation: regenerate() kills the planted id and its sockets');

fixation.before(async (ctx) => {
  ctx.t = await startLocal({ clientWritable: ['prefs', 'draft'] });
});
fixation.after(async ({ t }) => t.close());

fixation('an attacker who planted a cookie before sign-in sees nothing of the session after it', async ({ t }) => {
  const attacker = t.visitor();
  await attacker.http('/get/session', undefined, { 'x-session-sync': '1' });
  const planted = attacker.id;
  assert.ok(planted, 'the attacker got an id');
  // The victim's browser carries the planted cookie (a subdomain, a shared machine...).
  const victim = t.visitor();
  for (const [k, value] of attacker.jar.cookies) victim.jar.cookies.set(k, value);
  await victim.http('/w', { key: 'prefs', value: { theme: 'dark' } });
  const spy = new LoadClient(attacker.jar.clone());
  await spy.connect(t.url);
  const frames: string[] = [];
  spy.socket!.onAny((event: string, ...args: unknown[]) => frames.push(event + JSON.stringify(args)));

  const login = await victim.http('/login', { user: 'victim-42' });
  assert.is(login.status, 200);
  assert.is.not(victim.id, planted, 'sign-in gave the victim a new id');
  await until(() => spy.ended.includes('regenerated') && !spy.connected, 10_000, "the planted id's socket to be ended");
  assert.ok(!frames.some((f) => f.includes('victim-42')), 'the old socket never saw the signed-in data');

  // The planted cookie holds no data now, over HTTP and over a new socket.
  const seen = await attacker.http('/get/session');
  assert.equal([seen.body.version, seen.body.data], [0, {}]);
  const again = new LoadClient(attacker.jar.clone());
  await again.connect(t.url);
  assert.equal([again.mirror.version, again.mirror.data], [0, {}]);
  // The attacker's writes on the old id stay there.
  const write = await mutate(again.socket!, {
    mutation: 'evil-1',
    base: 0,
    ops: [{ op: 'set', path: ['prefs', 'x'], value: 'evil' }],
  });
  assert.ok(write.ok);
  const mine = await victim.http('/get/session');
  assert.equal(
    mine.body.data,
    { prefs: { theme: 'dark' }, user: 'victim-42' },
    'the victim keeps its data and nothing of the attacker',
  );
  assert.is((await t.sync.get(planted!))?.data.user, undefined);
  again.close();
  spy.close();
});

fixation.run();

// ---

const rate = suite<{ t: LocalServer }>('rate limits trip and recover');

rate.before(async (ctx) => {
  ctx.t = await startLocal({ clientWritable: ['draft'], limits: { rate: 1, burst: 10 } });
});
rate.after(async ({ t }) => t.close());

rate(
  'a burst past the bucket is refused with rate_limited, applies nothing, and writes pass again after a pause',
  async ({ t }) => {
    const v = t.visitor();
    await v.http('/w', { key: 'start', value: 1 });
    const socket = open(t, v);
    assert.equal(await outcome(socket), { connected: true });
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        mutate(socket, { mutation: `r${i}`, base: 1, ops: [{ op: 'set', path: ['draft', `k${i}`], value: i }] }),
      ),
    );
    const seconds = (Date.now() - t0) / 1000;
    const ok = answers.filter((a) => a.ok).length;
    const limited = answers.filter((a) => a.code === 'rate_limited').length;
    assert.is(ok + limited, 40, 'every refusal is rate_limited');
    assert.ok(
      ok >= 10 && ok <= 10 + Math.ceil(seconds) + 1,
      `the burst (10) passed, then about 1/s: ${ok} in ${seconds} s`,
    );
    assert.ok(limited > 0);
    assert.is((await t.sync.get(v.id))!.version, 1 + ok, 'refused writes applied nothing');
    // Hellos have a bucket of their own: a storm of them does not starve writes, and vice versa.
    const hellos = await Promise.all(
      Array.from({ length: 30 }, () =>
        socket.timeout(10_000).emitWithAck('session:hello', { protocol: PROTOCOL_VERSION }),
      ),
    );
    assert.ok(
      hellos.some((h) => h.code === 'rate_limited'),
      'a hello storm is limited too',
    );
    // Another socket of the same session has its own bucket.
    const other = open(t, v);
    assert.equal(await outcome(other), { connected: true });
    assert.ok(
      (await mutate(other, { mutation: 'o1', base: 1, ops: [{ op: 'set', path: ['draft', 'o'], value: 1 }] })).ok,
    );
    // After a pause the bucket has a token again.
    await sleep(1100);
    const after = await mutate(socket, {
      mutation: 'after',
      base: 1,
      ops: [{ op: 'set', path: ['draft', 'after'], value: 1 }],
    });
    assert.equal(after, { ok: true, version: (await t.sync.get(v.id))!.version });
    socket.close();
    other.close();
  },
);

rate.run();

// ---

const limits = suite<{ t: LocalServer; v: Visitor; socket: Socket }>('every input limit is enforced with its code');

limits.before(async (ctx) => {
  ctx.t = await startLocal({ clientWritable: ['prefs', 'draft'], limits: { rate: 1e6, burst: 1e6 } });
  ctx.v = ctx.t.visitor();
  await ctx.v.http('/w', { key: 'prefs', value: { theme: 'dark' } });
  ctx.socket = open(ctx.t, ctx.v);
  assert.equal(await outcome(ctx.socket), { connected: true });
});
limits.after(async ({ t, socket }) => {
  socket.close();
  await t.close();
});

const set = (path: string[], value: unknown) => [{ op: 'set', path, value }];
let n = 0;
const nest = (depth: number): unknown => (depth === 0 ? 'leaf' : { d: nest(depth - 1) });

limits(
  'size, depth, op count, key length, mutation id length, forbidden keys and paths: each refused, nothing applied',
  async ({ t, v, socket }) => {
    const cases: [string, unknown, string][] = [
      ['a value past 64 KiB', set(['draft', 'big'], 'x'.repeat(65_536)), 'too_large'],
      ['a value nested past 32 levels', set(['draft', 'deep'], nest(31)), 'too_large'],
      ['a path of 33 keys', set(['draft', ...Array.from({ length: 32 }, () => 'p')], 1), 'too_large'],
      [
        '101 ops',
        Array.from({ length: 101 }, (_, i) => ({ op: 'set', path: ['draft', `k${i}`], value: i })),
        'too_large',
      ],
      ['a 257-character key in a path', set(['draft', 'k'.repeat(257)], 1), 'too_large'],
      ['a 257-character key in a value', set(['draft', 'v'], { ['k'.repeat(257)]: 1 }), 'too_large'],
      ['__proto__ in a path', set(['draft', '__proto__', 'polluted'], 1), 'invalid'],
      ['constructor in a path', set(['prefs', 'constructor'], 1), 'invalid'],
      ['__proto__ inside a value', set(['draft', 'v'], JSON.parse('{"__proto__":{"polluted":1}}')), 'invalid'],
      ['a path through an array', set(['prefs', 'list', 'x'], 1), 'invalid'],
      ['an unknown op', [{ op: 'merge', path: ['draft'], value: {} }], 'invalid'],
      ['a path outside clientWritable', set(['user'], 'admin'), 'forbidden'],
      ['a server-only key', set(['_role'], 'admin'), 'forbidden'],
    ];
    await mutate(socket, { mutation: `setup-${++n}`, base: 0, ops: set(['prefs', 'list'], [1, 2]) });
    const before = (await t.sync.get(v.id))!;
    for (const [what, ops, code] of cases) {
      const answer = await mutate(socket, { mutation: `m-${++n}`, base: before.version, ops });
      assert.is(answer.ok, false, what);
      assert.is(answer.code, code, `${what}: ${answer.message}`);
      assert.type(answer.message, 'string');
    }
    const longId = await mutate(socket, { mutation: 'i'.repeat(65), base: 0, ops: set(['draft', 'x'], 1) });
    assert.is(longId.code, 'too_large', 'a 65-character mutation id');
    const after = (await t.sync.get(v.id))!;
    assert.is(after.version, before.version, 'nothing was applied');
    assert.equal(after.data, before.data);
    assert.is(({} as Record<string, unknown>).polluted, undefined);
    // At the limits themselves, writes pass.
    const edge: unknown[][] = [
      Array.from({ length: 100 }, (_, i) => ({ op: 'set', path: ['draft', `k${i}`], value: i })),
      set(['draft', 'k'.repeat(256)], 1),
      set(['draft', 'deep'], nest(30)),
    ];
    for (const ops of edge) assert.ok((await mutate(socket, { mutation: `e-${++n}`, base: 0, ops })).ok);
    assert.ok(
      (await mutate(socket, { mutation: 'i'.repeat(64), base: 0, ops: set(['draft', 'x'], 1) })).ok,
      'a 64-character id',
    );
  },
);

limits(
  'the session size limit holds for many small writes, over sockets and HTTP, and keeps the data intact',
  async ({ t, v, socket }) => {
    const chunk = 'y'.repeat(20_000);
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(await mutate(socket, { mutation: `s-${++n}`, base: 0, ops: set(['draft', `c${i}`], chunk) }));
    assert.equal(
      answers.map((a) => a.ok || a.code),
      [true, true, true, 'too_large'],
      'the fourth 20 KB write would pass 64 KiB',
    );
    const http = await v.http('/w', { key: 'more', value: chunk });
    assert.is(http.status, 413);
    assert.is(http.body.code, 'too_large');
    const stored = (await t.sync.get(v.id))!;
    assert.ok(Buffer.byteLength(JSON.stringify(stored.data)) <= 65_536);
    assert.is((stored.data.draft as Record<string, unknown>).c2, chunk, 'what landed before is intact');
  },
);

limits.run();

// ---

const readers = suite<{ t: LocalServer; store: MemoryStore }>('no record, and no cookie, for visitors who never write');

readers.before(async (ctx) => {
  ctx.store = new MemoryStore();
  ctx.t = await startLocal({ store: ctx.store });
});
readers.after(async ({ t }) => t.close());

readers(
  'plain readers, SDK readers and socket visitors that only say hello leave the store empty',
  async ({ t, store }) => {
    const plain = Array.from({ length: 30 }, () => t.visitor());
    await inBatches(plain, 10, async (v) => {
      const res = await v.http('/get/session');
      assert.is(res.status, 200);
      assert.equal(v.jar.lastSetCookies, [], 'a plain reader gets no cookie');
    });
    const sdk = Array.from({ length: 30 }, () => t.visitor());
    await inBatches(sdk, 10, async (v) => {
      await v.http('/get/session', undefined, { 'x-session-sync': '1' });
      const c = new LoadClient(v.jar);
      await c.connect(t.url);
      c.close();
    });
    // Handshakes without any cookie get one from attach(io), and still no record.
    await inBatches(
      Array.from({ length: 20 }, () => new LoadClient(t.visitor().jar)),
      10,
      async (c) => {
        await c.connect(t.url);
        c.close();
      },
    );
    assert.is(store.size, 0, 'nothing stored for visitors who never wrote');
  },
);

readers.run();
