/**
 * One guard per inbound message: `parse…(input: unknown)` returns the typed value or a
 * `{ ok: false, code, message }` refusal and never throws.
 *
 * Two strengths share one walk of the values, so there is one source of truth for shapes:
 * the server's guards (`parseOps`, `parseHello`, `parseMutate`, and `parsePatch`,
 * `parseHelloAck` for tests and tools) also charge the exact UTF-8 size of every value
 * against `limits.size`; the `…Shape` guards the browser uses on what our own server sent
 * check shape and safety only (plain objects, integers, op shape, forbidden keys, finite
 * numbers, depth). The byte accounting then stays out of the browser bundle.
 */
import { isErrorCode, type ErrorCode } from './errors.js';
import { FORBIDDEN_KEYS, isPlainObject, utf8Length, type JsonObject, type JsonValue } from './json.js';
import type { Op } from './ops.js';
import {
  DEFAULT_LIMITS,
  END_REASONS,
  PROTOCOL_VERSION,
  type EndedMessage,
  type EndReason,
  type ErrorAck,
  type HelloAck,
  type HelloMessage,
  type Limits,
  type MutateAck,
  type MutateMessage,
  type Parsed,
  type PatchMessage,
  type SessionSnapshot,
  type SessionState,
} from './protocol.js';

const fail = (code: ErrorCode, message: string): ErrorAck => ({ ok: false, code, message });
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

// Charges one part of a value as JSON.stringify writes it (a key with `asKey`); false once
// the budget is spent. Undefined: no byte accounting.
type Charge = ((part: unknown, asKey?: boolean) => boolean) | undefined;
// Makes a fresh Charge of `bytes`; only the exact guards import it.
type Budget = ((bytes: number) => Charge) | undefined;

/**
 * Exact byte accounting: the UTF-8 size of a value as `JSON.stringify` would write it, so a
 * limit of N bytes lets N bytes through and refuses N + 1.
 */
function sizeBudget(bytes: number): Charge {
  return (part, asKey) => {
    bytes -=
      typeof part === 'string'
        ? jsonSize(part, bytes) + (asKey ? 1 : 0) // a key has its colon
        : typeof part === 'number'
          ? String(part).length // JSON writes finite numbers as String() does
          : part === null || part === true
            ? 4
            : part === false
              ? 5
              : containerSize(part as JsonObject);
    return bytes >= 0;
  };
}

// Brackets or braces, and the commas between the items.
function containerSize(node: JsonObject | unknown[]): number {
  const n = Array.isArray(node) ? node.length : Object.keys(node).length;
  return n === 0 ? 2 : 1 + n;
}

// UTF-8 bytes of a string as a JSON literal. Never fewer than length + 2, so a string
// already past the budget is not encoded at all.
function jsonSize(text: string, budget: number): number {
  return text.length + 2 > budget ? text.length + 2 : utf8Length(JSON.stringify(text));
}

// Walks a value without recursion limits of its own: depth is checked before descending, so
// a 100k-deep payload costs 33 steps. A refused `charge` ends the walk at once.
function checkValue(value: unknown, depth: number, limits: Limits, charge: Charge): ErrorAck | undefined {
  if (depth > limits.depth) return fail('too_large', `nesting deeper than ${limits.depth} levels`);
  const array = Array.isArray(value);
  const object = !array && isPlainObject(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return fail('invalid', 'numbers must be finite');
  const primitive =
    value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number';
  if (!(array || object || primitive)) return fail('invalid', 'values must be JSON');
  const tooLarge = (): ErrorAck => fail('too_large', `value larger than ${limits.size} bytes`);
  if (charge && !charge(value)) return tooLarge();
  if (array) {
    for (const item of value) {
      const bad = checkValue(item, depth + 1, limits, charge);
      if (bad) return bad;
    }
  } else if (object) {
    for (const key of Object.keys(value)) {
      const bad = checkKey(key, limits) ?? (charge && !charge(key, true) ? tooLarge() : undefined);
      const inner = bad ?? checkValue(value[key], depth + 1, limits, charge);
      if (inner) return inner;
    }
  }
  return undefined;
}

// Empty keys are valid JSON and reachable by ops; only dot-string options cannot name them.
function checkKey(key: unknown, limits: Limits): ErrorAck | undefined {
  if (typeof key !== 'string') return fail('invalid', 'path keys must be strings');
  if (key.length > limits.keyLength) return fail('too_large', `key longer than ${limits.keyLength} characters`);
  if (FORBIDDEN_KEYS.has(key)) return fail('invalid', `the key "${key}" is forbidden`);
  return undefined;
}

function opsWith(input: unknown, limits: Limits, budget: Budget): Parsed<Op[]> {
  if (!Array.isArray(input)) return fail('invalid', 'ops must be an array');
  if (input.length > limits.ops) return fail('too_large', `more than ${limits.ops} ops in one change`);
  const ops: Op[] = [];
  const charge = budget?.(limits.size); // one budget for all the set values of a change
  for (const raw of input as unknown[]) {
    if (!isPlainObject(raw)) return fail('invalid', 'each op must be an object');
    const { op: kind, path, by } = raw;
    if (kind !== 'set' && kind !== 'del' && kind !== 'inc') {
      // Names the kind without ever calling the peer's toString.
      return fail(
        'invalid',
        `unknown op ${typeof kind === 'string' ? JSON.stringify(kind.slice(0, 40)) : typeof kind}`,
      );
    }
    if (!Array.isArray(path) || path.length === 0) return fail('invalid', 'op.path must be a non-empty array of keys');
    if (path.length > limits.depth) return fail('too_large', `path deeper than ${limits.depth} levels`);
    for (const key of path as unknown[]) {
      const bad = checkKey(key, limits);
      if (bad) return bad;
    }
    const keys = [...(path as string[])];
    if (kind === 'set') {
      if (!Object.prototype.hasOwnProperty.call(raw, 'value')) return fail('invalid', 'a set op needs a value');
      const bad = checkValue(raw.value, keys.length, limits, charge);
      if (bad) return bad;
      ops.push({ op: 'set', path: keys, value: raw.value as JsonValue });
      continue;
    }
    // Number.isFinite does not coerce: anything but a finite number is refused.
    if (kind === 'inc' && !Number.isFinite(by)) return fail('invalid', 'an inc op needs a finite number by');
    const fields = kind === 'del' ? ['op', 'path'] : ['op', 'path', 'by'];
    if (Object.keys(raw).some((k) => !fields.includes(k)))
      return fail('invalid', `a ${kind} op has only ${fields.join(', ')}`);
    if (kind === 'del') ops.push({ op: 'del', path: keys });
    else if (charge && !charge(by)) return fail('too_large', `value larger than ${limits.size} bytes`);
    else ops.push({ op: 'inc', path: keys, by: by as number });
  }
  return ok(ops);
}

/**
 * Checks a list of ops from an untrusted peer against the shape and the limits, the size of
 * the set values included.
 *
 * @param input - anything
 * @param limits - the limits in force
 * @returns the ops, or the refusal
 * @example
 * parseOps([{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]) // { ok: true, value: [...] }
 */
export function parseOps(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<Op[]> {
  return opsWith(input, limits, sizeBudget);
}

/**
 * {@link parseOps} without the byte accounting: shape and safety only (op shape, keys,
 * forbidden keys, depth, JSON values). For ops the server already held to its size limit.
 *
 * @param input - anything
 * @param limits - the limits in force (`size` is not checked)
 * @returns the ops, or the refusal
 * @example
 * parseOpsShape(JSON.parse(storedOutbox)[0].ops)
 */
export function parseOpsShape(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<Op[]> {
  return opsWith(input, limits, undefined);
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
  if (input.epoch !== undefined) {
    if (input.epoch !== null && !isVersion(input.epoch)) return fail('invalid', 'hello.epoch must be a time or null');
    hello.epoch = input.epoch;
  }
  return ok(hello);
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
  return ok({ mutation, base, ops: ops.value });
}

// The answers below come from the server: only the browser reads their messages (in its
// debug log), so they are short.

function patchWith(input: unknown, limits: Limits, budget: Budget): Parsed<PatchMessage> {
  if (!isPlainObject(input)) return fail('invalid', 'bad patch');
  const { version, base, mutation } = input;
  if (!isVersion(version) || !isVersion(base) || base >= version) return fail('invalid', 'bad patch version');
  if (mutation !== undefined && (typeof mutation !== 'string' || mutation.length > limits.mutationId)) {
    return fail('invalid', 'bad patch mutation');
  }
  // A patch can carry a whole session, so only the session size bounds its ops.
  const ops = opsWith(input.ops, { ...limits, ops: Infinity }, budget);
  if (!ops.ok) return ops;
  const patch: PatchMessage = { version, base, ops: ops.value };
  if (mutation !== undefined) patch.mutation = mutation as string;
  return ok(patch);
}

/**
 * Guards `session:patch` (server → browser), the size of its set values included.
 *
 * @param input - the payload as received
 * @param limits - the limits in force
 * @returns the message or the refusal
 * @example
 * parsePatch({ version: 5, base: 4, ops: [] })
 */
export function parsePatch(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<PatchMessage> {
  return patchWith(input, limits, sizeBudget);
}

/**
 * {@link parsePatch} without the byte accounting (shape and safety only): what the browser
 * runs on patches from our own server, which held them to its size limit already.
 *
 * @param input - the payload as received
 * @param limits - the limits in force (`size` is not checked)
 * @returns the message or the refusal
 * @example
 * parsePatchShape({ version: 5, base: 4, ops: [] })
 */
export function parsePatchShape(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<PatchMessage> {
  return patchWith(input, limits, undefined);
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
    return fail('invalid', 'bad ended reason');
  }
  return ok({ reason: input.reason as EndReason });
}

function parseErrorAck(input: JsonObject): ErrorAck {
  const { code, message } = input;
  return fail(isErrorCode(code) ? code : 'internal', typeof message === 'string' ? message : 'refused');
}

// An optional number or null field of an answer: absent reads as null (an older server).
const orNull = (v: unknown): number | null | undefined =>
  v === undefined || v === null ? null : typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;

// The fields every answer about a session carries (route body, hello answers).
function stateOf(input: JsonObject): SessionState | undefined {
  const { version, tag } = input;
  const epoch = orNull(input.epoch);
  const expiresIn = orNull(input.expiresIn);
  if (!isVersion(version) || !(tag === null || typeof tag === 'string')) return undefined;
  if (epoch === undefined || expiresIn === undefined) return undefined;
  return { version, tag, epoch, expiresIn };
}

function dataWith(data: unknown, limits: Limits, budget: Budget): Parsed<JsonObject> {
  if (!isPlainObject(data)) return fail('invalid', 'bad session data');
  const size = limits.size * 4; // data the server holds may exceed one change's limit
  const bad = checkValue(data, 0, { ...limits, size }, budget?.(size));
  return bad ?? ok(data);
}

function helloAckWith(input: unknown, limits: Limits, budget: Budget): Parsed<HelloAck> {
  if (!isPlainObject(input) || typeof input.ok !== 'boolean') return fail('invalid', 'bad hello ack');
  if (!input.ok) return ok(parseErrorAck(input));
  const state = stateOf(input);
  if (!state) return fail('invalid', 'bad hello ack version');
  if (input.unchanged === true) return ok({ ok: true, ...state, unchanged: true });
  if (Array.isArray(input.patches)) {
    const patches: PatchMessage[] = [];
    for (const raw of input.patches as unknown[]) {
      const p = patchWith(raw, limits, budget);
      if (!p.ok) return p;
      patches.push(p.value);
    }
    return ok({ ok: true, ...state, patches });
  }
  if (input.data === undefined) return fail('invalid', 'bad hello ack');
  const data = dataWith(input.data, limits, budget);
  return data.ok ? ok({ ok: true, ...state, data: data.value }) : data;
}

/**
 * Guards a whole session as the route answers it (and `snapshot(req)` embeds it, and tabs
 * post it): `{ version, tag, epoch, expiresIn, data }`, shape and safety only. Absent
 * `epoch`/`expiresIn` read as null; other fields are ignored.
 *
 * @param input - the body as received
 * @param limits - the limits in force (`size` is not checked)
 * @returns the snapshot or `invalid`
 * @example
 * parseSnapshot(await (await fetch('/get/session')).json())
 */
export function parseSnapshot(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<SessionSnapshot> {
  const state = isPlainObject(input) ? stateOf(input) : undefined;
  if (!state) return fail('invalid', 'bad session snapshot');
  const data = dataWith((input as JsonObject).data, limits, undefined);
  return data.ok ? ok({ ...state, data: data.value }) : data;
}

/**
 * Guards the answer to `session:hello` (server → browser), the size of the data included.
 *
 * @param input - the ack as received
 * @param limits - the limits in force
 * @returns the answer (an {@link ErrorAck} is a valid answer) or `invalid`
 * @example
 * parseHelloAck({ ok: true, version: 2, tag: 't', unchanged: true })
 */
export function parseHelloAck(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<HelloAck> {
  return helloAckWith(input, limits, sizeBudget);
}

/**
 * {@link parseHelloAck} without the byte accounting (shape and safety only): what the
 * browser runs on answers (and snapshots) from our own server.
 *
 * @param input - the ack as received
 * @param limits - the limits in force (`size` is not checked)
 * @returns the answer (an {@link ErrorAck} is a valid answer) or `invalid`
 * @example
 * parseHelloAckShape({ ok: true, version: 2, tag: 't', data: {} })
 */
export function parseHelloAckShape(input: unknown, limits: Limits = DEFAULT_LIMITS): Parsed<HelloAck> {
  return helloAckWith(input, limits, undefined);
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
  if (!isPlainObject(input) || typeof input.ok !== 'boolean') return fail('invalid', 'bad mutate ack');
  if (!input.ok) return ok(parseErrorAck(input));
  if (!isVersion(input.version)) return fail('invalid', 'bad mutate ack version');
  return ok({ ok: true, version: input.version });
}
