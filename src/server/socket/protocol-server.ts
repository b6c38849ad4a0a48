/**
 * The server's half of the sync protocol (PROTOCOL.md): answers `session:hello` and
 * `session:mutate`. Every payload is untrusted: it goes through the guards of
 * `src/shared`, a bad one gets an error ack and changes nothing, and no handler ever throws.
 */
import {
  EVENTS,
  SessionSyncError,
  parseHello,
  parseMutate,
  type ErrorAck,
  type ErrorCode,
  type HelloAck,
  type MutateAck,
  type PatchMessage,
} from '../../shared/index.js';
import { wrapStoreError, type Core } from '../engine/core.js';
import { historyProjectable, project, projectOps, writablePathRefusal } from '../engine/policy.js';
import { TokenBucket } from './rate-limit.js';
import type { SocketSession } from './socket-session.js';
import { logger } from '../log.js';

const debug = logger('protocol');

/** The part of a Socket.IO socket the protocol needs. */
export interface ProtocolSocket {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  emit(event: 'session:ended', message: { reason: string }): unknown;
  disconnect(close: boolean): unknown;
}

const refuse = (code: ErrorCode, message: string): ErrorAck => ({ ok: false, code, message });

// The ack is the last argument, when the peer asked for one; the payload is the first
// argument unless that is the ack itself (`emit('session:hello', ack)`).
function split(args: unknown[]): { payload: unknown; ack: ((answer: unknown) => void) | undefined } {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as (answer: unknown) => void) : undefined;
  const payload = ack && args.length === 1 ? undefined : args[0];
  return { payload, ack };
}

// An error ack never carries more than a code and our own message (no stack, no store detail).
function errorAck(err: unknown): ErrorAck {
  if (err instanceof SessionSyncError && err.code === 'store_unavailable') {
    debug('the store failed: %o', err.cause ?? err);
    return refuse('store_unavailable', 'session-sync: the session store is unavailable');
  }
  if (err instanceof SessionSyncError) return refuse(err.code, err.message);
  if (err instanceof TypeError) return refuse('invalid', err.message);
  debug('unexpected failure: %o', err);
  return refuse('internal', 'session-sync: internal error');
}

/**
 * Answers a hello: the whole exposed session, the missed patches, or "unchanged".
 *
 * @param core - the shared state
 * @param session - the socket's session
 * @param payload - the untrusted hello
 * @returns the answer
 * @example
 * await answerHello(core, socket.session, { protocol: PROTOCOL_VERSION, version: 3, tag })
 */
export async function answerHello(core: Core, session: SocketSession, payload: unknown): Promise<HelloAck> {
  const parsed = parseHello(payload);
  if (!parsed.ok) return parsed;
  const hello = parsed.value;
  if (session.unavailable) return refuse('store_unavailable', 'session-sync: the session store is unavailable');
  const dead = session.dead;
  if (dead) return refuse('ended', `session-sync: this session has ended (${dead})`);
  const expose = core.options.expose;
  const tag = session.tag;
  const { data, ...known } = session.committed();
  const version = known.version;
  const state = { tag, epoch: known.epoch, expiresIn: known.expiresIn };
  const snapshot = (): HelloAck => ({ ok: true, version, ...state, data: project(expose, data) });
  // A cached copy of another session (other tag), of another record of it (other epoch), a
  // version this server never had, or none at all: the whole session.
  if (
    hello.version === undefined ||
    (hello.tag !== undefined && hello.tag !== tag) ||
    (hello.epoch !== undefined && hello.epoch !== null && hello.epoch !== state.epoch) ||
    hello.version > version
  )
    return snapshot();
  if (hello.version === version) return { ok: true, version, ...state, unchanged: true };
  const id = session.id;
  if (id === undefined || !historyProjectable(expose)) return snapshot();
  const history = await core.store.since(id, hello.version).catch((err: unknown) => {
    throw wrapStoreError(err);
  });
  if (!history || history.length === 0) return snapshot();
  const patches = history.map((p) => {
    const patch: PatchMessage = { version: p.version, base: p.base, ops: projectOps(expose, p.ops) };
    if (p.mutation !== undefined) patch.mutation = p.mutation;
    return patch;
  });
  return { ok: true, ...state, version: patches[patches.length - 1]!.version, patches };
}

/**
 * Applies a browser mutation when it is well formed, within the limits and allowed by
 * `clientWritable`.
 *
 * @param core - the shared state
 * @param session - the socket's session
 * @param payload - the untrusted mutation
 * @returns the answer
 * @example
 * await applyMutation(core, socket.session, { mutation: 'm1', base: 3, ops })
 */
export async function applyMutation(core: Core, session: SocketSession, payload: unknown): Promise<MutateAck> {
  const parsed = parseMutate(payload, core.options.limits);
  if (!parsed.ok) return parsed;
  const { mutation, ops } = parsed.value;
  if (!session.live) return refuse('unauthenticated', 'session-sync: this socket has no session cookie');
  if (session.unavailable) return refuse('store_unavailable', 'session-sync: the session store is unavailable');
  const refusal = writablePathRefusal(core.options.clientWritable, ops);
  if (refusal) return refuse(refusal.code, refusal.message);
  // Validators judge the data inside the store's apply; the store refuses an ended session.
  const result = await session.commitMutation(ops, mutation);
  return { ok: true, version: result.version };
}

function endDead(socket: ProtocolSocket, reason: string): void {
  try {
    socket.emit('session:ended', { reason });
    socket.disconnect(true);
  } catch (err) {
    debug('ending a socket of a dead id failed: %o', err);
  }
}

/**
 * Serves the protocol on one socket: hello and mutations, each rate limited per socket
 * (`limits.rate` per second, bursts of `limits.burst`, one bucket per event, so a burst of
 * replayed mutations never starves the hello before it). Other `session:*` events are
 * ignored (the app may not answer an ack of ours, nor we one of its own).
 *
 * @param socket - the socket
 * @param core - the shared state
 * @param session - the socket's session
 * @example
 * serveProtocol(socket, core, socket.session)
 */
export function serveProtocol(socket: ProtocolSocket, core: Core, session: SocketSession): void {
  const { rate, burst } = core.options.limits;
  const reply = (ack: ((answer: unknown) => void) | undefined, answer: unknown): void => {
    if (!ack) return;
    try {
      ack(answer);
    } catch (err) {
      debug('sending an ack failed: %o', err);
    }
  };
  const handle = (run: (payload: unknown) => Promise<HelloAck | MutateAck>) => {
    const bucket = new TokenBucket(rate, burst);
    return (...args: unknown[]): void => {
      const { payload, ack } = split(args);
      let work: Promise<HelloAck | MutateAck>;
      try {
        work = bucket.take()
          ? run(payload)
          : Promise.resolve(
              refuse('rate_limited', `session-sync: more than ${rate} messages per second from this socket`),
            );
      } catch (err) {
        work = Promise.reject(err);
      }
      work
        .catch((err: unknown) => errorAck(err))
        .then((answer) => {
          reply(ack, answer);
          // An id that was dead on arrival: after the answer, the notice, so the browser
          // never waits for a session that will not come back.
          if (!answer.ok && answer.code === 'ended' && session.dead) endDead(socket, session.dead);
        });
    };
  };
  socket.on(
    EVENTS.hello,
    handle((payload) => answerHello(core, session, payload)),
  );
  socket.on(
    EVENTS.mutate,
    handle((payload) => applyMutation(core, session, payload)),
  );
}
