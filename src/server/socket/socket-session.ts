/**
 * `socket.session`: the visitor's session in a Socket.IO handler. The socket holds its live
 * registry entry for as long as it is connected, so `socket.session.val` is always the
 * current data — a write made over HTTP, on another socket or out of band shows up in the
 * next handler call, with no `reload()`.
 */
import { SessionSyncError, type EndReason, type JsonObject } from '../../shared/index.js';
import { withDefaults, type Core } from '../engine/core.js';
import { SessionHandle } from '../engine/handle.js';
import type { LiveSession } from '../engine/registry.js';
import { logger, warnOnce } from '../log.js';

const debug = logger('socket');
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * The session of one socket. No `regenerate()`: a new id has to reach the browser in an
 * HttpOnly cookie, which only an HTTP response can carry.
 *
 * @example
 * io.on('connection', (socket) => {
 *   socket.on('add', async (item) => {
 *     socket.session.val.cart = [...(socket.session.val.cart ?? []), item]
 *     await socket.session.synchronize()
 *   })
 * })
 */
export class SocketSession extends SessionHandle {
  private endReason: EndReason | undefined;

  protected get autoSync(): boolean {
    return this.core.options.autoSync;
  }

  /**
   * @internal Binds the live entry the socket holds (undefined: the socket has no id).
   * @param entry - the entry
   */
  bind(entry: LiveSession | undefined): void {
    this.entry = entry;
  }

  /**
   * @internal Records that loading failed: the first access of the data throws.
   * @param error - what the store threw
   */
  failedToLoad(error: unknown): void {
    this.loadError = error;
  }

  /**
   * @internal Marks the session as ended for this socket (it is about to be disconnected).
   * @param reason - why it ended
   */
  markEnded(reason: EndReason): void {
    this.endReason ??= reason;
  }

  /** Why this socket's session ended, once it did (the socket is then disconnected). */
  get ended(): EndReason | undefined {
    return this.endReason;
  }

  /** @internal The live entry, when the socket has an id. */
  get live(): LiveSession | undefined {
    return this.entry;
  }

  /**
   * @internal The committed data with the defaults, and its version, read together so they
   * always match (what a hello snapshot sends).
   * @returns the version and the data
   */
  committed(): { version: number; data: JsonObject } {
    const entry = this.entry;
    return { version: entry?.version ?? 0, data: withDefaults(entry?.data ?? EMPTY, this.defaults) };
  }

  protected ensureEntry(): LiveSession {
    const entry = this.entry;
    if (!entry) {
      throw new SessionSyncError(
        'unauthenticated',
        'session-sync: this socket has no session cookie, so its session cannot be written; use attach(io), or let the page fetch the route before connecting',
      );
    }
    // The socket is being disconnected; a write now would bring the dead id back to life.
    if (this.endReason) throw new SessionSyncError('ended', `session-sync: this session has ended (${this.endReason})`);
    return entry;
  }

  protected reportFailure(error: unknown): void {
    debug('a commit from a socket handler failed and nobody awaited synchronize(): %o', error);
    // An 'error' event without a listener would throw and end the process.
    if (this.core.listenerCount('error') > 0) this.core.emit('error', error);
    else
      warnOnce(
        'socket-commit-failed',
        `a change made in a socket handler was not stored: ${(error as Error)?.message ?? error}`,
      );
  }
}
