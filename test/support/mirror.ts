/**
 * Session mirrors built from the protocol alone, as the browser SDK builds them, and the socket
 * client of a load visitor that keeps one (with browser-style writes replayed after a reconnect).
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { applyOps, PROTOCOL_VERSION, type JsonObject, type Op, type PatchMessage } from '../../src/shared/index.js';
import type { Jar } from './http.js';
import { randomText, type Capture } from './reliability.js';

/**
 * A session mirrored from the protocol alone, as the browser SDK does it: the hello answer,
 * then every patch in order; patches that arrive before the answer are held; a gap is
 * counted and healed by saying hello again with the version held.
 */
export class Mirror {
  version = 0;
  data: JsonObject = {};
  tag: string | null | undefined;
  ready = false;
  gaps = 0;
  patches = 0;
  private held: PatchMessage[] = [];

  /** @param resync - says hello again after a gap */
  constructor(private readonly resync: () => void) {}

  /**
   * Takes a hello answer.
   *
   * @param ack - the answer (checked by the caller to be `ok`)
   */
  hello(ack: {
    version: number;
    tag: string | null;
    data?: JsonObject;
    patches?: PatchMessage[];
    unchanged?: true;
  }): void {
    if (ack.data) this.data = ack.data;
    else if (ack.patches) {
      for (const p of ack.patches) {
        if (p.base !== this.version) throw new Error(`hello patches do not continue ${this.version}: base ${p.base}`);
        this.data = applyOps(this.data, p.ops).data;
        this.version = p.version;
      }
    }
    this.version = ack.version;
    this.tag = ack.tag;
    this.ready = true;
    const held = this.held;
    this.held = [];
    for (const p of held) this.patch(p);
  }

  /**
   * Takes a `session:patch`.
   *
   * @param p - the patch
   */
  patch(p: PatchMessage): void {
    this.patches++;
    if (!this.ready) {
      this.held.push(p);
      return;
    }
    if (p.version <= this.version) return;
    if (p.base !== this.version) {
      this.gaps++;
      this.ready = false;
      this.held.push(p);
      this.resync();
      return;
    }
    this.data = applyOps(this.data, p.ops).data;
    this.version = p.version;
  }
}

/** A browser-style write still waiting for its ack (replayed with the same id after a reconnect). */
interface Pending {
  message: { mutation: string; base: number; ops: Op[] };
  done(answer: { ok: boolean; version?: number; code?: string }): void;
}

/**
 * One socket of a visitor: connects with the visitor's cookie, says hello, mirrors the session,
 * sends browser-style mutations (kept until acked and replayed on a reconnect), and feeds every
 * frame it receives to the capture.
 */
export class LoadClient {
  socket: Socket | undefined;
  readonly mirror: Mirror;
  readonly pending = new Map<string, Pending>();
  /** `session:ended` reasons received. */
  readonly ended: string[] = [];
  disconnects = 0;
  private url = '';

  /**
   * @param jar - the visitor's cookies
   * @param capture - scans every frame received (optional)
   */
  constructor(
    readonly jar: Jar,
    private readonly capture?: Capture,
  ) {
    this.mirror = new Mirror(() => void this.hello().catch(() => {}));
  }

  /** Whether the socket is connected now. */
  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /**
   * Connects to a node (again, after a drop or to another node), says hello with the version
   * held, and replays the writes still waiting for an ack.
   *
   * @param url - the node's base URL
   * @param origin - the Origin header to send (none by default)
   * @returns when the hello is answered
   */
  async connect(url: string, origin?: string): Promise<void> {
    this.socket?.close();
    this.url = url;
    const jar = this.jar;
    const headers = {
      get cookie() {
        return jar.header;
      },
      ...(origin ? { origin } : {}),
    } as Record<string, string>;
    const socket = connectClient(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: headers,
    });
    this.socket = socket;
    const capture = this.capture;
    if (capture) {
      // Raw engine.io packets: every frame, acks included (onAny does not see acks).
      socket.io.on('open', () => {
        socket.io.engine.on('packet', (packet: { type: string; data?: unknown }) => {
          if (typeof packet.data === 'string') capture.scan(`frame ${packet.type}`, packet.data);
        });
      });
      socket.onAny((event: string, ...args: unknown[]) => capture.scan(`event ${event}`, JSON.stringify(args)));
      socket.onAnyOutgoing((event: string, ...args: unknown[]) => capture.scan(`sent ${event}`, JSON.stringify(args)));
    }
    socket.on('session:patch', (p: PatchMessage) => {
      if (this.socket === socket) this.mirror.patch(p);
    });
    socket.on('session:ended', (m: { reason: string }) => this.ended.push(m.reason));
    socket.on('disconnect', () => {
      this.disconnects++;
      if (this.socket === socket) this.mirror.ready = false;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connect to ${url} within 30 s`)), 30_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('connect_error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    await this.hello();
    for (const p of this.pending.values()) this.send(p);
  }

  /**
   * Says hello with the version and tag held (none before the first answer).
   *
   * @returns when answered and applied
   */
  async hello(): Promise<void> {
    const socket = this.socket!;
    const message =
      this.mirror.tag === undefined
        ? { protocol: PROTOCOL_VERSION }
        : { protocol: PROTOCOL_VERSION, version: this.mirror.version, tag: this.mirror.tag };
    this.mirror.ready = false;
    const ack = await socket.timeout(30_000).emitWithAck('session:hello', message);
    if (!ack?.ok) throw new Error(`hello refused: ${JSON.stringify(ack)}`);
    if (this.socket === socket) this.mirror.hello(ack);
  }

  /**
   * Sends a browser-style write and resolves with its ack; kept for replay until then.
   *
   * @param ops - the ops
   * @returns the ack
   */
  mutate(ops: Op[]): Promise<{ ok: boolean; version?: number; code?: string }> {
    const mutation = randomText(9);
    return new Promise((resolve) => {
      const pending: Pending = {
        message: { mutation, base: this.mirror.version, ops },
        done: (answer) => {
          if (!this.pending.delete(mutation)) return;
          resolve(answer);
        },
      };
      this.pending.set(mutation, pending);
      this.send(pending);
    });
  }

  private send(pending: Pending): void {
    const socket = this.socket;
    if (!socket?.connected) return; // replayed on the next connect
    socket.timeout(30_000).emit('session:mutate', pending.message, (err: Error | null, answer: { ok: boolean }) => {
      // A lost ack (disconnect, timeout) keeps the write pending: it goes again after the next hello.
      if (!err) pending.done(answer);
    });
  }

  /**
   * Emits an app event with an ack (timeout 30 s).
   *
   * @param event - the event
   * @param payload - its payload
   * @returns the ack, or `{ error }` when there was none
   */
  async call<T = any>(event: string, payload: unknown): Promise<T | { error: string }> {
    const socket = this.socket;
    if (!socket?.connected) return { error: 'not connected' };
    try {
      return (await socket.timeout(30_000).emitWithAck(event, payload)) as T;
    } catch (err) {
      return { error: String((err as Error).message) };
    }
  }

  /** Gives up on pending writes and closes the socket. */
  close(): void {
    for (const p of this.pending.values()) p.done({ ok: false, code: 'closed' });
    this.socket?.close();
  }

  /** The node this client last connected to. */
  get node(): string {
    return this.url;
  }
}
