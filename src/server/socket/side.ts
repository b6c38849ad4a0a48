/**
 * What the Socket.IO side keeps per `createSessionSync()` instance, however many servers
 * and namespaces it serves: the broadcaster, the ids issued on handshakes, the sockets'
 * holds on their sessions (with the store's watch), and the entries kept for sockets that
 * may come back through connection-state recovery.
 */
import type { IncomingMessage } from 'node:http';
import { Broadcaster } from './broadcast.js';
import type { Core } from '../engine/core.js';
import type { EndReason } from '../../shared/index.js';
import type { LiveSession } from '../engine/registry.js';
import type { SocketSession } from './socket-session.js';
import { logger } from '../log.js';

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
 * const side = sideOf(core)
 * const entry = await side.acquire(id, false) // … side.release(entry) on disconnect
 */
export class SocketSide {
  readonly broadcaster: Broadcaster;
  /** Ids the attach hook issued on handshakes that carried no valid cookie. */
  readonly issued = new WeakMap<IncomingMessage, string>();
  /** Socket holds per session id, and the store's watch while there is one. */
  private readonly holds = new Map<string, { count: number; unwatch: (() => void) | undefined }>();
  /** By Socket.IO socket id: entries kept for the recovery window after a recoverable disconnect. */
  private readonly lingering = new Map<string, Lingering>();

  /** The handles of the sockets connected here, by session id. */
  private readonly handles = new Map<string, Set<SocketSession>>();

  constructor(private readonly core: Core) {
    this.broadcaster = new Broadcaster(core);
    // Before the broadcaster tells and disconnects them ('end' comes before 'event'): from
    // now on their writes are refused, so a late one cannot bring the dead id back.
    core.on('end', (id: string, reason: EndReason) => {
      for (const handle of this.handles.get(id) ?? []) handle.markEnded(reason);
    });
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

const sides = new WeakMap<Core, SocketSide>();

/**
 * The socket side's state of a core, made on first use.
 *
 * @param core - the shared state
 * @returns its socket side (one per core)
 */
export function sideOf(core: Core): SocketSide {
  let side = sides.get(core);
  if (!side) sides.set(core, (side = new SocketSide(core)));
  return side;
}
