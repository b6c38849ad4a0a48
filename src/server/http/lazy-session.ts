/**
 * `req.session` made on first use, and what the session layer keeps about a request. Most
 * requests of an app (assets, health checks, API routes that never look at the session)
 * only need their activity counted; the handle, its hold on the live entry, the `res.end`
 * wrapper and the `close` listener are made when a handler first reads `req.session`.
 * Express gives every request of an app the same prototype chain, so one getter on
 * Express's request prototype opens the session a request was prepared for.
 *
 * The state is ONE symbol-keyed property of the request. Express re-parents every request
 * (`Object.setPrototypeOf`), after which V8 gives each one its own hidden class, so every
 * property added to a request costs a fresh map (~4 µs): one, then, and nothing else on the
 * request. A WeakMap avoids that write but was measured dearer (bench/profile.mjs, the route
 * that ignores the session): its entries are ephemerons, which every scavenge must process,
 * and the garbage collector's time per request rose by ~19 µs where the property costs ~4.
 */
import { IncomingMessage } from 'node:http';

/** What the session layer keeps about one request. */
export interface RequestState<Handle = unknown> {
  /** The request's handle, once made. */
  handle?: Handle;
  /** Makes the handle on first use; undefined once made (or for an eager request). */
  open?: ((req: object, state: RequestState<Handle>) => Handle) | undefined;
  /** Whether `req.session` was assigned (by us when the handle was made, or by anyone). */
  assigned: boolean;
  /** What `req.session` holds once assigned. */
  value?: unknown;
}

const STATE = Symbol('session-sync request state');
type Carrier = Record<typeof STATE, RequestState | undefined>;
const states = {
  get: (req: object): RequestState | undefined => (req as Carrier)[STATE],
  set: (req: object, state: RequestState): void => void ((req as Carrier)[STATE] = state),
};

/**
 * The session layer's state of a request.
 *
 * @param req - the request
 * @returns the state, or undefined when no middleware of ours saw the request
 */
export function stateOf<Handle>(req: object): RequestState<Handle> | undefined {
  return states.get(req) as RequestState<Handle> | undefined;
}

/**
 * Starts keeping state for a request.
 *
 * @param req - the request
 * @param state - its state
 */
export function keepState<Handle>(req: object, state: RequestState<Handle>): void {
  states.set(req, state as RequestState);
}

/**
 * The request's handle, made now when it was waiting for first use.
 *
 * @param req - the request
 * @returns the handle, or undefined when no middleware of ours saw the request
 */
export function handleFor<Handle>(req: object): Handle | undefined {
  const state = stateOf<Handle>(req);
  if (!state) return undefined;
  const open = state.open;
  if (open) {
    state.open = undefined;
    state.handle = open(req, state);
  }
  return state.handle;
}

/**
 * `delete req.session`, also where `req.session` is the getter's.
 *
 * @param req - the request
 */
export function deleteSession(req: object & { session?: unknown }): void {
  const state = states.get(req);
  if (state) {
    state.assigned = false;
    state.value = undefined;
  }
  delete req.session;
}

const descriptor: PropertyDescriptor & ThisType<object> = {
  configurable: true,
  enumerable: true,
  get(): unknown {
    const state = states.get(this);
    if (!state) return undefined; // a request no middleware of ours saw
    // Another middleware's assignment stands; otherwise ours is made now.
    if (!state.assigned && state.open) handleFor(this);
    return state.value;
  },
  set(value: unknown): void {
    const state = states.get(this);
    if (state) {
      state.assigned = true;
      state.value = value;
      return;
    }
    Object.defineProperty(this, 'session', { value, writable: true, configurable: true, enumerable: true });
  },
};

/**
 * Decides, per request, whether its session may wait for first use: only on an Express
 * request (its prototype is its app's `request`), with no `session` of its own. The getter
 * is installed once, on the prototype all of that Express's apps share, so a sub-app's
 * handlers see it too.
 *
 * @returns `(req) => boolean`, remembering the last prototype it accepted
 */
export function lazySessions(): (req: object & { app?: { request?: unknown } }) => boolean {
  let accepted: object | undefined;
  return (req) => {
    const own = Object.getPrototypeOf(req) as object;
    if (own !== accepted) {
      if (!req.app || req.app.request !== own) return false;
      const shared = Object.getPrototypeOf(own) as object | null;
      if (!shared || shared === IncomingMessage.prototype) return false;
      const present = Object.getOwnPropertyDescriptor(shared, 'session');
      if (present && present.get !== descriptor.get) return false; // someone else's
      if (!present) Object.defineProperty(shared, 'session', descriptor);
      accepted = own;
    }
    return !Object.prototype.hasOwnProperty.call(req, 'session');
  };
}
