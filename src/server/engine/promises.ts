/**
 * Promises the handles hand out: one that knows whether user code looked at it (so an
 * ignored failure goes to next(err) instead of ending the process), and express-session's
 * node-style callbacks beside a Promise.
 */
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

/**
 * Wraps `work` in an {@link ObservedPromise} that never becomes an unhandled rejection by
 * itself (our own handler does not count as looking).
 *
 * @param work - the operation
 * @returns the promise to hand out
 * @example
 * const handOut = observed(commit())
 */
export function observed<T>(work: Promise<T>): ObservedPromise<T> {
  const out = new ObservedPromise<T>((resolve, reject) => void work.then(resolve, reject));
  // Our own handler: never an unhandled rejection, and does not count as observed.
  Promise.prototype.then.call(out, undefined, () => {});
  return out;
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
