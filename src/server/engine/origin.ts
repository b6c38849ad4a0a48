import type { ResolvedOptions } from '../options.js';

/**
 * Tells whether a request from `origin` may use the session (socket handshakes and the
 * route's CORS). No `Origin` header means a non-browser client, which is allowed: the
 * attack this prevents (cross-site WebSocket hijacking) needs a browser, and browsers
 * always send `Origin` on WebSocket and cross-origin requests.
 *
 * @param origins - the resolved option
 * @param origin - the request's `Origin` header
 * @param self - the origin the request was addressed to (`<scheme>://<host>`)
 * @returns true when allowed
 * @example
 * originAllowed({ sameOrigin: true }, 'https://evil.example', 'https://app.example') // false
 */
export function originAllowed(
  origins: ResolvedOptions['origins'],
  origin: string | undefined,
  self: string | undefined,
): boolean {
  if (origin === undefined) return true;
  if ('sameOrigin' in origins) return self !== undefined && origin === self;
  if ('list' in origins) return origins.list.includes(origin) || (self !== undefined && origin === self);
  try {
    return origins.fn(origin) === true;
  } catch {
    return false;
  }
}
