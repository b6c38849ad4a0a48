/**
 * From the store's change feed to the sockets of this process: every committed change
 * becomes a `session:patch` (projected through `expose`) to the session's room, every end
 * a `session:ended` followed by a disconnect.
 *
 * Emits are LOCAL (`nsp.local`): every node receives every change from the store's feed
 * and serves its own sockets, so this works beside `@socket.io/redis-adapter` without
 * delivering anything twice.
 */
import type { Namespace } from 'socket.io';
import {
  applyOps,
  diff,
  type EndReason,
  type JsonObject,
  type PatchMessage,
  type ServerToClientEvents,
} from '../../shared/index.js';
import type { Core } from '../engine/core.js';
import { project, projectOps } from '../engine/policy.js';
import type { StoreEvent } from '../stores/store.js';
import { logger } from '../log.js';

const debug = logger('broadcast');
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * The room of a session's sockets.
 *
 * @param id - the session id
 * @returns the room name
 * @example
 * roomOf(id) // 'session-sync:<id>'
 */
export function roomOf(id: string): string {
  return `session-sync:${id}`;
}

/** The prefix every session room starts with. */
export const ROOM_PREFIX = 'session-sync:';

type AnyNamespace = Namespace<any, ServerToClientEvents, any, any>;

/** The whole data at the last version the sockets were sent, for exposes that need it. */
interface Tracked {
  version: number;
  data: JsonObject;
  resyncing: boolean;
  /** The newest version seen while a resync ran. */
  seen: number;
}

/**
 * Sends the changes and ends of the store's feed to the local sockets of each session.
 *
 * @example
 * const broadcaster = new Broadcaster(core)
 * broadcaster.addNamespace(io.of('/'))
 */
export class Broadcaster {
  private readonly namespaces = new Set<AnyNamespace>();
  // Only for `expose` as paths or a function: projecting an op then needs the data around it.
  private readonly tracked = new Map<string, Tracked>();
  private readonly needsData: boolean;

  /** @param core - the shared state whose feed the socket side hands on (one Broadcaster per core) */
  constructor(private readonly core: Core) {
    this.needsData = !('hideUnderscore' in core.options.expose);
  }

  /**
   * Sends one event of the store's feed to the local sockets of its session.
   *
   * @param event - a change or an end
   */
  onEvent(event: StoreEvent): void {
    try {
      this.deliver(event);
    } catch (err) {
      debug('broadcasting %s of %s failed: %o', event.type, event.id, err);
    }
  }

  /**
   * Serves the sockets of one more namespace (of any Socket.IO server).
   *
   * @param nsp - the namespace
   */
  addNamespace(nsp: AnyNamespace): void {
    this.namespaces.add(nsp);
  }

  /**
   * Starts following a session that got its first socket here.
   *
   * @param id - the session id
   * @param version - the version the socket's entry holds
   * @param data - the data at that version
   */
  track(id: string, version: number, data: JsonObject): void {
    if (this.needsData && !this.tracked.has(id)) this.tracked.set(id, { version, data, resyncing: false, seen: 0 });
  }

  /**
   * Stops following a session whose last socket here left.
   *
   * @param id - the session id
   */
  untrack(id: string): void {
    this.tracked.delete(id);
  }

  private hasSockets(room: string): boolean {
    for (const nsp of this.namespaces) if (nsp.adapter.rooms.has(room)) return true;
    return false;
  }

  private deliver(event: StoreEvent): void {
    const room = roomOf(event.id);
    if (event.type === 'end') {
      // A record written again under this id starts over from version 0.
      const state = this.tracked.get(event.id);
      if (state) Object.assign(state, { version: 0, data: EMPTY, seen: 0 });
      if (this.hasSockets(room)) this.end(room, event.reason);
      return;
    }
    if (!this.needsData) {
      if (!this.hasSockets(room)) return;
      const patch: PatchMessage = {
        version: event.version,
        base: event.base,
        ops: projectOps(this.core.options.expose, event.ops),
      };
      if (event.mutation !== undefined) patch.mutation = event.mutation;
      this.send(room, patch);
      return;
    }
    const state = this.tracked.get(event.id);
    if (!state) return; // no socket of it here
    if (event.version <= state.version) return; // already part of what the sockets were given
    if (state.resyncing || event.base !== state.version) return this.resync(event.id, state, event.version);
    // The live entry usually holds exactly this version already (the registry applies the
    // feed first); otherwise apply the ops here.
    const entry = this.core.registry.peek(event.id);
    let after: JsonObject;
    if (entry && entry.version === event.version && !entry.ended) after = entry.data;
    else {
      try {
        after = applyOps(state.data, event.ops).data;
      } catch (err) {
        debug('patch %d of %s does not apply to the tracked data (%o); resyncing', event.version, event.id, err);
        return this.resync(event.id, state, event.version);
      }
    }
    const patch: PatchMessage = {
      version: event.version,
      base: event.base,
      ops: projectOps(this.core.options.expose, event.ops, state.data, after),
    };
    if (event.mutation !== undefined) patch.mutation = event.mutation;
    state.version = event.version;
    state.data = after;
    this.send(room, patch);
  }

  // A version was missed (a feed that lost messages): read the store and send one patch
  // from the last version the sockets have to the current one. A browser at another version
  // sees `base` differ from its own and says hello again.
  private resync(id: string, state: Tracked, seen: number): void {
    state.seen = Math.max(state.seen, seen);
    if (state.resyncing) return;
    state.resyncing = true;
    this.core.store
      .get(id)
      .then((stored) => {
        if (this.tracked.get(id) !== state || !stored || stored.version <= state.version) return;
        const expose = this.core.options.expose;
        const patch: PatchMessage = {
          version: stored.version,
          base: state.version,
          ops: diff(project(expose, state.data), project(expose, stored.data)),
        };
        state.version = stored.version;
        state.data = stored.data;
        this.send(roomOf(id), patch);
      })
      .catch((err: unknown) => debug('resync of %s failed: %o', id, err))
      .finally(() => {
        state.resyncing = false;
        if (state.seen > state.version && this.tracked.get(id) === state) this.resync(id, state, state.seen);
      });
  }

  private send(room: string, patch: PatchMessage): void {
    for (const nsp of this.namespaces) {
      if (nsp.adapter.rooms.has(room)) nsp.local.to(room).emit('session:patch', patch);
    }
  }

  // Tell, then disconnect. The disconnect closes the whole connection (`true`): the browser
  // must open a new handshake to send a new cookie (after regenerate()), and Socket.IO
  // flushes the queued `session:ended` before it closes the transport.
  private end(room: string, reason: EndReason): void {
    for (const nsp of this.namespaces) {
      const ids = nsp.adapter.rooms.get(room);
      if (!ids) continue;
      nsp.local.to(room).emit('session:ended', { reason });
      for (const sid of [...ids]) nsp.sockets.get(sid)?.disconnect(true);
    }
  }
}
