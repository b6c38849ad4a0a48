/**
 * The Socket.IO side: `socketIO()` (an `io.use()` middleware) and `attach(io)` (the same,
 * plus the handshake hook that issues the id cookie). Each socket gets `socket.session`,
 * joins its session's room, holds the session's live entry while connected, and speaks
 * the sync protocol. Sockets restored by connection-state recovery skip middlewares, so
 * they are set up again from a `connection` listener.
 */
import type { IncomingMessage } from 'node:http';
import type { Namespace, Server, Socket } from 'socket.io';
import {
  SessionSyncError,
  assertJson,
  isPlainObject,
  type JsonObject,
  type ServerToClientEvents,
} from '../../shared/index.js';
import type { SignedId } from '../engine/cookie.js';
import type { Core } from '../engine/core.js';
import { checkDataKey } from '../engine/data-key.js';
import { originAllowed } from '../engine/origin.js';
import type { LiveSession } from '../engine/registry.js';
import { logger } from '../log.js';
import { ROOM_PREFIX, roomOf } from './broadcast.js';
import { cookieIssuer, handshakeDecider, handshakeDevice, handshakeOrigin } from './handshake.js';
import { serveProtocol } from './protocol-server.js';
import type { SocketSide } from './side.js';
import { SocketSession } from './socket-session.js';

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

/**
 * A throwaway `socket.session`, to learn which names the session uses itself.
 *
 * @param core - the shared state
 * @returns the probe
 */
export function socketProbe(core: Core): SocketSession {
  return new SocketSession(core, {}, '\u0000probe');
}

function checkArguments(core: Core, defaults: JsonObject, key: string): void {
  if (!isPlainObject(defaults)) throw new TypeError('session-sync: socketIO(defaults) must be a plain JSON object');
  assertJson(defaults);
  checkDataKey(key, 'the key of socketIO(defaults, key)', socketProbe(core), 'socket.session');
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
  private readonly namespaces = new WeakSet<AnyNamespace>();

  constructor(
    private readonly core: Core,
    private readonly side: SocketSide,
    private readonly defaults: JsonObject,
    private readonly key: string,
  ) {}

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

  // The id a socket's session is: the fresh one decided on its handshake (`attach(io)` gave
  // it a cookie, in place of none or of a dead one), else the one its cookie names.
  private idOf(socket: AnySocket): { signed: SignedId | undefined; fresh: boolean } {
    const issued = this.side.issued.get(socket.request);
    if (issued) return { signed: issued, fresh: true };
    return { signed: this.core.cookies.read(socket.request.headers.cookie), fresh: false };
  }

  /** The `io.use()` middleware. */
  readonly middleware = (socket: AnySocket, next: Next): void => {
    try {
      this.serve(socket.nsp);
      if (socket.session instanceof SocketSession) return next(); // mounted twice
      const refusal = this.originRefusal(socket);
      if (refusal) return next(refusal);
      const session = new SocketSession(this.core, this.defaults, this.key);
      const { signed, fresh } = this.idOf(socket);
      if (signed === undefined) {
        this.install(socket, session, undefined);
        return next();
      }
      this.side
        .acquire(signed.id, fresh)
        .then(async (entry) => {
          // An id neither live nor adoptable: its hello and writes will be answered `ended`.
          const dead = fresh ? undefined : await this.core.deadReason(entry, signed.issued).catch(() => undefined);
          return { entry, dead };
        })
        .then(
          ({ entry, dead }) => {
            // The client left while the store answered: Socket.IO will drop the socket
            // without a disconnect event, so give the hold back now.
            if (socket.conn.readyState !== 'open') {
              this.side.release(entry);
              return next();
            }
            if (dead) session.markDead(dead);
            this.install(socket, session, entry, signed.issued);
            next();
          },
          (err: unknown) => {
            debug('loading a session for a socket failed: %o', err);
            next(new ConnectRefusal('store_unavailable', 'session-sync: the session store is unavailable'));
          },
        );
    } catch (err) {
      debug('the socket middleware failed: %o', err);
      next(new ConnectRefusal('internal', 'session-sync: internal error'));
    }
  };

  private install(socket: AnySocket, session: SocketSession, entry: LiveSession | undefined, issued = 0): void {
    socket.session = session as never;
    const { trustProxy, deviceIp } = this.core.options;
    const device = handshakeDevice(socket.request, trustProxy, deviceIp);
    session.seen(device);
    // Every message of the session counts as activity (idle TTL), at a bounded rate.
    const seen = (): typeof device => device;
    socket.use((_packet, next) => {
      const live = session.live;
      if (live && live.version > 0 && !live.ended) this.core.touch(live.id, seen);
      next();
    });
    serveProtocol(socket, this.core, session);
    if (entry) this.bind(socket, session, entry, issued);
  }

  // The socket holds the entry (made live by the feed) for as long as it is connected, and
  // for the recovery window after a drop Socket.IO may undo.
  private bind(socket: AnySocket, session: SocketSession, entry: LiveSession, issued: number): void {
    session.bind(entry, issued);
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
    const { signed, fresh } = this.idOf(socket);
    const id = signed?.id;
    const issued = signed?.issued ?? 0;
    if (kept && kept.id !== id) {
      this.side.release(kept);
      kept = undefined;
    }
    for (const room of socket.rooms) {
      if (room.startsWith(ROOM_PREFIX) && room !== (id === undefined ? undefined : roomOf(id))) void socket.leave(room);
    }
    if (id === undefined) return this.install(socket, session, undefined);
    if (kept) return this.install(socket, session, kept, issued);
    if (fresh || this.core.registry.peek(id)) {
      const entry = this.core.registry.adopt(id);
      this.side.hold(entry);
      return this.install(socket, session, entry, issued);
    }
    // Not held here (another node served it before): load it, and hold the socket's events
    // until it is there.
    const ready = this.side.acquire(id, false).then(
      async (entry) => {
        // As on a first connect: an id neither live nor adoptable answers `ended`, then the notice.
        const dead = await this.core.deadReason(entry, issued).catch(() => undefined);
        if (!socket.connected) return this.side.release(entry);
        if (dead) session.markDead(dead);
        this.bind(socket, session, entry, issued);
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
 * @param side - the core's socket side
 * @param defaults - values a session starts with
 * @param key - the property of `socket.session` holding the data
 * @returns `(socket, next)`
 * @throws TypeError for bad defaults or key
 * @example
 * io.use(createSocketMiddleware(core, side, {}, 'val'))
 */
export function createSocketMiddleware(
  core: Core,
  side: SocketSide,
  defaults: JsonObject,
  key: string,
): (socket: unknown, next: Next) => void {
  checkArguments(core, defaults, key);
  return new SocketBinding(core, side, defaults, key).middleware as (socket: unknown, next: Next) => void;
}

/**
 * `sync.attach(io)`: the middleware on every namespace, present and future (`io.of('/chat')`
 * sockets have `socket.session` too), plus the handshake hooks that give a handshake without
 * a usable cookie — none, or one naming an id that is neither live nor adoptable — a fresh id
 * cookie (an `io.use()` middleware runs only after the handshake's response headers are
 * gone). Fires for the first request of every transport: the polling handshake, and the
 * upgrade response of a websocket-first one.
 *
 * @param core - the shared state
 * @param side - the core's socket side
 * @param io - the Socket.IO server
 * @param defaults - values a session starts with
 * @param key - the property of `socket.session` holding the data
 * @throws TypeError when `io` is not a Socket.IO server
 * @example
 * attachToServer(core, side, io, {}, 'val')
 */
export function attachToServer(core: Core, side: SocketSide, io: unknown, defaults: JsonObject, key: string): void {
  const server = io as Server & { _nsps?: Map<string, AnyNamespace> };
  if (!server || typeof server.use !== 'function' || typeof server.of !== 'function' || !server.engine) {
    throw new TypeError('session-sync: attach(io) needs a Socket.IO Server that is attached to an HTTP server');
  }
  checkArguments(core, defaults, key);
  if (!side.attach(server)) throw new Error('session-sync: attach(io) was already called for this server');
  const binding = new SocketBinding(core, side, defaults, key);
  const cover = (nsp: AnyNamespace): void => {
    binding.serve(nsp);
    nsp.use(binding.middleware as never);
  };
  // Every namespace made so far (Socket.IO keeps them in `_nsps`), then each new one.
  for (const nsp of server._nsps?.values() ?? [server.of('/')]) cover(nsp);
  server.on('new_namespace', cover);
  // An async check of the presented id before the handshake answers (engine.io >= 6.5), so
  // a dead one can be replaced; the headers hook then writes the cookie.
  const engine = server.engine as typeof server.engine & {
    use?: (fn: (req: IncomingMessage, res: unknown, next: (err?: unknown) => void) => void) => void;
  };
  if (typeof engine.use === 'function') engine.use(handshakeDecider(core, side.issued));
  engine.on('initial_headers', cookieIssuer(core, side.issued));
}
