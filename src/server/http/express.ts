/**
 * The Express side: `req.session` for every request, the id cookie, the end-of-response
 * commit, and the JSON route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { assertJson, isPlainObject, SessionSyncError, type JsonObject } from '../../shared/index.js';
import { newId } from '../engine/cookie.js';
import type { Core } from '../engine/core.js';
import { keyedClass, SessionHandle } from '../engine/handle.js';
import type { LiveSession } from '../engine/registry.js';
import { serveRoute, isRouteRequest } from './route.js';
import { logger, warnOnce } from '../log.js';

const debug = logger('express');

type Next = (err?: unknown) => void;
type Request = IncomingMessage & { session?: unknown; secure?: boolean; path?: string; protocol?: string };

/**
 * `req.session`: the visitor's session in an Express handler.
 *
 * @example
 * app.post('/cart', (req, res) => {
 *   req.session.val.cart = [...(req.session.val.cart ?? []), req.body.item]
 *   res.redirect('/cart') // the write is stored before the redirect goes out
 * })
 */
export class HttpSession extends SessionHandle {
  private finishedPromise: Promise<void> | undefined;
  private headersHooked = false;

  constructor(
    core: Core,
    defaults: JsonObject,
    key: string,
    private readonly req: Request,
    private readonly res: ServerResponse,
  ) {
    super(core, defaults, key);
  }

  /** Resolves once the response has finished (or its connection closed). Made on demand. */
  private get finished(): Promise<void> {
    const res = this.res;
    this.finishedPromise ??=
      res.writableFinished || res.destroyed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            res.once('finish', resolve);
            res.once('close', resolve);
          });
    return this.finishedPromise;
  }

  // A new visitor's first write: the id cookie must be on the headers, and a streamed
  // response sends them before the end-of-tick commit could set it. Hooked only then.
  protected override wrote(): void {
    if (this.entry || this.headersHooked) return;
    this.headersHooked = true;
    const res = this.res;
    const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse;
    const session = this;
    res.writeHead = function cookieBeforeHeaders(this: ServerResponse, ...args: unknown[]): ServerResponse {
      session.beforeHeaders();
      return writeHead.apply(this, args);
    } as typeof res.writeHead;
  }

  protected get autoSync(): boolean {
    return this.core.options.autoSync;
  }

  /** @internal Called by the middleware when the store failed. */
  failedToLoad(error: unknown): void {
    this.loadError = error;
  }

  private releaseEntry(): void {
    const entry = this.entry;
    if (entry && this.held.has(entry)) {
      this.held.delete(entry);
      this.core.registry.release(entry);
    }
  }

  private readonly held = new Set<LiveSession>();

  private hold(entry: LiveSession): LiveSession {
    // ServerResponse emits 'close' once it is done, finished or not: one listener releases.
    if (this.held.size === 0) this.res.once('close', () => this.releaseEntry());
    this.held.add(entry);
    return entry;
  }

  /** @internal The middleware's hold, released when the response ends. */
  adoptHeld(entry: LiveSession): void {
    this.entry = this.hold(entry);
  }

  private get secure(): boolean {
    return this.req.secure === true;
  }

  // One Set-Cookie of ours per response: a later one replaces an earlier one.
  private setCookie(id: string | null): void {
    if (this.res.headersSent) {
      throw new Error('session-sync: the session needs to set its cookie, but the response headers were already sent');
    }
    const name = this.core.options.cookie.name + '=';
    const existing = this.res.getHeader('Set-Cookie');
    const others = (Array.isArray(existing) ? existing : existing === undefined ? [] : [String(existing)]).filter(
      (c) => !c.startsWith(name),
    );
    this.res.setHeader('Set-Cookie', [...others, this.core.cookieFor(id, this.secure)]);
  }

  /** @internal Gives a visitor without a valid cookie an id (cookie only, no record). */
  issueId(): LiveSession {
    const id = newId();
    this.setCookie(id);
    this.entry = this.hold(this.core.registry.adopt(id));
    return this.entry;
  }

  protected ensureEntry(): LiveSession {
    return this.entry ?? this.issueId();
  }

  protected reportFailure(error: unknown): void {
    if (this.res.writableEnded) this.failedLate(error);
  }

  /** @internal A failure the response can no longer carry. */
  failedLate(error: unknown): void {
    lateFailure(this.core, error);
  }

  /** @internal Errors to hand to `next(err)` when the response ends. */
  errorsForNext(): unknown[] {
    return this.unobservedFailures();
  }

  /** @internal Resolves when the commits already sent have landed (uncommitted edits stay). */
  async settledWork(): Promise<void> {
    while (this.hasWork()) await Promise.allSettled([...this.work]);
  }

  /** @internal Resolves when nothing is left to commit. */
  settled(): Promise<void> {
    return this.settle();
  }

  /**
   * @internal The response is ending: with `autoSync: false`, edits never passed to
   * `synchronize()` are dropped here (that is what `autoSync: false` promises), not committed by the settle below.
   */
  endOfRequest(): void {
    if (this.autoSync || !this.draft.dirty) return;
    debug(
      'autoSync is off: dropping changes never passed to synchronize() at the end of %s %s',
      this.req.method,
      this.req.url,
    );
    this.draft.discard();
  }

  /**
   * @internal The headers are about to go out (`res.writeHead`, also called implicitly by
   * the first `res.write`): a new visitor with uncommitted edits needs the id cookie now,
   * since the commit at the end of the tick would be too late to set it.
   */
  beforeHeaders(): void {
    if (!this.entry && this.draft.dirty && this.loadError === undefined) this.issueId();
  }

  /** @internal Whether the response must wait for the store. */
  busy(): boolean {
    return this.draft.dirty || this.failures.length > 0 || this.hasWork();
  }

  private hasWork(): boolean {
    return this.work.size > 0;
  }

  /** The committed data this request sees, with defaults (for the route). */
  committedView(): JsonObject {
    return this.view();
  }

  /**
   * Gives the visitor a new id (against session fixation): the data is kept unless
   * `keep: false`, the old id is dead at once, and its sockets are told — once this
   * response, which carries the new cookie, has finished.
   *
   * @param options - `keep` (default true): keep the data
   * @returns when the new session is stored
   * @example
   * app.post('/login', async (req, res) => {
   *   await req.session.regenerate()
   *   req.session.val.user = { id: user.id }
   *   res.redirect('/')
   * })
   */
  async regenerate(options: { keep?: boolean } = {}): Promise<void> {
    const keep = options.keep ?? true;
    // Never regenerate over data we could not load.
    if (this.unavailable)
      throw new SessionSyncError(
        'store_unavailable',
        'session-sync: regenerate(): the session could not be loaded from the store',
      );
    await this.settle();
    const old = this.entry;
    const data = keep && old ? old.data : {};
    const id = newId();
    this.setCookie(id);
    this.releaseEntry();
    // Held before the copy is committed, so the commit lands in this entry and the rest of
    // this request reads the kept data (and its version) at once.
    this.entry = this.hold(this.core.registry.adopt(id));
    const ops = Object.keys(data).map((key) => ({ op: 'set' as const, path: [key], value: data[key]! }));
    if (ops.length > 0) await this.core.commit(id, ops);
    // Also for an id that never had a record: sockets may hold it (cookie issued early).
    if (old) await this.core.destroy(old.id, 'regenerated', this.finished);
  }

  /**
   * Ends the session: record gone, cookie cleared, every socket of it told. A later write
   * in the same request starts a new session.
   *
   * @returns when done
   * @example
   * app.post('/logout', async (req, res) => { await req.session.destroy(); res.redirect('/') })
   */
  override async destroy(): Promise<void> {
    this.draft.discard();
    await this.settle();
    // After a failed load there is no entry, but the cookie still names the session: a
    // logout must still reach the store (or fail with store_unavailable), never be a no-op.
    const id = this.entry?.id ?? (this.unavailable ? this.core.readId(this.req.headers.cookie) : undefined);
    if (id === undefined) return;
    // The store first: when it fails, the visitor keeps the cookie of the session that is
    // still there, and the error goes to the caller.
    await this.core.destroy(id, 'destroyed');
    this.releaseEntry();
    this.entry = undefined;
    this.loadError = undefined;
    this.setCookie(null);
  }

  /**
   * Drops uncommitted edits and reads the session from the store again. Rarely needed:
   * reads are live already.
   *
   * @returns when reloaded
   */
  async reload(): Promise<void> {
    this.draft.discard();
    if (this.unavailable)
      throw new SessionSyncError(
        'store_unavailable',
        'session-sync: reload(): the session could not be loaded from the store',
      );
    const entry = this.entry;
    if (!entry) return;
    const stored = await this.core.store.get(entry.id);
    // The entry is shared with this process's sockets and kept current by the change feed:
    // never move it back to an older version than the feed already delivered.
    if (!stored) {
      entry.data = {};
      entry.version = 0;
    } else if (stored.version >= entry.version) {
      entry.data = stored.data;
      entry.version = stored.version;
    }
  }
}

// Instance fields of the session handles (prototype members are found on the prototype).
// test/server/options.test.ts checks this list against a real req.session, so it cannot drift.
const HANDLE_FIELDS = new Set([
  'entry',
  'draft',
  'batches',
  'work',
  'owners',
  'scheduled',
  'viewCache',
  'failures',
  'loadError',
  'core',
  'defaults',
  'key',
  'finished',
  'finishedPromise',
  'headersHooked',
  'req',
  'res',
  'held',
]);

// The seed's own example key. The handle has a protected `data()` but never calls it through
// `this` where the key could shadow it; test/server/seed.test.ts runs the whole API under it.
const SHADOWABLE = new Set(['data']);

/**
 * Checks the name of the data property (`req.session[key]`): a non-empty string that does
 * not hide a member of the session (`id`, `destroy`, `toJSON`, …) or of every object.
 *
 * @param key - the proposed key
 * @param name - how the message names it (`option "key"`, `express(defaults, key)`)
 * @throws TypeError naming it
 * @example
 * checkDataKey('data', 'option "key"') // fine
 */
export function checkDataKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new TypeError(`session-sync: ${name} must be a non-empty string`);
  if ((key in HttpSession.prototype && !SHADOWABLE.has(key)) || HANDLE_FIELDS.has(key)) {
    throw new TypeError(
      `session-sync: ${name} cannot be ${JSON.stringify(key)}: req.session.${key} is taken by the session itself`,
    );
  }
}

/**
 * Builds the Express middleware.
 *
 * @param core - the shared state
 * @param defaults - values a session starts with
 * @param key - the property of `req.session` holding the data
 * @returns `(req, res, next)`
 */
export function createExpressMiddleware(
  core: Core,
  defaults: JsonObject,
  key: string,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  if (!isPlainObject(defaults)) throw new TypeError('session-sync: express(defaults) must be a plain JSON object');
  assertJson(defaults);
  checkDataKey(key, 'the key of express(defaults, key)');
  const Session = keyedClass(HttpSession, key);

  return function sessionSync(rawReq: IncomingMessage, res: ServerResponse, next: Next): void {
    const req = rawReq as Request;
    if (req.session instanceof HttpSession) return next(); // mounted twice
    const session = new Session(core, defaults, key, req, res);
    req.session = session;
    deferEnd(session, res, next);
    const route = isRouteRequest(core, req);
    // Also called from a promise callback (after an async load): a throw there would be
    // an unhandled rejection and a request left hanging, so it goes to next(err) instead.
    const go = (): void => {
      if (!route) return next();
      try {
        serveRoute(core, session, req, res, next);
      } catch (err) {
        next(err);
      }
    };
    const id = core.readId(req.headers.cookie);
    if (id === undefined) return go();
    const live = core.registry.peek(id);
    if (live) {
      live.refs++;
      session.adoptHeld(live);
      if (live.version > 0) core.touch(id);
      return go();
    }
    core.registry.acquire(id).then(
      (entry) => {
        session.adoptHeld(entry);
        if (entry.version > 0) core.touch(id);
        go();
      },
      (err: unknown) => {
        debug('loading %s failed: %o', id, err);
        session.failedToLoad(err);
        go();
      },
    );
  };
}

/**
 * A commit failed when the response could no longer carry the error (a write after
 * `res.end()`, or during a streamed response). It goes to `sync.on('error')` when someone
 * listens; otherwise it is printed — never an EventEmitter 'error' without a listener,
 * which would throw and end the process.
 */
function lateFailure(core: Core, error: unknown): void {
  debug('a commit failed after the response was sent: %o', error);
  if (core.listenerCount('error') > 0) core.emit('error', error);
  else
    warnOnce(
      'late-commit',
      `a session change made after the response was sent could not be committed (listen with sync.on('error') to see each one): ${(error as Error)?.message ?? error}`,
    );
}

// Like express-session: hold the end of the response until the store has the change, so a
// redirect never races the write (express-session#660).
function deferEnd(session: HttpSession, res: ServerResponse, next: Next): void {
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.end = function deferredEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
    session.endOfRequest();
    if (!session.busy()) return end.apply(this, args);
    session.settled().then(() => {
      const errors = session.errorsForNext();
      if (errors.length > 0 && !res.headersSent) {
        res.end = end as typeof res.end;
        next(errors[0]);
        return;
      }
      // A streamed response already sent its status: the error can no longer be the answer.
      for (const error of errors) session.failedLate(error);
      end.apply(res, args);
    });
    return this;
  } as typeof res.end;
}
