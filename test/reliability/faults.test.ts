/**
 * Faults: a socket dropped mid-mutation (the retry with the same id is applied exactly once),
 * Redis restarted under load with AOF on (no acknowledged write lost, clients resync, no crash),
 * one of two app nodes SIGKILLed under load (its clients move to the other and converge), and the
 * MemoryStore `max` bound under a flood of new writing visitors (bounded, oldest idle evicted).
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore } from '../../src/server/index.js';
import { PROTOCOL_VERSION, type JsonObject } from '../../src/shared/index.js';
import {
  heapAfterGc,
  inBatches,
  Load,
  mb,
  randomText,
  sleep,
  SOAK,
  startLocal,
  startNode,
  until,
  type AppNode,
  type LocalServer,
} from '../support/load.js';
import { startRedis, type TestRedis } from '../support/redis.js';

// ---

const drop = suite<{ t: LocalServer }>(
  'a socket dropped mid-mutation: the retry with the same id is applied exactly once',
);

drop.before(async (ctx) => {
  ctx.t = await startLocal({ clientWritable: ['prefs', 'draft'] });
});
drop.after(async ({ t }) => t.close());

// Closes the TCP connection under the client at once, the way a network failure does: whatever
// was written is on its way (or not), and no ack will come back on this connection.
function cut(socket: Socket): void {
  (socket.io.engine as unknown as { transport: { ws: { terminate(): void } } }).transport.ws.terminate();
}

drop(
  'cut before the emit, right after it, after a tick or after 1 ms: the retry lands once, or gets the first answer',
  async ({ t }) => {
    const started = Date.now();
    const runs = SOAK ? 200 : 40;
    const v = t.visitor();
    await v.http('/w', { key: 'start', value: 1 });
    const id = v.id;
    const applied = new Map<string, number[]>(); // mutation id → versions of the changes it made
    t.sync.on('change', (sid, change) => {
      if (sid === id && change.mutation)
        applied.set(change.mutation, [...(applied.get(change.mutation) ?? []), change.version]);
    });
    const socket = connectClient(t.url, {
      transports: ['websocket'],
      reconnectionDelay: 20,
      reconnectionDelayMax: 50,
      extraHeaders: { cookie: v.jar.header },
    });
    const outcomes = { ackLostThenDeduped: 0, neverArrivedThenApplied: 0, ackedBeforeTheDrop: 0 };
    // Counted by events: the reconnect can be quicker than any polling of `connected`.
    let connects = 0;
    socket.on('connect', () => connects++);
    try {
      await until(() => connects === 1, 10_000, 'the first connect');
      for (let i = 0; i < runs; i++) {
        const mutation = `drop-${i}-${randomText(6)}`;
        const message = { mutation, base: 0, ops: [{ op: 'set', path: ['draft', 'v'], value: i }] };
        let firstAck: { ok: boolean; version?: number } | undefined;
        const seen = connects;
        // Four timings: the connection cut just before the emit (the write is lost on the way),
        // right after it, after a tick, after 1 ms (the ack is lost, or arrives).
        if (i % 4 === 0) cut(socket);
        socket.emit('session:mutate', message, (answer: { ok: boolean; version?: number }) => (firstAck = answer));
        if (i % 4 === 2) await new Promise((r) => setImmediate(r));
        if (i % 4 === 3) await sleep(1);
        if (i % 4 !== 0) cut(socket);
        await until(() => connects > seen && socket.connected, 10_000, 'the reconnect after the drop');
        const hello = await socket.timeout(10_000).emitWithAck('session:hello', { protocol: PROTOCOL_VERSION });
        assert.ok(hello.ok, 'hello after the reconnect');
        await t.sync.core.settle();
        const before = applied.get(mutation)?.length ?? 0;
        // Another writer changes the same path while the client is away: a second application of
        // the retried write would put `i` back and bump the version.
        await t.sync.update(id, [{ op: 'set', path: ['draft', 'v'], value: `other-${i}` }]);
        const retry = await socket.timeout(10_000).emitWithAck('session:mutate', message);
        assert.ok(retry.ok, `the retry of ${mutation} is accepted`);
        const versions = applied.get(mutation) ?? [];
        assert.is(versions.length, 1, `${mutation} was applied exactly once (${versions.length})`);
        assert.is(retry.version, versions[0], 'the retry gets the version of the one application');
        const stored = (await t.sync.get(id))!;
        assert.is((stored.data.draft as JsonObject).v, before ? `other-${i}` : i, 'the value shows one application');
        if (firstAck) outcomes.ackedBeforeTheDrop++;
        else if (before) outcomes.ackLostThenDeduped++;
        else outcomes.neverArrivedThenApplied++;
      }
      // Every version is accounted for: the first write, one per mutation, one per other write.
      const stored = (await t.sync.get(id))!;
      assert.is(stored.version, 1 + runs + runs);
      console.log(
        `  reliability/faults (${((Date.now() - started) / 1000).toFixed(1)} s): ${runs} dropped mutations, each applied exactly once: ${JSON.stringify(outcomes)}`,
      );
      assert.ok(outcomes.ackLostThenDeduped > 0, 'at least one drop lost the ack of an applied write');
      assert.ok(
        outcomes.neverArrivedThenApplied > 0,
        'at least one write was lost on the way and applied by its retry',
      );
    } finally {
      socket.close();
    }
  },
);

drop.run();

// ---

const restart = suite<{ redis: TestRedis; node: AppNode; canary: string }>('Redis restarted under load with AOF on');

restart.before(async (ctx) => {
  ctx.redis = await startRedis({ appendonly: true });
  ctx.canary = `canary-${randomText()}`;
  ctx.node = await startNode({ secret: randomText(24), canary: ctx.canary, redis: ctx.redis.url });
});
restart.after(async ({ node, redis }) => {
  await node?.close();
  await redis?.stop();
});

restart(
  'no acknowledged write lost, every socket resyncs with its next hello, the node keeps serving',
  async ({ redis, node }) => {
    const started = Date.now();
    const load = new Load({ rate: 150, concurrency: 60 });
    await load.open(node, 40, 3);
    let restarted = 0;
    let outage = 0;
    await load.drive(SOAK ? 20_000 : 6000, async (elapsed) => {
      if (restarted === 0 && elapsed > 2500) {
        restarted = 1;
        const t0 = Date.now();
        // SIGKILL, a second of outage, then the same port and the same AOF.
        await redis.stop();
        await sleep(1000);
        await redis.restart();
        outage = Date.now() - t0;
      }
    });
    await load.settle();
    // A browser says hello on every reconnect and after any gap; here every socket does once more.
    await load.resync();
    const figures = await load.verify(node);
    const stats = await node.stats();
    assert.equal(stats.problems, [], 'no unhandled rejection or crash in the node');
    assert.is(stats.sockets, load.clients.length, 'no socket was dropped by the outage');
    const route = await load.visitors[0]!.http('/get/session');
    assert.is(route.status, 200, 'the node still serves');
    const failed = load.failed.http + load.failed.socket + load.failed.mutate + load.failed.secret;
    console.log(
      `  reliability/faults (${((Date.now() - started) / 1000).toFixed(1)} s): Redis (AOF, fsync always) SIGKILLed under load, restarted after ${outage} ms: ` +
        `${figures.acked} acked writes all present after the restart, ${failed} writes refused during the outage ` +
        `(${[...new Set(load.failures.map((f) => f.replace(/\d+/g, 'N')))].slice(0, 3).join(' | ')}), ` +
        `${figures.sockets} sockets resynced and converged`,
    );
    load.close();
  },
);

restart.run();

// ---

const failover = suite<{ redis: TestRedis; a: AppNode; b: AppNode }>('one of two app nodes killed under load');

failover.before(async (ctx) => {
  ctx.redis = await startRedis();
  const secret = randomText(24);
  const canary = `canary-${randomText()}`;
  [ctx.a, ctx.b] = await Promise.all([
    startNode({ secret, canary, redis: ctx.redis.url }),
    startNode({ secret, canary, redis: ctx.redis.url }),
  ]);
});
failover.after(async ({ a, b, redis }) => {
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
});

failover(
  'node A SIGKILLed: its visitors move to node B with their cookies, resume, and every mirror converges',
  async ({ a, b }) => {
    const started = Date.now();
    const load = new Load({ rate: 150, concurrency: 60 });
    // Half the visitors talk HTTP to A, half to B; sockets alternate between the nodes, so patches
    // also cross nodes through Redis.
    await load.open(
      (i) => (i % 2 ? b : a),
      40,
      4,
      (i, j) => ((i + j) % 2 ? b : a),
    );
    let moved = 0;
    await load.drive(SOAK ? 20_000 : 6000, async (elapsed) => {
      if (moved === 0 && elapsed > 2500) {
        moved = -1;
        await a.kill();
        // What a browser does when its server is gone: the next request goes elsewhere (a load
        // balancer), and the socket reconnects there with the same cookie, says hello with the
        // version it holds and replays its unacknowledged writes with their ids.
        for (const v of load.visitors) if (v.base === a.url) v.base = b.url;
        const orphans = load.clients.filter((c) => c.node === a.url);
        await until(() => orphans.every((c) => !c.connected), 10_000, "A's sockets to notice");
        await inBatches(orphans, 40, (c) => c.connect(b.url));
        moved = orphans.length;
      }
    });
    await load.settle();
    const figures = await load.verify(b);
    const stats = await b.stats();
    assert.equal(stats.problems, [], 'no unhandled rejection or crash in node B');
    assert.is(stats.sockets, load.clients.length, 'every socket is on node B now');
    assert.ok(moved > 0);
    const failed = load.failed.http + load.failed.socket + load.failed.mutate + load.failed.secret;
    console.log(
      `  reliability/faults (${((Date.now() - started) / 1000).toFixed(1)} s): node A SIGKILLed under load: ${moved} sockets moved to node B, ${figures.acked} acked writes present, ` +
        `${failed} writes lost with A before their ack (never acknowledged), ${figures.sockets} mirrors converged`,
    );
    load.close();
  },
);

failover.run();

// ---

const flood = suite<{ t: LocalServer; store: MemoryStore; ends: Map<string, string> }>(
  'MemoryStore max under a flood of new writing visitors',
);

const MAX = 200;

flood.before(async (ctx) => {
  ctx.store = new MemoryStore({ max: MAX });
  ctx.t = await startLocal({ store: ctx.store });
  ctx.ends = new Map();
  ctx.t.sync.on('end', (id, reason) => ctx.ends.set(id, reason));
});
flood.after(async ({ t }) => t.close());

flood(
  'the count never passes max, memory stays flat, the longest-idle go first and their sockets are told',
  async ({ t, store, ends }) => {
    const started = Date.now();
    const rounds = SOAK ? 30 : 6;
    const pad = 'x'.repeat(32_768); // 32 KB per session, so a leak of evicted sessions shows in the heap
    const heap = heapAfterGc();
    // Ids in the order their first write landed, as the store saw it (writes go 10 at a time).
    const order: string[] = [];
    t.sync.on('change', (id, change) => {
      if (change.version === 1) order.push(id);
    });
    let over = 0;
    const write = async (v: ReturnType<LocalServer['visitor']>, value: unknown): Promise<void> => {
      const res = await v.http('/w', { key: 'pad', value });
      assert.is(res.status, 200, JSON.stringify(res.body));
      if (store.size > MAX) over++;
    };

    // Early visitors with an open socket each: they will be the longest idle.
    const early = Array.from({ length: 20 }, () => t.visitor());
    const ended = new Map<string, string[]>();
    const sockets: Socket[] = [];
    for (const v of early) {
      await write(v, pad);
      const socket = connectClient(t.url, {
        transports: ['websocket'],
        reconnection: false,
        extraHeaders: { cookie: v.jar.header },
      });
      socket.on('session:ended', (m: { reason: string }) => ended.set(v.id, [...(ended.get(v.id) ?? []), m.reason]));
      sockets.push(socket);
      await until(() => socket.connected, 10_000, 'an early socket to connect');
    }
    // Active visitors keep writing while the flood goes on: never the longest idle.
    const active = Array.from({ length: 10 }, () => t.visitor());
    for (const v of active) await write(v, 0);

    let heapAt2 = 0;
    let created = early.length + active.length;
    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < MAX; i += 10) {
        await Promise.all(Array.from({ length: 10 }, () => write(t.visitor(), pad)));
        created += 10;
        if (i % 50 === 0) await Promise.all(active.map((a) => write(a, round * MAX + i)));
      }
      if (round === 2) heapAt2 = await heap();
    }
    const heapAtEnd = await heap();

    assert.is(over, 0, 'the store never held more than max sessions');
    assert.is(store.size, MAX);
    const evicted = [...ends].filter(([, reason]) => reason === 'evicted').map(([id]) => id);
    assert.is(evicted.length, created - MAX, 'one eviction per session past max');
    for (const v of active) assert.ok(!ends.has(v.id), 'an active visitor is never evicted');
    // Idle visitors go in the order they were last active: the evicted are exactly the oldest.
    const activeIds = new Set(active.map((v) => v.id));
    const idle = order.filter((id) => !activeIds.has(id));
    const idleSurvivors = MAX - active.length;
    assert.equal(evicted, idle.slice(0, idle.length - idleSurvivors), 'the longest-idle were evicted, oldest first');
    for (const id of idle.slice(-idleSurvivors)) assert.ok((await t.sync.get(id)) !== undefined);

    await until(() => sockets.every((s) => !s.connected), 10_000, 'the evicted sockets to be disconnected');
    for (const v of early)
      assert.equal(ended.get(v.id), ['evicted'], 'each early socket was told once, with the reason');

    // An evicted visitor's cookie holds no data; its next write starts a new record under that id.
    const back = early[0]!;
    const route = await back.http('/get/session');
    assert.equal([route.body.version, route.body.data], [0, {}]);
    await write(back, 'again');
    assert.is((await t.sync.get(back.id))!.version, 1);

    const growth = heapAtEnd - heapAt2;
    const unbounded = (rounds - 2) * MAX * pad.length;
    console.log(
      `  reliability/faults (${((Date.now() - started) / 1000).toFixed(1)} s): MemoryStore max ${MAX}, ${created} writing visitors: size never above max, ${evicted.length} evicted oldest-first, ` +
        `${early.length} sockets told 'evicted'; heap after ${2 * MAX} new visitors ${mb(heapAt2)}, after ${rounds * MAX} ${mb(heapAtEnd)} ` +
        `(growth ${mb(growth)}; without the bound the padding alone would add ${mb(unbounded)})`,
    );
    assert.ok(
      growth < unbounded / 4,
      `heap growth ${mb(growth)} stays far below the ${mb(unbounded)} an unbounded store would hold`,
    );
    for (const s of sockets) s.close();
  },
);

flood.run();
