// What the load side asks a bench server about itself, outside every session middleware:
// GET /__stats answers this process's CPU time, the requests it has served, the event loop's
// busy/idle time and a monotonic clock (the one `--cpu-prof` timestamps use), so the caller
// can divide CPU by requests over exactly the window it measured. With BENCH_HEAP_SAMPLING=1,
// POST /__heap/start and /__heap/stop run V8's sampling heap profiler over a window, counting
// the objects garbage-collected meanwhile too (node --heap-prof keeps only the survivors).
import { performance } from 'node:perf_hooks';

/**
 * Mounts the probe routes on `app` (call before any session middleware) and counts the
 * requests `server` serves, the probes left out.
 *
 * @param app - the Express app
 * @returns attach(server): starts counting once the server exists
 */
export function probe(app) {
  let served = 0;
  app.get('/__stats', (req, res) => {
    const cpu = process.cpuUsage();
    const elu = performance.eventLoopUtilization();
    res.json({
      cpuMicros: cpu.user + cpu.system,
      userMicros: cpu.user,
      systemMicros: cpu.system,
      served,
      hrMicros: Number(process.hrtime.bigint() / 1000n),
      uptimeMs: performance.now(),
      eluIdleMs: elu.idle,
      eluActiveMs: elu.active,
    });
  });
  if (process.env.BENCH_HEAP_SAMPLING) heapRoutes(app);
  return (server) => server.on('request', (req) => req.url.startsWith('/__') || served++);
}

function heapRoutes(app) {
  let session;
  app.post('/__heap/start', async (req, res) => {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: Number(req.query.interval ?? 4096),
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    res.send('ok');
  });
  app.post('/__heap/stop', async (req, res) => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    res.json(profile);
  });
}
