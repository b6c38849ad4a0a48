// Reading the profiles bench/profile.mjs collects: a .cpuprofile (node --cpu-prof) cut to the
// measured window, --trace-gc-nvp lines, and a sampling heap profile (collected objects
// included), each turned into per-request figures.

/** Who a frame belongs to: session-sync's bundle, a package, node's own JS, V8/C++ or a tag. */
export function ownerOf(frame) {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'gc';
  if (name === '(idle)') return 'idle';
  if (name === '(program)' || name === '(root)') return 'program';
  if (/[\\/]dist[\\/][^\\/]+\.(c?js)$/.test(url) && !url.includes('node_modules')) return 'session-sync';
  const packages = [...url.matchAll(/node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/g)];
  if (packages.length) return packages[packages.length - 1][1];
  if (url.startsWith('node:')) return 'node';
  if (!url) return 'native';
  if (url.includes('/bench/')) return 'bench';
  return 'other';
}

function where(frame) {
  const file = frame.url.replace(/^.*[\\/](node_modules|dist)[\\/]/, '$1/').replace(/^file:\/\//, '');
  return frame.url ? `${file}:${frame.lineNumber + 1}` : '';
}

/**
 * Self time per function and per owner over [fromMicros, toMicros] of a cpuprofile.
 *
 * @param profile - the parsed .cpuprofile
 * @param window - { fromMicros, toMicros } on the profile's clock (process.hrtime)
 * @returns { totalMicros, byOwner, byCause, functions: [{ key, name, owner, where, caller,
 *   micros }] } — byCause charges node's JS and native frames to their nearest other caller
 */
export function cpuWindow(profile, { fromMicros, toMicros }) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The nearest caller that is JavaScript with a file, to name who a native frame works for.
  const caller = (id) => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const owner = ownerOf(nodes.get(p).callFrame);
      if (!['native', 'program'].includes(owner))
        return `${owner}: ${nodes.get(p).callFrame.functionName || '(anonymous)'}`;
    }
    return '';
  };
  // Who caused a sample: the nearest frame that is not node's own JS or V8/C++ (the time
  // node spends in res.setHeader is charged to whoever called it). GC and idle stay apart.
  const causes = new Map();
  const causeOf = (id) => {
    if (causes.has(id)) return causes.get(id);
    const owner = ownerOf(nodes.get(id).callFrame);
    const p = parent.get(id);
    const result = !['node', 'native', 'program'].includes(owner) ? owner : p === undefined ? owner : causeOf(p);
    causes.set(id, result);
    return result;
  };
  const selfMicros = new Map();
  let t = profile.startTime;
  let totalMicros = 0;
  const byCause = {};
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < fromMicros || t > toMicros) continue;
    const id = profile.samples[i];
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
    totalMicros += delta;
    const cause = causeOf(id);
    byCause[cause] = (byCause[cause] ?? 0) + delta;
  }
  const functions = new Map();
  const byOwner = {};
  for (const [id, micros] of selfMicros) {
    const frame = nodes.get(id).callFrame;
    const owner = ownerOf(frame);
    byOwner[owner] = (byOwner[owner] ?? 0) + micros;
    const viaCaller = owner === 'native' ? caller(id) : '';
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}|${viaCaller}`;
    const f = functions.get(key) ?? {
      key,
      name: frame.functionName || '(anonymous)',
      owner,
      where: where(frame),
      caller: viaCaller,
      micros: 0,
    };
    f.micros += micros;
    functions.set(key, f);
  }
  return {
    totalMicros,
    byOwner,
    byCause,
    functions: [...functions.values()].sort((a, b) => b.micros - a.micros),
  };
}

/**
 * GC activity from --trace-gc-nvp output between two performance.now() marks.
 *
 * @returns { count, scavenges, markCompacts, pauseMs, allocatedBytes }
 */
export function gcWindow(text, { fromMs, toMs }) {
  const out = { count: 0, scavenges: 0, markCompacts: 0, pauseMs: 0, allocatedBytes: 0 };
  for (const line of text.split('\n')) {
    const m = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: pause=([\d.]+).* gc=(\w+)/.exec(line);
    if (!m || Number(m[1]) < fromMs || Number(m[1]) > toMs) continue;
    out.count++;
    if (m[3] === 's') out.scavenges++;
    else out.markCompacts++;
    out.pauseMs += Number(m[2]);
    out.allocatedBytes += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return out;
}

// A sample of V8's sampling heap profiler reports size × count, count being the scaled
// estimate 1 / (1 - e^(-size / interval)) rounded; recover the object size to count objects.
const objectSizes = new Map();
function objectSize(reported, interval) {
  const key = `${reported}/${interval}`;
  if (!objectSizes.has(key)) {
    let found = reported;
    for (let s = 8; s < reported; s += 8) {
      const count = Math.floor(1 / (1 - Math.exp(-s / interval)) + 0.5);
      if (s * count === reported) {
        found = s;
        break;
      }
    }
    objectSizes.set(key, found);
  }
  return objectSizes.get(key);
}

/**
 * Bytes and objects allocated (estimated) in a sampling heap profile, in all and per owner and
 * allocation site.
 *
 * @returns { bytes, objects, byOwner: { [owner]: { bytes, objects } }, sites: [...] }
 */
export function heapTotals(profile, interval) {
  const nodes = new Map();
  const walk = (n, parentId) => {
    nodes.set(n.id, { ...n, parentId });
    for (const c of n.children) walk(c, n.id);
  };
  walk(profile.head);
  const sites = new Map();
  const byOwner = {};
  let bytes = 0;
  let objects = 0;
  for (const sample of profile.samples) {
    const node = nodes.get(sample.nodeId);
    const n = sample.size / objectSize(sample.size, interval);
    const inner = node.callFrame;
    let frame = inner;
    let owner = ownerOf(frame);
    // Allocations in V8 builtins or natives are charged to the nearest JavaScript caller.
    for (let p = node; ['native', 'program'].includes(owner) && p.parentId !== undefined;) {
      p = nodes.get(p.parentId);
      if (!['native', 'program'].includes(ownerOf(p.callFrame))) {
        owner = ownerOf(p.callFrame);
        frame = p.callFrame;
      }
    }
    bytes += sample.size;
    objects += n;
    byOwner[owner] ??= { bytes: 0, objects: 0 };
    byOwner[owner].bytes += sample.size;
    byOwner[owner].objects += n;
    const key = `${owner}|${inner.functionName}|${frame.functionName}|${frame.url}|${frame.lineNumber}`;
    const name =
      inner === frame
        ? frame.functionName || '(anonymous)'
        : `${inner.functionName || '(anonymous)'} ← ${frame.functionName || '(anonymous)'}`;
    const site = sites.get(key) ?? { owner, name, where: where(frame), bytes: 0, objects: 0 };
    site.bytes += sample.size;
    site.objects += n;
    sites.set(key, site);
  }
  return { bytes, objects, byOwner, sites: [...sites.values()].sort((a, b) => b.bytes - a.bytes) };
}
