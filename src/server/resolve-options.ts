/**
 * The options of `createSessionSync`, checked up front: a bad one throws a `TypeError`
 * naming it, as express-session does; the defaults filled in.
 */
import { randomBytes } from 'node:crypto';
import { assertJson, getIn, isPlainObject, toPath, type JsonObject, type Op, type PathInput } from '../shared/index.js';
import { warnOnce } from './log.js';
import {
  DEFAULT_SERVER_LIMITS,
  type CookieSettings,
  type ResolvedOptions,
  type ServerLimits,
  type SessionSyncOptions,
  type Validator,
  type WriteContext,
} from './options.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import { asUserId } from './stores/common.js';
import { MemoryStore } from './stores/memory/memory-store.js';
import type { SessionStore } from './stores/store.js';

const DAY = 24 * 60 * 60 * 1000;
const KNOWN = new Set([
  'secret',
  'store',
  'route',
  'autoSync',
  'key',
  'defaults',
  'cookie',
  'ttl',
  'absolute',
  'trustProxy',
  'expose',
  'clientWritable',
  'origins',
  'limits',
  'user',
  'deviceIp',
]);

function bad(name: string, expected: string, got: unknown): TypeError {
  const shown =
    typeof got === 'string'
      ? JSON.stringify(got)
      : typeof got === 'object'
        ? got === null
          ? 'null'
          : 'an object'
        : String(got);
  return new TypeError(`session-sync: option "${name}" must be ${expected} (got ${shown})`);
}

function positiveMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw bad(name, 'a positive number of milliseconds', value);
  return value;
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return typeof value === 'object' && value !== null && '~standard' in value;
}

function isStore(value: unknown): value is SessionStore {
  const s = value as Record<string, unknown>;
  return (
    typeof value === 'object' &&
    value !== null &&
    ['get', 'apply', 'since', 'destroy', 'touch', 'sessionsOf', 'subscribe', 'close'].every(
      (m) => typeof s[m] === 'function',
    )
  );
}

function resolveSecrets(value: unknown): string[] {
  if (value === undefined) {
    if (process.env.NODE_ENV === 'production') {
      throw new TypeError('session-sync: option "secret" is required when NODE_ENV=production');
    }
    warnOnce('no-secret', 'no "secret" given: using a random one, so sessions end when the process restarts');
    return [randomBytes(32).toString('base64url')];
  }
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? [...value] : undefined;
  if (!list || list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) {
    throw bad('secret', 'a non-empty string or a non-empty array of them', value);
  }
  if (list[0]!.length < 32)
    warnOnce('short-secret', 'the signing "secret" is shorter than 32 characters; use a long random one');
  return list as string[];
}

function resolveCookie(value: unknown, absolute: number): CookieSettings {
  if (value !== undefined && !isPlainObject(value)) throw bad('cookie', 'an object', value);
  const c = (value ?? {}) as Record<string, unknown>;
  const out: CookieSettings = {
    name: 'sid',
    httpOnly: true,
    sameSite: 'lax',
    secure: 'auto',
    path: '/',
    maxAge: absolute,
  };
  for (const [k, v] of Object.entries(c)) {
    switch (k) {
      case 'name':
        if (typeof v !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v))
          throw bad('cookie.name', 'a cookie token', v);
        out.name = v;
        break;
      case 'httpOnly':
        if (typeof v !== 'boolean') throw bad('cookie.httpOnly', 'a boolean', v);
        out.httpOnly = v;
        break;
      case 'sameSite':
        if (v === true) out.sameSite = 'strict';
        else if (v === false || v === 'lax' || v === 'strict' || v === 'none') out.sameSite = v;
        else throw bad('cookie.sameSite', "'lax', 'strict', 'none' or a boolean", v);
        break;
      case 'secure':
        if (typeof v !== 'boolean' && v !== 'auto') throw bad('cookie.secure', "a boolean or 'auto'", v);
        out.secure = v;
        break;
      case 'path':
        if (typeof v !== 'string' || !v.startsWith('/')) throw bad('cookie.path', "a path starting with '/'", v);
        out.path = v;
        break;
      case 'domain':
        if (v !== undefined && typeof v !== 'string') throw bad('cookie.domain', 'a string', v);
        if (v) out.domain = v;
        break;
      case 'maxAge':
        out.maxAge = positiveMs('cookie.maxAge', v, absolute);
        break;
      default:
        throw new TypeError(`session-sync: unknown option "cookie.${k}"`);
    }
  }
  if (out.sameSite === 'none' && out.secure === false) {
    throw new TypeError(
      'session-sync: option "cookie.sameSite" is \'none\', which browsers accept only with "cookie.secure" true',
    );
  }
  return out;
}

function resolveLimits(value: unknown): ServerLimits {
  if (value === undefined) return { ...DEFAULT_SERVER_LIMITS };
  if (!isPlainObject(value)) throw bad('limits', 'an object', value);
  const out: ServerLimits = { ...DEFAULT_SERVER_LIMITS };
  for (const [k, v] of Object.entries(value)) {
    if (!(k in out)) throw new TypeError(`session-sync: unknown option "limits.${k}"`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad(`limits.${k}`, 'a positive integer', v);
    out[k as keyof ServerLimits] = v;
  }
  return out;
}

function resolveExpose(value: unknown): ResolvedOptions['expose'] {
  if (value === undefined) return { hideUnderscore: true };
  if (typeof value === 'function') return { fn: value as (data: JsonObject) => JsonObject };
  if (Array.isArray(value)) return { paths: value.map((p, i) => toPath(p, `expose[${i}]`)) };
  throw bad('expose', 'an array of paths or a function', value);
}

function resolveWritable(value: unknown): ResolvedOptions['clientWritable'] {
  if (value === undefined) return { none: true };
  if (typeof value === 'function')
    return { fn: value as (ops: readonly Op[], c: WriteContext) => boolean | string | Promise<boolean | string> };
  if (Array.isArray(value)) return { paths: value.map((p, i) => toPath(p, `clientWritable[${i}]`)) };
  if (isPlainObject(value)) {
    return {
      validators: Object.entries(value as Record<string, unknown>).map(([p, v]) => {
        if (typeof v !== 'function' && !isStandardSchema(v)) {
          throw bad(
            `clientWritable.${p}`,
            'a Standard Schema (zod, valibot…) or a function (value) => true | string',
            v,
          );
        }
        return { path: toPath(p, `clientWritable.${p}`), validate: v as Validator };
      }),
    };
  }
  throw bad('clientWritable', 'an array of paths, an object of path → validator, or a function', value);
}

function resolveOrigins(value: unknown): ResolvedOptions['origins'] {
  if (value === undefined) return { sameOrigin: true };
  if (typeof value === 'function') return { fn: value as (origin: string) => boolean };
  if (Array.isArray(value)) {
    return {
      list: value.map((o, i) => {
        if (typeof o !== 'string') throw bad(`origins[${i}]`, 'an origin string like https://app.example', o);
        try {
          return new URL(o).origin;
        } catch {
          throw bad(`origins[${i}]`, 'an origin string like https://app.example', o);
        }
      }),
    };
  }
  throw bad('origins', 'an array of origins or a function', value);
}

function resolveUser(value: unknown): ResolvedOptions['user'] {
  if (value === undefined) return undefined;
  if (typeof value === 'function') {
    const fn = value as (data: JsonObject) => unknown;
    return (data) => {
      let id: unknown;
      try {
        id = fn(data);
      } catch (err) {
        // Inside the store's apply this would read as a store failure; name the real culprit.
        throw new TypeError(`session-sync: option "user" threw: ${(err as Error)?.message ?? err}`, { cause: err });
      }
      return asUserId(id);
    };
  }
  if (typeof value !== 'string' && !Array.isArray(value)) throw bad('user', 'a path or a function', value);
  const path = toPath(value as PathInput, 'user');
  return (data) => asUserId(getIn(data, path));
}

/**
 * Checks the options and fills the defaults.
 *
 * @param input - the options as given
 * @returns the resolved options
 * @throws TypeError naming the first bad option
 * @example
 * resolveOptions({ secret: process.env.SESSION_SECRET })
 */
export function resolveOptions(input: SessionSyncOptions = {}): ResolvedOptions {
  if (!isPlainObject(input)) throw new TypeError('session-sync: options must be an object');
  for (const name of Object.keys(input)) {
    if (!KNOWN.has(name)) throw new TypeError(`session-sync: unknown option "${name}"`);
  }
  const o = input as Record<string, unknown>;
  const absolute = positiveMs('absolute', o.absolute, 30 * DAY);
  const ttl = positiveMs('ttl', o.ttl, DAY);

  let route: string | RegExp | null = '/get/session';
  if (o.route === null || o.route === false) route = null;
  else if (typeof o.route === 'string') {
    if (!o.route.startsWith('/')) throw bad('route', "a pathname starting with '/', a RegExp, null or false", o.route);
    route = o.route;
  } else if (o.route instanceof RegExp) {
    // A /g or /y RegExp keeps lastIndex between test() calls and would match every other request.
    route = o.route.global || o.route.sticky ? new RegExp(o.route.source, o.route.flags.replace(/[gy]/g, '')) : o.route;
  } else if (o.route !== undefined)
    throw bad('route', "a pathname starting with '/', a RegExp, null or false", o.route);

  if (o.autoSync !== undefined && typeof o.autoSync !== 'boolean') throw bad('autoSync', 'a boolean', o.autoSync);
  if (
    o.key !== undefined &&
    (typeof o.key !== 'string' || o.key === '' || ['id', 'version', 'synchronize'].includes(o.key))
  ) {
    throw bad('key', 'a non-empty string other than id, version or synchronize', o.key);
  }
  if (o.defaults !== undefined) {
    if (!isPlainObject(o.defaults)) throw bad('defaults', 'a plain JSON object', o.defaults);
    try {
      assertJson(o.defaults);
    } catch (err) {
      throw new TypeError(`session-sync: option "defaults" must be JSON: ${(err as Error).message}`);
    }
  }
  if (o.trustProxy !== undefined && typeof o.trustProxy !== 'boolean')
    throw bad('trustProxy', 'a boolean', o.trustProxy);
  if (o.deviceIp !== undefined && typeof o.deviceIp !== 'boolean') throw bad('deviceIp', 'a boolean', o.deviceIp);
  if (o.store !== undefined && !isStore(o.store)) {
    throw bad(
      'store',
      'a store (MemoryStore, RedisStore or an object with get/apply/since/destroy/touch/sessionsOf/subscribe/close)',
      o.store,
    );
  }
  const cookie = resolveCookie(o.cookie, absolute);
  const expose = resolveExpose(o.expose);
  const clientWritable = resolveWritable(o.clientWritable);
  const origins = resolveOrigins(o.origins);
  const limits = resolveLimits(o.limits);
  const user = resolveUser(o.user);
  // Last: warnings are printed and the default store (with its timer) is made only for
  // options that passed every check.
  const secrets = resolveSecrets(o.secret);
  return {
    secrets,
    store: (o.store as SessionStore | undefined) ?? new MemoryStore(),
    ownsStore: o.store === undefined,
    route,
    autoSync: (o.autoSync as boolean | undefined) ?? true,
    key: (o.key as string | undefined) ?? 'val',
    defaults: (o.defaults as JsonObject | undefined) ?? {},
    cookie,
    ttl,
    absolute,
    trustProxy: (o.trustProxy as boolean | undefined) ?? false,
    expose,
    clientWritable,
    origins,
    limits,
    user,
    deviceIp: (o.deviceIp as boolean | undefined) ?? false,
  };
}
