/**
 * The JSON route (default `GET /get/session`): `{ version, tag, epoch, expiresIn, data }`
 * with the exposed data, an ETag of `"<tag>:<epoch>:<version>"` (so a 304 never validates a
 * cache of an earlier record) and 304s, never cached by intermediaries. A `GET` carrying
 * `X-Session-Sync: 1` issues the id cookie (no record), so the browser SDK holds one id
 * before its socket opens — also in place of a cookie whose id is neither live nor
 * adoptable, so a dead id always has a way out (`X-Session-Sync: renew`, sent while the SDK
 * follows a regenerate, never replaces one). CORS follows `origins`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTP_STATUS, SessionSyncError, type SessionSnapshot } from '../../shared/index.js';
import type { Core } from '../engine/core.js';
import { originAllowed } from '../engine/origin.js';
import { project } from '../engine/policy.js';
import type { HttpSession } from './http-session.js';

type Request = IncomingMessage & {
  path?: string;
  protocol?: string;
  secure?: boolean;
  get?(name: string): string | undefined;
};

function pathnameOf(req: Request): string {
  if (typeof req.path === 'string') return req.path;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Whether a request is for the JSON route.
 *
 * @param core - the shared state
 * @param req - the request
 * @returns true when the path matches `route`
 */
export function isRouteRequest(core: Core, req: Request): boolean {
  const route = core.options.route;
  if (route === null) return false;
  if (typeof route === 'string') {
    // Most requests are not for the route: a prefix test spares parsing their URL (Express's
    // `req.path` parses it). An absolute-form target (`http://host/…`) takes the long way.
    const url = req.url ?? '/';
    if (url.charCodeAt(0) === 47 && !url.startsWith(route)) return false;
  }
  const path = pathnameOf(req);
  return typeof route === 'string' ? path === route : route.test(path);
}

/**
 * The origin a request was addressed to, as Express sees it (`trust proxy` respected).
 *
 * @param req - the request
 * @returns `<scheme>://<host>` or undefined without a Host header
 */
function selfOrigin(req: Request): string | undefined {
  // Express' req.protocol follows `trust proxy`; the Host header names where the page came from.
  const host = req.headers.host;
  if (!host) return undefined;
  const scheme = req.protocol ?? (req.secure ? 'https' : 'http');
  return `${scheme}://${host}`;
}

// Adds to a Vary header an earlier middleware may have set, instead of replacing it.
function addVary(res: ServerResponse, fields: string[]): void {
  const existing = res.getHeader('Vary');
  const have = (Array.isArray(existing) ? existing.join(',') : existing === undefined ? '' : String(existing))
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const lower = new Set(have.map((f) => f.toLowerCase()));
  if (lower.has('*')) return;
  for (const field of fields) if (!lower.has(field.toLowerCase())) have.push(field);
  res.setHeader('Vary', have.join(', '));
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true;
  }
  return false;
}

function corsHeaders(core: Core, req: Request, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const self = selfOrigin(req);
  if (origin === self) return true;
  if (!originAllowed(core.options.origins, origin, self)) return false;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Access-Control-Expose-Headers', 'ETag');
  return true;
}

/**
 * Answers the JSON route; other methods pass through, except CORS preflights from allowed
 * origins.
 *
 * @param core - the shared state
 * @param session - this request's session
 * @param req - the request
 * @param res - the response
 * @param next - Express' next
 * @returns when answered (or passed on)
 */
export async function serveRoute(
  core: Core,
  session: HttpSession,
  req: Request,
  res: ServerResponse,
  next: (err?: unknown) => void,
): Promise<void> {
  const method = req.method;
  if (method === 'OPTIONS' && req.headers['access-control-request-method'] && req.headers.origin) {
    if (!corsHeaders(core, req, res) || !res.hasHeader('Access-Control-Allow-Origin')) return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
    res.setHeader('Access-Control-Allow-Headers', 'X-Session-Sync, If-None-Match');
    res.setHeader('Access-Control-Max-Age', '600');
    addVary(res, ['Origin']);
    res.statusCode = 204;
    res.end();
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') return next();
  corsHeaders(core, req, res);
  res.setHeader('Cache-Control', 'no-store, private');
  addVary(res, req.headers.origin ? ['Cookie', 'Origin'] : ['Cookie']);
  let body: SessionSnapshot;
  try {
    if (session.unavailable) {
      throw new SessionSyncError('store_unavailable', 'session-sync: the session store is unavailable');
    }
    // '1' (a page loading): an id neither live nor adoptable is replaced, so a dead id always
    // has a way out. 'renew' (the SDK following a regenerate): the new cookie is on its way
    // and must not be raced by a replacement; only a visitor without any cookie gets one.
    const mode = req.headers['x-session-sync'];
    if (mode === '1' && session.version === 0) await session.renewIfDead();
    else if (mode === 'renew' && session.id === undefined) session.issueId();
    body = routeBody(core, session);
  } catch (err) {
    // Ours is answered as JSON; anything else (a bug in `expose`) is the app's error handler's.
    if (!(err instanceof SessionSyncError)) throw err;
    res.statusCode = HTTP_STATUS[err.code];
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ ok: false, code: err.code, message: err.message }));
    return;
  }
  const etag = `"${body.tag}:${body.epoch}:${body.version}"`;
  res.setHeader('ETag', etag);
  if (etagMatches(req.headers['if-none-match'], etag)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * The session of a request as every answer tells the browser: version, tag, the record's
 * epoch and the ms left to its idle deadline, and the exposed data (with defaults).
 *
 * @param core - the shared state
 * @param session - the request's session
 * @returns the snapshot (`{ version: 0, tag: null, epoch: null, expiresIn: null, data: defaults }` without a session)
 * @throws what `expose` threw
 */
export function routeBody(core: Core, session: HttpSession): SessionSnapshot {
  const data = project(core.options.expose, session.committedView());
  const live = session.live;
  const recorded = live !== undefined && live.version > 0;
  return {
    version: session.version,
    tag: session.tag,
    epoch: recorded ? live.epoch : null,
    expiresIn: recorded && live.expires !== null ? Math.max(0, live.expires - Date.now()) : null,
    data,
  };
}
