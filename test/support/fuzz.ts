/**
 * Protocol fuzzing: fast-check arbitraries for what a hostile or broken peer can emit on a
 * session-sync socket, and a model of one session that predicts the server's answer to each
 * `session:hello` and `session:mutate` from the payload and the session's current state.
 *
 * Payloads may hold placeholders that only the model can fill when the case runs: `DUP` (a
 * mutation id the server already accepted), `CUR±n` (a version relative to the current one),
 * `TAG` (the session's real tag).
 */
import fc from 'fast-check';
import {
  applyOps,
  covers,
  jsonEqual,
  MUTATION_MEMORY,
  parseHello,
  parseMutate,
  type ErrorCode,
  type JsonObject,
  type JsonValue,
  type Limits,
  type Op,
} from '../../src/shared/index.js';
import { jsonAny, jsonKey } from './json-arbitraries.js';
import { visible } from './load.js';

/** One emit: the event, its arguments, and whether an ack function goes last. */
export interface FuzzCase {
  event: string;
  args: unknown[];
  ack: boolean;
}

const DUP = '\u0000DUP';
const CUR = '\u0000CUR';
const TAG = '\u0000TAG';

// ---------------------------------------------------------------------------------------------
// Arbitraries

// JSON.parse makes own `__proto__` keys, as a peer's JSON does on arrival.
const pollution: fc.Arbitrary<JsonValue> = fc.constantFrom(
  ...[
    '{"__proto__":{"polluted":"yes"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"a":{"__proto__":{"polluted":"yes"}}}',
    '[{"__proto__":{"polluted":"yes"}}]',
    '{"prototype":{"polluted":"yes"}}',
  ].map((text) => JSON.parse(text) as JsonValue),
);

// A value nested `depth` levels (objects or arrays), for the depth limit and the parsers.
const deep: fc.Arbitrary<JsonValue> = fc
  .tuple(fc.integer({ min: 20, max: 300 }), fc.boolean())
  .map(([depth, arrays]) => {
    let v: JsonValue = 'bottom';
    for (let i = 0; i < depth; i++) v = arrays ? [v] : { d: v };
    return v;
  });

// Mostly past the 64 KiB limit (refused before anything is applied); some just under it, which
// land and make the session itself hit the limit until a `del` of `big` frees it again.
const huge: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 65_530, max: 90_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 40_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 65_536, max: 70_000 }).map((n) => 'é'.repeat(n / 2)) },
  { weight: 2, arbitrary: fc.integer({ min: 13_000, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => i)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 5000, max: 8000 })
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  },
);

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: jsonAny },
  { weight: 1, arbitrary: pollution },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom(undefined, '', 0, -0, 1e308, -1e-308) },
);

const writableRoot = fc.constantFrom('prefs', 'draft');
const path: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.tuple(writableRoot, fc.array(jsonKey, { maxLength: 3 })).map(([r, rest]) => [r, ...rest]),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('other', '_canary', '_secret', 'created', ''), fc.array(jsonKey, { maxLength: 2 }))
      .map(([r, rest]) => [r, ...rest]),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.nat(3), writableRoot)
      .map(([bad, at, r]) => {
        const keys = [r, 'x', 'y'];
        keys.splice(Math.min(at, 3), 0, bad);
        return keys;
      }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 300 }).map((n) => ['prefs', 'k'.repeat(n)]) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 28, max: 40 }).map((n) => ['draft', ...Array.from({ length: n - 1 }, () => 'p')]),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom([], 'prefs', ['prefs', 1], [null], ['draft', ['x']], {}, null, ['prefs', {}]),
  },
);

const op: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('set'), path, value }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('del'), path }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del'), path, value: jsonAny }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('set'), path }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constantFrom('add', 'replace', 'SET', '', 'push', 7, null), path, value }),
  },
  { weight: 1, arbitrary: fc.oneof(jsonAny, fc.constant(undefined)) },
);

// Well-formed ops on the writable roots: they land unless they run through an array or a
// primitive, or grow the session past its limit.
const cleanOp: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('set'),
      path: fc.tuple(writableRoot, fc.array(jsonKey, { maxLength: 2 })).map(([r, rest]) => [r, ...rest]),
      value: jsonAny,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('del'),
      path: fc.tuple(writableRoot, fc.array(jsonKey, { maxLength: 2 })).map(([r, rest]) => [r, ...rest]),
    }),
  },
  { weight: 1, arbitrary: writableRoot.map((r) => ({ op: 'del', path: [r, 'big'] })) },
);

const ops: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.array(cleanOp, { minLength: 1, maxLength: 5 }) },
  { weight: 8, arbitrary: fc.array(op, { minLength: 1, maxLength: 4 }) },
  // One huge value in a list of ordinary ops (a frame stays under Socket.IO's 1 MB).
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.array(op, { maxLength: 3 }), writableRoot, huge)
      .map(([rest, r, v]) => [...rest, { op: 'set', path: [r, 'big'], value: v }]),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 95, max: 130 })
      .map((n) => Array.from({ length: n }, (_, i) => ({ op: 'set', path: ['draft', `n${i % 7}`], value: i }))),
  },
  { weight: 1, arbitrary: fc.constantFrom([], {}, 'ops', null, 3) },
  { weight: 1, arbitrary: jsonAny },
);

const mutationId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.string({ minLength: 1, maxLength: 64 }) },
  { weight: 4, arbitrary: fc.constant(DUP) },
  { weight: 1, arbitrary: fc.integer({ min: 65, max: 300 }).map((n) => 'm'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('', 7, null, ['id'], { id: 1 }, true) },
);

const version: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -40, max: 3 }).map((d) => `${CUR}${d}`) },
  { weight: 2, arbitrary: fc.nat(5) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, '2', null, 2 ** 53, Number.MAX_SAFE_INTEGER, {}, [1]) },
);

const mutate: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record(
      { mutation: mutationId, base: version, ops, extra: jsonAny },
      { requiredKeys: ['mutation', 'base', 'ops'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ mutation: mutationId, ops }) },
  { weight: 1, arbitrary: fc.record({ base: version, ops }) },
  { weight: 1, arbitrary: jsonAny },
  { weight: 1, arbitrary: pollution },
);

const hello: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record(
      {
        protocol: fc.oneof(
          { weight: 8, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.constantFrom(0, 2, 1.5, '1', null, -1) },
        ),
        version,
        tag: fc.oneof(
          { weight: 6, arbitrary: fc.constant(TAG) },
          { weight: 1, arbitrary: fc.constantFrom(null, 'not-the-tag', '', 5, 't'.repeat(65), {}) },
        ),
        extra: jsonAny,
      },
      { requiredKeys: ['protocol'] },
    ),
  },
  { weight: 1, arbitrary: jsonAny },
  { weight: 1, arbitrary: pollution },
);

/** Any emit a peer could make on a session-sync socket, with or without an ack. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 10, arbitrary: mutate.map((p) => ({ event: 'session:mutate', args: [p], ack: true })) },
  { weight: 6, arbitrary: hello.map((p) => ({ event: 'session:hello', args: [p], ack: true })) },
  // Odd argument lists: no payload, extra arguments, no ack, an ack that is not a function.
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('session:mutate', 'session:hello'),
        fc.oneof(mutate, hello),
        fc.constantFrom('none', 'extra', 'noack', 'number', 'only'),
      )
      .map(([event, p, shape]): FuzzCase => {
        if (shape === 'none') return { event, args: [], ack: false };
        if (shape === 'only') return { event, args: [], ack: true };
        if (shape === 'extra') return { event, args: [p, 'extra', 42], ack: true };
        if (shape === 'number') return { event, args: [p, 42], ack: false };
        return { event, args: [p], ack: false };
      }),
  },
  // Events the server sends, or does not know, sent by the peer: ignored.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('session:patch', 'session:ended', 'session:unknown', 'session:'), jsonAny)
      .map(([event, p]) => ({ event, args: [p], ack: false })),
  },
);

// ---------------------------------------------------------------------------------------------
// The model

/** A predicted answer: an ack (compared field by field) or, for a hello, a check on the ack. */
export type Prediction =
  | { kind: 'error'; code: ErrorCode }
  | { kind: 'mutated'; version: number; changed: boolean; data: JsonObject; mutation: string }
  | { kind: 'duplicate'; version: number }
  | { kind: 'hello'; from?: number; version: number };

/** One session as the server should hold it. */
export class SessionModel {
  /** Data by version, the last few (to check hello patches). */
  private readonly history = new Map<number, JsonObject>();
  /**
   * Mutation ids the store remembers, oldest first, with their first answer: every accepted
   * write, acked or not, the last {@link MUTATION_MEMORY} of them (as the store keeps them).
   */
  readonly accepted = new Map<string, number>();

  /**
   * @param version - the current version
   * @param data - the whole session (server-only keys included)
   * @param tag - the session's tag
   * @param limits - the limits in force
   */
  constructor(
    public version: number,
    public data: JsonObject,
    readonly tag: string,
    private readonly limits: Limits,
  ) {
    this.history.set(0, {});
    this.history.set(version, data);
  }

  /**
   * Replaces the placeholders of a case with real values from the current state.
   *
   * @param c - the case
   * @param pick - a random index source (fast-check's, so runs repeat)
   * @returns the case as it will be sent
   */
  fill(c: FuzzCase, pick: number): FuzzCase {
    const recent = [...this.accepted.keys()].slice(-100);
    const walk = (v: unknown): unknown => {
      if (v === DUP) return recent.length ? recent[pick % recent.length] : 'no-dup-yet';
      if (v === TAG) return this.tag;
      if (typeof v === 'string' && v.startsWith(CUR)) return Math.max(0, this.version + Number(v.slice(CUR.length)));
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(v)) {
          // Own `__proto__` keys must stay own keys (as JSON.parse made them).
          Object.defineProperty(out, key, {
            value: walk((v as Record<string, unknown>)[key]),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      return v;
    };
    return { ...c, args: c.args.map(walk) };
  }

  /**
   * What the server must answer to a case, from the payload and the state alone.
   *
   * @param c - a filled case
   * @returns the prediction
   */
  predict(c: FuzzCase): Prediction {
    const payload = c.ack && c.args.length === 0 ? undefined : c.args[0];
    if (c.event === 'session:hello') {
      const parsed = parseHello(payload);
      if (!parsed.ok) return { kind: 'error', code: parsed.code };
      const h = parsed.value;
      if (h.version === undefined || (h.tag !== undefined && h.tag !== this.tag) || h.version > this.version) {
        return { kind: 'hello', version: this.version };
      }
      return { kind: 'hello', from: h.version, version: this.version };
    }
    const parsed = parseMutate(payload, this.limits);
    if (!parsed.ok) return { kind: 'error', code: parsed.code };
    const { mutation, ops } = parsed.value;
    if (!ops.every((o) => covers(['prefs'], o.path) || covers(['draft'], o.path)))
      return { kind: 'error', code: 'forbidden' };
    const first = this.accepted.get(mutation);
    if (first !== undefined) return { kind: 'duplicate', version: first };
    let after: JsonObject;
    let changed: boolean;
    try {
      ({ data: after, changed } = applyOps(this.data, ops as Op[]));
    } catch (err) {
      return { kind: 'error', code: (err as { code?: ErrorCode }).code ?? 'invalid' };
    }
    if (!changed) return { kind: 'mutated', version: this.version, changed, data: this.data, mutation };
    if (Buffer.byteLength(JSON.stringify(after)) > this.limits.size) return { kind: 'error', code: 'too_large' };
    return { kind: 'mutated', version: this.version + 1, changed, data: after, mutation };
  }

  /**
   * Takes an accepted mutation into the state.
   *
   * @param p - its prediction
   */
  commit(p: Extract<Prediction, { kind: 'mutated' }>): void {
    // The store remembers the id whether or not the peer asked for the ack, and forgets the
    // oldest past its memory: short random ids collide with both kinds.
    this.accepted.set(p.mutation, p.version);
    if (this.accepted.size > MUTATION_MEMORY) this.accepted.delete(this.accepted.keys().next().value!);
    if (!p.changed) return;
    this.version = p.version;
    this.data = p.data;
    this.history.set(p.version, p.data);
    this.history.delete(p.version - 40);
  }

  /**
   * Checks a hello answer against the prediction; returns what is wrong, or undefined.
   *
   * @param p - the prediction
   * @param ack - the answer
   * @returns a problem, or undefined
   */
  checkHello(p: Extract<Prediction, { kind: 'hello' }>, ack: any): string | undefined {
    if (ack?.ok !== true) return `hello refused: ${JSON.stringify(ack)}`;
    if (ack.version !== this.version || ack.tag !== this.tag)
      return `hello says v${ack.version} ${ack.tag}, model v${this.version}`;
    const now = visible(this.data);
    if (p.from === undefined) return jsonEqual(ack.data, now) ? undefined : 'snapshot differs from the model';
    if (p.from === this.version) return ack.unchanged === true ? undefined : 'expected unchanged';
    if (ack.data !== undefined) return jsonEqual(ack.data, now) ? undefined : 'snapshot differs from the model';
    if (!Array.isArray(ack.patches)) return 'no data, patches or unchanged';
    const start = this.history.get(p.from);
    let v = p.from;
    let data = start ? visible(start) : undefined;
    for (const patch of ack.patches) {
      if (patch.base !== v || patch.version !== v + 1) return `patches not contiguous at ${v}`;
      try {
        if (data) data = applyOps(data, patch.ops).data;
      } catch (err) {
        return `patch ${patch.version} does not apply to the model at v${v}: ${(err as Error).message} (${JSON.stringify(patch).slice(0, 300)})`;
      }
      v = patch.version;
    }
    if (v !== this.version) return `patches end at ${v}, not ${this.version}`;
    return !data || jsonEqual(data, now) ? undefined : 'patches do not rebuild the model';
  }
}
