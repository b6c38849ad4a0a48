/**
 * The user index of RedisStore lives in the user's slot, apart from the sessions, and is a
 * superset kept around each apply. Its invariant — every live session whose record names
 * user U is in U's index — must survive a crash between the two steps: the connection is
 * killed right before the apply (after the index add), or right before the removal from the
 * old user's index (after the apply). Then "log out everywhere" must still end every
 * session. The same on one Redis and on a Redis Cluster (one code path).
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync } from '../../../src/server/create.js';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import { APPLY, INDEX_PRUNE, type LuaScript } from '../../../src/server/stores/redis/scripts.js';
import { SessionSyncError, type JsonObject, type JsonValue, type Op } from '../../../src/shared/index.js';
import { signIn } from '../../support/accounts.js';
import { startDevices } from '../../support/devices.js';
import { startCluster, type TestCluster } from '../../support/redis-cluster.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

const LIFETIMES = { ttl: 60_000, absolute: 600_000 };
const newId = (): string => randomBytes(32).toString('base64url');
const set = (path: string[], value: JsonValue): Op => ({ op: 'set', path, value });
const userOf = (data: JsonObject): string | undefined => (data.user as { id?: string } | undefined)?.id;
const withUser = { ...LIFETIMES, user: userOf };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Client = Redis | Cluster;
interface Backend {
  name: string;
  /** A fresh ioredis client of the backend. */
  client(): Client;
  /** The port of the primary that holds `key`. */
  ownerOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

async function single(): Promise<Backend> {
  const redis: TestRedis = await startRedis();
  return {
    name: 'one Redis',
    client: () => new Redis(redis.url),
    ownerOf: async () => redis.port,
    stop: () => redis.stop(),
  };
}

async function cluster(): Promise<Backend> {
  const c: TestCluster = await startCluster({ primaries: 3 });
  return { name: 'Redis Cluster', client: () => new Cluster(c.nodes), ownerOf: c.ownerOf, stop: c.stop };
}

/**
 * Intercepts `client` as it is about to send `script` (once): `crash` kills the client's
 * connections there, as a process dying between two steps would; `hold` sends it only on
 * `release()`. Resolves `reached` at that moment.
 */
function intercept(client: Client, script: LuaScript, mode: 'crash' | 'hold') {
  const original = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  let reached!: () => void;
  let release!: () => void;
  const at = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  (client as { sendCommand: unknown }).sendCommand = (
    command: { name: string; args: unknown[] },
    ...rest: unknown[]
  ) => {
    if (command.name !== 'evalsha' || command.args[0] !== script.sha) return original(command, ...rest);
    (client as { sendCommand: unknown }).sendCommand = original;
    reached();
    if (mode === 'crash') {
      client.disconnect();
      return original(command, ...rest);
    }
    void released.then(() => original(command, ...rest));
    return (command as unknown as { promise: Promise<unknown> }).promise;
  };
  return { reached: at, release };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

for (const make of [single, cluster]) {
  let backend: Promise<Backend> | undefined;
  const opened: Client[] = [];
  const ready = async (): Promise<Backend> => {
    const b = await (backend ??= make());
    // Every client a test makes is disconnected after it (a store leaves a client it was given open).
    return {
      ...b,
      client: () => {
        const c = b.client();
        c.on('error', () => undefined);
        opened.push(c);
        return c;
      },
    };
  };
  const disconnectAll = (): void => {
    for (const c of opened.splice(0)) c.disconnect();
  };
  const label = make === single ? 'one Redis' : 'Redis Cluster';
  const store = async (options: { client?: Client; timeout?: number; prefix: string }): Promise<RedisStore> => {
    const s = new RedisStore({ client: options.client ?? (await ready()).client() }, options);
    await s.ready();
    return s;
  };

  // ---

  const spread = suite(`${label}: one user's sessions in many slots are all listed and all ended`);

  spread("devices() lists 8 sessions from every slot, destroyUser ends them all and no one else's", async () => {
    const b = await ready();
    const prefix = `ua${randomBytes(3).toString('hex')}:`;
    const s = await store({ prefix, client: b.client() });
    const t = await startDevices({ store: s });
    try {
      const jars = Array.from({ length: 8 }, () => t.visitor());
      const ids: string[] = [];
      for (const jar of jars) ids.push(await signIn(jar, 'ann'));
      const bob = t.visitor();
      const bobId = await signIn(bob, 'bob');
      const owners = new Set(await Promise.all(ids.map((id) => b.ownerOf(`${prefix}s:{${id}}`))));
      if (make === cluster) assert.ok(owners.size >= 2, `the sessions sit on ${owners.size} primaries`);
      assert.equal((await t.sync.sessionsOf('ann')).map((x) => x.id).sort(), [...ids].sort());
      const devices = (await jars[0]!.json('/devices')) as { current: boolean }[];
      assert.is(devices.length, 8);
      assert.equal(
        devices.map((d) => d.current),
        [true, false, false, false, false, false, false, false],
      );
      assert.is(await t.sync.destroyUser('ann'), 8);
      for (const id of ids) assert.is(await s.get(id), undefined);
      assert.equal(await t.sync.sessionsOf('ann'), []);
      assert.equal(
        (await t.sync.sessionsOf('bob')).map((x) => x.id),
        [bobId],
      );
    } finally {
      await t.close();
      await s.close();
    }
  });

  spread.after.each(disconnectAll);
  spread.run();

  // ---

  const crash = suite(`${label}: a crash between the two steps leaves an extra index member, never a missing one`);

  crash('killed after the index add, before the apply: nothing is missed, destroyUser ends every session', async () => {
    const prefix = `uc${randomBytes(3).toString('hex')}:`;
    const healthy = await store({ prefix });
    const sync = createSessionSync({ secret: 'a secret for the index crash tests', store: healthy, user: 'user.id' });
    const raw = (await ready()).client();
    try {
      const [s1, s2, fresh] = [newId(), newId(), newId()];
      await healthy.apply(s1, [set(['user'], { id: 'vera' })], withUser);
      await healthy.apply(s2, [set(['user'], { id: 'uma' })], withUser);
      // s1 moves from vera to uma, a new session signs in as uma: both die between the steps.
      for (const [id, to] of [
        [s1, 'uma'],
        [fresh, 'uma'],
      ] as const) {
        const client = (await ready()).client();
        const doomed = await store({ prefix, client });
        const cut = intercept(client, APPLY, 'crash');
        const err = await rejection(doomed.apply(id, [set(['user'], { id: to })], withUser));
        await cut.reached;
        assert.instance(err, SessionSyncError);
        assert.is((err as SessionSyncError).code, 'store_unavailable');
        await doomed.close();
      }
      const members = (await raw.zrange(`${prefix}u:{uma}`, 0, -1)).sort();
      assert.equal(members, [s1, s2, fresh].sort(), 'the adds landed: a superset');
      assert.equal((await healthy.get(s1))?.user, 'vera', 'the apply did not');
      assert.is(await healthy.get(fresh), undefined);
      assert.equal(
        (await sync.sessionsOf('uma')).map((x) => x.id),
        [s2],
      );
      assert.equal(
        (await sync.sessionsOf('vera')).map((x) => x.id),
        [s1],
      );
      assert.is(await sync.destroyUser('vera'), 1);
      assert.is(await sync.destroyUser('uma'), 1);
      for (const id of [s1, s2, fresh]) assert.is(await healthy.get(id), undefined);
    } finally {
      await sync.close();
      await healthy.close();
      raw.disconnect();
    }
  });

  crash("killed after the apply, before the old user's index lets go: the new user's destroyUser ends it", async () => {
    const prefix = `ud${randomBytes(3).toString('hex')}:`;
    const healthy = await store({ prefix });
    const sync = createSessionSync({ secret: 'a secret for the index crash tests', store: healthy, user: 'user.id' });
    const raw = (await ready()).client();
    const client = (await ready()).client();
    // timeout 100 ms: the grace (5 × timeout) is over before the removal is sent.
    const doomed = await store({ prefix, client, timeout: 100 });
    try {
      const id = newId();
      await healthy.apply(id, [set(['user'], { id: 'vera' })], withUser);
      await sleep(600);
      const cut = intercept(client, INDEX_PRUNE, 'crash');
      const moved = await doomed.apply(id, [set(['user'], { id: 'uma' })], withUser);
      await cut.reached;
      assert.is(moved.version, 2, 'the apply landed');
      assert.equal(await raw.zrange(`${prefix}u:{vera}`, 0, -1), [id], 'still in the old index');
      assert.equal(await sync.sessionsOf('vera'), [], 'but never listed there');
      assert.equal(
        (await sync.sessionsOf('uma')).map((x) => x.id),
        [id],
      );
      assert.is(await sync.destroyUser('vera'), 0);
      assert.is((await healthy.get(id))?.version, 2, "vera's log-out leaves uma's session alone");
      assert.is(await sync.destroyUser('uma'), 1);
      assert.is(await healthy.get(id), undefined);
    } finally {
      await doomed.close();
      await sync.close();
      await healthy.close();
      raw.disconnect();
    }
  });

  crash.after.each(disconnectAll);
  crash.run();

  // ---

  const race = suite(`${label}: a read racing an apply on its way never prunes what the apply needs`);

  race.after.each(disconnectAll);
  race.after(async () => {
    if (backend) await (await backend).stop();
  });

  race('a read between the index add and the apply keeps the member; the apply then lands and is listed', async () => {
    const prefix = `ur${randomBytes(3).toString('hex')}:`;
    const reader = await store({ prefix });
    const client = (await ready()).client();
    const writer = await store({ prefix, client });
    try {
      const id = newId();
      await reader.apply(id, [set(['user'], { id: 'vera' })], withUser);
      const held = intercept(client, APPLY, 'hold');
      const moving = writer.apply(id, [set(['user'], { id: 'uma' })], withUser);
      await held.reached;
      // Added to uma's index, still naming vera: a reader sees it as not uma's, and must not prune it.
      assert.equal(await reader.sessionsOf('uma'), []);
      held.release();
      assert.is((await moving).version, 2);
      assert.equal(
        (await reader.sessionsOf('uma')).map((x) => x.id),
        [id],
      );
    } finally {
      await Promise.all([reader.close(), writer.close()]);
    }
  });

  race('an apply that would land too long after its index add is refused by the script, never stored', async () => {
    const prefix = `ul${randomBytes(3).toString('hex')}:`;
    const reader = await store({ prefix });
    const client = (await ready()).client();
    // timeout 100 ms: an apply must land within 2 × 100 ms of its index add.
    const writer = await store({ prefix, client, timeout: 100 });
    try {
      const id = newId();
      await reader.apply(id, [set(['user'], { id: 'vera' })], withUser);
      const held = intercept(client, APPLY, 'hold');
      const late = rejection(writer.apply(id, [set(['user'], { id: 'uma' })], withUser));
      await held.reached;
      assert.is(((await late) as SessionSyncError).code, 'store_unavailable', 'the writer gave up');
      await sleep(300);
      held.release(); // the stalled command reaches Redis now, past its limit
      await sleep(100);
      const now = await reader.get(id);
      assert.is(now?.version, 1);
      assert.is(now?.user, 'vera');
    } finally {
      await Promise.all([reader.close(), writer.close()]);
    }
  });

  race.run();
}
