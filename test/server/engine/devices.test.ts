/**
 * A user's devices (issue 16) on one node with the default MemoryStore: real Express +
 * Socket.IO servers on port 0, cookie jars that send a browser's User-Agent as devices,
 * socket.io-client sockets as their open tabs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket as ClientSocket } from 'socket.io-client';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';
import type { ApplyOptions, TouchOptions } from '../../../src/server/stores/store.js';
import { PROTOCOL_VERSION, type Op } from '../../../src/shared/index.js';
import { endOf } from '../../support/accounts.js';
import { AGENTS, Device, startDevices } from '../../support/devices.js';
import { post, record, request, sleep, type SocketTestServer } from '../../support/socket-server.js';

interface World {
  t: SocketTestServer;
  /** Three devices of u1: Chrome on macOS, Firefox on Android, Safari on iOS. */
  mac: Device;
  phone: Device;
  ipad: Device;
  /** A device of u2. */
  other: Device;
  ids: { mac: string; phone: string; ipad: string; other: string };
}

async function world(t: SocketTestServer): Promise<World> {
  const mac = new Device(t.url, AGENTS.chromeMac);
  const phone = new Device(t.url, AGENTS.firefoxAndroid);
  const ipad = new Device(t.url, AGENTS.safariIpad);
  const other = new Device(t.url, AGENTS.edgeWindows);
  const ids = {
    mac: await mac.signIn('u1'),
    phone: await phone.signIn('u1'),
    ipad: await ipad.signIn('u1'),
    other: await other.signIn('u2'),
  };
  return { t, mac, phone, ipad, other, ids };
}

const byId = <T extends { id: string }>(list: T[], id: string): T => list.find((s) => s.id === id)!;

// ---

const listing = suite('sessionsOf names each session’s tag, creation and device');

listing('three devices of one user, each with its browser, beside its data', async () => {
  const before = Date.now();
  const t = await startDevices();
  try {
    const w = await world(t);
    const list = await t.sync.sessionsOf('u1');
    assert.equal(list.map((s) => s.id).sort(), [w.ids.mac, w.ids.phone, w.ids.ipad].sort());
    const names = {
      [w.ids.mac]: 'Chrome on macOS',
      [w.ids.phone]: 'Firefox on Android',
      [w.ids.ipad]: 'Safari on iOS',
    };
    const agents = {
      [w.ids.mac]: AGENTS.chromeMac,
      [w.ids.phone]: AGENTS.firefoxAndroid,
      [w.ids.ipad]: AGENTS.safariIpad,
    };
    for (const entry of list) {
      assert.equal(Object.keys(entry).sort(), ['createdAt', 'device', 'id', 'lastActive', 'tag', 'version']);
      assert.equal(entry.device, { userAgent: agents[entry.id]!, summary: names[entry.id]! }, 'no ip without deviceIp');
      const stored = await t.sync.get(entry.id);
      assert.is(entry.tag, stored!.tag);
      assert.ok(
        entry.createdAt! >= before - 5 && entry.createdAt! <= entry.lastActive,
        'createdAt is the epoch, ≤ lastActive',
      );
      // The note sits beside the data: get(id).data is exactly what the sign-in wrote.
      assert.equal(stored!.data, { user: { id: 'u1' } });
      assert.is(entry.version, 1, 'recording the device bumped no version');
    }
    assert.equal(
      (await t.sync.sessionsOf('u2')).map((s) => [s.id, s.device.summary]),
      [[w.ids.other, 'Edge on Windows']],
    );
  } finally {
    await t.close();
  }
});

listing('the device is what the last request or handshake said, and never part of what a mirror sees', async () => {
  // ttl / 100 = 20 ms between two notes of one session.
  const t = await startDevices({ ttl: 2000 });
  try {
    const mac = new Device(t.url, AGENTS.chromeMac);
    const id = await mac.signIn('u1');
    const socket = await mac.connect(t.url);
    const frames = record(socket);
    const changes: string[] = [];
    t.sync.on('change', (changed) => changes.push(changed));
    await sleep(40);
    // The same browser updated itself: its next request says so.
    mac.userAgent = AGENTS.chromeWindows;
    const route = await mac.text('/get/session');
    assert.is(route.status, 200);
    await sleep(40);
    assert.is((await t.sync.sessionsOf('u1'))[0]!.device.summary, 'Chrome on Windows');
    // A socket message counts too, with what its handshake said.
    await sleep(40);
    const hello = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION });
    await sleep(40);
    const [entry] = await t.sync.sessionsOf('u1');
    assert.is(entry!.device.userAgent, AGENTS.chromeMac, 'the handshake’s User-Agent');
    assert.is(entry!.version, 1);
    assert.equal(changes, [], 'no change event for a note');
    assert.equal(
      frames.filter((f) => f.event === 'session:patch'),
      [],
      'no patch for a note',
    );
    const seen = route.body + JSON.stringify(hello) + JSON.stringify(frames);
    for (const agent of [AGENTS.chromeMac, AGENTS.chromeWindows, 'macOS', 'Windows'])
      assert.not.ok(seen.includes(agent), `${agent} reached the browser`);
    assert.equal((await t.sync.get(id))!.data, { user: { id: 'u1' } });
    socket.disconnect();
  } finally {
    await t.close();
  }
});

listing.run();

// ---

const throttle = suite('a session’s device note is sent to the store at most once per ttl / 100');

/** A MemoryStore that counts the notes it is handed, through either door. */
class CountingStore extends MemoryStore {
  notes: string[] = [];
  // session-sync calls applySync when a store has it (MemoryStore answers at once).
  override applySync(id: string, ops: readonly Op[], options: ApplyOptions) {
    if (options.device) this.notes.push(`apply ${options.device.userAgent}`);
    return super.applySync(id, ops, options);
  }
  override touch(id: string, ttl: number, options?: TouchOptions) {
    if (options?.device) this.notes.push(`touch ${options.device.userAgent}`);
    return super.touch(id, ttl, options);
  }
}

throttle('many writes and requests within one interval carry one note; the next interval, one more', async () => {
  const store = new CountingStore();
  // ttl / 100 = 1 s.
  const t = await startDevices({ store, ttl: 100_000 });
  try {
    const mac = new Device(t.url, 'first/1');
    await mac.signIn('u1');
    assert.equal(store.notes, ['apply first/1'], 'the sign-in that made the record carried the note');
    mac.userAgent = 'second/2';
    for (let i = 0; i < 10; i++) {
      await mac.fetch('/write', post({ n: i }));
      await mac.fetch('/read');
    }
    assert.equal(store.notes, ['apply first/1'], 'nothing more within the interval');
    assert.is((await t.sync.sessionsOf('u1'))[0]!.device.userAgent, 'first/1');
    await sleep(1050);
    await mac.fetch('/write', post({ n: 'again' }));
    await mac.fetch('/read');
    await mac.fetch('/write', post({ n: 'and again' }));
    // The request's activity (a touch) came first, and took the note with it; the writes did not.
    assert.equal(store.notes, ['apply first/1', 'touch second/2']);
    const [entry] = await t.sync.sessionsOf('u1');
    assert.is(entry!.device.userAgent, 'second/2');
    assert.is(entry!.version, 1 + 10 + 2, 'one version per write, none for the notes');
  } finally {
    await t.close();
  }
});

throttle('a write that left no record did not use up the interval', async () => {
  const store = new CountingStore();
  const t = await startDevices({ store, ttl: 100_000, clientWritable: ['x'] });
  try {
    const visitor = new Device(t.url, 'first/1');
    await visitor.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
    const socket = await visitor.connect();
    // A first write that changes nothing: the store keeps no record, so no note either…
    const noop = await request(socket, 'session:mutate', {
      mutation: 'm1',
      base: 0,
      ops: [{ op: 'del', path: ['x'] }],
    });
    assert.is(noop.version, 0);
    // …and the write that creates the record carries the note again.
    const made = await request(socket, 'session:mutate', {
      mutation: 'm2',
      base: 0,
      ops: [{ op: 'set', path: ['x'], value: 1 }],
    });
    assert.is(made.version, 1);
    assert.equal(store.notes, ['apply first/1', 'apply first/1']);
    socket.disconnect();
  } finally {
    await t.close();
  }
});

throttle.run();

// ---

const devices = suite('devices() lists the sessions of the handle’s own user by tag, the current one marked');

devices('over HTTP and over a socket: tags only, this session current and first', async () => {
  const t = await startDevices();
  try {
    const w = await world(t);
    const res = await w.mac.text('/devices');
    assert.is(res.status, 200);
    const list = JSON.parse(res.body) as any[];
    assert.is(list.length, 3);
    for (const entry of list) {
      assert.equal(Object.keys(entry).sort(), ['createdAt', 'current', 'device', 'lastActive', 'tag', 'version']);
    }
    const tags = Object.fromEntries((await t.sync.sessionsOf('u1')).map((s) => [s.id, s.tag]));
    assert.equal(list[0], { ...list[0], tag: tags[w.ids.mac], current: true });
    assert.equal(
      list.filter((d) => d.current).map((d) => d.device.summary),
      ['Chrome on macOS'],
    );
    assert.equal(list.map((d) => d.tag).sort(), Object.values(tags).sort());
    for (const id of Object.values(w.ids)) assert.not.ok(res.body.includes(id), 'an id reached the browser');

    const socket = await w.phone.connect();
    const frames = record(socket);
    const overSocket = await request<any[]>(socket, 'devices');
    assert.equal(
      overSocket.map((d) => [d.device.summary, d.current]),
      [['Firefox on Android', true], ...overSocket.slice(1).map((d) => [d.device.summary, false])],
    );
    assert.equal(overSocket.map((d) => d.tag).sort(), Object.values(tags).sort());
    for (const id of Object.values(w.ids))
      assert.not.ok((JSON.stringify(overSocket) + JSON.stringify(frames)).includes(id), 'an id in a frame');
    socket.disconnect();
  } finally {
    await t.close();
  }
});

devices('a session without a user lists nothing; another user’s sessions are never listed', async () => {
  const t = await startDevices();
  try {
    const w = await world(t);
    const anonymous = new Device(t.url, AGENTS.chromeMac);
    await anonymous.fetch('/write', post({ cart: [1] }));
    assert.equal(await anonymous.json('/devices'), []);
    const list = (await w.other.json('/devices')) as any[];
    assert.equal(
      list.map((d) => [d.device.summary, d.current]),
      [['Edge on Windows', true]],
    );
  } finally {
    await t.close();
  }
});

devices('a sign-in in the same request is listed as current', async () => {
  const t = await startDevices();
  t.app.post('/sign-in-and-list', async (req, res) => {
    req.session.val.user = { id: 'u9' };
    res.json(await req.session.devices());
  });
  try {
    const first = new Device(t.url, AGENTS.firefoxLinux);
    await first.signIn('u9');
    const fresh = new Device(t.url, AGENTS.safariMac);
    const list = (await fresh.json('/sign-in-and-list', post({}))) as any[];
    assert.equal(
      list.map((d) => [d.device.summary, d.current]),
      [
        ['Safari on macOS', true],
        ['Firefox on Linux', false],
      ],
    );
  } finally {
    await t.close();
  }
});

devices('without the option user, devices() and revoke() refuse with a TypeError', async () => {
  const t = await startDevices({ user: undefined });
  try {
    const mac = new Device(t.url, AGENTS.chromeMac);
    await mac.fetch('/write', post({ a: 1 }));
    const listed = await mac.json('/devices');
    assert.match(listed.error, /devices\(\) needs the option "user"/);
    const revoked = await mac.json('/revoke', post({ tag: 'x' }));
    assert.match(revoked.error, /revoke\(\) needs the option "user"/);
  } finally {
    await t.close();
  }
});

devices.run();

// ---

const revoke = suite('revoke(tag) ends one session of the same user, live; anything else is forbidden');

revoke('a device signs another out: its socket is told and closed, its record gone, the rest stays', async () => {
  const t = await startDevices();
  try {
    const w = await world(t);
    const sockets: Record<string, ClientSocket> = {
      mac: await w.mac.connect(),
      phone: await w.phone.connect(),
      ipad: await w.ipad.connect(),
    };
    const phoneTag = (await t.sync.get(w.ids.phone))!.tag;
    const ending = endOf(sockets.phone!);
    const res = await w.mac.fetch('/revoke', post({ tag: phoneTag }));
    assert.is(res.status, 200);
    assert.equal(await ending, { reason: 'destroyed', disconnect: 'io server disconnect' });
    assert.is(await t.sync.get(w.ids.phone), undefined);
    assert.equal((await t.sync.sessionsOf('u1')).map((s) => s.id).sort(), [w.ids.mac, w.ids.ipad].sort());
    // The phone's cookie holds nothing now.
    assert.equal(await w.phone.json('/read'), {});
    assert.ok(sockets.mac!.connected && sockets.ipad!.connected, 'the others stay connected');
    // Over a socket too: the iPad signs the Mac out.
    const macTag = (await t.sync.get(w.ids.mac))!.tag;
    const macEnding = endOf(sockets.mac!);
    assert.equal(await request(sockets.ipad!, 'revoke', macTag), { ok: true });
    assert.is((await macEnding).reason, 'destroyed');
    assert.equal(
      (await t.sync.sessionsOf('u1')).map((s) => s.id),
      [w.ids.ipad],
    );
    sockets.ipad!.disconnect();
  } finally {
    await t.close();
  }
});

revoke(
  'a forged tag, another user’s tag, a tag already revoked or no string at all: forbidden, nothing ends',
  async () => {
    const t = await startDevices();
    try {
      const w = await world(t);
      const otherTag = (await t.sync.get(w.ids.other))!.tag;
      const phoneTag = (await t.sync.get(w.ids.phone))!.tag;
      const forged = phoneTag.slice(0, -1) + (phoneTag.endsWith('A') ? 'B' : 'A');
      for (const tag of [forged, otherTag, '', 42, null, { tag: phoneTag }]) {
        const res = await w.mac.fetch('/revoke', post({ tag }));
        assert.is(res.status, 403, `revoke(${JSON.stringify(tag)})`);
        assert.is(((await res.json()) as { code: string }).code, 'forbidden');
      }
      const socket = await w.mac.connect();
      const answer = await request(socket, 'revoke', otherTag);
      assert.is(answer.code, 'forbidden');
      assert.ok(await t.sync.get(w.ids.other), 'u2’s session is untouched');
      assert.is((await t.sync.sessionsOf('u1')).length, 3, 'u1 lost nothing');
      // A signed-out visitor revokes nothing either.
      const stranger = new Device(t.url, AGENTS.chromeMac);
      await stranger.fetch('/write', post({ a: 1 }));
      assert.is((await stranger.fetch('/revoke', post({ tag: phoneTag }))).status, 403);
      // Once revoked, a tag is nobody's.
      assert.is((await w.ipad.fetch('/revoke', post({ tag: phoneTag }))).status, 200);
      assert.is((await w.ipad.fetch('/revoke', post({ tag: phoneTag }))).status, 403);
      socket.disconnect();
    } finally {
      await t.close();
    }
  },
);

revoke('revoking the current tag is destroy(): cookie cleared, sockets told', async () => {
  const t = await startDevices();
  try {
    const w = await world(t);
    const socket = await w.mac.connect();
    const ending = endOf(socket);
    const own = (await w.mac.json('/devices')).find((d: any) => d.current).tag;
    const res = await w.mac.fetch('/revoke', post({ tag: own }));
    assert.is(res.status, 200);
    assert.ok(
      w.mac.lastSetCookies.some((c) => c.name === 'sid' && c.value === ''),
      'the cookie is cleared',
    );
    assert.is((await ending).reason, 'destroyed');
    assert.is(await t.sync.get(w.ids.mac), undefined);
    assert.is((await t.sync.sessionsOf('u1')).length, 2);
  } finally {
    await t.close();
  }
});

revoke.run();

// ---

const ip = suite('the client IP is kept only with deviceIp, as trust proxy and trustProxy say');

ip('without deviceIp no address is kept, whatever the headers say', async () => {
  const store = new MemoryStore();
  const t = await startDevices({ store, trustProxy: true });
  t.app.set('trust proxy', true);
  try {
    const mac = new Device(t.url, AGENTS.chromeMac, { 'x-forwarded-for': '203.0.113.7' });
    await mac.signIn('u1');
    const [entry] = await t.sync.sessionsOf('u1');
    assert.not.ok('ip' in entry!.device);
    assert.is((await store.sessionsOf('u1'))[0]!.device!.ip, undefined, 'nor in the store');
  } finally {
    await t.close();
  }
});

ip('over HTTP: req.ip, so X-Forwarded-For counts only under trust proxy', async () => {
  const t = await startDevices({ deviceIp: true });
  try {
    const forwarded = { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' };
    const direct = new Device(t.url, AGENTS.chromeMac, forwarded);
    const directId = await direct.signIn('u1');
    t.app.set('trust proxy', true);
    const proxied = new Device(t.url, AGENTS.firefoxAndroid, forwarded);
    const proxiedId = await proxied.signIn('u1');
    const list = await t.sync.sessionsOf('u1');
    assert.match(byId(list, directId).device.ip!, /^(::ffff:)?127\.0\.0\.1$/, 'the socket’s address');
    assert.is(byId(list, proxiedId).device.ip, '203.0.113.7');
    assert.is(byId(list, proxiedId).device.summary, 'Firefox on Android');
  } finally {
    await t.close();
  }
});

ip('over a socket: the handshake’s address, X-Forwarded-For only with trustProxy', async () => {
  for (const trustProxy of [false, true]) {
    // ttl / 100 = 20 ms between two notes.
    const t = await startDevices({ deviceIp: true, trustProxy, ttl: 2000 });
    try {
      const mac = new Device(t.url, AGENTS.chromeMac);
      await mac.signIn('u1');
      const socket = await mac.connect(t.url, { 'x-forwarded-for': '198.51.100.9' });
      await sleep(40);
      await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION });
      await sleep(40);
      const [entry] = await t.sync.sessionsOf('u1');
      if (trustProxy) assert.is(entry!.device.ip, '198.51.100.9');
      else assert.match(entry!.device.ip!, /^(::ffff:)?127\.0\.0\.1$/);
      socket.disconnect();
    } finally {
      await t.close();
    }
  }
});

ip('an unknown device: a request without User-Agent is listed as such', async () => {
  const t = await startDevices({ deviceIp: true });
  try {
    const bare = new Device(t.url, '');
    await bare.signIn('u1');
    const [entry] = await t.sync.sessionsOf('u1');
    assert.is(entry!.device.userAgent, null);
    assert.is(entry!.device.summary, 'Unknown device');
    assert.type(entry!.device.ip, 'string');
  } finally {
    await t.close();
  }
});

ip.run();
