/**
 * What the Socket.IO side keeps per `createSessionSync()` instance, however many servers
 * and namespaces it serves: the broadcaster, the ids decided on handshakes, the sockets'
 * holds on their sessions (with the store's watch), and the entries kept for sockets that
 * may come back through connection-state recovery. One per core, made by the first
 * `socketIO()` / `attach()` of that core and kept on it.
 */
import type { IncomingMessage } from 'node:http';
import type { SignedId } from '../engine/cookie.js';
import type { Core } from '../engine/core.js';
import type { LiveSession } from '../engine/registry.js';
import type { StoreEvent } from '../stores/store.js';
import { logger } from '../log.js';
import { Broadcaster } from './broadcast.js';
import type { SocketSession } from './socket-session.js';

const debug = logger('socket');

/** An entry kept for a socket that may come back through connection-state recovery. */
interface Lingering {
  entry: LiveSession;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The socket side's state of one core.
 *
 * @example
 * const side = new SocketSide(core)
 * const entry = await side.acquire(id, false) // … side.release(entry) on disconnect
 */
export class SocketSide {
  readonly broadcaster: Broadcaster;
  /** Fresh ids decided for handshakes that carried no usable cookie (`attach(io)` issues their cookie). */
  readonly issued = new WeakMap<IncomingMessage, SignedId>();
  /** Socket holds per session id, and the store's watch while there is one. */
  private readonly holds = new Map<string, { count: number; unwatch: (() => void) | undefined }>();
  /** By Socket.IO socket id: entries kept for the recovery window after a recoverable disconnect. */
  private readonly lingering = new Map<string, Lingering>();

  /** The handles of the sockets connected here, by session id. */
  private readonly handles = new Map<string, Set<SocketSession>>();
  /** Socket.IO servers `attach()` was called for. */
  private readonly servers = new WeakSet<object>();

  constructor(private readonly core: Core) {
    this.broadcaster = new Broadcaster(core);
    core.consume((event) => this.onEvent(event));
  }

  private onEvent(event: StoreEvent): void {
    // First their writes are refused, so a late one cannot bring the dead id back; then
    // the broadcaster tells and disconnects them.
    if (event.type === 'end') for (const handle of this.handles.get(event.id) ?? []) handle.markEnded(event.reason);
    this.broadcaster.onEvent(event);
  }

  /**
   * Records an `attach(io)` of this core.
   *
   * @param server - the Socket.IO server
   * @returns false when it was attached before
   */
  attach(server: object): boolean {
    if (this.servers.has(server)) return false;
    this.servers.add(server);
    return true;
  }

  /** Counts a socket's handle as one of its session's, until {@link SocketSide.forget}. */
  remember(id: string, handle: SocketSession): void {
    let set = this.handles.get(id);
    if (!set) this.handles.set(id, (set = new Set()));
    set.add(handle);
  }

  /** Stops counting a handle (its socket left). */
  forget(id: string, handle: SocketSession): void {
    const set = this.handles.get(id);
    if (!set) return;
    set.delete(handle);
    if (set.size === 0) this.handles.delete(id);
  }

  /** Takes a hold on an entry the registry already counted for us. */
  hold(entry: LiveSession): void {
    const held = this.holds.get(entry.id);
    if (held) {
      held.count++;
      return;
    }
    // The store learns that this node has live mirrors of the session (RedisStore uses it
    // to notice expiry without keyspace notifications).
    this.holds.set(entry.id, { count: 1, unwatch: this.core.store.watch?.(entry.id, entry.version) });
    this.broadcaster.track(entry.id, entry.version, entry.data);
  }

  /** Gives a hold back, with the registry's. */
  release(entry: LiveSession): void {
    this.core.registry.release(entry);
    const held = this.holds.get(entry.id);
    if (!held || --held.count > 0) return;
    this.holds.delete(entry.id);
    this.broadcaster.untrack(entry.id);
    try {
      held.unwatch?.();
    } catch (err) {
      debug('unwatch of %s failed: %o', entry.id, err);
    }
  }

  /** A session's live entry, with a hold: from the registry at once when held, else loaded. */
  async acquire(id: string, fresh: boolean): Promise<LiveSession> {
    const entry =
      fresh || this.core.registry.peek(id) ? this.core.registry.adopt(id) : await this.core.registry.acquire(id);
    this.hold(entry);
    return entry;
  }

  /** Keeps a disconnected socket's entry for the recovery window. */
  linger(socketId: string, entry: LiveSession, ms: number): void {
    this.stopLingering(socketId);
    const timer = setTimeout(() => this.stopLingering(socketId), ms);
    timer.unref();
    this.lingering.set(socketId, { entry, timer });
  }

  /**
   * The entry kept for a restored socket; the caller owns its hold from now on. It may have
   * ended meanwhile (the registry marks it), or belong to another id than the cookie names.
   */
  takeLingering(socketId: string): LiveSession | undefined {
    const linger = this.lingering.get(socketId);
    if (!linger) return undefined;
    clearTimeout(linger.timer);
    this.lingering.delete(socketId);
    return linger.entry;
  }

  private stopLingering(socketId: string): void {
    const linger = this.lingering.get(socketId);
    if (!linger) return;
    clearTimeout(linger.timer);
    this.lingering.delete(socketId);
    this.release(linger.entry);
  }
}
