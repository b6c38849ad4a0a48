/**
 * The Express side: `sync.express()` gives every request its `req.session`, loads the
 * session its cookie names, holds the end of the response until the store has the
 * request's writes, and serves the JSON route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { assertJson, isPlainObject, type JsonObject } from '../../shared/index.js';
import type { Core } from '../engine/core.js';
import { checkDataKey, keyedClass } from '../engine/data-key.js';
import { logger } from '../log.js';
import type { LiveSession } from '../engine/registry.js';
import { HttpSession, type SessionRequest } from './http-session.js';
import type { SignedId } from '../engine/cookie.js';
import type { DeviceNote } from '../stores/store.js';
import { handleFor, keepState, lazySessions, stateOf, type RequestState } from './lazy-session.js';
import { requestDevice } from './request-device.js';
import { isRouteRequest, serveRoute } from './route.js';

const debug = logger('express');

type Next = (err?: unknown) => void;

/**
 * A throwaway `req.session`, to learn which names the session uses itself.
 *
 * @param core - the shared state
 * @returns the probe
 */
export function httpProbe(core: Core): HttpSession {
  return new HttpSession(core, {}, '\u0000probe', {} as SessionRequest, {} as ServerResponse);
}

/**
 * The request's session handle, when `express()` or `expressSession()` ran for it.
 *
 * @param req - the request
 * @returns the handle, or undefined
 */
export function handleOf(req: IncomingMessage): HttpSession | undefined {
  return handleFor<HttpSession>(req);
}

/**
 * Builds the Express middleware.
 *
 * @param core - the shared state
 * @param defaults - values a session starts with
 * @param key - the property of `req.session` holding the data
 * @returns `(req, res, next)`
 * @throws TypeError for bad defaults or a key the session uses itself
 * @example
 * app.use(createExpressMiddleware(core, {}, 'val'))
 */
export function createExpressMiddleware(
  core: Core,
  defaults: JsonObject,
  key: string,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  checkDefaults(defaults);
  checkDataKey(key, 'the key of express(defaults, key)', httpProbe(core), 'req.session');
  const Session = keyedClass(HttpSession, key);
  return sessionMiddleware(
    core,
    (req, res) => new Session(core, defaults, key, req, res),
    (req, session) => void (req.session = session),
    true,
  );
}

/**
 * Checks the defaults a middleware gets.
 *
 * @param defaults - values a session starts with
 * @throws TypeError unless plain JSON
 */
export function checkDefaults(defaults: unknown): asserts defaults is JsonObject {
  if (!isPlainObject(defaults)) throw new TypeError('session-sync: express(defaults) must be a plain JSON object');
  assertJson(defaults);
}

/** A request's state while its session waits for first use. */
interface Waiting extends RequestState<HttpSession> {
  next: Next;
  signed: SignedId | undefined;
  /** What an asynchronous store answered: the held entry, or its failure. */
  loaded?: LiveSession | LoadFailure | undefined;
}

class LoadFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The middleware both faces share: a handle per request (`make`), shown on the request
 * (`show`), the end of the response held until the store has its writes, the session the
 * cookie names loaded, and the JSON route. With `lazy`, an Express request's handle waits
 * until `req.session` is first read: until then the request costs a cookie lookup and the
 * activity touch (and, with an asynchronous store, the early load of the session, so a
 * handler reading it does not wait longer).
 *
 * @param core - the shared state
 * @param make - makes the request's handle
 * @param show - puts the handle's face on the request
 * @param lazy - whether the handle may wait for first use
 * @returns `(req, res, next)`
 */
export function sessionMiddleware(
  core: Core,
  make: (req: SessionRequest, res: ServerResponse) => HttpSession,
  show: (req: SessionRequest, session: HttpSession) => void,
  lazy = false,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const mayWait = lazy ? lazySessions() : undefined;
  const device = (req: SessionRequest) => (): DeviceNote | undefined => requestDevice(req, core.options.deviceIp);

  const start = (
    req: SessionRequest,
    res: ServerResponse,
    next: Next,
    state: RequestState<HttpSession>,
  ): HttpSession => {
    const session = make(req, res);
    state.handle = session;
    if (!state.assigned) show(req, session); // a later middleware's req.session stays theirs
    deferEnd(session, res, next);
    return session;
  };

  // A waiting request's session, made when first read: the same handle the eager path makes.
  const open = (raw: object, state: RequestState<HttpSession>): HttpSession => {
    const req = raw as SessionRequest & { res: ServerResponse };
    const { next, signed, loaded } = state as Waiting;
    (state as Waiting).loaded = undefined; // the handle takes over the hold
    const session = start(req, req.res, next, state);
    if (loaded instanceof LoadFailure) session.failedToLoad(loaded.error);
    else if (loaded) session.adoptHeld(loaded, signed!.issued);
    else if (signed) loadAtOnce(session, signed);
    return session;
  };

  // From the live registry or a store that answers at once; false when it must wait.
  const loadAtOnce = (session: HttpSession, { id, issued }: SignedId): boolean => {
    let live: LiveSession | undefined;
    try {
      live = core.registry.acquireSync(id);
    } catch (err) {
      session.failedToLoad(err);
      return true;
    }
    if (!live) return false;
    session.adoptHeld(live, issued);
    return true;
  };

  const wait = (req: SessionRequest, res: ServerResponse, next: Next, signed: SignedId | undefined): void => {
    const state: Waiting = { open, assigned: false, next, signed };
    keepState(req, state);
    if (signed === undefined) return next();
    const { id } = signed;
    if (core.registry.answersAtOnce(id)) {
      // Activity counts; whether there is a record to renew is asked only when a touch is due.
      if (core.touchDue(id) && core.registry.mayExist(id)) core.touch(id, device(req));
      return next();
    }
    core.registry.acquire(id).then(
      (entry) => {
        state.loaded = entry;
        // Released at the end unless the handle took it over.
        res.once('close', () => {
          if (state.loaded !== entry) return;
          state.loaded = undefined;
          core.registry.release(entry);
        });
        if (entry.version > 0) core.touch(id, device(req));
        next();
      },
      (err: unknown) => {
        debug('loading a session failed: %o', err);
        state.loaded = new LoadFailure(err);
        next();
      },
    );
  };

  return function sessionSync(raw: IncomingMessage, res: ServerResponse, next: Next): void {
    const req = raw as SessionRequest;
    if (stateOf(req)) return next(); // mounted twice
    const route = isRouteRequest(core, req);
    const signed = core.cookies.read(req.headers.cookie);
    if (!route && mayWait?.(req)) return wait(req, res, next, signed);
    const state: RequestState<HttpSession> = { assigned: false };
    keepState(req, state);
    const session = start(req, res, next, state);
    // Also called from a promise callback (after an async load): a throw there would be
    // an unhandled rejection and a request left hanging, so it goes to next(err) instead.
    const go = (): void => {
      if (!route) return next();
      serveRoute(core, session, req, res, next).catch(next);
    };
    if (signed === undefined) return go();
    const { id, issued } = signed;
    // Held here already, or from a store that answers at once: no tick to wait.
    if (loadAtOnce(session, signed)) {
      if (session.version > 0 && core.touchDue(id)) core.touch(id, device(req));
      return go();
    }
    core.registry.acquire(id).then(
      (entry) => {
        session.adoptHeld(entry, issued);
        if (entry.version > 0) core.touch(id, device(req));
        go();
      },
      (err: unknown) => {
        debug('loading a session failed: %o', err);
        session.failedToLoad(err);
        go();
      },
    );
  };
}

// Like express-session: hold the end of the response until the store has the change, so a
// redirect never races the write (express-session#660).
function deferEnd(session: HttpSession, res: ServerResponse, next: Next): void {
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.end = function deferredEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (session.endOfRequest()) debug('autoSync is off: dropped changes never passed to synchronize()');
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
