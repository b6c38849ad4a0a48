import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { MemoryStore } from '../../../src/server/index.js';
import { PROTOCOL_VERSION, applyOps, type JsonObject, type Op } from '../../../src/shared/index.js';
import type { Jar } from '../../support/http.js';
import {
  post,
  record,
  request,
  sleep,
  startSocketServer,
  until,
  type SocketTestServer,
} from '../../support/socket-server.js';

async function withCookie(t: SocketTestServer): Promise<Jar> {
  const jar = t.visitor();
  await jar.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
  return jar;
}

const hello = (socket: Parameters<typeof request>[0], payload: unknown): Promise<any> =>
  request(socket, 'session:hello', payload);
const mutate = (socket: Parameters<typeof request>[0], mutation: string, ops: Op[], base = 0): Promise<any> =>
  request(socket, 'session:mutate', { mutation, base, ops });
const set = (path: string[], value: unknown): Op => ({ op: 'set', path, value }) as Op;

// ---

const helloSuite = suite('session:hello answers with a snapshot, the missed patches, or unchanged');

/**
 * A hello answer without `expiresIn`, which counts ms from the moment of the answer; checked
 * here to be the ms to the idle deadline (null without a record).
 */
function clockless<A extends { expiresIn?: number | null }>(answer: A): Omit<A, 'expiresIn'> {
  const { expiresIn, ...rest } = answer;
  if ((rest as { version?: number }).version) assert.ok(typeof expiresIn === 'number' && expiresIn > 0, 'expiresIn');
  else assert.is(expiresIn, null, 'no record: expiresIn null');
  return rest;
}

helloSuite('no version → the whole exposed session; the same version → unchanged', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    await ann.fetch('/write', post({ a: 1, _secret: 's' }));
    const route = await ann.json('/get/session');
    const socket = await t.connect(ann);
    const snapshot = await hello(socket, { protocol: PROTOCOL_VERSION });
    assert.equal(clockless(snapshot), { ok: true, version: 1, tag: route.tag, epoch: route.epoch, data: { a: 1 } });
    assert.type(route.epoch, 'number');
    assert.equal(clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 1, tag: route.tag })), {
      ok: true,
      version: 1,
      tag: route.tag,
      epoch: route.epoch,
      unchanged: true,
    });
    assert.equal(clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 1 })), {
      ok: true,
      version: 1,
      tag: route.tag,
      epoch: route.epoch,
      unchanged: true,
    });
    assert.equal(
      clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 1, tag: route.tag, epoch: route.epoch })),
      { ok: true, version: 1, tag: route.tag, epoch: route.epoch, unchanged: true },
      'the same record',
    );
    assert.equal(
      clockless(
        await hello(socket, { protocol: PROTOCOL_VERSION, version: 1, tag: route.tag, epoch: route.epoch - 1 }),
      ),
      { ok: true, version: 1, tag: route.tag, epoch: route.epoch, data: { a: 1 } },
      'a cache of an earlier record of the same id gets the whole session',
    );
  } finally {
    await t.close();
  }
});

helloSuite('a recent version → the missed patches, projected, with their mutation ids', async () => {
  const t = await startSocketServer({ clientWritable: ['n'] });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    await ann.fetch('/write', post({ a: 1 }));
    await ann.fetch('/write', post({ _hidden: 1 }));
    assert.equal(await mutate(socket, 'm-3', [set(['n'], 3)]), { ok: true, version: 3 });
    await ann.fetch('/write', post({ b: 2, _hidden: 2 }));
    const answer = await hello(socket, { protocol: PROTOCOL_VERSION, version: 1 });
    const route = await ann.json('/get/session');
    assert.equal(clockless(answer), {
      ok: true,
      version: 4,
      tag: route.tag,
      epoch: route.epoch,
      patches: [
        { version: 2, base: 1, ops: [] },
        { version: 3, base: 2, ops: [set(['n'], 3)], mutation: 'm-3' },
        { version: 4, base: 3, ops: [set(['b'], 2)] },
      ],
    });
  } finally {
    await t.close();
  }
});

helloSuite('a version the history no longer reaches, one ahead, or another session’s tag → a snapshot', async () => {
  const t = await startSocketServer({ store: new MemoryStore({ history: 2 }) });
  try {
    const ann = await withCookie(t);
    for (let i = 1; i <= 5; i++) await ann.fetch('/write', post({ n: i }));
    const socket = await t.connect(ann);
    const { tag, epoch } = await ann.json('/get/session');
    const snapshot = { ok: true, version: 5, tag, epoch, data: { n: 5 } };
    assert.equal(clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 1, tag })), snapshot, 'too old');
    assert.equal(
      (await hello(socket, { protocol: PROTOCOL_VERSION, version: 3, tag })).patches.length,
      2,
      'still in history',
    );
    assert.equal(
      clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 9, tag })),
      snapshot,
      'ahead (a stale cache after a destroy)',
    );
    assert.equal(
      clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 5, tag: 'another-session-tag' })),
      snapshot,
      'another tag',
    );
    assert.equal(
      clockless(await hello(socket, { protocol: PROTOCOL_VERSION, version: 4, tag: null })),
      snapshot,
      'a cache of no session',
    );
  } finally {
    await t.close();
  }
});

helloSuite(
  'with expose as paths or a function, a behind version gets a snapshot (history cannot be projected)',
  async () => {
    for (const expose of [['a'], (d: JsonObject) => ({ a: d.a ?? null })]) {
      const t = await startSocketServer({ expose: expose as never });
      try {
        const ann = await withCookie(t);
        await ann.fetch('/write', post({ a: 1, b: 2 }));
        await ann.fetch('/write', post({ a: 2 }));
        const socket = await t.connect(ann);
        const answer = await hello(socket, { protocol: PROTOCOL_VERSION, version: 1 });
        assert.equal(answer.data, { a: 2 });
        assert.is(answer.version, 2);
        assert.is(answer.patches, undefined);
      } finally {
        await t.close();
      }
    }
  },
);

helloSuite('a socket without a session gets version 0, tag null and the defaults', async () => {
  const t = await startSocketServer({ defaults: { cart: [], _internal: 1 } }, { mount: 'use' });
  try {
    const socket = await t.connect(t.visitor());
    assert.equal(await hello(socket, { protocol: PROTOCOL_VERSION }), {
      ok: true,
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      data: { cart: [] },
    });
    assert.equal(await hello(socket, { protocol: PROTOCOL_VERSION, version: 0, tag: null }), {
      ok: true,
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      unchanged: true,
    });
  } finally {
    await t.close();
  }
});

helloSuite('another protocol is refused with unsupported_protocol; a malformed hello with invalid', async () => {
  const t = await startSocketServer();
  try {
    const socket = await t.connect(await withCookie(t));
    const wrong = await hello(socket, { protocol: PROTOCOL_VERSION + 1 });
    assert.is(wrong.ok, false);
    assert.is(wrong.code, 'unsupported_protocol');
    assert.is((await hello(socket, { version: 1 })).code, 'invalid');
    assert.is((await hello(socket, { protocol: PROTOCOL_VERSION, version: -1 })).code, 'invalid');
    assert.is((await request(socket, 'session:hello')).code, 'invalid', 'no payload, just the ack');
  } finally {
    await t.close();
  }
});

helloSuite.run();

// ---

const writable = suite('session:mutate writes only where clientWritable allows');

writable('by default nothing is writable: forbidden, and nothing changes', async () => {
  const t = await startSocketServer();
  try {
    const ann = await withCookie(t);
    await ann.fetch('/write', post({ a: 1 }));
    const socket = await t.connect(ann);
    const answer = await mutate(socket, 'm1', [set(['a'], 2)]);
    assert.is(answer.ok, false);
    assert.is(answer.code, 'forbidden');
    assert.equal(await ann.json('/read'), { a: 1 });
    assert.is((await t.sync.get(ann.id()!))?.version, 1);
  } finally {
    await t.close();
  }
});

writable('a list of paths covers their subtrees; one op outside refuses the whole change', async () => {
  const t = await startSocketServer({ clientWritable: ['prefs', 'draft.text'] });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    assert.equal(await mutate(socket, 'm1', [set(['prefs', 'theme'], 'dark'), set(['draft', 'text'], 'hi')]), {
      ok: true,
      version: 1,
    });
    assert.equal(await mutate(socket, 'm2', [{ op: 'del', path: ['prefs', 'theme'] }]), { ok: true, version: 2 });
    const mixed = await mutate(socket, 'm3', [set(['prefs', 'lang'], 'fr'), set(['role'], 'admin')]);
    assert.is(mixed.code, 'forbidden');
    assert.match(mixed.message, /role/);
    assert.is(
      (await mutate(socket, 'm4', [set(['draft'], { text: 'x', other: 1 })])).code,
      'forbidden',
      'a parent of a listed path',
    );
    assert.equal(await ann.json('/read'), { prefs: {}, draft: { text: 'hi' } });
  } finally {
    await t.close();
  }
});

writable('per-path validators: a zod schema and a function, checked on the value after the change', async () => {
  const t = await startSocketServer({
    clientWritable: {
      'prefs.theme': z.enum(['light', 'dark']),
      count: z.number().int().min(0),
      nickname: (v: unknown) => (typeof v === 'string' && v.length <= 8) || 'at most 8 characters',
    },
  });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    assert.equal(await mutate(socket, 'a', [set(['prefs', 'theme'], 'dark'), set(['count'], 3)]), {
      ok: true,
      version: 1,
    });
    const blue = await mutate(socket, 'b', [set(['prefs', 'theme'], 'blue')]);
    assert.is(blue.code, 'forbidden');
    assert.match(blue.message, /prefs\.theme/);
    assert.is((await mutate(socket, 'c', [set(['count'], -1)])).code, 'forbidden');
    assert.is((await mutate(socket, 'd', [set(['count'], 1.5)])).code, 'forbidden');
    assert.equal(await mutate(socket, 'e', [set(['nickname'], 'ann')]), { ok: true, version: 2 });
    const long = await mutate(socket, 'f', [set(['nickname'], 'annabelle-marie')]);
    assert.equal([long.code, long.message.includes('at most 8 characters')], ['forbidden', true]);
    assert.is((await mutate(socket, 'g', [set(['other'], 1)])).code, 'forbidden', 'no validator: not writable');
    assert.equal(await ann.json('/read'), { prefs: { theme: 'dark' }, count: 3, nickname: 'ann' });
  } finally {
    await t.close();
  }
});

writable('a function over the ops sees the session id and data, and its string is the refusal', async () => {
  const seen: { id: string; data: JsonObject }[] = [];
  const t = await startSocketServer({
    clientWritable: (ops, context) => {
      seen.push(context);
      return ops.every((op) => op.path[0] === 'notes') || 'only notes';
    },
  });
  try {
    const ann = await withCookie(t);
    await ann.fetch('/write', post({ _role: 'user' }));
    const socket = await t.connect(ann);
    assert.equal(await mutate(socket, 'a', [set(['notes'], ['x'])]), { ok: true, version: 2 });
    assert.equal(await mutate(socket, 'b', [set(['_role'], 'admin')]), {
      ok: false,
      code: 'forbidden',
      message: 'only notes',
    });
    assert.is(seen[0]!.id, ann.id());
    assert.equal(seen[0]!.data, { _role: 'user' });
    assert.equal(await ann.json('/read'), { _role: 'user', notes: ['x'] });
  } finally {
    await t.close();
  }
});

writable(
  'a repeated mutation id gets the first answer and is applied once; a stale base is never refused',
  async () => {
    const t = await startSocketServer({ clientWritable: ['n', 'list'] });
    try {
      const ann = await withCookie(t);
      const socket = await t.connect(ann);
      const frames = record(socket);
      assert.equal(await mutate(socket, 'once', [set(['list'], ['a'])]), { ok: true, version: 1 });
      await ann.fetch('/write', post({ list: ['a', 'b'] }));
      assert.equal(
        await mutate(socket, 'once', [set(['list'], ['a'])]),
        { ok: true, version: 1 },
        'the first answer again',
      );
      assert.equal(await ann.json('/read'), { list: ['a', 'b'] }, 'not re-applied over the later write');
      assert.equal(await mutate(socket, 'stale', [set(['n'], 1)], 0), { ok: true, version: 3 }, 'base 0 while at 2');
      await until(() => frames.filter((f) => f.event === 'session:patch').length === 3);
      await sleep(30);
      const ids = frames
        .filter((f) => f.event === 'session:patch')
        .map((f) => (f.args[0] as { mutation?: string }).mutation);
      assert.equal(ids, ['once', undefined, 'stale'], 'one patch per applied change, carrying its mutation id');
    } finally {
      await t.close();
    }
  },
);

writable('limits apply to browser writes: op count, size, depth, mutation id length', async () => {
  const t = await startSocketServer({ clientWritable: () => true, limits: { ops: 3, size: 1000, depth: 4 } });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    const four = [1, 2, 3, 4].map((i) => set([`k${i}`], i));
    assert.is((await mutate(socket, 'a', four)).code, 'too_large');
    assert.is((await mutate(socket, 'b', [set(['big'], 'x'.repeat(1001))])).code, 'too_large');
    assert.is((await mutate(socket, 'c', [set(['a', 'b'], { c: { d: { e: 1 } } })])).code, 'too_large');
    assert.is((await mutate(socket, 'x'.repeat(65), [set(['a'], 1)])).code, 'too_large');
    // The session as a whole is bounded too: growing it past `size` in small steps fails.
    assert.equal(await mutate(socket, 'd', [set(['p1'], 'y'.repeat(600))]), { ok: true, version: 1 });
    assert.is((await mutate(socket, 'e', [set(['p2'], 'y'.repeat(600))])).code, 'too_large');
    assert.equal(Object.keys(await ann.json('/read')), ['p1']);
  } finally {
    await t.close();
  }
});

writable.run();

// ---

const exposure = suite('server-only data never leaves the server in any frame');

/** Every event and every ack a client got, as JSON. */
function wire(socket: Parameters<typeof request>[0]) {
  const frames = record(socket);
  const acks: unknown[] = [];
  const ask = async (event: string, payload: unknown): Promise<any> => {
    const answer = await request(socket, event, payload);
    acks.push(answer);
    return answer;
  };
  return { frames, acks, ask, text: () => JSON.stringify({ frames, acks }) };
}

const mirror = (start: JsonObject, frames: { event: string; args: unknown[] }[]): JsonObject =>
  frames
    .filter((f) => f.event === 'session:patch')
    .reduce((data, f) => applyOps(data, (f.args[0] as { ops: Op[] }).ops).data, start);

exposure(
  'default expose: `_` keys appear in no snapshot, patch or history; hidden-only changes are ops []',
  async () => {
    const t = await startSocketServer({ clientWritable: ['note'] });
    try {
      const ann = await withCookie(t);
      await ann.fetch('/write', post({ name: 'ann', _password: 'hunter2' }));
      const socket = await t.connect(ann);
      const w = wire(socket);
      const first = await w.ask('session:hello', { protocol: PROTOCOL_VERSION });
      await ann.fetch('/write', post({ _password: 'hunter3' }));
      await ann.fetch('/write', post({ name: 'anna', _audit: ['hunter4'] }));
      await w.ask('session:mutate', { mutation: 'm', base: 3, ops: [set(['note'], 'hi')] });
      await t.sync.update(ann.id()!, (s) => {
        s._password = 'hunter5';
      });
      await until(() => w.frames.filter((f) => f.event === 'session:patch').length === 4);
      await w.ask('session:hello', { protocol: PROTOCOL_VERSION, version: 1 });
      await w.ask('session:hello', { protocol: PROTOCOL_VERSION, version: 0, tag: 'x' });
      const patches = w.frames
        .filter((f) => f.event === 'session:patch')
        .map((f) => f.args[0] as { version: number; ops: Op[] });
      assert.equal(
        patches.map((p) => [p.version, p.ops]),
        [
          [2, []],
          [3, [set(['name'], 'anna')]],
          [4, [set(['note'], 'hi')]],
          [5, []],
        ],
      );
      assert.not.match(w.text(), /hunter|_password|_audit/);
      assert.equal(mirror(first.data, w.frames), { name: 'anna', note: 'hi' }, 'the mirror is the exposed session');
    } finally {
      await t.close();
    }
  },
);

exposure('expose as paths: an op on a parent carries only the exposed part, and the mirror stays exact', async () => {
  const t = await startSocketServer({ expose: ['profile.name', 'theme'] });
  try {
    const ann = await withCookie(t);
    await ann.fetch(
      '/write',
      post({ profile: { name: 'ann', email: 'ann@secret.test' }, theme: 'dark', token: 'tok-secret' }),
    );
    const socket = await t.connect(ann);
    const w = wire(socket);
    const first = await w.ask('session:hello', { protocol: PROTOCOL_VERSION });
    assert.equal(first.data, { profile: { name: 'ann' }, theme: 'dark' });
    await ann.fetch('/write', post({ profile: { name: 'anna', email: 'new@secret.test' } }));
    await ann.fetch('/write', post({ token: 'tok2-secret' }));
    await ann.fetch('/write', post({ theme: 'light' }));
    await t.sync.update(ann.id()!, [{ op: 'del', path: ['profile'] }]);
    await until(() => w.frames.filter((f) => f.event === 'session:patch').length === 4);
    const patches = w.frames.filter((f) => f.event === 'session:patch').map((f) => f.args[0] as { ops: Op[] });
    assert.equal(patches[0]!.ops, [set(['profile', 'name'], 'anna')]);
    assert.equal(patches[1]!.ops, [], 'a change of unexposed data only');
    assert.equal(patches[2]!.ops, [set(['theme'], 'light')]);
    assert.not.match(w.text(), /secret/);
    const expected = (await ann.json('/get/session')).data;
    assert.equal(mirror(first.data, w.frames), expected);
    assert.equal(expected, { theme: 'light' });
  } finally {
    await t.close();
  }
});

exposure('expose as a function: patches are the difference of the projections', async () => {
  const t = await startSocketServer({ expose: (d) => ({ count: Array.isArray(d.items) ? d.items.length : 0 }) });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    const w = wire(socket);
    const first = await w.ask('session:hello', { protocol: PROTOCOL_VERSION });
    assert.equal(first.data, { count: 0 });
    await ann.fetch('/write', post({ items: ['private-a'] }));
    await ann.fetch('/write', post({ items: ['private-a', 'private-b'] }));
    await ann.fetch('/write', post({ other: 'private-c' }));
    await until(() => w.frames.filter((f) => f.event === 'session:patch').length === 3);
    const ops = w.frames.filter((f) => f.event === 'session:patch').map((f) => (f.args[0] as { ops: Op[] }).ops);
    assert.equal(ops, [[set(['count'], 1)], [set(['count'], 2)], []]);
    assert.not.match(w.text(), /private/);
  } finally {
    await t.close();
  }
});

exposure('with expose as paths, a change the feed lost is healed by one patch from the last version sent', async () => {
  const inner = new MemoryStore();
  let drop = 0; // the version whose feed event goes missing, as a pub/sub message can
  const store = Object.assign(Object.create(inner) as MemoryStore, {
    subscribe: (listener: Parameters<MemoryStore['subscribe']>[0]) =>
      inner.subscribe((event) => {
        if (event.type === 'change' && event.version === drop) return;
        listener(event);
      }),
  });
  const t = await startSocketServer({ store, expose: ['pub'] });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    const w = wire(socket);
    const first = await w.ask('session:hello', { protocol: PROTOCOL_VERSION });
    await ann.fetch('/write', post({ pub: { a: 1 }, priv: 1 }));
    drop = 2;
    await ann.fetch('/write', post({ pub: { a: 2, b: 1 }, priv: 2 }));
    await ann.fetch('/write', post({ priv: 3 }));
    await ann.fetch('/write', post({ pub: { a: 3, b: 1 } }));
    await until(() => w.frames.filter((f) => f.event === 'session:patch').length === 3);
    const patches = w.frames
      .filter((f) => f.event === 'session:patch')
      .map((f) => f.args[0] as { base: number; version: number });
    assert.equal(
      patches.map((p) => [p.base, p.version]),
      [
        [0, 1],
        [1, 3],
        [3, 4],
      ],
      'contiguous: the lost version is folded into the next patch',
    );
    assert.equal(mirror(first.data, w.frames), { pub: { a: 3, b: 1 } });
    assert.not.match(w.text(), /priv/);
  } finally {
    await t.close();
  }
});

exposure.run();

// ---

const counters = suite('session:mutate with inc: clientWritable covers it like set, validators see the result');

counters('increments land atomically and a validator judges the resulting value', async () => {
  const t = await startSocketServer({
    clientWritable: { n: (value: unknown) => (typeof value === 'number' && value <= 3) || 'at most 3' },
  });
  try {
    const ann = await withCookie(t);
    const socket = await t.connect(ann);
    const inc = (id: string) => mutate(socket, id, [{ op: 'inc', path: ['n'], by: 1 }]);
    const answers = await Promise.all(['i1', 'i2', 'i3', 'i4', 'i5'].map(inc));
    assert.is(answers.filter((a) => a.ok).length, 3);
    assert.ok(answers.filter((a) => !a.ok).every((a) => a.code === 'forbidden' && /at most 3/.test(a.message)));
    assert.equal(await ann.json('/read'), { n: 3 });
    assert.equal(await mutate(socket, 'bad', [{ op: 'inc', path: ['other'], by: 1 }]), {
      ok: false,
      code: 'forbidden',
      message: 'other is not writable from the browser',
    });
    const nan = await mutate(socket, 'nan', [{ op: 'inc', path: ['n'], by: 'x' as never }]);
    assert.is(nan.code, 'invalid');
  } finally {
    await t.close();
  }
});

counters.run();
