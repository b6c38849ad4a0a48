/**
 * The lifecycle of one mirror as ONE value: a {@link Phase}, changed only through the
 * {@link TRANSITIONS} table (no I/O here). The status a page sees is derived from it.
 */
import type { Status } from './types.js';

/** The phases of a mirror. */
export type Name =
  /** Rendered on a server: no socket, no storage, no timers. */
  | 'server'
  /** Reading the cache, then the first GET; the socket opens once the GET answered or failed. */
  | 'fetching'
  /** The server answered over HTTP; the socket is not live (yet). */
  | 'cached'
  /** The server is unreachable; retrying. */
  | 'offline'
  /** The server refused us (another protocol, a refused handshake); retrying. */
  | 'error'
  /** `hello` is out, one at a time. */
  | 'syncing'
  | 'live'
  /** `session:ended` said `regenerated`: GET with the new cookie, reconnect, keep data and writes. */
  | 'renewing'
  /** A hello or a write was refused with `ended`: the notice decides, for a bounded time. */
  | 'ending'
  /** The session ended: its cache and outbox are being wiped. */
  | 'wiping'
  | 'ended'
  | 'closed';

/** Where a mirror stands: the phase, and why it ended once it did. */
export type Phase = { phase: Exclude<Name, 'ended'> } | { phase: 'ended'; reason: string };

/** What happens to a mirror. */
export type Event =
  | 'got' // the route answered
  | 'lost' // the route failed
  | 'hello' // a hello may go out now
  | 'answered' // hello answered
  | 'refused' // hello or handshake refused
  | 'dropped' // the socket disconnected or cannot connect
  | 'doomed' // refused with `ended`
  | 'regenerated' // the session moved to a new id
  | 'end' // the session ended
  | 'wiped' // its cache and outbox are gone
  | 'refresh'
  | 'close';

const to = (from: string, next: Name): Partial<Record<Name, Name>> =>
  Object.fromEntries(from.split(' ').map((name) => [name, next]));
const ALIVE = 'fetching cached offline error syncing live renewing ending';

/** Every transition: event → phase now → next phase. An event not listed for a phase is ignored. */
export const TRANSITIONS: Record<Event, Partial<Record<Name, Name>>> = {
  got: to('fetching offline', 'cached'),
  lost: to('fetching cached', 'offline'),
  // A hello while renewing goes out without leaving the phase: its answer may carry a new tag.
  hello: { ...to('cached offline error live', 'syncing'), renewing: 'renewing' },
  answered: to('syncing renewing', 'live'),
  refused: to('cached offline error syncing live', 'error'),
  dropped: to('cached error syncing live', 'offline'),
  doomed: to('cached offline error syncing live', 'ending'),
  regenerated: to(ALIVE, 'renewing'),
  end: to(ALIVE, 'wiping'),
  wiped: to('wiping', 'ended'),
  refresh: to('ended', 'fetching'),
  close: to(`${ALIVE} wiping ended server`, 'closed'),
};

const STATUS: Partial<Record<Name, Status>> = {
  server: 'loading',
  fetching: 'cached',
  cached: 'cached',
  offline: 'offline',
  error: 'error',
  live: 'live',
  renewing: 'live',
  ended: 'ended',
};

/**
 * The status a page sees in a phase. Passing phases (a hello out, waiting for a notice,
 * wiping, closed) keep the status shown before them.
 *
 * @param name - the phase
 * @param known - whether any data arrived yet (after that, never `'loading'` again)
 * @param socketless - `socket: false`: an answered GET is as live as it gets
 * @param before - the status shown so far
 * @returns the status
 * @example
 * statusOf('syncing', true, false, 'offline') // 'offline'
 */
export function statusOf(name: Name, known: boolean, socketless: boolean, before: Status): Status {
  const s = STATUS[name] ?? before;
  return s !== 'cached' ? s : !known ? 'loading' : socketless && name === 'cached' ? 'live' : s;
}
