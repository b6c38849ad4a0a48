import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore, type SessionStore } from '../../../src/server/index.js';
import { ERROR_CODES, PROTOCOL_VERSION } from '../../../src/shared/index.js';
import type { Jar } from '../../support/http.js';
import { post, request, sleep, startSocketServer, type SocketTestServer } from '../../support/socket-server.js';

async function withCookie(t: SocketTestServer): Promise<Jar> {
  const jar = t.visitor();
  await jar.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
  return jar;
}

const deep = (levels: number): unknown => {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = { d: value };
  return value;
};

const op = (path: unknown, value: unknown = 1): unknown => ({ op: 'set', path, value });
const wrap = (ops: unknown): unknown => ({ mutation: 'm', base: 0, ops });

/** Payloads no guard may let through, each with why. */
const MUTATE_CORPUS: [string, unknown][] = [
  ['null', null],
  ['a string', 'set a = 1'],
  ['a number', 42],
  ['true', true],
  ['an array', [1, 2, 3]],
  ['an empty object', {}],
  ['a numeric mutation id', { mutation: 1, base: 0, ops: [] }],
  ['an empty mutation id', { mutation: '', base: 0, ops: [] }],
  ['a 65-character mutation id', { mutation: 'x'.repeat(65), base: 0, ops: [] }],
  ['a negative base', { mutation: 'm', base: -1, ops: [] }],
  ['a fractional base', { mutation: 'm', base: 1.5, ops: [] }],
  ['a string base', { mutation: 'm', base: '0', ops: [] }],
  ['no ops', { mutation: 'm', base: 0 }],
  ['ops as a string', wrap('[]')],
  ['ops as an object', wrap({ 0: op(['a']) })],
  ['an op that is null', wrap([null])],
  ['an unknown op', wrap([{ op: 'push', path: ['a'], value: 1 }])],
  ['an op named by a number', wrap([{ op: 1, path: ['a'], value: 1 }])],
  ['a set without value', wrap([{ op: 'set', path: ['a'] }])],
  ['a del with a value', wrap([{ op: 'del', path: ['a'], value: 1 }])],
  ['an empty path', wrap([op([])])],
  ['a path as a dot string', wrap([op('a.b')])],
  ['a numeric key', wrap([op(['a', 0])])],
  ['a null key', wrap([op([null])])],
  ['a __proto__ path (JSON.parse)', wrap([JSON.parse('{"op":"set","path":["__proto__","polluted"],"value":true}')])],
  ['a constructor.prototype path', wrap([op(['constructor', 'prototype', 'polluted'], true)])],
  ['a prototype key deeper', wrap([op(['a', 'prototype'], true)])],
  ['a __proto__ key inside a value (JSON.parse)', wrap([op(['a'], JSON.parse('{"__proto__":{"polluted":true}}'))])],
  ['a constructor key inside a value', wrap([op(['a'], { constructor: { prototype: { polluted: true } } })])],
  ['a huge string', wrap([op(['a'], 'x'.repeat(70 * 1024))])],
  ['a huge key', wrap([op(['k'.repeat(300)])])],
  ['a 40-deep value', wrap([op(['a'], deep(40))])],
  ['a 40-deep path', wrap([op(Array.from({ length: 40 }, (_, i) => `k${i}`))])],
  ['101 ops', wrap(Array.from({ length: 101 }, (_, i) => op([`k${i}`], i)))],
  ['binary data as a value', wrap([op(['a'], Buffer.from('bytes'))])],
  ['an array with a hole-like null op', wrap([op(['a']), null])],
];

const HELLO_CORPUS: [string, unknown][] = [
  ['null', null],
  ['a string', 'hello'],
  ['a number', 1],
  ['an array', [PROTOCOL_VERSION]],
  ['no protocol', { version: 1 }],
  ['a string protocol', { protocol: String(PROTOCOL_VERSION) }],
  ['a negative version', { protocol: PROTOCOL_VERSION, version: -1 }],
  ['a huge version', { protocol: PROTOCOL_VERSION, version: 2 ** 60 }],
  ['a string version', { protocol: PROTOCOL_VERSION, version: '1' }],
  ['a numeric tag', { protocol: PROTOCOL_VERSION, tag: 5 }],
  ['a huge tag', { protocol: PROTOCOL_VERSION, tag: 't'.repeat(10_000) }],
  ['a __proto__ payload (JSON.parse)', JSON.parse(`{"__proto__":{"protocol":${PROTOCOL_VERSION}}}`)],
];

const polluted = (): boolean =>
  (({}) as Record<string, unknown>).polluted !== undefined ||
  Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted');

// ---

const corpus = suite('malformed payloads are refused with a code and change nothing');

corpus('every malformed session:mutate gets an error ack; the session and Object.prototype are untouched', async () => {
  const t = await startSocketServer({ clientWritable: () => true });
  try {
    const ann = await withCookie(t);
    await ann.fetch('/write', post({ a: 'original' }));
    const before = await t.sync.get(ann.id()!);
    const socket = await t.connect(ann);
    for (const [name, payload] of MUTATE_CORPUS) {
      const answer = await request(socket, 'session:mutate', payload);
      assert.is(answer?.ok, false, name);
      assert.ok((ERROR_CODES as readonly string[]).includes(answer.code), `${name}: a known code (${answer.code})`);
      assert.type(answer.message, 'string', name);
    }
    assert.equal(await t.sync.get(ann.id()!), before, 'the session did not change');
    assert.not.ok(polluted(), 'Object.prototype is clean');
    // And the server still serves this socket.
    assert.equal(await request(socket, 'session:mutate', wrap([op(['b'], 2)])), { ok: true, version: 2 });
  } finally {
    await t.close();
  }
});

corpus('every malformed session:hello gets an error ack', async () => {
  const t = await startSocketServer();
  try {
    const socket = await t.connect(await withCookie(t));
    for (const [name, payload] of HELLO_CORPUS) {
      const answer = await request(socket, 'session:hello', payload);
      assert.is(answer?.ok, false, name);
      assert.ok(['invalid', 'unsupported_protocol'].includes(answer.code), `${name}: ${answer.code}`);
    }
    assert.not.ok(polluted());
  } finally {
    await t.close();
  }
});

corpus('no ack, a non-function ack, extra arguments and unknown session:* events never crash the server', async () => {
  const t = await startSocketServer({ clientWritable: () => true });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    socket.emit('session:mutate', wrap([op(['fire'], 'and forget')]));
    socket.emit('session:mutate', wrap([op(['x'], 1)]), 'not a function');
    socket.emit('session:mutate');
    socket.emit('session:hello');
    socket.emit('session:hello', { protocol: PROTOCOL_VERSION }, 'extra', 3);
    socket.emit('session:unknown', { anything: true });
    const unanswered = await socket
      .timeout(200)
      .emitWithAck('session:unknown', {})
      .then(
        () => 'answered',
        () => 'ignored',
      );
    assert.is(unanswered, 'ignored', 'an unknown event is left to the app');
    await sleep(50);
    assert.equal(
      await request(socket, 'test:read'),
      { fire: 'and forget' },
      'the ack-less mutation applied; the others did nothing',
    );
    assert.is(socket.connected, true);
    assert.is((await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION }, 'extra')).ok, true);
  } finally {
    await t.close();
  }
});

corpus.run();

// ---

const rate = suite('mutations are rate limited per socket');

rate(
  'past the burst a socket gets rate_limited, recovers as tokens refill, and other sockets are unaffected',
  async () => {
    const t = await startSocketServer({ clientWritable: ['n'], limits: { rate: 10, burst: 3 } });
    try {
      const ann = await withCookie(t);
      const [socket, other] = await Promise.all([t.connect(ann), t.connect(ann)]);
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          request(socket, 'session:mutate', { mutation: `m${i}`, base: 0, ops: [op(['n'], i)] }),
        ),
      );
      const codes = answers.map((a) => (a.ok ? 'ok' : a.code));
      assert.is(codes.filter((c) => c === 'ok').length, 3, codes.join());
      assert.is(codes.filter((c) => c === 'rate_limited').length, 3, codes.join());
      assert.is((await t.sync.get(ann.id()!))?.version, 3, 'refused ones changed nothing');
      assert.is(
        (await request(other, 'session:mutate', { mutation: 'o', base: 0, ops: [op(['n'], 'other')] })).ok,
        true,
        'per socket',
      );
      await sleep(250); // 10/s: two tokens back
      assert.is(
        (await request(socket, 'session:mutate', { mutation: 'later', base: 0, ops: [op(['n'], 'later')] })).ok,
        true,
      );
    } finally {
      await t.close();
    }
  },
);

rate('hellos have a bucket of their own', async () => {
  const t = await startSocketServer({ limits: { rate: 10, burst: 3 } });
  try {
    const socket = await t.connect(await withCookie(t));
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => request(socket, 'session:hello', { protocol: PROTOCOL_VERSION })),
    );
    assert.equal(
      answers.map((a) => (a.ok ? 'ok' : a.code)),
      ['ok', 'ok', 'ok', 'rate_limited', 'rate_limited'],
    );
  } finally {
    await t.close();
  }
});

rate.run();

// ---

const failures = suite('store failures become error acks and connect errors');

/** A MemoryStore whose calls fail while `down` is set. */
function flakyStore(): { store: SessionStore; state: { down: boolean } } {
  const inner = new MemoryStore();
  const state = { down: false };
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      state.down ? Promise.reject(new Error('ECONNREFUSED 10.0.0.1:6379')) : fn(...args);
  const store: SessionStore = {
    get: guard((id) => inner.get(id)),
    apply: guard((id, ops, o) => inner.apply(id, ops, o)),
    since: guard((id, v) => inner.since(id, v)),
    destroy: guard((id, r, o) => inner.destroy(id, r, o)),
    touch: guard((id, ttl) => inner.touch(id, ttl)),
    sessionsOf: guard((u) => inner.sessionsOf(u)),
    subscribe: (l) => inner.subscribe(l),
    close: () => inner.close(),
  };
  return { store, state };
}

failures(
  'a failing store: mutate and hello answer store_unavailable without detail; a handshake gets connect_error',
  async () => {
    const { store, state } = flakyStore();
    const t = await startSocketServer({ store, clientWritable: ['n'] });
    try {
      const ann = await withCookie(t);
      await ann.fetch('/write', post({ n: 0 }));
      await ann.fetch('/write', post({ n: 1 }));
      const bob = await withCookie(t);
      await bob.fetch('/write', post({ n: 0 }));
      const socket = await t.connect(ann);
      state.down = true;
      const mutate = await request(socket, 'session:mutate', wrap([op(['n'], 2)]));
      assert.is(mutate.code, 'store_unavailable');
      assert.not.match(mutate.message, /10\.0\.0\.1/, 'no store detail');
      const hello = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION, version: 1 });
      assert.equal([hello.ok, hello.code], [false, 'store_unavailable']);
      const refused = await t.connect(bob).then(
        () => undefined,
        (err) => err,
      );
      assert.is(refused?.data?.code, 'store_unavailable', 'a socket whose session cannot be loaded is refused');
      assert.ok(await t.connect(ann), 'a session this process holds needs no store to connect');
      state.down = false;
      assert.equal(await request(socket, 'session:mutate', wrap([op(['n'], 2)])), { ok: true, version: 3 });
    } finally {
      state.down = false;
      await t.close();
    }
  },
);

failures.run();
