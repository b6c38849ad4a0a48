/**
 * Every session of one user (option `user`, issue 10), on one node with the default
 * MemoryStore: real Express + Socket.IO servers on port 0, cookie jars as devices,
 * socket.io-client sockets as their open tabs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { SessionSync } from '../../../src/server/create.js';
import type { SessionSyncOptions } from '../../../src/server/options.js';
import type { JsonObject } from '../../../src/shared/index.js';
import {
  post,
  record,
  request,
  sleep,
  startSocketServer,
  until,
  type Jar,
  type SocketTestServer,
} from '../../support/socket-server.js';
import {
  accountRoutes,
  endOf,
  ids,
  patches,
  signIn,
  signInDevices,
  startAccounts,
  type Devices,
} from '../../support/accounts.js';

const start = startAccounts;

interface World extends Devices {
  t: SocketTestServer;
  sync: SessionSync;
}

async function world(options: SessionSyncOptions = {}): Promise<World> {
  const t = await start(options);
  return { t, sync: t.sync, ...(await signInDevices(t)) };
}

// ---

const listing = suite('sessionsOf lists exactly the live sessions of one user');

listing('three devices of u1 and one of u2, each with its version and last activity', async () => {
  const before = Date.now();
  const w = await world();
  try {
    assert.is(new Set(w.ids).size, 3, 'three distinct sessions');
    const list = await w.sync.sessionsOf('u1');
    assert.equal(ids(list), [...w.ids].sort());
    for (const entry of list) {
      // The shape grew with the device list (issue 16): the tag, the record's creation and its device.
      assert.equal(Object.keys(entry).sort(), ['createdAt', 'device', 'id', 'lastActive', 'tag', 'version']);
      assert.is(entry.version, 1, 'a new visitor has nothing to copy: the sign-in is the first version');
    }
    for (const entry of list)
      assert.ok(entry.lastActive >= before - 5 && entry.lastActive <= Date.now() + 5, 'lastActive is epoch ms, now');
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.otherId]);
    assert.equal(await w.sync.sessionsOf('nobody'), []);
  } finally {
    await w.t.close();
  }
});

listing('the version is the session’s current one, and a visitor without a user is in no index', async () => {
  const w = await world();
  try {
    await w.devices[1]!.fetch('/write', post({ cart: ['apple'] }));
    const list = await w.sync.sessionsOf('u1');
    const versions = Object.fromEntries(list.map((s) => [s.id, s.version]));
    assert.is(versions[w.ids[1]!], 2);
    assert.is(versions[w.ids[0]!], 1);
    const anonymous = w.t.visitor();
    await anonymous.fetch('/write', post({ user: { name: 'no id here' }, cart: [] }));
    assert.ok(anonymous.id());
    assert.is((await w.sync.get(anonymous.id()!))?.user, undefined);
    assert.is((await w.sync.sessionsOf('u1')).length, 3);
    assert.is((await w.sync.sessionsOf('undefined')).length, 0);
  } finally {
    await w.t.close();
  }
});

listing('a numeric user id works as its string', async () => {
  const t = await start();
  try {
    const a = t.visitor();
    const b = t.visitor();
    const idA = await signIn(a, 42);
    const idB = await signIn(b, '42');
    assert.is((await t.sync.get(idA))?.user, '42');
    assert.equal(ids(await t.sync.sessionsOf(42 as unknown as string)), [idA, idB].sort());
    assert.equal(ids(await t.sync.sessionsOf('42')), [idA, idB].sort());
    assert.is(await t.sync.destroyUser(42 as unknown as string, { except: idB }), 1);
    assert.equal(ids(await t.sync.sessionsOf('42')), [idB]);
  } finally {
    await t.close();
  }
});

listing('the user API refuses a call without the option, and a user that is no id', async () => {
  const t = await startSocketServer();
  const u = await start();
  try {
    for (const call of [
      () => t.sync.sessionsOf('u1'),
      () => t.sync.destroyUser('u1'),
      () => t.sync.updateUser('u1', []),
    ]) {
      await call().then(
        () => assert.unreachable('resolved without the option'),
        (err: Error) => assert.ok(err instanceof TypeError && /option "user"/.test(err.message), err.message),
      );
    }
    for (const bad of [undefined, null, '', {}, ['u1'], NaN, Infinity]) {
      await u.sync.sessionsOf(bad as unknown as string).then(
        () => assert.unreachable(`sessionsOf(${String(bad)}) resolved`),
        (err: Error) => assert.instance(err, TypeError),
      );
    }
  } finally {
    await t.close();
    await u.close();
  }
});

listing.run();

// ---

const everywhere = suite('destroyUser ends every session of the user live, except the one kept');

everywhere('two of three devices end: their sockets are told and disconnected, their cookies are dead', async () => {
  const w = await world();
  try {
    const [d1, d2, d3] = w.devices as [Jar, Jar, Jar];
    // Two tabs on the first device, one on each of the others, one for u2.
    const sockets = await Promise.all([
      w.t.connect(d1),
      w.t.connect(d1),
      w.t.connect(d2),
      w.t.connect(d3),
      w.t.connect(w.other),
    ]);
    const [s1a, s1b, s2, s3, s4] = sockets as [ClientSocket, ClientSocket, ClientSocket, ClientSocket, ClientSocket];
    const kept = [record(s3), record(s4)];
    const ends = [endOf(s1a), endOf(s1b), endOf(s2)];

    const ended = await w.sync.destroyUser('u1', { except: w.ids[2] });
    assert.is(ended, 2);
    for (const end of await Promise.all(ends))
      assert.equal(end, { reason: 'destroyed', disconnect: 'io server disconnect' });

    await sleep(100);
    assert.ok(s3.connected && s4.connected, 'the kept device and the other user stay connected');
    assert.equal(
      kept.map((frames) => frames.filter((f) => f.event === 'session:ended').length),
      [0, 0],
    );

    // Dead cookies: no data, and no record under those ids.
    for (const jar of [d1, d2]) {
      assert.equal(await jar.json('/read'), {});
      const route = await jar.json('/get/session');
      assert.is(route.version, 0);
      assert.equal(route.data, {});
    }
    assert.is(await w.sync.get(w.ids[0]!), undefined);
    assert.is(await w.sync.get(w.ids[1]!), undefined);
    assert.equal(await d3.json('/read'), { user: { id: 'u1' } });
    assert.equal(await w.other.json('/read'), { user: { id: 'u2' } });
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[2]!]);
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.otherId]);

    // A write through a dead cookie starts over under that id, signed out.
    await d1.fetch('/write', post({ theme: 'dark' }));
    assert.equal(await d1.json('/read'), { theme: 'dark' });
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[2]!]);
  } finally {
    await w.t.close();
  }
});

everywhere('without except every session ends; the answer counts only sessions that were live', async () => {
  const w = await world();
  try {
    const sockets = await Promise.all(w.devices.map((jar) => w.t.connect(jar)));
    const ends = sockets.map((s) => endOf(s));
    assert.is(await w.sync.destroyUser('u1'), 3);
    for (const end of await Promise.all(ends)) assert.is(end.reason, 'destroyed');
    assert.equal(await w.sync.sessionsOf('u1'), []);
    assert.is(await w.sync.destroyUser('u1'), 0, 'nothing left to end');
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.otherId]);
  } finally {
    await w.t.close();
  }
});

everywhere.run();

// ---

const pushed = suite('updateUser applies one change to every session of the user, pushed to each mirror');

pushed('ops reach all three devices’ sockets and socket.session, not the other user', async () => {
  const w = await world();
  try {
    const sockets = await Promise.all(w.devices.map((jar) => w.t.connect(jar)));
    const other = await w.t.connect(w.other);
    const frames = sockets.map(record);
    const otherFrames = record(other);
    const op = { op: 'set' as const, path: ['user', 'plan'], value: 'pro' };
    assert.is(await w.sync.updateUser('u1', [op]), 3);
    await until(() => frames.every((f) => patches(f).length === 1), 2000, 'a patch on each socket of u1');
    for (const f of frames) assert.equal(patches(f)[0], { version: 2, base: 1, ops: [op] });
    for (const socket of sockets) assert.equal(await request(socket, 'test:read'), { user: { id: 'u1', plan: 'pro' } });
    for (const jar of w.devices) assert.equal(await jar.json('/read'), { user: { id: 'u1', plan: 'pro' } });
    await sleep(50);
    assert.is(patches(otherFrames).length, 0);
    assert.equal(await w.other.json('/read'), { user: { id: 'u2' } });
  } finally {
    await w.t.close();
  }
});

pushed('a function edits each session’s own data; only sessions it changed count', async () => {
  const w = await world();
  try {
    await w.devices[0]!.fetch('/write', post({ credits: 5 }));
    const sockets = await Promise.all(w.devices.map((jar) => w.t.connect(jar)));
    const frames = sockets.map(record);
    const changed = await w.sync.updateUser('u1', (data: JsonObject) => {
      data.credits = ((data.credits as number | undefined) ?? 0) + 10;
    });
    assert.is(changed, 3);
    await until(() => frames.every((f) => patches(f).length === 1), 2000, 'a patch on each socket');
    assert.equal(
      frames.map((f) => patches(f)[0].ops),
      [
        [{ op: 'set', path: ['credits'], value: 15 }],
        [{ op: 'set', path: ['credits'], value: 10 }],
        [{ op: 'set', path: ['credits'], value: 10 }],
      ],
    );
    assert.is(
      await w.sync.updateUser('u1', (data: JsonObject) => void (data.credits = Number(data.credits))),
      0,
      'the same values change nothing',
    );
    assert.is(await w.sync.updateUser('nobody', [{ op: 'set', path: ['x'], value: 1 }]), 0);
  } finally {
    await w.t.close();
  }
});

pushed(
  'a session that refuses the change does not stop the others; a bad value stops all before any write',
  async () => {
    const w = await world();
    try {
      await w.devices[1]!.fetch('/write', post({ prefs: 'plain text' }));
      const op = { op: 'set' as const, path: ['prefs', 'theme'], value: 'dark' };
      await w.sync.updateUser('u1', [op]).then(
        () => assert.unreachable('a path through a string applied'),
        (err: { code?: string }) => assert.is(err.code, 'invalid'),
      );
      // The rejection came after every other session had its write.
      assert.equal((await w.sync.get(w.ids[0]!))?.data.prefs, { theme: 'dark' });
      assert.equal((await w.sync.get(w.ids[2]!))?.data.prefs, { theme: 'dark' });
      assert.is((await w.sync.get(w.ids[1]!))?.data.prefs, 'plain text');

      const versions = (await w.sync.sessionsOf('u1')).map((s) => s.version);
      await w.sync.updateUser('u1', [{ op: 'set', path: ['when'], value: new Date() as never }]).then(
        () => assert.unreachable('a Date was stored'),
        (err: Error) => assert.instance(err, TypeError),
      );
      await w.sync.updateUser('u1', 'not a change' as never).then(
        () => assert.unreachable('a string was taken as a change'),
        (err: Error) => assert.instance(err, TypeError),
      );
      assert.equal(
        (await w.sync.sessionsOf('u1')).map((s) => s.version),
        versions,
        'nothing was written',
      );
    } finally {
      await w.t.close();
    }
  },
);

pushed('close() waits for an updateUser still computing its change', async () => {
  const w = await world();
  try {
    let finished = false;
    const updating = w.sync.updateUser('u1', async (data: JsonObject) => {
      await sleep(60);
      data.late = true;
    });
    void updating.then(() => (finished = true));
    await w.sync.close();
    assert.ok(finished, 'close() resolved before updateUser did');
    assert.is(await updating, 3);
    for (const id of w.ids) assert.is((await w.sync.get(id))?.data.late, true);
  } finally {
    await w.t.close();
  }
});

pushed('a session that ended meanwhile is not brought back by the update', async () => {
  const w = await world();
  try {
    const [first] = await w.sync.sessionsOf('u1');
    // The session ends while updateUser is between its listing and its writes (MemoryStore
    // lists synchronously inside the call, so the destroy below lands in that gap).
    const updating = w.sync.updateUser('u1', [{ op: 'set', path: ['user', 'plan'], value: 'pro' }]);
    const destroying = w.sync.destroy(first!.id);
    assert.is(await destroying, true);
    assert.is(await updating, 2);
    assert.is(await w.sync.get(first!.id), undefined, 'no record under the ended id');
    assert.is((await w.sync.sessionsOf('u1')).length, 2);
  } finally {
    await w.t.close();
  }
});

pushed.run();

// ---

const moves = suite('a change of the user inside a session moves it in the index in the same commit');

moves('switching u1 → u2 over HTTP and over a socket, and signing out, move or drop the session', async () => {
  const w = await world();
  try {
    const [d1, d2, d3] = w.devices as [Jar, Jar, Jar];
    await d1.fetch('/write', post({ user: { id: 'u2' } }));
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[1]!, w.ids[2]!].sort());
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.ids[0]!, w.otherId].sort());
    assert.is((await w.sync.get(w.ids[0]!))?.user, 'u2');

    const socket = await w.t.connect(d2);
    assert.equal(await request(socket, 'test:write', { user: { id: 'u2' } }), { version: 2 });
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[2]!]);
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.ids[0]!, w.ids[1]!, w.otherId].sort());

    await d3.fetch('/sign-out', { method: 'POST' });
    assert.equal(await w.sync.sessionsOf('u1'), []);
    assert.is((await w.sync.get(w.ids[2]!))?.user, undefined);
    assert.equal(await d3.json('/read'), {});

    // Out of band too, and an edit that leaves the user alone keeps it where it is.
    await w.sync.update(w.otherId, [{ op: 'set', path: ['user', 'id'], value: 'u3' }]);
    await w.sync.update(w.ids[0]!, [{ op: 'set', path: ['cart'], value: [1] }]);
    assert.equal(ids(await w.sync.sessionsOf('u3')), [w.otherId]);
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.ids[0]!, w.ids[1]!].sort());
  } finally {
    await w.t.close();
  }
});

moves('a sign-in after regenerate() indexes the new id and drops the old one', async () => {
  const t = await start();
  try {
    const jar = t.visitor();
    const first = await signIn(jar, 'u1');
    const second = await signIn(jar, 'u1');
    assert.is.not(first, second);
    assert.equal(ids(await t.sync.sessionsOf('u1')), [second]);
    const third = await signIn(jar, 'u9');
    assert.equal(await t.sync.sessionsOf('u1'), []);
    assert.equal(ids(await t.sync.sessionsOf('u9')), [third]);
  } finally {
    await t.close();
  }
});

moves('with a function as the option the index follows what it answers', async () => {
  const t = await start({ user: (data) => (typeof data.email === 'string' ? data.email.toLowerCase() : undefined) });
  try {
    const jar = t.visitor();
    await jar.fetch('/write', post({ email: 'Ann@Example.com' }));
    assert.equal(ids(await t.sync.sessionsOf('ann@example.com')), [jar.id()!]);
    await jar.fetch('/write', post({ email: 42 }));
    assert.equal(await t.sync.sessionsOf('ann@example.com'), []);
    assert.is((await t.sync.get(jar.id()!))?.user, undefined);
  } finally {
    await t.close();
  }
});

moves('a function that answers NaN or Infinity indexes nothing', async () => {
  const t = await start({ user: (data) => Number(data.uid) as unknown as string });
  try {
    const jar = t.visitor();
    await jar.fetch('/write', post({ cart: [] }));
    assert.is((await t.sync.get(jar.id()!))?.user, undefined);
    assert.equal(await t.sync.sessionsOf('NaN'), []);
    await jar.fetch('/write', post({ uid: 7 }));
    assert.equal(ids(await t.sync.sessionsOf(7)), [jar.id()!]);
    await jar.fetch('/write', post({ uid: 'Infinity' }));
    assert.equal(await t.sync.sessionsOf('Infinity'), []);
    assert.equal(await t.sync.sessionsOf(7), []);
  } finally {
    await t.close();
  }
});

moves('a function that throws fails the write with a TypeError naming the option, and stores nothing', async () => {
  const t = await start({ user: (data) => (data as { user: { id: string } }).user.id });
  try {
    const jar = t.visitor();
    const res = await jar.fetch('/write', post({ cart: [] }));
    assert.is(res.status, 500);
    const body = await res.json();
    assert.match(body.error, /option "user" threw/);
    assert.is(await t.sync.get(jar.id()!), undefined);
    await jar.fetch('/write', post({ user: { id: 'u1' } }));
    assert.equal(ids(await t.sync.sessionsOf('u1')), [jar.id()!]);
  } finally {
    await t.close();
  }
});

moves.run();

// ---

const others = suite('logoutOthers ends every other session of the same user and keeps the caller’s');

others('from an HTTP request', async () => {
  const w = await world();
  try {
    const [d1, d2, d3] = w.devices as [Jar, Jar, Jar];
    const [s1, s2, s3, s4] = await Promise.all([
      w.t.connect(d1),
      w.t.connect(d2),
      w.t.connect(d3),
      w.t.connect(w.other),
    ]);
    const kept = [record(s2 as ClientSocket), record(s4 as ClientSocket)];
    const ends = [endOf(s1 as ClientSocket), endOf(s3 as ClientSocket)];
    assert.equal(await d2.json('/logout-others', { method: 'POST' }), { ended: 2 });
    for (const end of await Promise.all(ends))
      assert.equal(end, { reason: 'destroyed', disconnect: 'io server disconnect' });
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[1]!]);
    assert.equal(await d1.json('/read'), {});
    assert.equal(await d3.json('/read'), {});
    assert.equal(await d2.json('/read'), { user: { id: 'u1' } });
    await sleep(50);
    assert.ok(s2!.connected && s4!.connected);
    assert.equal(
      kept.map((f) => f.filter((x) => x.event === 'session:ended').length),
      [0, 0],
    );
    assert.equal(ids(await w.sync.sessionsOf('u2')), [w.otherId]);
    assert.equal(await d2.json('/logout-others', { method: 'POST' }), { ended: 0 });
  } finally {
    await w.t.close();
  }
});

others('from a socket handler', async () => {
  const w = await world();
  try {
    const [d1, d2, d3] = w.devices as [Jar, Jar, Jar];
    const [s1, s2, s3] = await Promise.all([w.t.connect(d1), w.t.connect(d2), w.t.connect(d3)]);
    const ends = [endOf(s1 as ClientSocket), endOf(s2 as ClientSocket)];
    assert.equal(await request(s3 as ClientSocket, 'logout-others'), { ended: 2 });
    for (const end of await Promise.all(ends)) assert.is(end.reason, 'destroyed');
    assert.equal(ids(await w.sync.sessionsOf('u1')), [w.ids[2]!]);
    assert.ok(s3!.connected);
    assert.equal(await request(s3 as ClientSocket, 'test:read'), { user: { id: 'u1' } });
  } finally {
    await w.t.close();
  }
});

others('a visitor who signs in and logs the others out in one request, before anything is stored', async () => {
  const w = await world();
  try {
    const fresh = w.t.visitor();
    assert.equal(await fresh.json('/sign-in-alone', post({ id: 'u1' })), { ended: 3 });
    assert.equal(ids(await w.sync.sessionsOf('u1')), [fresh.id()!]);
  } finally {
    await w.t.close();
  }
});

others('a session without a user ends nothing; without the option it is a TypeError', async () => {
  const w = await world();
  const plain = await startSocketServer({}, { routes: accountRoutes });
  try {
    const anonymous = w.t.visitor();
    await anonymous.fetch('/write', post({ cart: [] }));
    assert.equal(await anonymous.json('/logout-others', { method: 'POST' }), { ended: 0 });
    assert.is((await w.sync.sessionsOf('u1')).length, 3);
    const jar = plain.visitor();
    await signIn(jar, 'u1');
    const res = await jar.fetch('/logout-others', { method: 'POST' });
    assert.is(res.status, 500);
    assert.match((await res.json()).error, /option "user"/);
  } finally {
    await w.t.close();
    await plain.close();
  }
});

others.run();
