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

/** Where a request's session handle is kept, whatever face `req.session` shows. */
export const HANDLE = Symbol.for('session-sync.handle');

/** A request as the middleware leaves it. */
export type HandledRequest = SessionRequest & { [HANDLE]?: HttpSession };

/**
 * The request's session handle, when `express()` or `expressSession()` ran for it.
 *
 * @param req - the request
 * @returns the handle, or undefined
 */
export function handleOf(req: IncomingMessage): HttpSession | undefined {
  return (req as HandledRequest)[HANDLE];
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

/**
 * The middleware both faces share: a handle per request (`make`), shown on the request
 * (`show`), the end of the response held until the store has its writes, the session the
 * cookie names loaded, and the JSON route.
 *
 * @param core - the shared state
 * @param make - makes the request's handle
 * @param show - puts the handle's face on the request
 * @returns `(req, res, next)`
 */
export function sessionMiddleware(
  core: Core,
  make: (req: SessionRequest, res: ServerResponse) => HttpSession,
  show: (req: SessionRequest, session: HttpSession) => void,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return function sessionSync(rawReq: IncomingMessage, res: ServerResponse, next: Next): void {
    const req = rawReq as HandledRequest;
    if (req[HANDLE]) return next(); // mounted twice
    const session = make(req, res);
    req[HANDLE] = session;
    show(req, session);
    deferEnd(session, res, next);
    const route = isRouteRequest(core, req);
    // Also called from a promise callback (after an async load): a throw there would be
    // an unhandled rejection and a request left hanging, so it goes to next(err) instead.
    const go = (): void => {
      if (!route) return next();
      serveRoute(core, session, req, res, next).catch(next);
    };
    const signed = core.cookies.read(req.headers.cookie);
    if (signed === undefined) return go();
    const { id, issued } = signed;
    const device = (): ReturnType<typeof requestDevice> => requestDevice(req, core.options.deviceIp);
    let live: LiveSession | undefined;
    try {
      // Held here already, or from a store that answers at once: no tick to wait.
      live = core.registry.acquireSync(id);
    } catch (err) {
      session.failedToLoad(err);
      return go();
    }
    if (live) {
      session.adoptHeld(live, issued);
      if (live.version > 0) core.touch(id, device);
      return go();
    }
    core.registry.acquire(id).then(
      (entry) => {
        session.adoptHeld(entry, issued);
        if (entry.version > 0) core.touch(id, device);
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
