/**
 * The JSON route (default `GET /get/session`): `{ version, tag, data }` with the exposed data,
 * an ETag of `"<tag>:<version>"` and 304s, never cached by intermediaries. A `GET` carrying
 * `X-Session-Sync: 1` issues the id cookie (no record), so the browser SDK holds one id
 * before its socket opens. CORS follows `origins`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTP_STATUS, SessionSyncError } from '../../shared/index.js';
import type { Core } from '../engine/core.js';
import type { HttpSession } from './express.js';
import { originAllowed } from '../engine/origin.js';
import { project } from '../engine/policy.js';

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
 */
export function serveRoute(
  core: Core,
  session: HttpSession,
  req: Request,
  res: ServerResponse,
  next: (err?: unknown) => void,
): void {
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
  let view;
  try {
    if (session.id === undefined && req.headers['x-session-sync'] === '1') session.issueId();
    view = session.committedView();
    if (session.unavailable) {
      throw new SessionSyncError('store_unavailable', 'session-sync: the session store is unavailable');
    }
  } catch (err) {
    const code = err instanceof SessionSyncError ? err.code : 'internal';
    const body = JSON.stringify({ ok: false, code, message: (err as Error).message });
    res.statusCode = HTTP_STATUS[code];
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(body);
    return;
  }
  const version = session.version;
  const tag = session.tag;
  const etag = `"${tag}:${version}"`;
  res.setHeader('ETag', etag);
  if (etagMatches(req.headers['if-none-match'], etag)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  const body = JSON.stringify({ version, tag, data: project(core.options.expose, view) });
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
