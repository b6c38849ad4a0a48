/**
 * `sync.expressSession()`: express-session's face on the same live session, for the
 * middleware written against express-session (Passport, connect-flash, the Socket.IO
 * documentation's example). `req.session` IS the data — `req.session.passport = { user }` is a
 * tracked write, pushed live to sockets and browsers like any other — and express-session's
 * members sit beside it, non-enumerable, so JSON and `Object.keys` see only the data.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cloneJson, type JsonObject } from '../../shared/index.js';
import type { Core } from '../engine/core.js';
import { withCallback } from '../engine/promises.js';
import { HttpSession, type SessionRequest } from './http-session.js';
import { checkDefaults, sessionMiddleware } from './middleware.js';

type Callback = (err?: unknown) => void;

/** express-session's `req.session.cookie`, read from the id cookie. */
export interface SessionCookie {
  /** ms until the cookie expires (settable, as with express-session: the cookie is sent again). */
  maxAge: number;
  /** The cookie's lifetime in ms when issued (option `cookie.maxAge`). */
  readonly originalMaxAge: number;
  /** When the cookie expires. */
  readonly expires: Date;
  readonly httpOnly: boolean;
  readonly path: string;
  readonly domain: string | undefined;
  readonly secure: boolean | 'auto';
  readonly sameSite: 'lax' | 'strict' | 'none' | false;
}

/** express-session's members of `req.session` in the `expressSession()` face. */
export interface ExpressSessionMembers {
  /** The session id (issued now when the visitor had none, as express-session always has one). */
  readonly id: string;
  readonly cookie: SessionCookie;
  /** A new, empty session (the old id is dead at once); `req.session` is the new one when `callback` runs. */
  regenerate(callback: Callback): this;
  /** Ends the session everywhere; `req.session` is gone, as with express-session. */
  destroy(callback?: Callback): this;
  /** Reads the session from the store again. */
  reload(callback: Callback): this;
  /** Commits the changes now (they are committed at the end of the tick anyway). */
  save(callback?: Callback): this;
  /** Counts as activity (the idle lifetime is refreshed). */
  touch(): this;
  /** Sends the cookie again with its full lifetime. */
  resetMaxAge(): this;
}

/**
 * Builds the `expressSession()` middleware.
 *
 * @param core - the shared state
 * @param defaults - values a session starts with
 * @returns `(req, res, next)`
 * @example
 * app.use(createExpressSessionMiddleware(core, {}))
 */
export function createExpressSessionMiddleware(
  core: Core,
  defaults: JsonObject,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  checkDefaults(defaults);
  return sessionMiddleware(
    core,
    (req, res) => new HttpSession(core, defaults, '\u0000data', req, res),
    (req, session) => {
      req.session = face(core, session, req);
      Object.defineProperty(req, 'sessionID', { get: () => idOf(session), configurable: true, enumerable: true });
    },
  );
}

// express-session always has an id: a visitor without one gets it now (a cookie, no record).
function idOf(session: HttpSession): string | undefined {
  if (session.id === undefined && !session.headersSent) session.issueId();
  return session.id;
}

/**
 * The data of `session` with express-session's members beside it.
 *
 * @param core - the shared state
 * @param session - the request's handle
 * @param req - the request (its `session` is replaced on `regenerate`, removed on `destroy`)
 * @param frozen - what an earlier face, left behind by `regenerate`, keeps showing
 * @returns the face
 */
function face(core: Core, session: HttpSession, req: SessionRequest, frozen?: JsonObject): object {
  let left: JsonObject | undefined = frozen;
  const data = (): JsonObject => left ?? session.tracked();
  const self = (): object => proxy;
  const members: Record<string, unknown> = {
    regenerate(callback: Callback) {
      // As express-session: the new session starts empty; the old one is dead from now on.
      left = cloneJson(session.toJSON());
      withCallback(
        session.regenerate({ keep: false }).then(() => void (req.session = face(core, session, req))),
        callback,
      );
      return self();
    },
    destroy(callback?: Callback) {
      withCallback(
        session.destroy().then(() => void delete req.session),
        callback,
      );
      return self();
    },
    reload(callback: Callback) {
      withCallback(session.reload(), callback);
      return self();
    },
    save(callback?: Callback) {
      withCallback(session.synchronize(), callback);
      return self();
    },
    touch() {
      if (session.version > 0) core.touch(session.id!);
      return self();
    },
    resetMaxAge() {
      session.resendCookie(core.options.cookie.maxAge);
      return self();
    },
  };
  const cookie = sessionCookie(core, session);
  const getters: Record<string, () => unknown> = { id: () => idOf(session), cookie: () => cookie };
  const member = (prop: string | symbol): boolean =>
    typeof prop === 'string' && (Object.hasOwn(members, prop) || Object.hasOwn(getters, prop));
  const read = (prop: string): unknown => (Object.hasOwn(getters, prop) ? getters[prop]!() : members[prop]);
  const proxy: object = new Proxy(
    {},
    {
      get: (_t, prop) => (member(prop) ? read(prop as string) : Reflect.get(data(), prop)),
      // express-session's members are not data: assigning one is refused (a TypeError in strict code).
      set: (_t, prop, value) => !member(prop) && Reflect.set(data(), prop, value),
      deleteProperty: (_t, prop) => !member(prop) && Reflect.deleteProperty(data(), prop),
      defineProperty: (_t, prop, descriptor) => !member(prop) && Reflect.defineProperty(data(), prop, descriptor),
      has: (_t, prop) => member(prop) || Reflect.has(data(), prop),
      ownKeys: () => Reflect.ownKeys(data()),
      getOwnPropertyDescriptor: (_t, prop) =>
        member(prop)
          ? { value: read(prop as string), enumerable: false, configurable: true, writable: false }
          : Reflect.getOwnPropertyDescriptor(data(), prop),
    },
  );
  return proxy;
}

function sessionCookie(core: Core, session: HttpSession): SessionCookie {
  const settings = core.options.cookie;
  let maxAge = settings.maxAge;
  const expires = (): Date => new Date((session.cookieIssued || Date.now()) + maxAge);
  return {
    get maxAge() {
      return expires().getTime() - Date.now();
    },
    set maxAge(ms: number) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
        throw new TypeError('session-sync: req.session.cookie.maxAge must be a positive number of ms');
      }
      maxAge = Date.now() - (session.cookieIssued || Date.now()) + ms;
      session.resendCookie(maxAge);
    },
    originalMaxAge: settings.maxAge,
    get expires() {
      return expires();
    },
    httpOnly: settings.httpOnly,
    path: settings.path,
    domain: settings.domain,
    secure: settings.secure,
    sameSite: settings.sameSite,
  };
}
