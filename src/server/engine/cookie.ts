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

/** A verified cookie: the session id and when its cookie was issued. */
export interface SignedId {
  id: string;
  /** Epoch ms the cookie was issued at; 0 for a cookie of the older `<id>.<mac>` form. */
  issued: number;
}

function mac(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

// Issue times are whole ms in base 36: 8 characters until the year 2059.
const ISSUED_PATTERN = /^[0-9a-z]{1,11}$/;

/**
 * Signs an id and its issue time with the newest secret: `<id>.<issued>.<mac>`, where
 * `issued` is epoch ms in base 36 and `mac` the base64url HMAC-SHA256 of `<id>.<issued>`.
 * The id stays the first 43 characters; the issue time bounds how long an id issued early
 * may still be adopted by its first write.
 *
 * @param id - the session id
 * @param secret - the signing secret
 * @param issued - epoch ms (default now)
 * @returns the cookie value
 * @example
 * sign(newId(), 'a long secret')
 */
export function sign(id: string, secret: string, issued: number = Date.now()): string {
  const payload = `${id}.${Math.floor(issued).toString(36)}`;
  return `${payload}.${mac(payload, secret).toString('base64url')}`;
}

/**
 * Verifies a cookie value against every secret (rotation: the first signs, all verify),
 * comparing in constant time. The older `<id>.<mac>` form still verifies, with `issued` 0
 * (its record, if live, stays usable; it can no longer be adopted).
 *
 * @param value - the cookie value
 * @param secrets - the secrets, newest first
 * @returns the id and issue time, or undefined for a malformed, unsigned or badly signed value
 * @example
 * unsign(req.cookies.sid, ['new secret', 'old secret'])?.id
 */
export function unsign(value: string, secrets: readonly string[]): SignedId | undefined {
  if (value.length > 100 || value.charCodeAt(43) !== 46) return undefined; // 46: '.'
  const id = value.slice(0, 43);
  if (!ID_PATTERN.test(id)) return undefined;
  const last = value.lastIndexOf('.');
  const payload = value.slice(0, last);
  let issued = 0;
  if (last !== 43) {
    const text = value.slice(44, last);
    if (!ISSUED_PATTERN.test(text)) return undefined;
    issued = parseInt(text, 36);
  }
  const macText = value.slice(last + 1);
  const given = Buffer.from(macText, 'base64url');
  if (given.length !== 32 || given.toString('base64url') !== macText) return undefined;
  let ok = false;
  // Check every secret so the time taken does not tell which one matched.
  for (const secret of secrets) if (timingSafeEqual(given, mac(payload, secret))) ok = true;
  return ok ? { id, issued } : undefined;
}

/**
 * Reads and verifies the session cookie from a `Cookie` header.
 *
 * @param header - the raw `Cookie` header (may be undefined or an array from Node)
 * @param name - the cookie's name
 * @param secrets - the secrets, newest first
 * @returns the verified id and issue time, or undefined
 * @example
 * readSessionId(req.headers.cookie, 'sid', secrets)?.id
 */
export function readSessionId(
  header: string | string[] | undefined,
  name: string,
  secrets: readonly string[],
): SignedId | undefined {
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

/**
 * The id cookie of one `createSessionSync()` instance: reads and verifies `Cookie` headers
 * (verified values cached, bounded, so a busy visitor's cookie is not HMAC'd on every
 * request) and writes `Set-Cookie` values.
 *
 * @example
 * const cookies = new Cookies(options.cookie, options.secrets)
 * cookies.read(req.headers.cookie)?.id
 */
export class Cookies {
  private readonly cache = new Map<string, SignedId | undefined>();

  /**
   * @param settings - the cookie attributes
   * @param secrets - newest first: the first signs, all verify
   */
  constructor(
    private readonly settings: CookieSettings,
    private readonly secrets: readonly string[],
  ) {}

  /** The cookie's name. */
  get name(): string {
    return this.settings.name;
  }

  /**
   * The verified id (and its issue time) of a `Cookie` header.
   *
   * @param header - the raw header
   * @returns the id and issue time, or undefined
   */
  read(header: string | string[] | undefined): SignedId | undefined {
    if (header === undefined) return undefined;
    if (typeof header === 'string') {
      const cached = this.cache.get(header);
      if (cached !== undefined || this.cache.has(header)) return cached;
    }
    const found = readSessionId(header, this.settings.name, this.secrets);
    if (typeof header === 'string' && header.length < 1024) {
      if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(header, found);
    }
    return found;
  }

  /**
   * The `Set-Cookie` value for an id issued at `issued`, or the clearing (`null`).
   *
   * @param id - the id and its issue time, or null to clear
   * @param secure - whether the request is HTTPS (for `secure: 'auto'`)
   * @param maxAge - ms, in place of the option's (express-session's `cookie.maxAge = …`)
   * @returns the header value
   */
  serialize(id: SignedId | null, secure: boolean, maxAge?: number): string {
    const settings = maxAge === undefined ? this.settings : { ...this.settings, maxAge };
    return serializeCookie(settings, id === null ? null : sign(id.id, this.secrets[0]!, id.issued), secure);
  }
}
