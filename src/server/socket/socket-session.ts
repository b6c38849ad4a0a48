/**
 * `socket.session`: the visitor's session in a Socket.IO handler. The socket holds its live
 * registry entry for as long as it is connected, so `socket.session.val` is always the
 * current data — a write made over HTTP, on another socket or out of band shows up in the
 * next handler call, with no `reload()`.
 */
import { SessionSyncError, type EndReason, type JsonObject, type Op } from '../../shared/index.js';
import { SessionHandle } from '../engine/handle.js';
import type { LiveSession } from '../engine/registry.js';
import { withDefaults } from '../engine/view.js';
import type { ApplyResult, DeviceNote } from '../stores/store.js';
import { logger } from '../log.js';

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
  private deadReason: EndReason | undefined;
  private handshakeDevice: DeviceNote | undefined;

  protected get autoSync(): boolean {
    return this.core.options.autoSync;
  }

  /**
   * @internal Binds the live entry the socket holds (undefined: the socket has no id).
   * @param entry - the entry
   * @param issued - when the id's cookie was issued (epoch ms; 0 unknown)
   */
  bind(entry: LiveSession | undefined, issued: number): void {
    this.bindEntry(entry, issued);
  }

  /**
   * @internal What the socket's handshake said about the client (its device note).
   * @param note - the note
   */
  seen(note: DeviceNote): void {
    this.handshakeDevice = note;
  }

  protected override seenDevice(): DeviceNote | undefined {
    return this.handshakeDevice;
  }

  /**
   * @internal The id this socket presented was already dead when it connected (neither live
   * nor adoptable): its hello and mutations are answered `ended`, then `session:ended`.
   * @param reason - why it ended, `'expired'` when unknown
   */
  markDead(reason: EndReason): void {
    this.deadReason ??= reason;
  }

  /** @internal Why the id was dead on arrival, if it was. */
  get dead(): EndReason | undefined {
    return this.deadReason;
  }

  /**
   * @internal Commits a browser mutation under this socket's write condition (only while
   * the record it saw exists; else as the first write adopting the id).
   * @param ops - the parsed ops
   * @param mutation - the mutation id
   * @returns the store's answer
   */
  commitMutation(ops: Op[], mutation: string): Promise<ApplyResult> {
    const entry = this.ensureEntry();
    return this.core.commit(entry.id, ops, {
      when: this.condition(entry),
      mutation,
      fromClient: true,
      device: () => this.seenDevice(),
    });
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
   * @internal The committed data with the defaults, its version, and the record's epoch and
   * ms to its idle deadline, read together so they always match (what a hello answer sends).
   * @returns the state and the data
   */
  committed(): { version: number; epoch: number | null; expiresIn: number | null; data: JsonObject } {
    const entry = this.entry;
    const recorded = entry !== undefined && entry.version > 0;
    return {
      version: entry?.version ?? 0,
      epoch: recorded ? entry.epoch : null,
      expiresIn: recorded && entry.expires !== null ? Math.max(0, entry.expires - Date.now()) : null,
      data: withDefaults(entry?.data ?? EMPTY, this.defaults),
    };
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
    const ended = this.endReason ?? this.deadReason;
    if (ended) throw new SessionSyncError('ended', `session-sync: this session has ended (${ended})`);
    return entry;
  }

  protected reportFailure(error: unknown): void {
    debug('a commit from a socket handler failed and nobody awaited synchronize(): %o', error);
    this.core.reportLost(error, 'socket-commit');
  }
}
