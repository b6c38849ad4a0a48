import { io } from 'socket.io-client';
import {
  applyOps,
  assertJson,
  cloneJson,
  covers,
  diff,
  getIn,
  isPlainObject,
  parseEnded,
  parseHelloAckShape,
  parseMutateAck,
  parsePatchShape,
  PROTOCOL_VERSION,
  SessionSyncError,
  toPath,
  type JsonObject,
  type Op,
  type PatchMessage,
} from '../shared/index.js';
import { readOptions, toSnapshot } from './options.js';
import { newMutationId, openOutbox, type Entry } from './outbox.js';
import { share } from './share.js';
import { openStorage } from './storage.js';
import { openTabs } from './tabs.js';
import type { Session, SessionEvents, SessionOptions, Snapshot, Status, SyncSocket } from './types.js';

let warned = false;
const warn = (why?: unknown): void => {
  if (!warned) console.warn('session-sync: no usable IndexedDB; the session is kept in memory only', why ?? '');
  warned = true;
};
const settled = <V>(value: V | Error): Promise<V> => {
  const p = value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  // Reported through 'error' too: a fire-and-forget write must not be an unhandled rejection.
  p.catch(() => {});
  return p;
};
const ended = (): SessionSyncError => new SessionSyncError('ended', 'session-sync: the session ended');
const EMPTY: Snapshot = { version: 0, tag: null, data: {} };
const MAX_DELAY = 5000;

/**
 * Creates a live mirror of the visitor's session: shown from the IndexedDB cache at once,
 * refreshed over HTTP, then kept live over Socket.IO; writes are optimistic and survive
 * reloads and offline periods.
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
export function createSession<T extends JsonObject = JsonObject>(options: SessionOptions<T> = {}): Session<T> {
  const o = readOptions(options);
  if (o.cache && !o.indexedDB) warn();
  const storage = openStorage(o.cache ? o.indexedDB : null, o.timeout, warn);
  const snapKey = `${o.name}|snap`;
  const outbox = openOutbox(storage, `${o.name}|out`);
  const handlers: { [E in keyof SessionEvents<T>]: Set<(arg: never) => void> } = {
    change: new Set(),
    status: new Set(),
    error: new Set(),
    ended: new Set(),
    pending: new Set(),
  };
  const waiters = new Map<string, [(version: number) => void, (err: Error) => void]>();
  let status: Status = 'loading';
  let server: Snapshot = o.initial ?? EMPTY;
  let visible: JsonObject = server.data;
  let pending: Entry[] = [];
  let known = !!o.initial; // data reached (ready resolved)
  let complete = known; // server.data is all the server exposes (not a cache with exclusions)
  let live = false; // the server answered hello on this connection
  let syncing = false; // a hello is in flight
  let gotten = false; // a GET succeeded
  let over = false; // 'ended'
  let closed = false;
  let renewing = false; // regenerated: a new tag is expected
  let behind = 0; // the newest version seen in a patch that could not apply
  let unacked = 0; // the last count told to 'pending' listeners
  let socket: SyncSocket | undefined;
  let getTimer: ReturnType<typeof setTimeout> | undefined;
  let socketTimer: ReturnType<typeof setTimeout> | undefined;
  let getDelay = 250;
  let socketDelay = 250;
  let markReady: (data: T) => void;
  const ready = new Promise<T>((resolve) => (markReady = resolve));
  if (known) {
    status = 'cached';
    markReady!(visible as T);
  }

  const emit = <E extends keyof SessionEvents<T>>(event: E, arg: Parameters<SessionEvents<T>[E]>[0]): void => {
    for (const fn of [...handlers[event]]) {
      try {
        (fn as (a: typeof arg) => void)(arg);
      } catch (err) {
        // A listener's bug must not leave the mirror half-updated; report it like the page would.
        setTimeout(() => {
          throw err;
        });
      }
    }
  };
  const on = <E extends keyof SessionEvents<T>>(event: E, fn: SessionEvents<T>[E]): (() => void) => {
    handlers[event].add(fn);
    return () => void handlers[event].delete(fn);
  };
  const setStatus = (next: Status): void => {
    if (next !== status && !closed) emit('status', (status = next));
  };
  const settle = (id: string, result: number | Error): void => {
    const waiter = waiters.get(id);
    waiters.delete(id);
    if (typeof result === 'number') waiter?.[0](result);
    else waiter?.[1](result);
  };
  const waiting = (): number => pending.filter((entry) => entry.acked === undefined).length;
  const refuse = (entry: Entry, err: SessionSyncError): void => {
    outbox.remove([entry.id]);
    settle(entry.id, err);
    emit('error', err);
  };

  // Visible = server state + pending writes re-applied; a write that no longer applies is dropped.
  function show(): void {
    let data = server.data;
    pending = pending.filter((entry) => {
      try {
        data = applyOps(data, entry.ops).data;
        return true;
      } catch (err) {
        refuse(entry, err as SessionSyncError);
        return false;
      }
    });
    const next = share(visible, data);
    if (next !== visible) emit('change', (visible = next) as T);
    const count = waiting();
    if (count !== unacked) emit('pending', (unacked = count));
    if (known) markReady(visible as T);
  }

  // Drops the pending writes the server state now holds: the one a patch names, and those
  // acknowledged at or below the version reached.
  function confirm(mutation?: string, version = server.version): void {
    const done: string[] = [];
    pending = pending.filter((entry) => {
      if (entry.id !== mutation && !((entry.acked ?? Infinity) <= server.version)) return true;
      done.push(entry.id);
      settle(entry.id, version);
      return false;
    });
    if (done.length) outbox.remove(done);
  }

  // A new server state of our own: cache it (minus excluded paths), tell the other tabs, show it.
  function commit(): void {
    let data = server.data;
    for (const path of o.exclude) {
      try {
        data = applyOps(data, [{ op: 'del', path }]).data;
      } catch {
        // the path runs through an array or a primitive: nothing is stored there
      }
    }
    storage.set(snapKey, { ...server, data, at: Date.now(), full: data === server.data });
    tabs.post(server);
    show();
  }

  // Takes a whole server state: a tag where there was none is adoption, another tag another session.
  function adopt(snapshot: Snapshot, full: boolean, fromServer?: boolean): void {
    const { version, tag, data } = snapshot;
    if (server.tag !== null && tag !== server.tag && !renewing) {
      // Another person signed in meanwhile: never replay one person's writes into another's session.
      for (const entry of pending) settle(entry.id, ended());
      pending = [];
      outbox.remove();
    } else if (tag === server.tag && complete && version <= server.version) return;
    // Acknowledged writes are in the server's data; their versions mean nothing under a new tag.
    if (tag !== server.tag) pending = pending.filter((entry) => entry.acked === undefined);
    server = { version, tag, data };
    complete = full;
    known = true;
    if (status === 'loading') setStatus('cached');
    confirm();
    if (fromServer)
      commit(); // not the cache's or a tab's: stored and posted already
    else show();
  }

  const tabs = openTabs(o.channel, (snapshot) => {
    if (snapshot.tag === server.tag && snapshot.version > server.version && !over) adopt(snapshot, true);
  });

  // Applies one patch; false on a gap (or a patch that does not apply): resync, never a wrong merge.
  function applyPatch(patch: PatchMessage): boolean {
    if (patch.version <= server.version) {
      confirm(patch.mutation, patch.version);
      return true;
    }
    if (patch.base !== server.version || !complete) return false;
    try {
      server = { ...server, version: patch.version, data: applyOps(server.data, patch.ops).data };
    } catch {
      return false;
    }
    confirm(patch.mutation);
    return true;
  }

  function onPatch(raw: unknown): void {
    const parsed = parsePatchShape(raw);
    if (!parsed.ok) return o.log('bad patch', parsed.message);
    if (over) return;
    const before = server.version;
    if (!applyPatch(parsed.value)) {
      behind = Math.max(behind, parsed.value.version);
      hello();
    } else if (server.version !== before) commit();
    else show();
  }

  function hello(): void {
    if (!socket?.connected || syncing || over) return;
    syncing = true;
    // Without a version the server answers with the whole state (JSON drops the undefined).
    socket.emit(
      'session:hello',
      { protocol: PROTOCOL_VERSION, tag: server.tag, version: complete ? server.version : undefined },
      onHello,
    );
  }

  function onHello(raw: unknown): void {
    syncing = false;
    const parsed = parseHelloAckShape(raw);
    if (!parsed.ok) return o.log('bad hello ack', parsed.message);
    const ack = parsed.value;
    if (closed || over) return;
    if (!ack.ok) {
      if (status !== 'error') emit('error', new SessionSyncError(ack.code, ack.message));
      setStatus('error');
      return later(hello);
    }
    if ('data' in ack) adopt(ack, true, true);
    else if (
      ack.tag !== server.tag ||
      ('patches' in ack ? !ack.patches.every(applyPatch) : ack.version > server.version)
    ) {
      complete = false; // ask for the whole state
      return hello();
    } else commit();
    renewing = false;
    live = true;
    socketDelay = 250;
    setStatus('live');
    for (const entry of pending) if (entry.acked === undefined) send(entry);
    // A patch dropped while this hello was in flight may be newer than its answer.
    if (behind > server.version) hello();
    behind = 0;
  }

  const send = (entry: Entry): void => {
    socket!.emit('session:mutate', { mutation: entry.id, base: server.version, ops: entry.ops }, (raw: unknown) => {
      const parsed = parseMutateAck(raw);
      if (!parsed.ok) return o.log('bad mutate ack', parsed.message);
      const ack = parsed.value;
      // Confirmed by its patch already, or dropped by an end or a switch of session.
      if (!pending.includes(entry)) return;
      if (!ack.ok) {
        pending = pending.filter((e) => e !== entry);
        refuse(entry, new SessionSyncError(ack.code, ack.message));
      } else {
        settle(entry.id, ack.version);
        outbox.remove([entry.id]);
        // Stays shown until the patch (or a snapshot) brings the server state to that version.
        entry.acked = ack.version;
        confirm();
      }
      show();
    });
  };

  function write(ops: Op[]): Promise<number> {
    if (over) return settled<number>(ended());
    if (o.socket === false) {
      return settled<number>(new SessionSyncError('forbidden', 'session-sync: read-only (socket: false)'));
    }
    applyOps(visible, ops); // throws now for a path through an array or a primitive
    const entry: Entry = { id: newMutationId(), ops };
    const done = new Promise<number>((resolve, reject) => waiters.set(entry.id, [resolve, reject]));
    done.catch(() => {}); // see settled()
    pending.push(entry);
    // Sensitive paths stay out of IndexedDB, pending writes included.
    if (!ops.some((op) => o.exclude.some((x) => covers(x, op.path) || covers(op.path, x)))) outbox.add(entry);
    show();
    if (live) send(entry);
    return done;
  }

  function stop(): void {
    clearTimeout(getTimer);
    clearTimeout(socketTimer);
  }

  function later(fn: () => void): void {
    clearTimeout(socketTimer);
    socketTimer = setTimeout(fn, socketDelay);
    socketDelay = Math.min(socketDelay * 2, MAX_DELAY);
  }

  async function load(): Promise<void> {
    clearTimeout(getTimer);
    const headers: Record<string, string> = { 'X-Session-Sync': '1' };
    if (complete && server.tag) headers['If-None-Match'] = `"${server.tag}:${server.version}"`;
    try {
      const res = await o.fetch(o.routeUrl, { credentials: 'include', headers });
      const snapshot = res.status === 304 || (res.ok && toSnapshot(await res.json()));
      if (!snapshot) throw new Error(`GET answered ${res.status}`);
      if (closed || over) return;
      if (snapshot !== true) adopt(snapshot, true, true);
      gotten = true;
      getDelay = 250;
      if (!live && !renewing) setStatus(o.socket === false ? 'live' : 'cached');
    } catch (err) {
      o.log('GET failed', err);
      // While the socket is live it carries the data: the next connect retries the GET.
      if (closed || over || live) return;
      if (!renewing) setStatus('offline');
      getTimer = setTimeout(load, getDelay);
      getDelay = Math.min(getDelay * 2, MAX_DELAY);
    }
  }

  const onConnect = (): void => {
    clearTimeout(socketTimer);
    if (!gotten) load();
    hello();
  };
  const onDisconnect = (reason: string): void => {
    live = syncing = false;
    if (closed || over || renewing) return;
    setStatus('offline');
    // Socket.IO gives up after a server-side disconnect (a deploy, a restart): we do not.
    if (reason === 'io server disconnect') later(connect);
  };
  const onConnectError = (err: Error): void => {
    live = false;
    o.log('connect failed', err);
    if (closed || over) return;
    if (socket!.active) return renewing ? undefined : setStatus('offline');
    // A middleware refused the handshake; Socket.IO will not retry that by itself.
    setStatus('error');
    later(connect);
  };
  const onEnded = (raw: unknown): void => {
    const parsed = parseEnded(raw);
    if (!parsed.ok) return o.log('bad ended', parsed.message);
    if (parsed.value.reason === 'regenerated') renew();
    else end(parsed.value.reason);
  };
  const listeners = [
    ['connect', onConnect],
    ['disconnect', onDisconnect],
    ['connect_error', onConnectError],
    ['session:patch', onPatch],
    ['session:ended', onEnded],
  ] as const;

  function connect(): void {
    if (closed || over || o.socket === false) return;
    if (!socket) {
      socket = o.socket || (io(o.url!, { withCredentials: true, autoConnect: false }) as SyncSocket);
      for (const [event, fn] of listeners) socket.on(event, fn as never);
      if (socket.connected) onConnect();
    }
    if (!socket.active) socket.connect();
  }

  async function renew(): Promise<void> {
    const old = server.tag;
    renewing = true;
    // The server tells the old id's sockets once the response with the new cookie finished;
    // the browser may still be storing that cookie, so look a few times.
    for (let i = 1; i < 6 && !closed; i++) {
      await load();
      if (server.tag !== old) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * i));
    }
    // The handshake must carry the new cookie: a fresh connection, not the old one.
    if (!closed) socket?.disconnect().connect();
  }

  async function end(reason: string): Promise<void> {
    over = true;
    live = false;
    stop();
    for (const entry of pending) settle(entry.id, ended());
    pending = [];
    server = EMPTY;
    complete = false;
    show();
    await Promise.all([storage.set(snapKey, undefined), outbox.remove()]);
    if (!over) return; // refresh() came first
    setStatus('ended');
    emit('ended', reason);
  }

  async function refresh(): Promise<void> {
    if (closed) return;
    over = false;
    await load();
    connect();
    hello();
  }

  // Start: cache at once, then the GET, then (answered or failed) the socket.
  (async () => {
    const [saved, entries] = await Promise.all([storage.get<{ at?: number; full?: boolean }>(snapKey), outbox.load()]);
    const cached = toSnapshot(saved);
    const owner = cached ? cached.tag : null;
    if (entries.length) {
      // Writes left by an earlier page belong to the tag cached beside them.
      if (owner !== null && server.tag !== null && owner !== server.tag) outbox.remove();
      else pending = [...entries, ...pending]; // writes made meanwhile were stored after this read
    }
    if (cached && !closed) {
      const fresh = Date.now() - (saved!.at ?? 0) <= o.maxAge;
      if (!known) {
        if (fresh) adopt(cached, saved!.full === true);
        else server = { ...EMPTY, tag: owner };
      } else if (fresh && saved!.full && cached.tag === server.tag && cached.version > server.version)
        adopt(cached, true);
    }
    show();
    await load();
    connect();
  })();

  return {
    get data() {
      return visible as T;
    },
    get status() {
      return status;
    },
    get version() {
      return server.version;
    },
    get tag() {
      return server.tag;
    },
    get pending() {
      return waiting();
    },
    get persistent() {
      return storage.persistent;
    },
    ready,
    getSnapshot: () => visible as T,
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
    update: (fn) => {
      const draft = cloneJson(visible) as T;
      const next = fn(draft) ?? draft;
      if (!isPlainObject(next)) throw new TypeError('session-sync: update() must leave an object');
      assertJson(next);
      const ops = diff(visible, next);
      return ops.length ? write(ops) : settled(server.version);
    },
    refresh,
    close: () => {
      closed = true;
      stop();
      tabs.close();
      storage.close();
      if (socket) for (const [event, fn] of listeners) socket.off(event, fn as never);
      if (!o.socket) socket?.disconnect();
    },
  };
}
