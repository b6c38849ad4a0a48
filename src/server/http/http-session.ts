/**
 * `req.session`: the visitor's session in an Express handler. It holds the request's live
 * entry until the response closes, sets the id cookie when the visitor needs one, and
 * gives the visitor a new id on sign-in (`regenerate`) or none on sign-out (`destroy`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionSyncError, type JsonObject } from '../../shared/index.js';
import { newId, type SignedId } from '../engine/cookie.js';
import type { Core } from '../engine/core.js';
import { SessionHandle } from '../engine/handle.js';
import { withCallback } from '../engine/promises.js';
import { keptData, type Keep } from '../engine/policy.js';
import type { LiveSession } from '../engine/registry.js';
import type { DeviceNote } from '../stores/store.js';
import { requestDevice } from './request-device.js';

/** The request as the session reads it (Express adds `secure`). */
export type SessionRequest = IncomingMessage & {
  session?: unknown;
  secure?: boolean;
  path?: string;
  protocol?: string;
};

/** Options of `regenerate()`. */
export interface RegenerateOptions {
  /**
   * What the new session starts with: `'exposed'` (default) the data the browser may see,
   * never server-only data, which whoever planted the old id could know (a CSRF token, a
   * role); `true` everything; `false` nothing; or a list of paths.
   */
  keep?: Keep;
}

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
  private readonly held = new Set<LiveSession>();

  constructor(
    core: Core,
    defaults: JsonObject,
    key: string,
    private readonly req: SessionRequest,
    private readonly res: ServerResponse,
  ) {
    super(core, defaults, key);
  }

  /** Resolves once the response has finished (or its connection closed). Made on demand. */
  protected get finished(): Promise<void> {
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
    if ((this.entry && this.adoptable(this.entry)) || this.headersHooked) return;
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

  protected override seenDevice(): DeviceNote {
    return requestDevice(this.req, this.core.options.deviceIp);
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

  private hold(entry: LiveSession): LiveSession {
    // ServerResponse emits 'close' once it is done, finished or not: one listener releases.
    if (this.held.size === 0) this.res.once('close', () => this.releaseEntry());
    this.held.add(entry);
    return entry;
  }

  /**
   * @internal The middleware's hold, released when the response ends.
   * @param entry - the entry the cookie names
   * @param issued - when that cookie was issued
   */
  adoptHeld(entry: LiveSession, issued: number): void {
    this.bindEntry(this.hold(entry), issued);
  }

  /** @internal Whether the response's headers are gone (no cookie can be set any more). */
  get headersSent(): boolean {
    return this.res.headersSent;
  }

  /** @internal When the id's cookie was issued (epoch ms; 0 without one or unknown). */
  get cookieIssued(): number {
    return this.entry ? this.issued : 0;
  }

  /**
   * @internal Sends the id cookie again, with `maxAge` ms counted from its issue (express-session's
   * `resetMaxAge()` and `cookie.maxAge = …`); nothing without an id or once the headers are sent.
   * @param maxAge - the lifetime from the issue time
   */
  resendCookie(maxAge: number): void {
    if (!this.entry || this.res.headersSent) return;
    this.setCookie({ id: this.entry.id, issued: this.issued }, maxAge);
  }

  // One Set-Cookie of ours per response: a later one replaces an earlier one.
  private setCookie(id: SignedId | null, maxAge?: number): void {
    if (this.res.headersSent) {
      throw new Error('session-sync: the session needs to set its cookie, but the response headers were already sent');
    }
    const name = this.core.cookies.name + '=';
    const existing = this.res.getHeader('Set-Cookie');
    const others = (Array.isArray(existing) ? existing : existing === undefined ? [] : [String(existing)]).filter(
      (c) => !c.startsWith(name),
    );
    this.res.setHeader('Set-Cookie', [...others, this.core.cookies.serialize(id, this.req.secure === true, maxAge)]);
  }

  /** @internal Gives the visitor a new id (cookie only, no record): a new visitor, or a dead cookie. */
  issueId(): LiveSession {
    const signed = { id: newId(), issued: Date.now() };
    this.setCookie(signed);
    this.releaseEntry();
    this.bindEntry(this.hold(this.core.registry.adopt(signed.id)), signed.issued);
    return this.entry!;
  }

  // Whether a first write may still adopt the entry's id: not known ended, within its window.
  private adoptable(entry: LiveSession): boolean {
    if (this.sawRecord || entry.version > 0) return true;
    const { ttl, absolute } = this.core.options;
    return entry.ended === undefined && Date.now() < this.issued + Math.min(ttl, absolute);
  }

  protected ensureEntry(): LiveSession {
    // A visitor whose cookie names a dead id is a visitor without a session.
    return this.entry && this.adoptable(this.entry) ? this.entry : this.issueId();
  }

  protected override afterEnded(entry: LiveSession): LiveSession | undefined {
    if (this.sawRecord || this.res.headersSent || entry !== this.entry) return undefined;
    return this.issueId();
  }

  /**
   * @internal For the route's `X-Session-Sync` GET: a cookie naming an id that is neither
   * live nor adoptable is replaced by a fresh one, so the browser has a way out.
   * @returns when decided
   */
  async renewIfDead(): Promise<void> {
    const entry = this.entry;
    if (!entry) {
      this.issueId();
      return;
    }
    if (!this.adoptable(entry) || (await this.core.deadReason(entry, this.issued)) !== undefined) this.issueId();
  }

  protected reportFailure(error: unknown): void {
    if (this.res.writableEnded) this.failedLate(error);
  }

  /** @internal A failure the response can no longer carry. */
  failedLate(error: unknown): void {
    this.core.reportLost(error, 'late-commit');
  }

  /** @internal Errors to hand to `next(err)` when the response ends. */
  errorsForNext(): unknown[] {
    return this.committing$ ? this.commits.unobserved() : [];
  }

  /** @internal Resolves when the commits already sent have landed (uncommitted edits stay). */
  async settledWork(): Promise<void> {
    if (this.committing$) await this.commits.settled();
  }

  /** @internal Resolves when nothing is left to commit. */
  settled(): Promise<void> {
    return this.settle();
  }

  /**
   * @internal The response is ending: with `autoSync: false`, edits never passed to
   * `synchronize()` are dropped here, not committed by the settle that follows.
   * @returns true when edits were dropped
   */
  endOfRequest(): boolean {
    if (!this.dirty) return false;
    // A store that answers at once (MemoryStore) has the change before this returns: the
    // response then ends in the same tick, with nothing to wait for.
    if (this.autoSync) return (void this.flush()?.catch(() => {}), false);
    this.draft.discard();
    return true;
  }

  /**
   * @internal The headers are about to go out (`res.writeHead`, also called implicitly by
   * the first `res.write`): a visitor without a usable id and with uncommitted edits needs
   * the id cookie now, since the commit at the end of the tick would be too late to set it.
   */
  beforeHeaders(): void {
    if (this.dirty && this.loadError === undefined) this.ensureEntry();
  }

  /** @internal Whether the response must wait for the store. */
  busy(): boolean {
    return this.dirty || this.committing$;
  }

  /** The committed data this request sees, with defaults (for the route and `snapshot`). */
  committedView(): JsonObject {
    return this.view();
  }

  /** @internal The held entry (for the route's epoch and deadline). */
  get live(): LiveSession | undefined {
    return this.entry;
  }

  /**
   * Gives the visitor a new id (against session fixation). The old id is dead from the
   * moment this resolves: it is ended first, atomically with reading what it held, so a write
   * racing the sign-in is refused (`ended`), never acknowledged and lost. The new session
   * starts with what `keep` says (by default the data the browser may see, never
   * server-only data). The old id's sockets are told once this response, which carries the
   * new cookie, has finished.
   *
   * @param options - `keep`: `'exposed'` (default), `true`, `false` or a list of paths; or
   *   express-session's callback
   * @param callback - express-session's node-style callback, if you use that style
   * @returns when the new session is stored
   * @throws TypeError for a bad `keep`; SessionSyncError `store_unavailable`
   * @example
   * app.post('/login', async (req, res) => {
   *   await req.session.regenerate()
   *   req.session.val.user = { id: user.id }
   *   res.redirect('/')
   * })
   */
  regenerate(
    options?: RegenerateOptions | ((err?: unknown) => void),
    callback?: (err?: unknown) => void,
  ): Promise<void> {
    if (typeof options === 'function') return withCallback(this.renew({}), options);
    return withCallback(this.renew(options ?? {}), callback);
  }

  private async renew(options: RegenerateOptions): Promise<void> {
    const keep = options.keep ?? 'exposed';
    const pick = keptData(this.core.options.expose, keep); // a bad `keep` throws before anything changes
    // Never regenerate over data we could not load.
    if (this.unavailable)
      throw new SessionSyncError(
        'store_unavailable',
        'session-sync: regenerate(): the session could not be loaded from the store',
      );
    await this.settle();
    const old = this.entry;
    // Also for an id that never had a record: sockets may hold it (cookie issued early).
    const taken = old ? await this.core.take(old.id, 'regenerated', this.finished, this.issued) : undefined;
    const entry = this.issueId();
    const data = pick(taken?.data ?? {});
    const ops = Object.keys(data).map((key) => ({ op: 'set' as const, path: [key], value: data[key]! }));
    if (ops.length > 0)
      await this.core.commit(entry.id, ops, { when: this.condition(entry), device: () => this.seenDevice() });
  }

  /**
   * Ends the session: record gone, cookie cleared, every socket of it told. A later write
   * in the same request starts a new session. Also `destroy(callback)`.
   *
   * @example
   * app.post('/logout', async (req, res) => { await req.session.destroy(); res.redirect('/') })
   */
  protected override async end(): Promise<void> {
    this.draft.discard();
    await this.settle();
    // After a failed load there is no entry, but the cookie still names the session: a
    // logout must still reach the store (or fail with store_unavailable), never be a no-op.
    const id = this.entry?.id ?? (this.unavailable ? this.core.cookies.read(this.req.headers.cookie)?.id : undefined);
    if (id === undefined) return;
    // The store first: when it fails, the visitor keeps the cookie of the session that is
    // still there, and the error goes to the caller.
    await this.core.destroy(id, 'destroyed', undefined, this.entry ? this.issued : 0);
    this.releaseEntry();
    this.entry = undefined;
    this.loadError = undefined;
    this.setCookie(null);
  }

  /**
   * Drops uncommitted edits and reads the session from the store again. Rarely needed:
   * reads are live already.
   *
   * @param callback - express-session's node-style callback, if you use that style
   * @returns when reloaded
   * @example
   * await req.session.reload()
   */
  reload(callback?: (err?: unknown) => void): Promise<void> {
    return withCallback(this.read(), callback);
  }

  private async read(): Promise<void> {
    this.draft.discard();
    if (this.unavailable)
      throw new SessionSyncError(
        'store_unavailable',
        'session-sync: reload(): the session could not be loaded from the store',
      );
    const entry = this.entry;
    if (!entry) return;
    await this.core.registry.reload(entry);
  }
}
