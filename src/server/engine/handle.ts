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
import { Draft } from './draft.js';
import type { LiveSession } from './registry.js';
import { endSessions } from './user-sessions.js';
import { overlay, withDefaults } from './view.js';

const debug = logger('handle');
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/** What the seed's `synchronize({ model, target })` accepts, normalized. */
const MODELS: Record<string, 'http' | 'tcp'> = {
  http: 'http',
  https: 'http',
  http2: 'http',
  exp: 'http',
  express: 'http',
  app: 'http',
  tcp: 'tcp',
  'tcp/ip': 'tcp',
  udp: 'tcp',
  socket: 'tcp',
  'socket.io': 'tcp',
};

/** The seed's `synchronize` argument: both sides are one session now, so it is a commit. */
export interface SynchronizeOptions {
  model?: string;
  target?: string;
}

function checkSeedOptions(options: SynchronizeOptions | undefined): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object')
    throw new TypeError('session-sync: synchronize() takes { model, target } or nothing');
  for (const name of ['model', 'target'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !MODELS[value.toLowerCase()]) {
      throw new TypeError(
        `session-sync: synchronize({ ${name} }) must be one of ${Object.keys(MODELS).join(', ')} (got ${JSON.stringify(value)})`,
      );
    }
  }
}

/**
 * A promise that knows whether user code looked at it (`then`, `catch`, `await`). An error
 * nobody looked at is routed elsewhere (`next(err)`) instead of becoming an unhandled
 * rejection, which would end a Node 20 process.
 */
export class ObservedPromise<T> extends Promise<T> {
  observed = false;
  // Derived promises are plain ones: only the promise we hand out is watched.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  override then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

function observed<T>(work: Promise<T>): ObservedPromise<T> {
  const out = new ObservedPromise<T>((resolve, reject) => void work.then(resolve, reject));
  // Our own handler: never an unhandled rejection, and does not count as observed.
  Promise.prototype.then.call(out, undefined, () => {});
  return out;
}

const KEYED = Symbol('session-sync.key');

/**
 * Checks the name of the data property (`req.session[key]`, `socket.session[key]`): a
 * non-empty string that does not hide a member of the session (`id`, `destroy`, `toJSON`, an
 * internal field…) or of every object. `data`, the seed's own example key, is allowed: the
 * handle never reads its `data()` method through `this` where the key could shadow it.
 *
 * @param key - the proposed key
 * @param name - how the message names it (`option "key"`, `express(defaults, key)`)
 * @param probe - a handle of the kind the key will be put on
 * @throws TypeError naming it
 * @example
 * checkDataKey('data', 'option "key"', httpProbe(core)) // fine
 * checkDataKey('destroy', 'option "key"', httpProbe(core)) // TypeError
 */
export function checkDataKey(key: unknown, name: string, probe: SessionHandle): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new TypeError(`session-sync: ${name} must be a non-empty string`);
  if (key !== 'data' && key in probe) {
    const where = probe.constructor.name === 'SocketSession' ? 'socket.session' : 'req.session';
    throw new TypeError(
      `session-sync: ${name} cannot be ${JSON.stringify(key)}: ${where}.${key} is taken by ${where} itself; pick another key`,
    );
  }
}

// Not `this.data()`: with the seed's `express({}, 'data')` the key shadows that method.
function dataAccessor(enumerable: boolean): PropertyDescriptor {
  return {
    enumerable,
    configurable: true,
    get(this: SessionHandle) {
      return this['tracked']();
    },
    set(this: SessionHandle, value: unknown) {
      this['tracked']();
      this['draft'].replace(value);
    },
  };
}

const keyedClasses = new WeakMap<object, Map<string, unknown>>();

/**
 * A subclass of `Base` whose prototype holds the data accessor for `key`, made once per
 * (class, key): handles are made per request, and a defineProperty on each was measurable.
 *
 * @param Base - HttpSession or SocketSession
 * @param key - the data's property name
 * @returns the subclass (cached)
 */
export function keyedClass<C extends abstract new (...args: never[]) => SessionHandle>(Base: C, key: string): C {
  let byKey = keyedClasses.get(Base);
  if (!byKey) keyedClasses.set(Base, (byKey = new Map()));
  let Keyed = byKey.get(key) as C | undefined;
  if (!Keyed) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    Keyed = class extends (Base as unknown as new (...args: any[]) => object) {
      static readonly [KEYED] = key;
    } as unknown as C;
    Object.defineProperty(Keyed.prototype, key, dataAccessor(true));
    Object.defineProperty(Keyed, 'name', { value: Base.name });
    byKey.set(key, Keyed);
  }
  return Keyed;
}

/**
 * Hands the outcome of `work` to a node-style callback as express-session does, when one is
 * given; the promise is returned either way, and with a callback its rejection is the
 * callback's (never an unhandled rejection).
 *
 * @param work - the operation
 * @param callback - `(err?) => void`, or undefined
 * @returns `work`
 * @example
 * regenerate(cb) { return withCallback(this.renew(), cb) }
 */
export function withCallback<T>(work: Promise<T>, callback: ((err?: unknown) => void) | undefined): Promise<T> {
  if (typeof callback !== 'function') return work;
  work.then(
    () => callback(),
    (err: unknown) => callback(err),
  );
  work.catch(() => undefined);
  return work;
}

/** A commit failure and whether user code took charge of it. */
interface Failure {
  error: unknown;
  promise?: ObservedPromise<unknown>;
}

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
  protected readonly draft: Draft;
  private readonly batches: Op[][] = [];
  protected readonly work = new Set<Promise<unknown>>();
  // Which synchronize() promise carries each commit's failure (set later when synchronize()
  // takes charge of an auto-commit already in flight).
  private readonly owners = new WeakMap<Promise<unknown>, { promise?: ObservedPromise<unknown> }>();
  private scheduled = false;
  private viewCache: { data: JsonObject; batches: number; view: JsonObject } | undefined;
  protected readonly failures: Failure[] = [];
  protected loadError: unknown;

  constructor(
    protected readonly core: Core,
    protected readonly defaults: JsonObject,
    protected readonly key: string,
  ) {
    this.draft = new Draft(
      () => this.view(),
      () => this.onWrite(),
    );
    // A class made by keyedClass() carries the accessor on its prototype (no per-request
    // defineProperty on the hot path); any other instance gets its own.
    if ((this.constructor as { [KEYED]?: string })[KEYED] !== key) Object.defineProperty(this, key, dataAccessor(true));
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

  /** The mutable, tracked data (what `[key]` returns). */
  protected data(): JsonObject {
    return this.tracked();
  }

  /** @internal The tracked data proxy (what `[key]` returns; throws while the load failed). */
  tracked(): JsonObject {
    if (this.loadError !== undefined) {
      throw new SessionSyncError('store_unavailable', 'session-sync: the session could not be loaded from the store', {
        cause: this.loadError,
      });
    }
    return this.draft.proxy();
  }

  /** The committed data plus in-flight ops plus defaults, without this handle's draft. */
  protected view(): JsonObject {
    const data = this.entry?.data ?? EMPTY;
    const cache = this.viewCache;
    if (cache && cache.data === data && cache.batches === this.batches.length) return cache.view;
    const view = withDefaults(this.batches.length ? overlay(data, this.batches) : data, this.defaults);
    this.viewCache = { data, batches: this.batches.length, view };
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
  private async send(entry: LiveSession, ops: Op[]): Promise<ApplyResult> {
    try {
      return await this.core.commit(entry.id, ops, { when: this.condition(entry), device: () => this.seenDevice() });
    } catch (err) {
      const next = err instanceof SessionSyncError && err.code === 'ended' ? this.afterEnded(entry) : undefined;
      if (!next) throw err;
      debug('the id this request named has ended; writing under a new one');
      return this.core.commit(next.id, ops, { when: this.condition(next), device: () => this.seenDevice() });
    }
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
      if (this.draft.dirty) this.flush().catch(() => {});
    });
  }

  /**
   * Sends the uncommitted edits to the store.
   *
   * @param promise - the `synchronize()` promise that will carry a failure, if any
   * @returns when stored and published
   */
  protected flush(promise?: ObservedPromise<unknown>): Promise<void> {
    const ops = this.draft.take();
    if (ops.length === 0) return Promise.resolve();
    let entry: LiveSession;
    try {
      entry = this.ensureEntry();
    } catch (err) {
      return Promise.reject(this.fail(err, promise));
    }
    const batch = ops;
    this.batches.push(batch);
    const owner: { promise?: ObservedPromise<unknown> } = {};
    if (promise) owner.promise = promise;
    const done = (): void => {
      const at = this.batches.indexOf(batch);
      if (at >= 0) this.batches.splice(at, 1);
    };
    const work = this.send(entry, ops).then(
      (result) => {
        done();
        debug('committed %d ops as version %d', ops.length, result.version);
      },
      (err: unknown) => {
        done();
        throw this.fail(err, owner.promise);
      },
    );
    this.owners.set(work, owner);
    this.work.add(work);
    const forget = (): void => void this.work.delete(work);
    work.then(forget, forget);
    return work;
  }

  private fail(error: unknown, promise?: ObservedPromise<unknown>): unknown {
    debug('commit failed: %o', error);
    const failure: Failure = { error };
    if (promise) failure.promise = promise;
    this.failures.push(failure);
    if (!promise) this.reportFailure(error);
    return error;
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
    // Commits of this handle already in flight (the end-of-tick auto-commit) are part of
    // "every change made through this handle": their failure rejects this promise and is
    // this caller's to handle, not also next(err)'s.
    for (const work of this.work) {
      const owner = this.owners.get(work);
      if (owner && !owner.promise) owner.promise = handOut;
    }
    // ...and so are earlier auto-commits that already failed with nobody in charge.
    const earlier = this.failures.filter((f) => !f.promise);
    for (const failure of earlier) failure.promise = handOut;
    // Flushed synchronously, before the end-of-tick auto-commit can take the edits.
    const mine = this.draft.dirty ? this.flush(handOut) : Promise.resolve();
    const all = [mine, ...this.work];
    Promise.allSettled(all).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (earlier.length > 0) settle.reject(earlier[0]!.error);
      else if (failed) settle.reject(failed.reason);
      else settle.resolve();
    });
    return handOut;
  }

  /** Waits for every commit of this handle, including edits not yet sent. */
  protected async settle(): Promise<void> {
    if (this.draft.dirty) await this.flush().catch(() => {});
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Failures that no `synchronize()` caller looked at. */
  protected unobservedFailures(): unknown[] {
    return this.failures.filter((f) => !f.promise?.observed).map((f) => f.error);
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
    this.tracked(); // a session that could not be loaded is not written to
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
    await this.core.destroy(entry.id, 'destroyed');
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
    const userOf = this.core.options.user;
    if (!userOf) throw new TypeError('session-sync: logoutOthers() needs the option "user"');
    // Data that could not be loaded must not read as "no user, nothing to end".
    if (this.unavailable) {
      throw new SessionSyncError('store_unavailable', 'session-sync: the session could not be loaded from the store', {
        cause: this.loadError,
      });
    }
    // The user as this handle sees it, uncommitted edits included (a sign-in in this same
    // request counts).
    const user = userOf(this.draft.current());
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

  // The user as this handle sees it, uncommitted edits included.
  private userNow(method: string): string | undefined {
    const userOf = this.core.options.user;
    if (!userOf) throw new TypeError(`session-sync: ${method}() needs the option "user"`);
    // Data that could not be loaded must not read as "no user".
    if (this.unavailable) {
      throw new SessionSyncError('store_unavailable', 'session-sync: the session could not be loaded from the store', {
        cause: this.loadError,
      });
    }
    return userOf(this.draft.current());
  }

  /** The JSON of the session as this handle sees it. */
  toJSON(): JsonObject {
    return this.draft.current();
  }
}
