/**
 * Session ids, tags and the signed id cookie. The id travels only inside an HttpOnly cookie
 * signed with HMAC-SHA256; the tag is a one-way name for the id that is safe to show.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parse, serialize, type SerializeOptions } from 'cookie';
import type { CookieSettings } from '../options.js';

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new session id: 32 random bytes, base64url (43 characters).
 *
 * @returns the id
 * @example
 * newId() // 'q3vV…' (43 characters)
 */
export function newId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The tag of an id: the first 22 characters of base64url(SHA-256("session-sync/tag/" + id)).
 * Stable across secret rotation, safe to show the browser.
 *
 * @param id - a session id
 * @returns the tag
 * @example
 * tagOf(req.session.id)
 */
export function tagOf(id: string): string {
  return createHash('sha256')
    .update('session-sync/tag/' + id)
    .digest('base64url')
    .slice(0, 22);
}

function mac(id: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(id).digest();
}

/**
 * Signs an id with the newest secret: `<id>.<base64url HMAC-SHA256>`.
 *
 * @param id - the session id
 * @param secret - the signing secret
 * @returns the cookie value
 * @example
 * sign(newId(), 'a long secret')
 */
export function sign(id: string, secret: string): string {
  return `${id}.${mac(id, secret).toString('base64url')}`;
}

/**
 * Verifies a cookie value against every secret (rotation: the first signs, all verify),
 * comparing in constant time.
 *
 * @param value - the cookie value
 * @param secrets - the secrets, newest first
 * @returns the id, or undefined for a malformed, unsigned or badly signed value
 * @example
 * unsign(req.cookies.sid, ['new secret', 'old secret'])
 */
export function unsign(value: string, secrets: readonly string[]): string | undefined {
  const dot = value.indexOf('.');
  if (dot !== 43 || value.length !== 87) return undefined;
  const id = value.slice(0, 43);
  if (!ID_PATTERN.test(id)) return undefined;
  const given = Buffer.from(value.slice(44), 'base64url');
  if (given.length !== 32 || given.toString('base64url') !== value.slice(44)) return undefined;
  let ok = false;
  // Check every secret so the time taken does not tell which one matched.
  for (const secret of secrets) if (timingSafeEqual(given, mac(id, secret))) ok = true;
  return ok ? id : undefined;
}

/**
 * Reads and verifies the session cookie from a `Cookie` header.
 *
 * @param header - the raw `Cookie` header (may be undefined or an array from Node)
 * @param name - the cookie's name
 * @param secrets - the secrets, newest first
 * @returns the verified id, or undefined
 * @example
 * readSessionId(req.headers.cookie, 'sid', secrets)
 */
export function readSessionId(
  header: string | string[] | undefined,
  name: string,
  secrets: readonly string[],
): string | undefined {
  if (!header) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  // No cap on the whole header: other cookies of the site (analytics, preferences) must not
  // log the visitor out, and Node already bounds headers (16 KiB by default). Our own value
  // is held to its exact length by `unsign`.
  if (!text.includes(name)) return undefined;
  let value: string | undefined;
  try {
    value = parse(text)[name];
  } catch {
    return undefined;
  }
  return value ? unsign(value, secrets) : undefined;
}

/**
 * Serializes the `Set-Cookie` value for an id (or its clearing, for `id === null`).
 *
 * @param settings - the cookie settings
 * @param value - the signed value, or null to clear the cookie
 * @param secure - whether this request is HTTPS (for `secure: 'auto'`)
 * @returns the header value
 * @example
 * res.append('Set-Cookie', serializeCookie(settings, sign(id, secret), req.secure))
 */
export function serializeCookie(settings: CookieSettings, value: string | null, secure: boolean): string {
  const options: SerializeOptions = {
    httpOnly: settings.httpOnly,
    path: settings.path,
    secure: settings.secure === 'auto' ? secure : settings.secure,
  };
  if (settings.sameSite) options.sameSite = settings.sameSite;
  if (settings.domain) options.domain = settings.domain;
  if (value === null) {
    options.expires = new Date(0);
    return serialize(settings.name, '', options);
  }
  // Whole seconds, at least one: a sub-second lifetime must not read as "delete now".
  options.maxAge = Math.max(1, Math.floor(settings.maxAge / 1000));
  return serialize(settings.name, value, options);
}
