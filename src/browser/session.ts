import {
  applyOps,
  assertJson,
  cloneJson,
  diff,
  getIn,
  isPlainObject,
  parseMutateAck,
  SessionSyncError,
  toPath,
  type JsonObject,
  type Op,
  type PatchMessage,
} from '../shared/index.js';
import { deadline, openCache, resume } from './cache.js';
import { openConnection, type Answer } from './connection.js';
import { emitter } from './events.js';
import { carry, continues, draftOf, NOTHING, patched, rebase, type Held, type Write } from './mirror.js';
import { readOptions } from './options.js';
import { ended, openOutbox, settled } from './outbox.js';
import { statusOf } from './phase.js';
import { share } from './share.js';
import { openStorage, warn } from './storage.js';
import { openTabs } from './tabs.js';
import type { BrowserData, Session, SessionOptions, Status } from './types.js';

/**
 * Creates a live mirror of the visitor's session: shown from the IndexedDB cache at once,
 * refreshed over HTTP, then kept live over Socket.IO; writes are optimistic and survive
 * reloads and offline periods.
 *
 * Without a `window` (server rendering) it does no I/O at all: no socket, no storage, no
 * timers; `data` is `initial.data` (or `{}`), the status `'loading'`, writes are refused.
 *
 * @param options - see {@link SessionOptions}; all optional
 * @returns the mirror; every method works unbound
 * @throws TypeError naming the first bad option
 * @example
 * import { createSession } from 'session-sync/browser'
 * const session = createSession<{ prefs?: { theme?: string } }>({ url: 'https://app.example' })
 * session.subscribe((data) => render(data))
 * session.set('prefs.theme', 'dark').catch((err) => toast(err.message))
 */
export function createSession<T extends object = BrowserData>(options: SessionOptions<T> = {}): Session<T> {
  const o = readOptions(options);
  if (o.cache && !o.indexedDB && !o.server) warn();
  const storage = openStorage(o.cache && !o.server ? o.indexedDB : null, o.timeout, warn);
  const cache = openCache(storage, `${o.name}|session`, o.exclude);
  const { emit, on: listen } = emitter<T>();
  // On a server nothing ever changes, and a render that subscribes may never unsubscribe
  // (Vue's onScopeDispose does not run there): listeners are not kept at all.
  const on: typeof listen = o.server ? () => () => {} : listen;
  const outbox = openOutbox(cache, (err) => emit('error', err));
  const start = o.initial;
  let held: Held = start ? { ...start, full: true, until: deadline(start) } : NOTHING;
  let visible: JsonObject = held.data ?? {};
  let told: Status = start && !o.server ? 'cached' : 'loading';
  let unacked = 0;
  let markReady: (data: T) => void;
  const ready = new Promise<T>((resolve) => (markReady = resolve));
  const first = visible;
  if (start) markReady!(first as T);
  const name = () => connection.phase.phase;

  function tell(): void {
    const status = statusOf(name(), !!held.data, o.socket === false, told);
    if (status !== told) emit('status', (told = status));
  }

  // Visible = server state + pending writes re-applied; a write that no longer applies is dropped.
  function show(): void {
    const next = rebase(held.data ?? {}, outbox.list);
    for (const [w, err] of next.failed) outbox.drop([w], err);
    const data = share(visible, next.data);
    if (data !== visible) emit('change', (visible = data) as T);
    const count = outbox.waiting();
    if (count !== unacked) emit('pending', (unacked = count));
    if (held.data) markReady(visible as T);
    tell();
  }

  // A new server state of our own: cache it (minus excluded paths), tell the other tabs, show it.
  function commit(moving: boolean): void {
    cache.put(held, moving);
    tabs.post({ ...held, data: held.data!, expiresIn: held.until && held.until - Date.now() });
    show();
  }

  // Takes an answer about the session. The server is authoritative: a state that does not
  // continue the one held replaces it, writes of that other session included. Patches and
  // "unchanged" apply only to the state held; otherwise the whole state is needed (false).
  function take(s: Answer, asked: number, moving: boolean, store = true): boolean {
    const whole = (): boolean => !(held = { ...held, full: false });
    const same = continues(held, s, asked, moving);
    if (!('data' in s) && (s.tag !== held.tag || !same)) return whole();
    outbox.keep(carry(outbox.list, held, s, asked, moving));
    const until = deadline(s);
    if ('data' in s) {
      const { version, tag, epoch, data } = s;
      if (!same || tag !== held.tag || !held.full || version > held.version)
        held = { version, tag, epoch, data, full: true, until };
    } else if ('patches' in s) {
      for (const p of s.patches) if (!patch(p, false)) return whole();
    } else if (s.version > held.version) return whole();
    held = { ...held, epoch: s.epoch, until };
    outbox.confirm(held.version);
    if (store) commit(moving);
    else show();
    return true;
  }

  // Applies one patch; false on a gap (or a patch that does not apply): resync, never a wrong merge.
  function patch(p: PatchMessage, store = true): boolean {
    const next = patched(held, p);
    if (!next) return false;
    const moved = next !== held;
    held = next;
    outbox.confirm(held.version, p.mutation, moved ? held.version : p.version);
    // Inside a hello answer (store false) the answer is stored and shown once, at its end.
    if (store) moved ? commit(false) : show();
    return true;
  }

  // Another tab's news of this session: a newer version, or another record of its id (then
  // what is held belongs to a session that no longer exists). Other tags are its own business.
  const tabs = openTabs(!o.server && o.channel, (s) => {
    if (s.tag === held.tag && (s.version > held.version || s.epoch !== held.epoch) && name() !== 'ended')
      take(s, 0, false, false);
  });

  const connection = openConnection(o, {
    held: () => held,
    take,
    patch,
    live: () => outbox.list.forEach((w) => w.acked === undefined && send(w)),
    async wipe() {
      outbox.drop(outbox.list);
      held = { ...NOTHING, data: {} };
      show();
      await cache.remove();
    },
    phase(p) {
      tell();
      if (p.phase === 'ended') emit('ended', p.reason);
    },
    fail: (err) => emit('error', err),
  });

  function send(w: Write): void {
    connection.send({ mutation: w.id, base: held.version, ops: w.ops }, (raw) => {
      const parsed = parseMutateAck(raw);
      if (!parsed.ok || !outbox.list.some((x) => x.id === w.id)) return;
      const ack = parsed.value;
      if (ack.ok) {
        outbox.ack(w.id, ack.version);
        outbox.confirm(held.version);
      } else if (ack.code === 'ended') {
        // Not a rollback: after `regenerated` it is replayed into the new session, after any
        // other end it goes with the cache. The notice decides.
        return connection.doomed();
      } else outbox.drop([w], new SessionSyncError(ack.code, ack.message));
      show();
    });
  }

  function write(ops: Op[]): Promise<number> {
    if (name() === 'wiping' || name() === 'ended') return settled<number>(ended());
    if (o.socket === false || o.server) {
      return settled<number>(
        new SessionSyncError('forbidden', 'session-sync: read-only (socket: false, or on a server)'),
      );
    }
    applyOps(visible, ops); // throws now for a path through an array or a primitive
    // Sensitive paths stay out of IndexedDB, pending writes included: a write at, above or
    // below an excluded path (the shorter of the two starts the longer).
    const secret = ops.some((op) =>
      o.exclude.some((x) => x.every((key, i) => i >= op.path.length || key === op.path[i])),
    );
    const [w, done] = outbox.add(held, ops, !secret);
    show();
    if (name() === 'live') send(w);
    return done;
  }

  // Start: cache at once, then the GET, then (answered or failed) the socket.
  if (!o.server)
    (async () => {
      const saved = await cache.load();
      if (saved && name() !== 'closed') {
        const next = resume(saved, held, !!start, o.maxAge);
        held = next.held;
        if (!next.kept) start ? cache.put(held, false) : cache.remove();
        outbox.keep([...next.writes, ...outbox.list]); // writes made meanwhile were stored after this read
      }
      show();
      await connection.start();
    })();

  return {
    get data() {
      return visible as T;
    },
    get status() {
      return told;
    },
    get version() {
      return held.version;
    },
    get tag() {
      return held.tag;
    },
    get pending() {
      return outbox.waiting();
    },
    get persistent() {
      return storage.persistent;
    },
    ready,
    getSnapshot: () => visible as T,
    getServerSnapshot: () => first as T,
    get: (path) => getIn(visible, toPath(path)),
    subscribe: (fn) => (fn(visible as T), on('change', fn)),
    listen: (fn) => on('change', fn),
    on,
    set: (path, value) => {
      const keys = toPath(path);
      assertJson(value, keys);
      // A copy: the caller may change its object later, before the outbox stored it.
      return write([{ op: 'set', path: keys, value: cloneJson(value) }]);
    },
    delete: (path) => write([{ op: 'del', path: toPath(path) }]),
    // Throws now (invalid) for a step that is not a finite number, or a non-number at the path.
    increment: (path, by = 1) => write([{ op: 'inc', path: toPath(path), by }]),
    update: (fn) => {
      const draft = draftOf(visible) as T;
      const next = fn(draft) ?? draft;
      if (!isPlainObject(next)) throw new TypeError('session-sync: update() must leave an object');
      assertJson(next);
      const ops = diff(visible, next);
      return ops.length ? write(ops) : settled(held.version);
    },
    refresh: () => connection.refresh(),
    close: () => {
      connection.close();
      tabs.close();
      storage.close();
    },
  };
}
