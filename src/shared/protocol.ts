/**
 * The sync protocol spoken between the browser SDK and the server over Socket.IO.
 * Message shapes are data; the `parse…(input: unknown)` guard of each inbound message is in
 * guards.ts. See PROTOCOL.md for the handshake in prose.
 */
import type { ErrorCode } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import type { Op } from './ops.js';

/**
 * The shape of your sessions, for types on the server (`req.session.val`,
 * `socket.session.val`) and in the browser (`session.data`, `useSession`). Augment it once:
 *
 * @example
 * declare module 'session-sync' {
 *   interface SessionData { user?: { id: string; name: string }; cart?: string[]; _csrf?: string }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {
  [key: string]: JsonValue | undefined;
}

/**
 * What the browser sees of a session type with the default `expose`: every key but the
 * top-level ones starting with `_` (server-only).
 *
 * @example
 * type Seen = Exposed<{ user?: string; _csrf?: string }> // { user?: string }
 */
export type Exposed<T> = { [K in keyof T as K extends `_${string}` ? never : K]: T[K] };

/**
 * Bumped on any incompatible change of the messages below. 2: answers carry `epoch` and
 * `expiresIn`, and a mutate on an ended session is refused with `ended`. 3: the `inc` op
 * (an older client must never meet an op it cannot apply).
 */
export const PROTOCOL_VERSION = 3;

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

/**
 * Where a session stands, as every answer about it tells the browser (the route body, a
 * hello answer, `snapshot(req)`).
 */
export interface SessionState {
  /** +1 per committed change; 0 without a record. */
  version: number;
  /** The id's browser-safe name; null without a valid cookie. */
  tag: string | null;
  /**
   * When the record was created (epoch ms, the store's clock); null without a record. A
   * cached copy of the same tag with another epoch belongs to a session that ended.
   */
  epoch: number | null;
  /** ms from now to the idle deadline (relative, so clock skew does not matter); null without a record. */
  expiresIn: number | null;
}

/** The whole exposed session at one version: the route's body and `snapshot(req)`. */
export interface SessionSnapshot<T extends JsonObject = JsonObject> extends SessionState {
  data: T;
}

/** browser → server, with an ack: "I hold `version` of session `tag` (record `epoch`)". */
export interface HelloMessage {
  protocol: number;
  version?: number;
  tag?: string | null;
  epoch?: number | null;
}

/** Hello answer: the whole (exposed) session. Always sent when `version` was absent. */
export interface HelloSnapshot extends SessionSnapshot {
  ok: true;
}
/** Hello answer: the patches after the version the browser holds, from the store's history. */
export interface HelloPatches extends SessionState {
  ok: true;
  patches: PatchMessage[];
}
/** Hello answer: the browser is up to date. */
export interface HelloUnchanged extends SessionState {
  ok: true;
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
