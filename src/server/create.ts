/**
 * `createSessionSync(options)`: one object that owns the store and hands out the Express
 * middleware, the Socket.IO middleware and the out-of-band API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject, type JsonObject, type Op, type SessionSnapshot } from '../shared/index.js';
import { Core, type SessionChange } from './engine/core.js';
import { checkDataKey } from './engine/data-key.js';
import { project } from './engine/policy.js';
import { withDefaults } from './engine/view.js';
import { createExpressSessionMiddleware } from './http/express-session.js';
import { createExpressMiddleware, handleOf, httpProbe } from './http/middleware.js';
import { routeBody } from './http/route.js';
import type { SessionSyncOptions } from './options.js';
import { resolveOptions } from './resolve-options.js';
import { attachToServer, createSocketMiddleware, socketProbe } from './socket/attach.js';
import { SocketSide } from './socket/side.js';
import { endedError } from './stores/common.js';
import { TIMES, type ApplyResult, type SessionStore, type WriteCondition } from './stores/store.js';
import { userSessions, type UserSessionInfo } from './engine/devices.js';
import type { EndReason } from '../shared/index.js';
import { endSessions, opsOf, updateSessions, userKeyOf, type SessionUpdate } from './engine/user-sessions.js';

export type { SessionUpdate };

export type { SessionSnapshot };

const expiresIn = (expires: number | undefined): number | null =>
  expires === undefined ? null : Math.max(0, expires - Date.now());

/** A stored session read out of band. */
export interface SessionRecord {
  version: number;
  tag: string;
  data: JsonObject;
  /** The user it belongs to (option `user`). */
  user?: string;
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * The object `createSessionSync()` returns.
 *
 * @example
 * const sync = createSessionSync({ secret: process.env.SESSION_SECRET })
 * app.use(sync.express())
 * sync.attach(io)
 */
export class SessionSync {
  /** @internal */
  readonly core: Core;

  /** @param options - see {@link SessionSyncOptions} */
  constructor(options: SessionSyncOptions = {}) {
    // Before resolveOptions, which creates the default store. The probes only need a name.
    if (isPlainObject(options) && options.key !== undefined) {
      checkDataKey(options.key, 'option "key"', httpProbe(undefined as never), 'req.session');
      checkDataKey(options.key, 'option "key"', socketProbe(undefined as never), 'socket.session');
    }
    this.core = new Core(resolveOptions(options));
  }

  /**
   * Resolves once the store is connected and listening for changes from other nodes. Not
   * needed with MemoryStore; with RedisStore, await it before `server.listen()` so no change
   * made by another node in the first milliseconds is missed.
   *
   * @returns when ready
   * @example
   * await sync.ready()
   * server.listen(3000)
   */
  ready = (): Promise<void> => this.core.ready;

  /** The store this instance uses. */
  get store(): SessionStore {
    return this.core.store;
  }

  /**
   * The Express 4/5 middleware: `req.session[key]`, the cookie, the JSON route.
   *
   * @param defaults - values a session starts with (default: option `defaults`)
   * @param key - the property of `req.session` that holds the data (default: option `key`, 'val')
   * @returns the middleware
   * @example
   * app.use(sync.express({ cart: [] }))
   */
  express = (defaults?: JsonObject, key?: string): Middleware =>
    createExpressMiddleware(this.core, defaults ?? this.core.options.defaults, key ?? this.core.options.key);

  /**
   * express-session's face on the same live session, for middleware written against
   * express-session (Passport, connect-flash, …): `req.session` IS the data (a tracked write,
   * pushed live like any other), with express-session's members beside it (`id`, `cookie`,
   * `regenerate(cb)`, `destroy(cb)`, `reload(cb)`, `save(cb)`, `touch()`, `resetMaxAge()`) and
   * `req.sessionID`. Same store, cookie, route, sockets and live push as `express()`.
   * Switching from express-session is the one `app.use(...)` line. `req.session.views++`
   * stays last-writer-wins here (it is a plain property): use `increment()` on `express()`'s
   * `req.session` for counters that never lose a step.
   *
   * @param defaults - values a session starts with (default: option `defaults`)
   * @returns the middleware
   * @example
   * app.use(sync.expressSession()) // in place of app.use(session({ secret, … }))
   * app.use(passport.session())
   */
  expressSession = (defaults?: JsonObject): Middleware =>
    createExpressSessionMiddleware(this.core, defaults ?? this.core.options.defaults);

  /**
   * The Socket.IO middleware for `io.use(...)`: `socket.session[key]` and the sync protocol.
   * Prefer {@link SessionSync.attach}, which also gives cookie-less handshakes a cookie.
   *
   * @param defaults - values a session starts with
   * @param key - the property of `socket.session` that holds the data
   * @returns the middleware
   * @example
   * io.use(sync.socketIO())
   */
  socketIO = (defaults?: JsonObject, key?: string): ((socket: unknown, next: (err?: Error) => void) => void) =>
    createSocketMiddleware(this.core, this.side, defaults ?? this.core.options.defaults, key ?? this.core.options.key);

  /**
   * `sync.socketIO()` on every namespace of `io`, present and future, plus the handshake
   * hooks that give a handshake without a usable cookie (none, or one naming an ended id) a
   * fresh id cookie.
   *
   * @param io - the Socket.IO server
   * @param defaults - values a session starts with
   * @param key - the property of `socket.session` that holds the data
   * @example
   * sync.attach(io)
   */
  attach = (io: unknown, defaults?: JsonObject, key?: string): void =>
    attachToServer(this.core, this.side, io, defaults ?? this.core.options.defaults, key ?? this.core.options.key);

  // The Socket.IO side's state, made by the first socketIO() / attach() of this instance.
  private socketSide: SocketSide | undefined;
  private get side(): SocketSide {
    return (this.socketSide ??= new SocketSide(this.core));
  }

  /**
   * Reads a session out of band (all of it, server-only data included).
   *
   * @param id - the session id
   * @returns the session, or undefined when it has no record
   * @example
   * const s = await sync.get(id)
   */
  get = async (id: string): Promise<SessionRecord | undefined> => {
    const stored = await this.core.store.get(id);
    if (!stored) return undefined;
    const out: SessionRecord = { version: stored.version, tag: this.core.tagOf(id), data: stored.data };
    if (stored.user !== undefined) out.user = stored.user;
    return out;
  };

  /**
   * Changes a session out of band; every mirror of it gets the change live.
   *
   * @param id - the session id
   * @param change - ops, or a function that edits the data (or returns new data)
   * @returns the new version and whether something changed
   * @example
   * await sync.update(id, (s) => { s.credits = 10 })
   */
  update = (id: string, change: SessionUpdate): Promise<{ version: number; changed: boolean }> =>
    Array.isArray(change) && change.length > 0 ? this.commitOps(id, change) : this.track(this.applyUpdate(id, change));

  // A function change reads the data first; no ops answer the current version.
  private async applyUpdate(id: string, change: SessionUpdate): Promise<{ version: number; changed: boolean }> {
    let ops: readonly Op[];
    if (typeof change === 'function') {
      const stored = await this.core.store.get(id);
      // Only a live session can be changed: an ended one never comes back.
      if (!stored && 'exists' in this.outOfBand(id)) throw endedError();
      ops = await opsOf(stored?.data ?? {}, change, 'update');
    } else if (Array.isArray(change)) ops = change;
    else throw new TypeError('session-sync: update(id, change) takes ops or a function');
    if (ops.length > 0) return this.commitOps(id, ops);
    const stored = await this.core.store.get(id);
    return { version: stored?.version ?? 0, changed: false };
  }

  // Ops go straight to the commit, without an async step: on a store that answers at once
  // (MemoryStore) they are done when this returns and close() has nothing to wait for (a
  // fan-out server calls update() for every change it pushes).
  private commitOps(id: string, ops: readonly Op[]): Promise<{ version: number; changed: boolean }> {
    let result: ApplyResult | Promise<ApplyResult>;
    try {
      result = this.core.commitSync(id, ops, { when: this.outOfBand(id) });
    } catch (err) {
      return Promise.reject(err);
    }
    if (!(result instanceof Promise)) return Promise.resolve({ version: result.version, changed: result.changed });
    return this.track(result.then((r) => ({ version: r.version, changed: r.changed })));
  }

  // Out of band, a session is changed only while it exists — or, for an id issued early that
  // a request or socket here holds, as its first write (adopted within its window).
  private outOfBand(id: string): WriteCondition {
    const live = this.core.registry.peek(id);
    return live && live.version === 0 && live.issued > 0 && !live.ended ? { adopt: live.issued } : { exists: true };
  }

  // Out-of-band work still running, so close() can wait for it (it may not have reached
  // the store yet, e.g. while update() reads the current data).
  private readonly pending = new Set<Promise<unknown>>();

  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const done = (): void => void this.pending.delete(work);
    work.then(done, done);
    return work;
  }

  /**
   * Ends a session out of band: record gone, every socket of it told and disconnected.
   *
   * @param id - the session id
   * @returns true when there was a record
   * @example
   * await sync.destroy(id)
   */
  destroy = (id: string): Promise<boolean> =>
    // A visitor here may hold the id before its first write: it must not adopt it afterwards.
    this.track(this.core.destroy(id, 'destroyed', undefined, this.core.registry.peek(id)?.issued ?? 0));

  /**
   * The projected `{ version, tag, epoch, expiresIn, data }` of a request's session, to
   * embed in a server-rendered page as the browser SDK's `initial`.
   *
   * @param req - an Express request (after `express()`), or any request with cookies
   * @returns the snapshot
   * @example
   * const initial = await sync.snapshot(req)
   * res.send(`<script>window.__SESSION__=${JSON.stringify(initial)}</script>`)
   */
  snapshot = async (req: IncomingMessage): Promise<SessionSnapshot> => {
    const expose = this.core.options.expose;
    const session = handleOf(req);
    if (session) {
      // A page rendered right after a write must embed that write, with the version that
      // carries it: commit first (with autoSync off, only what synchronize() was given).
      if (this.core.options.autoSync) await session.synchronize();
      else await session.settledWork();
      return routeBody(this.core, session);
    }
    const id = this.core.cookies.read(req.headers.cookie)?.id;
    const defaults = this.core.options.defaults;
    const none = { version: 0, epoch: null, expiresIn: null };
    if (id === undefined) return { ...none, tag: null, data: project(expose, defaults) };
    const stored = await this.core.store.get(id);
    return {
      ...none,
      tag: this.core.tagOf(id),
      data: project(expose, withDefaults(stored?.data ?? {}, defaults)),
      ...(stored && {
        version: stored.version,
        epoch: stored[TIMES]?.epoch ?? null,
        expiresIn: expiresIn(stored[TIMES]?.expires),
      }),
    };
  };

  /**
   * The live sessions of a user (option `user`): expired, evicted and destroyed sessions
   * are never listed, and a session whose user changed is listed under its new user only.
   * Each names its device as its requests and handshakes described it (kept beside the
   * data, never in it; refreshed at most once per `ttl / 100`).
   *
   * @param user - the user id (a number is the same user as its string)
   * @returns `{ id, tag, version, createdAt, lastActive, device }` of each; times in epoch
   *   ms; `device` is `{ userAgent, summary }` (plus `ip` with the option `deviceIp`)
   * @throws TypeError (as a rejection) without the option `user` or for a user that is no id
   * @example
   * const sessions = await sync.sessionsOf(req.session.val.user.id)
   * sessions.map((s) => s.device.summary) // ['Chrome on macOS', 'Firefox on Android']
   */
  sessionsOf = async (user: string | number): Promise<UserSessionInfo[]> =>
    userSessions(this.core, userKeyOf(this.core, 'sessionsOf', user));

  /**
   * Ends every session of a user ("log out everywhere"), or every one but `except`. Each
   * ended session's sockets, on every node, get `session:ended { reason: 'destroyed' }`
   * and are disconnected; its cookie holds no data afterwards.
   *
   * @param user - the user id
   * @param options - `except`: a session id to keep (usually `req.session.id`)
   * @returns how many sessions were ended
   * @example
   * await sync.destroyUser(user.id, { except: req.session.id })
   */
  destroyUser = (user: string | number, options: { except?: string } = {}): Promise<number> =>
    this.track(
      (async () => {
        const key = userKeyOf(this.core, 'destroyUser', user);
        if (options === null || typeof options !== 'object') {
          throw new TypeError('session-sync: destroyUser(user, options): options must be an object');
        }
        const { except } = options;
        if (except !== undefined && typeof except !== 'string') {
          throw new TypeError('session-sync: destroyUser(user, { except }): except must be a session id');
        }
        return endSessions(this.core, key, except);
      })(),
    );

  /**
   * Applies one change to every session of a user; each is pushed live to its mirrors as
   * `session:patch`. A function is called once per session, with that session's data.
   *
   * @param user - the user id
   * @param change - ops, or a function that edits each session's data (or returns new data)
   * @returns how many sessions changed
   * @example
   * await sync.updateUser(user.id, [{ op: 'set', path: ['user', 'plan'], value: 'pro' }])
   * await sync.updateUser(user.id, (s) => { s.credits = (s.credits ?? 0) + 10 })
   */
  updateUser = (user: string | number, change: SessionUpdate): Promise<number> =>
    this.track((async () => updateSessions(this.core, userKeyOf(this.core, 'updateUser', user), change))());

  /**
   * Listens to every committed change (`'change'`, `(id, { version, base, ops, mutation? })`),
   * every end (`'end'`, `(id, reason)`) and failures no caller took charge of (`'error'`).
   *
   * @param event - the event name
   * @param listener - the callback
   * @returns this
   * @example
   * sync.on('change', (id, change) => audit(id, change.ops))
   */
  on(event: 'change', listener: (id: string, change: SessionChange) => void): this;
  on(event: 'end', listener: (id: string, reason: EndReason) => void): this;
  on(event: 'error', listener: (error: unknown) => void): this;
  on(event: string, listener: (...args: never[]) => void): this {
    this.core.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /**
   * Removes a listener added with {@link SessionSync.on}.
   *
   * @param event - the event name
   * @param listener - the callback
   * @returns this
   */
  off(event: string, listener: (...args: never[]) => void): this {
    this.core.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /**
   * Commits what is pending, stops the change feed and closes the store it created.
   *
   * @returns when closed
   * @example
   * await sync.close()
   */
  close = async (): Promise<void> => {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.core.close();
  };
}

/**
 * Creates the session layer. Seed-compatible: `createSessionSync()`,
 * `createSessionSync('/get/session', true)` and `createSessionSync(null, false)` work as in
 * express-session-synchronize-socket.io.
 *
 * @param options - options, or the seed's route (string, null or false)
 * @param autoSync - the seed's second argument
 * @returns the session layer
 * @throws TypeError naming a bad option
 * @example
 * const sync = createSessionSync({ secret: process.env.SESSION_SECRET, clientWritable: ['prefs'] })
 */
export function createSessionSync(options?: SessionSyncOptions): SessionSync;
export function createSessionSync(route: string | null | false, autoSync?: boolean): SessionSync;
export function createSessionSync(
  options?: SessionSyncOptions | string | null | false,
  autoSync?: boolean,
): SessionSync {
  if (options === undefined || options === null || options === false || typeof options === 'string') {
    const seed: SessionSyncOptions = { route: options ?? '/get/session' };
    if (options === null) seed.route = null;
    if (autoSync !== undefined) {
      if (typeof autoSync !== 'boolean')
        throw new TypeError('session-sync: the second argument (autoSync) must be a boolean');
      seed.autoSync = autoSync;
    }
    return new SessionSync(seed);
  }
  if (autoSync !== undefined) throw new TypeError('session-sync: pass autoSync inside the options object');
  return new SessionSync(options);
}
