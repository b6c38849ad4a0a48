/**
 * Socket.IO handshakes: what a handshake request says about where it was sent (its scheme,
 * for the cookie's `Secure` flag, and its own origin, for the `Origin` check), and the hook
 * that issues the id cookie on it. Express answers the first two for HTTP through
 * `trust proxy`; handshakes never pass through Express, so the option `trustProxy` decides
 * whether `X-Forwarded-*` headers count.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { newId, type SignedId } from '../engine/cookie.js';
import type { Core } from '../engine/core.js';
import { deviceNote } from '../engine/device-notes.js';
import type { DeviceNote } from '../stores/store.js';
import { originAllowed } from '../engine/origin.js';
import { logger } from '../log.js';

const debug = logger('socket');

// The first value of a header a chain of proxies may have appended to ("https, http").
function firstValue(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined) return undefined;
  const first = text.split(',')[0]!.trim();
  return first === '' ? undefined : first;
}

/**
 * Whether a handshake came over HTTPS: a TLS connection, or, with `trustProxy`, a proxy
 * that says so in `X-Forwarded-Proto`.
 *
 * @param req - the handshake request
 * @param trustProxy - option `trustProxy`
 * @returns true for HTTPS
 * @example
 * isSecureHandshake(socket.request, false)
 */
export function isSecureHandshake(req: IncomingMessage, trustProxy: boolean): boolean {
  if (trustProxy) {
    const proto = firstValue(req.headers['x-forwarded-proto']);
    if (proto !== undefined) return proto.toLowerCase() === 'https';
  }
  return (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * The origin a handshake was addressed to, `<scheme>://<host>`: the page's own origin when
 * the page and the socket are served together.
 *
 * @param req - the handshake request
 * @param trustProxy - option `trustProxy` (use `X-Forwarded-Host` / `-Proto`)
 * @returns the origin, or undefined without a Host header
 * @example
 * handshakeOrigin(socket.request, false) // 'http://localhost:3000'
 */
export function handshakeOrigin(req: IncomingMessage, trustProxy: boolean): string | undefined {
  const host = (trustProxy ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? firstValue(req.headers.host);
  if (host === undefined) return undefined;
  return `${isSecureHandshake(req, trustProxy) ? 'https' : 'http'}://${host.toLowerCase()}`;
}

/**
 * What a handshake says about the client: its `User-Agent`, and with `deviceIp` its address
 * (with `trustProxy`, the first `X-Forwarded-For` entry, as Express' `trust proxy: true` takes).
 *
 * @param req - the handshake request
 * @param trustProxy - option `trustProxy`
 * @param deviceIp - option `deviceIp`
 * @returns the note
 * @example
 * handshakeDevice(socket.request, false, false) // { userAgent: 'Mozilla/5.0 …' }
 */
export function handshakeDevice(req: IncomingMessage, trustProxy: boolean, deviceIp: boolean): DeviceNote {
  const forwarded = trustProxy ? firstValue(req.headers['x-forwarded-for']) : undefined;
  return deviceNote(req.headers['user-agent'], deviceIp ? (forwarded ?? req.socket?.remoteAddress) : undefined);
}

/** A handshake request as engine.io hands it to its middlewares (`_query` parsed). */
type EngineRequest = IncomingMessage & { _query?: Record<string, string | undefined> };

/**
 * The `io.engine.use()` middleware of `attach(io)`: before a handshake is answered, decides
 * whether its id cookie needs replacing — none, or one naming an id that is neither live nor
 * adoptable (ended, or issued too long ago to be adopted by a first write) — and remembers
 * the fresh id for that request; the `initial_headers` listener then writes its cookie, and
 * the socket's session uses it. Requests of an established connection pass untouched.
 *
 * @param core - the shared state
 * @param issued - where fresh ids are kept, by request
 * @returns the middleware
 * @example
 * io.engine.use(handshakeDecider(core, issued))
 */
export function handshakeDecider(
  core: Core,
  issued: WeakMap<IncomingMessage, SignedId>,
): (req: EngineRequest, res: unknown, next: (err?: unknown) => void) => void {
  return (req, _res, next) => {
    if (req._query?.sid !== undefined || issued.has(req) || !mayHaveCookie(core, req)) return next();
    const signed = core.cookies.read(req.headers.cookie);
    if (signed === undefined) return next(); // the headers hook issues one
    core.presentedDead(signed).then(
      (dead) => {
        if (dead) issued.set(req, { id: newId(), issued: Date.now() });
        next();
      },
      (err: unknown) => {
        // The store is down: the socket middleware refuses the connection with store_unavailable.
        debug('checking a handshake cookie failed: %o', err);
        next();
      },
    );
  };
}

// No cookie for a page whose socket is refused anyway.
function mayHaveCookie(core: Core, req: IncomingMessage): boolean {
  const { trustProxy, origins } = core.options;
  return originAllowed(origins, req.headers.origin, handshakeOrigin(req, trustProxy));
}

/**
 * The `io.engine.on('initial_headers')` listener of `attach(io)`: gives a handshake that
 * carries no valid cookie (or one the decider replaced) the id cookie, and remembers the id
 * for that request so the socket knows it (its own request carries no new cookie). Engine.IO
 * fires the event for the first request of every connection: the polling handshake, and the
 * upgrade response of a websocket-first one. A handshake with a usable cookie never gets
 * another.
 *
 * @param core - the shared state
 * @param issued - where the fresh ids are kept, by request
 * @returns the listener
 * @example
 * io.engine.on('initial_headers', cookieIssuer(core, issued))
 */
export function cookieIssuer(
  core: Core,
  issued: WeakMap<IncomingMessage, SignedId>,
): (headers: Record<string, string | string[]>, req: IncomingMessage) => void {
  return (headers, req) => {
    try {
      let fresh = issued.get(req);
      if (!fresh) {
        if (core.cookies.read(req.headers.cookie) !== undefined || !mayHaveCookie(core, req)) return;
        fresh = { id: newId(), issued: Date.now() };
        issued.set(req, fresh);
      }
      addSetCookie(headers, core.cookies.serialize(fresh, isSecureHandshake(req, core.options.trustProxy)), req);
      debug('issued a cookie on a %s handshake', req.headers.upgrade ? 'websocket' : 'polling');
    } catch (err) {
      debug('issuing a handshake cookie failed: %o', err);
    }
  };
}

// Polling responses take an array of Set-Cookie values; the websocket upgrade writes each
// key of this object as one `name: value` line, so there a second cookie goes under the
// same header name in another letter case (header names are case-insensitive).
function addSetCookie(headers: Record<string, string | string[]>, cookie: string, req: IncomingMessage): void {
  const names = Object.keys(headers).filter((k) => k.toLowerCase() === 'set-cookie');
  if (names.length === 0) {
    headers['Set-Cookie'] = cookie;
  } else if (req.headers.upgrade) {
    const free = ['Set-Cookie', 'set-cookie', 'SET-COOKIE', 'Set-cookie', 'set-Cookie'].find((k) => !names.includes(k));
    if (free) headers[free] = cookie;
  } else {
    const existing = headers[names[0]!]!;
    headers[names[0]!] = [...(Array.isArray(existing) ? existing : [existing]), cookie];
  }
}
