/**
 * The sync protocol spoken between the browser SDK and the server over Socket.IO.
 * Message shapes are data; each inbound message has one `parse…(input: unknown)` guard
 * that returns a typed value or a `{ ok: false, code, message }` error and never throws.
 * See PROTOCOL.md for the handshake in prose.
 */
import { isErrorCode, type ErrorCode } from './errors.js';
import { FORBIDDEN_KEYS, isPlainObject, utf8Length, type JsonObject, type JsonValue } from './json.js';
import type { Op } from './ops.js';

/** Bumped on any incompatible change of the messages below. */
export const PROTOCOL_VERSION = 1;

/** The Socket.IO event names, all `session:*`. */
export const EVENTS = {
  hello: 'session:hello',
  patch: 'session:patch',
  mutate: 'session:mutate',
  ended: 'session:ended',
} as const;

/** Why a session ended for its mirrors. */
export type EndReason = 'destroyed' | 'regenerated' | 'expired' | 'evicted';
/** Every {@link EndReason}. */
export const END_REASONS: readonly EndReason[] = ['destroyed', 'regenerated', 'expired', 'evicted'];

/** The refusal every ack may carry. */
export interface ErrorAck {
  ok: false;
  code: ErrorCode;
  message: string;
}

/** browser → server, with an ack: "I hold `version` of session `tag`". */
export interface HelloMessage {
  protocol: number;
  version?: number;
  tag?: string | null;
}

/** Hello answer: the whole (exposed) session. Always sent when `version` was absent. */
export interface HelloSnapshot {
  ok: true;
  version: number;
  tag: string | null;
  data: JsonObject;
}
/** Hello answer: the patches after the version the browser holds, from the store's history. */
export interface HelloPatches {
  ok: true;
  version: number;
  tag: string | null;
  patches: PatchMessage[];
}
/** Hello answer: the browser is up to date. */
export interface HelloUnchanged {
  ok: true;
  version: number;
  tag: string | null;
  unchanged: true;
}
/** The four answers to `session:hello`. */
export type HelloAck = HelloSnapshot | HelloPatches | HelloUnchanged | ErrorAck;

/**
 * server → room: one committed change. `base` is the version it applies to (`version - 1`);
 * `ops` is `[]` when the change touched only server-only data, so versions stay contiguous.
 */
export interface PatchMessage {
  version: number;
  base: number;
  ops: Op[];
  mutation?: string;
}

/** browser → server, with an ack: apply `ops`; `base` is the version the browser saw. */
export interface MutateMessage {
  mutation: string;
  base: number;
  ops: Op[];
}
/** Mutate answer when applied (or applied before, for a repeated `mutation`). */
export interface MutateOk {
  ok: true;
  version: number;
}
/** The two answers to `session:mutate`. */
export type MutateAck = MutateOk | ErrorAck;

/** server → room, sent before the session's sockets are disconnected. */
export interface EndedMessage {
  reason: EndReason;
}

/** Typed Socket.IO events the server emits (`Server<ClientToServerEvents, ServerToClientEvents>`). */
export interface ServerToClientEvents {
  'session:patch': (message: PatchMessage) => void;
  'session:ended': (message: EndedMessage) => void;
}
/** Typed Socket.IO events the browser emits. */
export interface ClientToServerEvents {
  'session:hello': (message: HelloMessage, ack: (answer: HelloAck) => void) => void;
  'session:mutate': (message: MutateMessage, ack: (answer: MutateAck) => void) => void;
}

/** Limits on every input; past one is a clear error (`too_large` or `invalid`), never a cut. */
export interface Limits {
  /** Deepest path, counting the levels inside a set value too. */
  depth: number;
  /** Ops in one change. */
  ops: number;
  /** Characters in one key. */
  keyLength: number;
  /**
   * Bytes of the session serialized as JSON (UTF-8). The set values of one change, together,
   * may not exceed it either (measured exactly as `JSON.stringify` writes them).
   */
  size: number;
  /** Characters in a mutation id. */
  mutationId: number;
}

/** The default {@link Limits}: 32 levels, 100 ops, 256-character keys, 64 KiB, 64-character ids. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  depth: 32,
  ops: 100,
  keyLength: 256,
  size: 64 * 1024,
  mutationId: 64,
});

/** How many mutation ids a session remembers for dedupe. */
export const MUTATION_MEMORY = 256;

/** A guard's answer: the typed value, or the refusal to send back. */
export type Parsed<T> = { ok: true; value: T } | ErrorAck;

const fail = (code: ErrorCode, message: string): ErrorAck => ({ ok: false, code, message });
const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

// Measures a value against the limits without recursion limits of its own: depth is
// checked before descending, so a 100k-deep payload costs 33 steps. `budget.bytes` is
// charged the exact UTF-8 size of the value as JSON.stringify would write it, so a limit
// of N bytes lets N bytes through and refuses N + 1.
function checkValue(value: unknown, depth: number, limits: Limits, budget: { bytes: number }): ErrorAck | undefined {
  if (depth > limits.depth) return fail('too_large', `nesting deeper than ${limits.depth} levels`);
  switch (typeof value) {
    case 'string':
      budget.bytes -= jsonSize(value, budget.bytes);
      break;
    case 'boolean':
      budget.bytes -= value ? 4 : 5;
      break;
    case 'number':
      if (!Number.isFinite(value)) return fail('invalid', 'numbers must be finite');
      budget.bytes -= String(value).length; // JSON writes finite numbers as String() does
      break;
    case 'object': {
      if (value === null) {
        budget.bytes -= 4;
        break;
      }
      if (Array.isArray(value)) {
        budget.bytes -= value.length === 0 ? 2 : 1 + value.length; // brackets and commas
        for (let i = 0; i < value.length && budget.bytes >= 0; i++) {
          const bad = checkValue(value[i], depth + 1, limits, budget);
          if (bad) return bad;
        }
        break;
      }
      if (!isPlainObject(value)) return fail('invalid', 'values must be JSON');
      const keys = Object.keys(value);
      budget.bytes -= keys.length === 0 ? 2 : 1 + keys.length; // braces and commas
      for (let i = 0; i < keys.length && budget.bytes >= 0; i++) {
        const key = keys[i]!;
        const bad = checkKey(key, limits);
        if (bad) return bad;
        budget.bytes -= jsonSize(key, budget.bytes) + 1; // the key and its colon
        const inner = checkValue(value[key], depth + 1, limits, budget);
        if (inner) return inner;
      }
      break;
    }
    default:
      return fail('invalid', 'values must be JSON');
  }
  if (budget.bytes < 0) return fail('too_large', `value larger than ${limits.size} bytes`);
  return undefined;
}

// UTF-8 bytes of a string as a JSON literal. Never fewer than length + 2, so a string
// already past the budget is not encoded at all.
function jsonSize(text: string, budget: number): number {
  return text.length + 2 > budget ? text.length + 2 : utf8Length(JSON.stringify(text));
}

// Empty keys are valid JSON and reachable by ops; only dot-string options cannot name them.
function checkKey(key: unknown, limits: Limits): ErrorAck | undefined {
  if (typeof key !== 'string') return fail('invalid', 'path keys must be strings');
  if (key.length > limits.keyLength) return fail('too_large', `key longer than ${limits.keyLength} characters`);
  if (FORBIDDEN_KEYS.has(key)) return fail('invalid', `the key "${key}" is forbidden`);
  return undefined;
}

// Names an unknown op kind in a message without ever calling the peer's toString.
function describeKind(kind: unknown): string {
  return typeof kind === 'string' ? JSON.stringify(kind.slice(0, 40)) : typeof kind;
}

/**
 * Checks a list of ops from an untrusted peer against the shape and the limits.
 *
 * @param input - anything
 * @param limits - the limits in force
 * @returns the ops, or the refusal
 * @example
 * parseOps([{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]) // { ok: true, value: [...] }
 */
export function parseOps(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<Op[]> {
  if (!Array.isArray(input)) return fail('invalid', 'ops must be an array');
  if (input.length > limits.ops) return fail('too_large', `more than ${limits.ops} ops in one change`);
  const ops: Op[] = [];
  const budget = { bytes: limits.size };
  for (const raw of input as unknown[]) {
    if (!isPlainObject(raw)) return fail('invalid', 'each op must be an object');
    const kind = raw.op;
    if (kind !== 'set' && kind !== 'del') return fail('invalid', `unknown op ${describeKind(kind)}`);
    const path = raw.path;
    if (!Array.isArray(path) || path.length === 0) return fail('invalid', 'op.path must be a non-empty array of keys');
    if (path.length > limits.depth) return fail('too_large', `path deeper than ${limits.depth} levels`);
    for (const key of path as unknown[]) {
      const bad = checkKey(key, limits);
      if (bad) return bad;
    }
    const keys = [...(path as string[])];
    if (kind === 'del') {
      if (Object.keys(raw).some((k) => k !== 'op' && k !== 'path'))
        return fail('invalid', 'a del op has only op and path');
      ops.push({ op: 'del', path: keys });
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(raw, 'value')) return fail('invalid', 'a set op needs a value');
    const bad = checkValue(raw.value, keys.length, limits, budget);
    if (bad) return bad;
    ops.push({ op: 'set', path: keys, value: raw.value as JsonValue });
  }
  return { ok: true, value: ops };
}

/**
 * Guards `session:hello` (browser → server).
 *
 * @param input - the untrusted payload
 * @returns the message, `unsupported_protocol` for another protocol, or `invalid`
 * @example
 * parseHello({ protocol: PROTOCOL_VERSION, version: 3, tag: 'abc' })
 */
export function parseHello(input: unknown): Parsed<HelloMessage> {
  if (!isPlainObject(input)) return fail('invalid', 'hello must be an object');
  if (typeof input.protocol !== 'number') return fail('invalid', 'hello.protocol must be a number');
  if (input.protocol !== PROTOCOL_VERSION) {
    return fail(
      'unsupported_protocol',
      `protocol ${input.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`,
    );
  }
  const hello: HelloMessage = { protocol: PROTOCOL_VERSION };
  if (input.version !== undefined) {
    if (!isVersion(input.version)) return fail('invalid', 'hello.version must be a non-negative integer');
    hello.version = input.version;
  }
  if (input.tag !== undefined) {
    if (input.tag !== null && (typeof input.tag !== 'string' || input.tag.length > 64)) {
      return fail('invalid', 'hello.tag must be a short string or null');
    }
    hello.tag = input.tag;
  }
  return { ok: true, value: hello };
}

/**
 * Guards `session:mutate` (browser → server).
 *
 * @param input - the untrusted payload
 * @param limits - the limits in force
 * @returns the message or the refusal
 * @example
 * parseMutate({ mutation: 'm1', base: 4, ops: [{ op: 'del', path: ['draft'] }] })
 */
export function parseMutate(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<MutateMessage> {
  if (!isPlainObject(input)) return fail('invalid', 'mutate must be an object');
  const { mutation, base } = input;
  if (typeof mutation !== 'string' || mutation === '')
    return fail('invalid', 'mutate.mutation must be a non-empty string');
  if (mutation.length > limits.mutationId) {
    return fail('too_large', `mutate.mutation longer than ${limits.mutationId} characters`);
  }
  if (!isVersion(base)) return fail('invalid', 'mutate.base must be a non-negative integer');
  const ops = parseOps(input.ops, limits);
  if (!ops.ok) return ops;
  return { ok: true, value: { mutation, base, ops: ops.value } };
}

/**
 * Guards `session:patch` (server → browser).
 *
 * @param input - the payload as received
 * @param limits - the limits in force
 * @returns the message or the refusal
 * @example
 * parsePatch({ version: 5, base: 4, ops: [] })
 */
export function parsePatch(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<PatchMessage> {
  if (!isPlainObject(input)) return fail('invalid', 'patch must be an object');
  const { version, base, mutation } = input;
  if (!isVersion(version) || !isVersion(base) || base >= version) {
    return fail('invalid', 'patch.version and patch.base must be integers with base < version');
  }
  if (mutation !== undefined && (typeof mutation !== 'string' || mutation.length > limits.mutationId)) {
    return fail('invalid', 'patch.mutation must be a short string');
  }
  // A patch can carry a whole session, so only the session size bounds its ops.
  const ops = parseOps(input.ops, { ...limits, ops: Number.MAX_SAFE_INTEGER });
  if (!ops.ok) return ops;
  const patch: PatchMessage = { version, base, ops: ops.value };
  if (mutation !== undefined) patch.mutation = mutation as string;
  return { ok: true, value: patch };
}

/**
 * Guards `session:ended` (server → browser).
 *
 * @param input - the payload as received
 * @returns the message or the refusal
 * @example
 * parseEnded({ reason: 'destroyed' })
 */
export function parseEnded(input: unknown): Parsed<EndedMessage> {
  if (!isPlainObject(input) || !(END_REASONS as readonly unknown[]).includes(input.reason)) {
    return fail('invalid', `ended.reason must be one of ${END_REASONS.join(', ')}`);
  }
  return { ok: true, value: { reason: input.reason as EndReason } };
}

function parseErrorAck(input: JsonObject): ErrorAck {
  const code = typeof input.code === 'string' ? input.code : 'internal';
  const message = typeof input.message === 'string' ? input.message : 'refused';
  return { ok: false, code: isErrorCode(code) ? code : 'internal', message };
}

/**
 * Guards the answer to `session:hello` (server → browser).
 *
 * @param input - the ack as received
 * @param limits - the limits in force
 * @returns the answer (an {@link ErrorAck} is a valid answer) or `invalid`
 * @example
 * parseHelloAck({ ok: true, version: 2, tag: 't', unchanged: true })
 */
export function parseHelloAck(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<HelloAck> {
  if (!isPlainObject(input) || typeof input.ok !== 'boolean')
    return fail('invalid', 'hello ack must be an object with ok');
  if (!input.ok) return { ok: true, value: parseErrorAck(input) };
  const { version, tag } = input;
  if (!isVersion(version) || !(tag === null || typeof tag === 'string'))
    return fail('invalid', 'hello ack needs version and tag');
  if (input.unchanged === true) return { ok: true, value: { ok: true, version, tag, unchanged: true } };
  if (Array.isArray(input.patches)) {
    const patches: PatchMessage[] = [];
    for (const raw of input.patches as unknown[]) {
      const p = parsePatch(raw, limits);
      if (!p.ok) return p;
      patches.push(p.value);
    }
    return { ok: true, value: { ok: true, version, tag, patches } };
  }
  if (isPlainObject(input.data)) {
    const bad = checkValue(input.data, 0, { ...limits, size: limits.size * 4 }, { bytes: limits.size * 4 });
    if (bad) return bad;
    return { ok: true, value: { ok: true, version, tag, data: input.data } };
  }
  return fail('invalid', 'hello ack needs data, patches or unchanged');
}

/**
 * Guards the answer to `session:mutate` (server → browser).
 *
 * @param input - the ack as received
 * @returns the answer (an {@link ErrorAck} is a valid answer) or `invalid`
 * @example
 * parseMutateAck({ ok: true, version: 7 })
 */
export function parseMutateAck(input: unknown): Parsed<MutateAck> {
  if (!isPlainObject(input) || typeof input.ok !== 'boolean')
    return fail('invalid', 'mutate ack must be an object with ok');
  if (!input.ok) return { ok: true, value: parseErrorAck(input) };
  if (!isVersion(input.version)) return fail('invalid', 'mutate ack needs a version');
  return { ok: true, value: { ok: true, version: input.version } };
}
