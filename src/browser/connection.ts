/**
 * The mirror's way to the server: the GET of the route, the socket, `hello`, the backoff and
 * the end of a session, driven by the one {@link Phase} of phase.ts.
 */
import { io } from 'socket.io-client';
import {
  parseEnded,
  parseHelloAckShape,
  parsePatchShape,
  parseSnapshot,
  PROTOCOL_VERSION,
  SessionSyncError,
  type HelloAck,
  type MutateMessage,
  type PatchMessage,
  type SessionSnapshot,
} from '../shared/index.js';
import type { Held } from './mirror.js';
import type { Config } from './options.js';
import { TRANSITIONS, type Event, type Name, type Phase } from './phase.js';
import type { SyncSocket } from './types.js';

/** A successful answer about the session: a route body, or a hello answer. */
export type Answer = SessionSnapshot | Exclude<HelloAck, { ok: false }>;

/** What the connection needs from the mirror. */
export interface Link {
  /** The server state held now. */
  held(): Held;
  /**
   * Takes an answer. `asked` is the version held when asking; `moving` is true while following
   * a regenerated session. False when the answer does not apply and the whole state is needed.
   */
  take(answer: Answer, asked: number, moving: boolean): boolean;
  /** One patch; false on a gap. */
  patch(patch: PatchMessage): boolean;
  /** Live (again): replay the writes not acknowledged. */
  live(): void;
  /** The session ended: drop its data, writes and record. */
  wipe(): Promise<void>;
  /** The phase changed. */
  phase(p: Phase): void;
  /** A refusal to report as an `'error'` event. */
  fail(err: SessionSyncError): void;
}

/** The running connection of one mirror. */
export interface Connection {
  readonly phase: Phase;
  /** GETs the route, then opens the socket. */
  start(): Promise<void>;
  /** Sends a write (only while live); `ack` gets the raw answer. */
  send(message: MutateMessage, ack: (raw: unknown) => void): void;
  /** A write was refused with `ended`: wait, for a bounded time, for the notice that says why. */
  doomed(): void;
  /** GETs the route again and reconnects; also leaves `'ended'`. */
  refresh(): Promise<void>;
  /** Stops timers and the socket (one passed in is left connected). */
  close(): void;
}

const MAX_DELAY = 5000;
/** How long a refusal with `ended` waits for its notice before the session counts as ended. */
const NOTICE_BOUND = 5000;

/**
 * Opens the connection of one mirror; nothing is sent before `start()`.
 *
 * @param o - the checked options
 * @param link - the mirror
 * @returns the connection
 * @example
 * const connection = openConnection(config, link)
 * await connection.start()
 */
export function openConnection(o: Config, link: Link): Connection {
  let phase: Phase = { phase: o.server ? 'server' : 'fetching' };
  let socket: SyncSocket | undefined;
  let getTimer: ReturnType<typeof setTimeout> | undefined;
  let socketTimer: ReturnType<typeof setTimeout> | undefined;
  let noticeTimer: ReturnType<typeof setTimeout> | undefined;
  let getDelay = 250;
  let socketDelay = 250;
  let behind = 0; // the newest version of a patch that could not apply while a hello was out
  const is = (...names: Name[]): boolean => names.includes(phase.phase);
  // The only writer of `phase`: false when the event means nothing in this phase.
  const go = (e: Event, reason = 'expired'): boolean => {
    const next = TRANSITIONS[e][phase.phase];
    if (next) link.phase((phase = { phase: next, reason } as Phase));
    return !!next;
  };
  const backoff = (delay: number): number => Math.min(delay * 2, MAX_DELAY);
  const later = (fn: () => void): void => {
    clearTimeout(socketTimer);
    socketTimer = setTimeout(fn, socketDelay);
    socketDelay = backoff(socketDelay);
  };

  async function load(): Promise<void> {
    clearTimeout(getTimer);
    getTimer = undefined;
    const held = link.held();
    // While following a regenerate, the new cookie may not be stored yet: 'renew' asks the
    // server not to replace the old (now dead) one, which would race with it.
    const headers: Record<string, string> = { 'X-Session-Sync': is('renewing') ? 'renew' : '1' };
    // The server's ETag names the record too: a 304 never validates a copy of an earlier one.
    if (held.full && held.tag) headers['If-None-Match'] = `"${held.tag}:${held.epoch}:${held.version}"`;
    try {
      const res = await o.fetch(o.routeUrl, { credentials: 'include', headers });
      const body = res.status === 304 || (res.ok && parseSnapshot(await res.json()));
      if (!body || (body !== true && !body.ok)) throw new Error(`GET answered ${res.status}`);
      if (is('ending', 'wiping', 'ended', 'closed')) return;
      if (body !== true) link.take(body.value, held.version, is('renewing'));
      getDelay = 250;
      go('got');
    } catch (err) {
      o.log('GET failed', err);
      go('lost');
      // While the socket is live it carries the data: the next connect retries the GET.
      if (!is('offline', 'error', 'syncing')) return;
      getTimer = setTimeout(load, getDelay);
      getDelay = backoff(getDelay);
    }
  }

  function hello(): void {
    if (socket?.connected && go('hello')) ask();
  }

  // Without a version the server answers with the whole state (JSON drops the undefined).
  function ask(): void {
    const { version, tag, epoch, full } = link.held();
    const message = { protocol: PROTOCOL_VERSION, tag, epoch, version: full ? version : undefined };
    socket!.emit('session:hello', message, (raw) => {
      const parsed = parseHelloAckShape(raw);
      const ack = parsed.ok ? parsed.value : parsed;
      if (!is('syncing', 'renewing')) return; // ended, closed or disconnected meanwhile
      if (!ack.ok) {
        if (ack.code === 'ended') return doomed();
        if (!is('error')) link.fail(new SessionSyncError(ack.code, ack.message));
        go('refused');
        return later(hello);
      }
      if (!link.take(ack, version, is('renewing'))) return ask(); // the whole state, then
      socketDelay = 250;
      go('answered');
      link.live();
      // A patch dropped while this hello was out may be newer than its answer.
      if (behind > link.held().version) hello();
      behind = 0;
    });
  }

  const onConnect = (): void => {
    clearTimeout(socketTimer);
    if (getTimer) load();
    hello();
  };
  const listeners = [
    ['connect', onConnect],
    [
      'disconnect',
      (why: string) => {
        // Socket.IO gives up after a server-side disconnect (a deploy, a restart): we do not.
        if (go('dropped') && why === 'io server disconnect') later(open);
      },
    ],
    [
      'connect_error',
      (err: Error) => {
        o.log('connect failed', err);
        if (socket!.active) return void go('dropped');
        // A middleware refused the handshake; Socket.IO will not retry that by itself.
        go('refused');
        if (is('error', 'renewing')) later(open);
      },
    ],
    [
      'session:patch',
      (raw: unknown) => {
        const parsed = parsePatchShape(raw);
        if (!parsed.ok || is('ending', 'wiping', 'ended')) return;
        // The record was just created (base 0): hello again to learn its epoch and deadline.
        if (link.patch(parsed.value)) return void (parsed.value.base || hello());
        behind = Math.max(behind, parsed.value.version);
        hello();
      },
    ],
    [
      'session:ended',
      (raw: unknown) => {
        const parsed = parseEnded(raw);
        if (parsed.ok) parsed.value.reason === 'regenerated' ? renew() : finish(parsed.value.reason);
      },
    ],
  ] as const;

  function open(): void {
    if (o.socket === false || !is('cached', 'offline', 'error', 'renewing')) return;
    if (!socket) {
      socket = o.socket || (io(o.url!, { withCredentials: true, autoConnect: false }) as SyncSocket);
      for (const [event, fn] of listeners) socket.on(event, fn as never);
      if (socket.connected) onConnect();
    }
    if (!socket.active) socket.connect();
  }

  async function renew(): Promise<void> {
    clearTimeout(noticeTimer);
    const old = link.held().tag;
    if (!go('regenerated')) return;
    // The server tells the old id's sockets once the response with the new cookie finished;
    // the browser may still be storing that cookie, so look a few times.
    for (let i = 1; i < 6 && is('renewing'); i++) {
      await load();
      if (link.held().tag !== old) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * i));
    }
    // The handshake must carry the new cookie: a fresh connection, not the old one.
    if (is('renewing')) socket?.disconnect().connect();
  }

  async function finish(reason?: string): Promise<void> {
    if (!go('end')) return;
    [getTimer, socketTimer, noticeTimer].forEach(clearTimeout);
    await link.wipe();
    go('wiped', reason);
  }

  function doomed(): void {
    if (go('doomed')) noticeTimer = setTimeout(finish, NOTICE_BOUND);
  }

  return {
    get phase() {
      return phase;
    },
    async start() {
      await load();
      open();
    },
    send: (message, ack) => socket!.emit('session:mutate', message, ack),
    doomed,
    async refresh() {
      go('refresh');
      if (is('server', 'closed')) return;
      await load();
      open();
      hello();
    },
    close() {
      go('close');
      [getTimer, socketTimer, noticeTimer].forEach(clearTimeout);
      if (socket) for (const [event, fn] of listeners) socket.off(event, fn as never);
      if (!o.socket) socket?.disconnect();
    },
  };
}
