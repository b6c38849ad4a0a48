/**
 * Load and convergence: 1,000 sockets over 200 sessions on loopback, written at the same time by
 * HTTP handlers, socket handlers and browser-style `session:mutate`, for 20 s (60 s with
 * SESSION_SYNC_SOAK=1). At the end every socket's mirror (hello snapshot + every patch in order)
 * has the store's version and data, the route agrees, no acknowledged write is missing, the
 * server-only canary never reached a visitor, and the server's heap after GC is back within 10%
 * of where it was before the load.
 *
 * The server runs in a child process (./support/app-node.ts, `--expose-gc`) so its heap is its
 * own and the clients run on the other core.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Capture, inBatches, Load, mb, randomText, SOAK, startNode, until, type AppNode } from '../support/load.js';

const SECONDS = SOAK ? 60 : 20;
const SESSIONS = 200;
const SOCKETS_PER_SESSION = 5;
const RATE = Number(process.env.SESSION_SYNC_LOAD_RATE) || 300;

const load = suite<{ node: AppNode; canary: string }>(
  'load: 1,000 sockets over 200 sessions with mixed writers converge',
);

load.before(async (ctx) => {
  ctx.canary = `canary-${randomText()}`;
  ctx.node = await startNode({ secret: randomText(24), canary: ctx.canary });
});

load.after(async ({ node }) => {
  await node?.close();
});

load(
  `${SECONDS} s of mixed writes: mirrors, route and store agree, no acked write lost, heap back after GC`,
  async ({ node, canary }) => {
    const capture = new Capture(canary);

    // Warm-up: the same shape of load for 5 s (lazy modules, JIT-compiled code, pools, table
    // capacity), then torn down, so the baseline is a server that has served this load before.
    // A cold baseline counts V8's optimized code for the hot paths as a leak (heap snapshots of
    // a cold baseline against the end show the difference is all code and deopt data).
    const warm = new Load({ rate: RATE, capture, concurrency: 150 });
    await warm.open(node, SESSIONS, SOCKETS_PER_SESSION);
    await warm.drive(5000);
    await warm.settle();
    await warm.verify(node);
    warm.close();
    await until(async () => (await node.stats()).sockets === 0, 30_000, 'the warm-up sockets to close');
    await inBatches(warm.visitors, 10, (v) => node.admin(`destroy/${v.id}`, 'POST'));
    const heapBefore = await node.heap();

    const run = new Load({ rate: RATE, capture, concurrency: 150 });
    const t0 = Date.now();
    await run.open(node, SESSIONS, SOCKETS_PER_SESSION);
    const openMs = Date.now() - t0;
    await run.drive(SECONDS * 1000);
    await run.settle();
    const figures = await run.verify(node);
    assert.equal(run.failures, [], 'no write failed under load');
    assert.is(run.clients.length, SESSIONS * SOCKETS_PER_SESSION);
    assert.equal(capture.hits, [], 'the server-only canary never reached a visitor');
    const stats = await node.stats();
    assert.equal(stats.problems, [], 'no unhandled rejection or uncaught exception in the server');

    run.close();
    await until(async () => (await node.stats()).sockets === 0, 30_000, 'every socket to close');
    const heapWithSessions = await node.heap();
    await inBatches(run.visitors, 25, (v) => node.admin(`destroy/${v.id}`, 'POST'));
    const heapAfter = await node.heap();

    const writes = run.acked.http + run.acked.socket + run.acked.mutate + run.acked.secret;
    console.log(
      `  reliability/load: ${figures.sessions} sessions, ${figures.sockets} sockets (opened in ${(openMs / 1000).toFixed(1)} s), ` +
        `${SECONDS} s, ${writes} acked writes (http ${run.acked.http}, socket handler ${run.acked.socket}, mutate ${run.acked.mutate}, ` +
        `server-only ${run.acked.secret}), ${figures.acked} acked keys checked, ${figures.patches} patches applied by mirrors, ` +
        `${figures.gaps} gaps; frames+bodies scanned ${capture.frames} (${mb(capture.bytes)}), canary hits ${capture.hits.length}; ` +
        `heap before ${mb(heapBefore)}, with the 200 sessions stored ${mb(heapWithSessions)}, after destroying them ${mb(heapAfter)} ` +
        `(${(((heapAfter - heapBefore) / heapBefore) * 100).toFixed(1)}%)`,
    );
    assert.ok(writes >= 1000, `the load wrote something substantial: ${writes} writes`);
    assert.ok(
      heapAfter <= heapBefore * 1.1,
      `heap after GC ${mb(heapAfter)} is within 10% of ${mb(heapBefore)} before the load`,
    );
  },
);

load.run();
