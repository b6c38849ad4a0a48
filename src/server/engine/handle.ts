/**
 * One view of a session from server code: `req.session` and `socket.session` share this.
 * Reads are always current (the live registry plus this handle's own edits); writes are
 * tracked and committed as ops at the end of the tick, or by `synchronize()`.
 */
import { SessionSyncError, toPath, type JsonObject, type Op, type PathInput } from '../../shared/index.js';
import type { ApplyResult, DeviceNote, WriteCondition } from '../stores/store.js';
import { logger } from '../log.js';
import type { Core } from './core.js';
import { listDevices, revokeByTag, type UserDevice } from './devices.js';
import { installDataKey } from './data-key.js';
import { Commits } from './commits.js';
import { Draft } from './draft.js';
import { observed, withCallback, type ObservedPromise } from './promises.js';
import type { LiveSession } from './registry.js';
import { checkSeedOptions, type SynchronizeOptions } from './seed.js';
import { endSessions } from './user-sessions.js';
import { overlay, withDefaults } from './view.js';

const debug = logger('handle');
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;
const NONE: readonly Op[][] = Object.freeze([]) as readonly Op[][];

/**
 * The common part of `req.session` and `socket.session`.
 *
 * @example
 * req.session.val.cart = ['apple'] // committed at the end of the tick
 * await req.session.synchronize()  // or now
 */
export abstract class SessionHandle {
  /** The live session, once this handle has an id. */
  protected entry: LiveSession | undefined;
  /** When the id's cookie was issued (epoch ms; 0 unknown): bounds adoption by a first write. */
  protected issued = 0;
  /**
   * This handle saw the id's record live: from then on its writes apply only while that
   * record exists (never create one), so an ended session stays ended.
   */
  protected sawRecord = false;
  // Made on first use: a request that never touches its session pays for neither.
  private drafted: Draft | undefined;
  private committing: Commits | undefined;
  private scheduled = false;
  private viewCache: { data: JsonObject; batches: number; view: JsonObject } | undefined;
  protected loadError: unknown;

  constructor(
    protected readonly core: Core,
    protected readonly defaults: JsonObject,
    protected readonly key: string,
  ) {
    // A class made by keyedClass() carries the accessor on its prototype (no per-request
    // defineProperty on the hot path); any other instance gets its own.
    installDataKey(this, key);
  }

  /** The tracked draft of the data, made on first use. */
  protected get draft(): Draft {
    return (this.drafted ??= new Draft(
      () => this.view(),
      () => this.onWrite(),
    ));
  }

  /** Whether there are uncommitted edits. */
  protected get dirty(): boolean {
    return this.drafted?.dirty === true;
  }

  /** The commits on their way to the store, made on first use. */
  protected get commits(): Commits {
    return (this.committing ??= new Commits((error) => {
      debug('commit failed: %o', error);
      this.reportFailure(error);
    }));
  }

  /** Whether a commit is in flight or failed (the response must wait for either). */
  protected get committing$(): boolean {
    return this.committing?.busy === true;
  }

  /** The session id (undefined until the visitor has one). */
  get id(): string | undefined {
    return this.entry?.id;
  }

  /** The committed version this handle sees (0: no record). */
  get version(): number {
    return this.entry?.version ?? 0;
  }

  /** True when the store failed to load this session (the first access of the data throws). */
  get unavailable(): boolean {
    return this.loadError !== undefined;
  }

  /** The tag of the id, safe to show the browser (null without an id). */
  get tag(): string | null {
    return this.entry ? this.core.tagOf(this.entry.id) : null;
  }

  /** @internal Replaces the whole data (`req.session.val = {...}`). */
  replaceData(value: unknown): void {
    this.draft.replace(value);
  }

  /** @internal The tracked data proxy (what `[key]` returns; throws while the load failed). */
  tracked(): JsonObject {
    this.loaded();
    return this.draft.proxy();
  }

  // Data that could not be loaded is never handed out: empty data read as the session could
  // overwrite it, or read as "no user, nothing to end".
  private loaded(): void {
    if (this.loadError === undefined) return;
    throw new SessionSyncError('store_unavailable', 'session-sync: the session could not be loaded from the store', {
      cause: this.loadError,
    });
  }

  /** The committed data plus in-flight ops plus defaults, without this handle's draft. */
  protected view(): JsonObject {
    const data = this.entry?.data ?? EMPTY;
    const batches = this.committing?.batches ?? NONE;
    const cache = this.viewCache;
    if (cache && cache.data === data && cache.batches === batches.length) return cache.view;
    const view = withDefaults(batches.length ? overlay(data, batches) : data, this.defaults);
    this.viewCache = { data, batches: batches.length, view };
    return view;
  }

  /** Whether changes commit by themselves. */
  protected abstract get autoSync(): boolean;

  /** Makes sure the handle has an id and a live entry before a write (HTTP issues a cookie). */
  protected abstract ensureEntry(): LiveSession;

  /**
   * A write was refused with `ended`: the entry to write to instead (HTTP: a fresh id, when
   * this request loaded no record and its headers are not sent), or undefined.
   */
  protected afterEnded(_entry: LiveSession): LiveSession | undefined {
    return undefined;
  }

  /** Holds a live entry from now on (the id's cookie issued at `issued`). */
  protected bindEntry(entry: LiveSession | undefined, issued: number): void {
    this.entry = entry;
    this.issued = issued;
    this.sawRecord = entry !== undefined && entry.version > 0;
    if (entry && issued > entry.issued) entry.issued = issued;
  }

  /**
   * When a write of this handle may land: only while the record exists once the handle saw
   * it live; otherwise as the first write adopting an id issued early.
   *
   * @param entry - the entry written to
   * @returns the condition
   */
  protected condition(entry: LiveSession): WriteCondition {
    if (entry.version > 0) this.sawRecord = true;
    return this.sawRecord ? { exists: true } : { adopt: this.issued };
  }

  // One write to the store, moved once to a fresh id when the store refuses an id this
  // handle never saw live (HTTP only: a visitor with a dead cookie gets a new session).
  // Answered at once by a store that can.
  private send(entry: LiveSession, ops: Op[]): ApplyResult | Promise<ApplyResult> {
    const device = (): DeviceNote | undefined => this.seenDevice();
    const retry = (err: unknown): ApplyResult | Promise<ApplyResult> => {
      const next = err instanceof SessionSyncError && err.code === 'ended' ? this.afterEnded(entry) : undefined;
      if (!next) throw err;
      debug('the id this request named has ended; writing under a new one');
      return this.core.commitSync(next.id, ops, { when: this.condition(next), device });
    };
    let answer: ApplyResult | Promise<ApplyResult>;
    try {
      answer = this.core.commitSync(entry.id, ops, { when: this.condition(entry), device });
    } catch (err) {
      return retry(err);
    }
    return answer instanceof Promise ? answer.catch(retry) : answer;
  }

  /** Reports a failed automatic commit that no `synchronize()` caller took charge of. */
  protected abstract reportFailure(error: unknown): void;

  /**
   * What the request or handshake behind this handle says about the client: its device
   * note, which commits carry to the store (at most once per `ttl / 100`).
   */
  protected seenDevice(): DeviceNote | undefined {
    return undefined;
  }

  /** Called on every tracked write, before the commit is scheduled. */
  protected wrote(): void {}

  private onWrite(): void {
    this.wrote();
    if (!this.autoSync || this.scheduled) return;
    this.scheduled = true;
    // End of the current tick: writes of one synchronous run become one change.
    process.nextTick(() => {
      this.scheduled = false;
      if (this.dirty) this.flush()?.catch(() => {});
    });
  }

  /**
   * Sends the uncommitted edits to the store.
   *
   * @param promise - the `synchronize()` promise that will carry a failure, if any
   * @returns when stored and published
   */
  protected flush(promise?: ObservedPromise<unknown>): Promise<void> | undefined {
    const ops = this.draft.take();
    if (ops.length === 0) return undefined;
    let entry: LiveSession;
    try {
      entry = this.ensureEntry();
    } catch (err) {
      return Promise.reject(this.commits.fail(err, promise));
    }
    return this.commits.run(ops, () => this.send(entry, ops), promise);
  }

  /**
   * Commits every change made through this handle now.
   *
   * @param options - the seed's `{ model, target }`, accepted and checked for compatibility
   * @returns a promise resolved when the change is stored and published to every mirror
   * @example
   * req.session.val.step = 2
   * await req.session.synchronize()
   */
  synchronize(options?: SynchronizeOptions): Promise<void> {
    checkSeedOptions(options);
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const handOut = observed(new Promise<void>((resolve, reject) => (settle = { resolve, reject })));
    // Commits of this handle already in flight (the end-of-tick auto-commit), and earlier
    // ones that failed with nobody in charge, are part of "every change made through this
    // handle": their failure rejects this promise and is this caller's, not also next(err)'s.
    const { earlier, inFlight } = this.commits.claim(handOut);
    // Flushed synchronously, before the end-of-tick auto-commit can take the edits.
    const mine = this.dirty ? this.flush(handOut) : undefined;
    Promise.allSettled([mine, ...inFlight]).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (earlier.length > 0) settle.reject(earlier[0]);
      else if (failed) settle.reject(failed.reason);
      else settle.resolve();
    });
    return handOut;
  }

  /** Waits for every commit of this handle, including edits not yet sent. */
  protected async settle(): Promise<void> {
    if (this.dirty) await this.flush()?.catch(() => {});
    await this.committing?.settled();
  }

  /**
   * Commits every change made through this handle now: `synchronize()` under
   * express-session's name, with its node-style callback.
   *
   * @param callback - called with the error, or with nothing once stored
   * @returns when stored and published
   * @example
   * req.session.val.step = 2
   * req.session.save((err) => res.redirect('/next'))
   */
  save(callback?: (err?: unknown) => void): Promise<void> {
    return withCallback(this.synchronize(), callback);
  }

  /**
   * Adds `by` to the number at `path` as an `inc` op: concurrent increments from every
   * request, socket and browser never lose each other (a read–await–write of `val.n++`
   * would). The value this handle reads changes at once.
   *
   * @param path - a dot string or an array of keys
   * @param by - a finite number (default 1)
   * @returns when stored and published, like `synchronize()`
   * @throws SessionSyncError `invalid` when the value there is not a number, or `by` not finite
   * @example
   * app.post('/like', async (req, res) => {
   *   await req.session.increment('likes')
   *   res.json({ likes: req.session.val.likes })
   * })
   */
  increment(path: PathInput, by = 1): Promise<void> {
    this.loaded();
    this.draft.increment(toPath(path, 'increment(path)'), by);
    return this.autoSync ? this.synchronize() : Promise.resolve();
  }

  /**
   * Ends this session everywhere: record gone, every socket of it told and disconnected.
   *
   * @param callback - express-session's node-style callback, if you use that style
   * @returns when done
   * @example
   * await req.session.destroy()
   */
  destroy(callback?: (err?: unknown) => void): Promise<void> {
    return withCallback(this.end(), callback);
  }

  /** What `destroy()` does. */
  protected async end(): Promise<void> {
    this.draft.discard();
    const entry = this.entry;
    if (!entry) return;
    await this.core.destroy(entry.id, 'destroyed', undefined, this.issued);
  }

  /**
   * Ends every other session of this session's user (option `user`), keeping this one:
   * their sockets, on every node, get `session:ended { reason: 'destroyed' }` and are
   * disconnected. A session without a user ends nothing.
   *
   * @returns how many sessions were ended
   * @throws TypeError without the option `user`; SessionSyncError `store_unavailable`
   * @example
   * await req.session.logoutOthers()
   */
  async logoutOthers(): Promise<number> {
    const user = this.userNow('logoutOthers');
    if (user === undefined) return 0;
    // Without an id yet (a new visitor signing in), every session of the user is another one.
    return endSessions(this.core, user, this.entry?.id);
  }

  /**
   * The live sessions of this session's user (option `user`), without their ids (tags only):
   * the current one first with `current: true`, then the most recently active. A session
   * without a user lists nothing. Changes made through this handle are committed first (with
   * `autoSync`), so a sign-in in this same request is listed.
   *
   * @returns `{ tag, version, createdAt, lastActive, device, current }` of each
   * @throws TypeError without the option `user`; SessionSyncError `store_unavailable`
   * @example
   * res.json(await req.session.devices()) // [{ tag, device: { summary: 'Chrome on macOS', … }, current: true, … }, …]
   */
  async devices(): Promise<UserDevice[]> {
    this.userNow('devices'); // refuses before anything is committed
    if (this.autoSync) await this.settle();
    return listDevices(this.core, this.userNow('devices'), this.entry?.id);
  }

  /**
   * Ends one session of this session's user, named by its tag (from {@link devices}): live on
   * every node, its sockets get `session:ended { reason: 'destroyed' }` and its browser cache
   * is wiped. The current tag is {@link destroy}. A tag that is not one of the same user's
   * sessions (another user's, a forged one, not a string) is refused.
   *
   * @param tag - the session's tag
   * @returns when ended
   * @throws TypeError without the option `user`; SessionSyncError `forbidden`, `store_unavailable`
   * @example
   * app.post('/devices/revoke', async (req, res) => { await req.session.revoke(req.body.tag); res.sendStatus(204) })
   */
  async revoke(tag: string): Promise<void> {
    const user = this.userNow('revoke');
    if (typeof tag === 'string' && tag === this.tag) return this.destroy();
    return revokeByTag(this.core, user, tag);
  }

  // The user as this handle sees it, uncommitted edits included (a sign-in in this same
  // request counts).
  private userNow(method: string): string | undefined {
    const userOf = this.core.options.user;
    if (!userOf) throw new TypeError(`session-sync: ${method}() needs the option "user"`);
    this.loaded();
    return userOf(this.draft.current());
  }

  /** The JSON of the session as this handle sees it. */
  toJSON(): JsonObject {
    return this.draft.current();
  }
}
