/**
 * A user's devices across two nodes on one Redis (issue 16): each node its own
 * `createSessionSync` with its own RedisStore and HTTP + Socket.IO server. A device listed on
 * one node was seen on the other; a revoke on one node ends a socket held by the other.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import { endOf } from '../../support/accounts.js';
import { AGENTS, Device, startDevices } from '../../support/devices.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { post, record, request, type SocketTestServer } from '../../support/socket-server.js';

let redis: TestRedis | undefined;

async function twoNodes(): Promise<{ a: SocketTestServer; b: SocketTestServer; close(): Promise<void> }> {
  redis ??= await startRedis();
  const prefix = `dn${randomBytes(3).toString('hex')}:`;
  const stores = [0, 1].map(() => new RedisStore({ url: redis!.url }, { prefix, watchInterval: 50 }));
  const [a, b] = await Promise.all(stores.map((store) => startDevices({ store })));
  await Promise.all([a!.sync.ready(), b!.sync.ready()]);
  return {
    a: a!,
    b: b!,
    async close() {
      await Promise.all([a!.close(), b!.close()]);
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

// ---

const nodes = suite('two nodes on Redis: one device list, and a revoke that reaches the other node');

nodes('each node lists both devices; a revoke on node A ends the socket on node B, live', async () => {
  const c = await twoNodes();
  try {
    // The Mac signs in on node A, the phone on node B; each keeps a socket on its node.
    const mac = new Device(c.a.url, AGENTS.chromeMac);
    const phone = new Device(c.b.url, AGENTS.firefoxAndroid);
    const macId = await mac.signIn('u1');
    const phoneId = await phone.signIn('u1');
    const macSocket = await mac.connect();
    const phoneSocket = await phone.connect();
    const phoneFrames = record(phoneSocket);

    for (const node of [c.a, c.b]) {
      const list = await node.sync.sessionsOf('u1');
      assert.equal(
        list.map((s) => [s.id, s.device.summary]).sort(),
        [
          [macId, 'Chrome on macOS'],
          [phoneId, 'Firefox on Android'],
        ].sort(),
      );
    }
    const fromMac = (await mac.json('/devices')) as any[];
    const fromPhone = await request<any[]>(phoneSocket, 'devices');
    assert.equal(
      fromMac.map((d) => [d.device.summary, d.current]),
      [
        ['Chrome on macOS', true],
        ['Firefox on Android', false],
      ],
    );
    assert.equal(
      fromPhone.map((d) => [d.device.summary, d.current]),
      [
        ['Firefox on Android', true],
        ['Chrome on macOS', false],
      ],
    );
    const seen = JSON.stringify(fromMac) + JSON.stringify(fromPhone);
    assert.not.ok(seen.includes(macId) || seen.includes(phoneId), 'no id in a body or frame');

    const phoneTag = fromMac.find((d) => !d.current).tag;
    const ending = endOf(phoneSocket);
    assert.is((await mac.fetch('/revoke', post({ tag: phoneTag }))).status, 200);
    assert.equal(await ending, { reason: 'destroyed', disconnect: 'io server disconnect' });
    assert.not.ok(JSON.stringify(phoneFrames).includes(phoneId), 'no id in a frame');
    assert.is(await c.b.sync.get(phoneId), undefined);
    assert.equal(
      (await c.b.sync.sessionsOf('u1')).map((s) => s.id),
      [macId],
    );
    assert.ok(macSocket.connected, 'the Mac stays');
    macSocket.disconnect();
  } finally {
    await c.close();
  }
});

nodes('another user’s tag is forbidden on either node', async () => {
  const c = await twoNodes();
  try {
    const mac = new Device(c.a.url, AGENTS.chromeMac);
    const stranger = new Device(c.b.url, AGENTS.edgeWindows);
    await mac.signIn('u1');
    const strangerId = await stranger.signIn('u2');
    const strangerTag = (await c.a.sync.sessionsOf('u2'))[0]!.tag;
    const res = await mac.fetch('/revoke', post({ tag: strangerTag }));
    assert.is(res.status, 403);
    const socket = await mac.connect(c.b.url);
    assert.is((await request(socket, 'revoke', strangerTag)).code, 'forbidden');
    assert.ok(await c.a.sync.get(strangerId), 'u2’s session stays');
    socket.disconnect();
  } finally {
    await c.close();
    await redis?.stop();
  }
});

nodes.run();
