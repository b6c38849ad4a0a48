/**
 * The Socket.IO side: `socketIO()` (an `io.use()` middleware) and `attach(io)` (the same,
 * plus the handshake hook that issues the id cookie). Each socket gets `socket.session`,
 * joins its session's room, holds the session's live entry while connected, and speaks
 * the sync protocol. Sockets restored by connection-state recovery skip middlewares, so
 * they are set up again from a `connection` listener.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import {
  SessionSyncError,
  assertJson,
  isPlainObject,
  type JsonObject,
  type ServerToClientEvents,
} from '../../shared/index.js';
import { ROOM_PREFIX, roomOf } from './broadcast.js';
import type { Core } from '../engine/core.js';
import { cookieIssuer, handshakeOrigin } from './handshake.js';
import { originAllowed } from '../engine/origin.js';
import { serveProtocol } from './protocol-server.js';
import type { LiveSession } from '../engine/registry.js';
import { sideOf, type SocketSide } from './side.js';
import { SocketSession } from './socket-session.js';
import { logger } from '../log.js';

const debug = logger('socket');

type AnySocket = Socket<any, ServerToClientEvents, any, any>;
type AnyNamespace = Namespace<any, ServerToClientEvents, any, any>;
type Next = (err?: Error) => void;

/** The disconnect reasons after which Socket.IO may restore the socket (socket.io/lib/socket.ts). */
const RECOVERABLE = new Set([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close',
]);

/** A connect refusal: Socket.IO sends `err.data` to the client's `connect_error`. */
class ConnectRefusal extends Error {
  readonly data: { code: string; message: string };
  constructor(code: SessionSyncError['code'], message: string) {
    super(message);
    this.data = { code, message };
  }
}

function checkArguments(core: Core, defaults: JsonObject, key: string): void {
  if (!isPlainObject(defaults)) throw new TypeError('session-sync: socketIO(defaults) must be a plain JSON object');
  assertJson(defaults);
  if (typeof key !== 'string' || key === '')
    throw new TypeError('session-sync: socketIO(defaults, key) needs a non-empty key');
  // The key becomes a property of the handle: it may not hide one of the handle's own
  // (`data`, the seed's example, is safe: the handle never reads it through `this`).
  const probe = new SocketSession(core, {}, '\u0000probe');
  if (key !== 'data' && key in probe) {
    throw new TypeError(
      `session-sync: socketIO(defaults, key): "${key}" is taken by socket.session itself; pick another key`,
    );
  }
}

// How long Socket.IO keeps a disconnected socket restorable; 0 when recovery is off.
function recoveryWindow(socket: AnySocket): number {
  const opts = (
    socket.nsp.server as unknown as { opts?: { connectionStateRecovery?: { maxDisconnectionDuration?: number } } }
  ).opts;
  const recovery = opts?.connectionStateRecovery;
  if (!recovery) return 0;
  return recovery.maxDisconnectionDuration ?? 2 * 60 * 1000;
}

/** The socket side of one middleware: `(socket, next)` plus the recovery listener per namespace. */
class SocketBinding {
  private readonly side: SocketSide;
  private readonly namespaces = new WeakSet<AnyNamespace>();

  constructor(
    private readonly core: Core,
    private readonly defaults: JsonObject,
    private readonly key: string,
  ) {
    this.side = sideOf(core);
  }

  /** Serves a namespace: broadcasts to it, and sets up the sockets it restores. */
  serve(nsp: AnyNamespace): void {
    if (this.namespaces.has(nsp)) return;
    this.namespaces.add(nsp);
    this.side.broadcaster.addNamespace(nsp);
    // First in line, so the app's own connection listeners find `socket.session` set.
    nsp.prependListener('connection', (socket: AnySocket) => {
      if (socket.recovered && !(socket.session instanceof SocketSession)) return this.recover(socket);
      // The session ended between this socket's middleware and its connection, when the
      // broadcast could not reach it yet: end it as the others were.
      const ended = socket.session instanceof SocketSession ? socket.session.ended : undefined;
      if (ended) {
        socket.emit('session:ended', { reason: ended });
        socket.disconnect(true);
      }
    });
  }

  private originRefusal(socket: AnySocket): ConnectRefusal | undefined {
    const origin = socket.handshake.headers.origin;
    const self = handshakeOrigin(socket.request, this.core.options.trustProxy);
    if (originAllowed(this.core.options.origins, origin, self)) return undefined;
    debug('refused a handshake from origin %s (self %s)', origin, self);
    return new ConnectRefusal('forbidden', `session-sync: origin ${origin} is not allowed (option origins)`);
  }

  private idOf(socket: AnySocket): { id: string | undefined; fresh: boolean } {
    const id = this.core.readId(socket.request.headers.cookie);
    if (id !== undefined) return { id, fresh: false };
    const issued = this.side.issued.get(socket.request);
    return { id: issued, fresh: issued !== undefined };
  }

  /** The `io.use()` middleware. */
  readonly middleware = (socket: AnySocket, next: Next): void => {
    try {
      this.serve(socket.nsp);
      if (socket.session instanceof SocketSession) return next(); // mounted twice
      const refusal = this.originRefusal(socket);
      if (refusal) return next(refusal);
      const session = new SocketSession(this.core, this.defaults, this.key);
      const { id, fresh } = this.idOf(socket);
      if (id === undefined) {
        this.install(socket, session, undefined);
        return next();
      }
      this.side.acquire(id, fresh).then(
        (entry) => {
          // The client left while the store answered: Socket.IO will drop the socket
          // without a disconnect event, so give the hold back now.
          if (socket.conn.readyState !== 'open') {
            this.side.release(entry);
            return next();
          }
          this.install(socket, session, entry);
          next();
        },
        (err: unknown) => {
          debug('loading %s for a socket failed: %o', id, err);
          next(new ConnectRefusal('store_unavailable', 'session-sync: the session store is unavailable'));
        },
      );
    } catch (err) {
      debug('the socket middleware failed: %o', err);
      next(new ConnectRefusal('internal', 'session-sync: internal error'));
    }
  };

  private install(socket: AnySocket, session: SocketSession, entry: LiveSession | undefined): void {
    socket.session = session as never;
    // Every message of the session counts as activity (idle TTL), at a bounded rate.
    socket.use((_packet, next) => {
      const live = session.live;
      if (live && live.version > 0 && !live.ended) this.core.touch(live.id);
      next();
    });
    serveProtocol(socket, this.core, session);
    if (entry) this.bind(socket, session, entry);
  }

  // The socket holds the entry (made live by the feed) for as long as it is connected, and
  // for the recovery window after a drop Socket.IO may undo.
  private bind(socket: AnySocket, session: SocketSession, entry: LiveSession): void {
    session.bind(entry);
    this.side.remember(entry.id, session);
    void socket.join(roomOf(entry.id));
    let released = false;
    const release = (reason?: string): void => {
      if (released) return;
      released = true;
      this.side.forget(entry.id, session);
      const window = reason !== undefined && RECOVERABLE.has(reason) ? recoveryWindow(socket) : 0;
      if (window > 0 && !entry.ended) this.side.linger(socket.id, entry, window);
      else this.side.release(entry);
    };
    socket.once('disconnect', (reason: string) => release(reason));
    // A socket dropped before it connected (a later middleware refused it) gets no
    // disconnect event; its connection closing is the last word.
    socket.conn.once('close', () => release());
  }

  // Connection-state recovery skips middlewares: set the restored socket up again from its
  // new handshake (the origin check included), and put it in the room its cookie names now.
  private recover(socket: AnySocket): void {
    const session = new SocketSession(this.core, this.defaults, this.key);
    if (this.originRefusal(socket)) {
      socket.session = session as never; // for the app's own connection listeners
      socket.disconnect(true);
      return;
    }
    // Within the recovery window the entry is still held: the session is there at once.
    let kept = this.side.takeLingering(socket.id);
    if (kept?.ended) {
      // It ended while the socket was away (the notice went nowhere): tell it now, and close
      // as for any end, so the browser comes back with the cookie it holds now.
      const reason = kept.ended;
      this.side.release(kept);
      socket.session = session as never;
      socket.emit('session:ended', { reason });
      socket.disconnect(true);
      return;
    }
    const { id, fresh } = this.idOf(socket);
    if (kept && kept.id !== id) {
      this.side.release(kept);
      kept = undefined;
    }
    for (const room of socket.rooms) {
      if (room.startsWith(ROOM_PREFIX) && room !== (id === undefined ? undefined : roomOf(id))) void socket.leave(room);
    }
    if (id === undefined) return this.install(socket, session, undefined);
    if (kept) return this.install(socket, session, kept);
    if (fresh || this.core.registry.peek(id)) {
      const entry = this.core.registry.adopt(id);
      this.side.hold(entry);
      return this.install(socket, session, entry);
    }
    // Not held here (another node served it before): load it, and hold the socket's events
    // until it is there.
    const ready = this.side.acquire(id, false).then(
      (entry) => {
        if (!socket.connected) return this.side.release(entry);
        this.bind(socket, session, entry);
      },
      (err: unknown) => {
        debug('loading %s for a restored socket failed: %o', id, err);
        session.failedToLoad(err);
      },
    );
    socket.use((_packet, next) => void ready.then(() => next()));
    this.install(socket, session, undefined);
  }
}

/**
 * Builds the `io.use()` middleware (`sync.socketIO()`).
 *
 * @param core - the shared state
 * @param defaults - values a session starts with
 * @param key - the property of `socket.session` holding the data
 * @returns `(socket, next)`
 * @throws TypeError for bad defaults or key
 * @example
 * io.use(createSocketMiddleware(core, {}, 'val'))
 */
export function createSocketMiddleware(
  core: Core,
  defaults: JsonObject,
  key: string,
): (socket: unknown, next: Next) => void {
  checkArguments(core, defaults, key);
  return new SocketBinding(core, defaults, key).middleware as (socket: unknown, next: Next) => void;
}

const attached = new WeakMap<object, Set<Core>>();

/**
 * `sync.attach(io)`: the middleware on the main namespace, plus a handshake hook that gives
 * a handshake without a valid cookie the id cookie (an `io.use()` middleware runs only
 * after the handshake's response headers are gone). Fires for the first request of every
 * transport: the polling handshake, and the upgrade response of a websocket-first one.
 *
 * @param core - the shared state
 * @param io - the Socket.IO server
 * @param defaults - values a session starts with
 * @param key - the property of `socket.session` holding the data
 * @throws TypeError when `io` is not a Socket.IO server
 * @example
 * attachToServer(core, io, {}, 'val')
 */
export function attachToServer(core: Core, io: unknown, defaults: JsonObject, key: string): void {
  const server = io as Server;
  if (!server || typeof server.use !== 'function' || typeof server.of !== 'function' || !server.engine) {
    throw new TypeError('session-sync: attach(io) needs a Socket.IO Server that is attached to an HTTP server');
  }
  checkArguments(core, defaults, key);
  let cores = attached.get(server);
  if (!cores) attached.set(server, (cores = new Set()));
  if (cores.has(core)) throw new Error('session-sync: attach(io) was already called for this server');
  cores.add(core);
  const binding = new SocketBinding(core, defaults, key);
  binding.serve(server.of('/'));
  server.use(binding.middleware);
  server.engine.on('initial_headers', cookieIssuer(core, sideOf(core).issued));
}
