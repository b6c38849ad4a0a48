/**
 * The commits of one handle on their way to the store, and who answers for each failure:
 * the `synchronize()` promise that took charge of it, or nobody (then the handle reports it:
 * `next(err)` for a request, `sync.on('error')` for a socket). Their ops stay readable
 * (`batches`) until the store answers, so the handle's reads show them at once.
 */
import type { Op } from '../../shared/index.js';
import type { ObservedPromise } from './promises.js';

/** A commit failure and whether user code took charge of it. */
interface Failure {
  error: unknown;
  promise?: ObservedPromise<unknown>;
}

/**
 * The commits in flight of one handle.
 *
 * @example
 * const commits = new Commits((err) => next(err))
 * commits.run(ops, () => core.commit(id, ops, options))
 */
export class Commits {
  /** The ops sent and not yet answered, in order. */
  readonly batches: Op[][] = [];
  private readonly work = new Set<Promise<void>>();
  // Which synchronize() promise carries each commit's failure (set later when synchronize()
  // takes charge of an auto-commit already in flight).
  private readonly owners = new WeakMap<Promise<void>, { promise?: ObservedPromise<unknown> }>();
  private readonly failures: Failure[] = [];

  /** @param report - a failure nobody took charge of (called when it happens) */
  constructor(private readonly report: (error: unknown) => void) {}

  /** Whether a commit is in flight, or one failed (the response must wait for either). */
  get busy(): boolean {
    return this.work.size > 0 || this.failures.length > 0;
  }

  /** Whether a commit is in flight. */
  get pending(): boolean {
    return this.work.size > 0;
  }

  /**
   * Sends `ops` with `send` and keeps them readable until it settles. A store that answers
   * at once leaves nothing in flight.
   *
   * @param ops - the change
   * @param send - the store call: its answer, or its promise
   * @param promise - the `synchronize()` promise in charge of a failure, if any
   * @returns undefined when stored at once; else when stored (rejects with the failure)
   */
  run(ops: Op[], send: () => unknown, promise?: ObservedPromise<unknown>): Promise<void> | undefined {
    this.batches.push(ops);
    const done = (): void => {
      const at = this.batches.indexOf(ops);
      if (at >= 0) this.batches.splice(at, 1);
    };
    let answer: unknown;
    try {
      answer = send();
    } catch (err) {
      done();
      return Promise.reject(this.fail(err, promise));
    }
    if (!(answer instanceof Promise)) {
      done();
      return undefined;
    }
    const owner: { promise?: ObservedPromise<unknown> } = {};
    if (promise) owner.promise = promise;
    const work = answer.then(
      () => done(),
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

  /**
   * Records a failure (also one before anything was sent).
   *
   * @param error - what failed
   * @param promise - the `synchronize()` promise in charge, if any
   * @returns the error, to rethrow
   */
  fail(error: unknown, promise?: ObservedPromise<unknown>): unknown {
    const failure: Failure = { error };
    if (promise) failure.promise = promise;
    this.failures.push(failure);
    if (!promise) this.report(error);
    return error;
  }

  /**
   * A `synchronize()` call takes charge of every commit in flight and of earlier failures
   * nobody took charge of ("every change made through this handle").
   *
   * @param promise - the promise it hands out
   * @returns the earlier failures it took, and the commits in flight now
   */
  claim(promise: ObservedPromise<unknown>): { earlier: unknown[]; inFlight: Promise<void>[] } {
    for (const work of this.work) {
      const owner = this.owners.get(work);
      if (owner && !owner.promise) owner.promise = promise;
    }
    const earlier = this.failures.filter((f) => !f.promise);
    for (const failure of earlier) failure.promise = promise;
    return { earlier: earlier.map((f) => f.error), inFlight: [...this.work] };
  }

  /** Resolves once nothing is in flight (new commits made meanwhile included). */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Failures that no `synchronize()` caller looked at. */
  unobserved(): unknown[] {
    return this.failures.filter((f) => !f.promise?.observed).map((f) => f.error);
  }
}
