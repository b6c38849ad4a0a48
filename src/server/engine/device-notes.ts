/**
 * The device note of a session: what its requests and handshakes said about the client
 * (`User-Agent`, and the IP with the option `deviceIp`), kept by the store beside the data —
 * never inside it, so `get(id).data`, the route and every mirror stay exactly the data, and
 * recording it never bumps the version. Here: how a note is made, and how often it is sent.
 */
import type { DeviceNote } from '../stores/store.js';

/** Longest `User-Agent` kept; real ones are under 300 characters, headers may be 16 KB. */
export const MAX_USER_AGENT = 512;

// Past this many sessions noted within one interval, the oldest marks go and those sessions
// may be noted again sooner: the memory of the throttle stays bounded.
const MAX_MARKS = 50_000;

/** Makes the note of the request or handshake at hand, when (and only when) it is needed. */
export type DeviceSource = () => DeviceNote | undefined;

/**
 * A device note from what a request or handshake carried.
 *
 * @param userAgent - the `User-Agent` header as Node gives it
 * @param ip - the client's address, when the option `deviceIp` is on
 * @returns the note (`{}` when the client said nothing: the last one to touch the session wins)
 * @example
 * deviceNote(req.headers['user-agent'], undefined) // { userAgent: 'Mozilla/5.0 …' }
 */
export function deviceNote(userAgent: string | string[] | undefined, ip: string | undefined): DeviceNote {
  const note: DeviceNote = {};
  const agent = (Array.isArray(userAgent) ? userAgent[0] : userAgent)?.trim();
  if (agent) note.userAgent = agent.slice(0, MAX_USER_AGENT);
  if (ip) note.ip = ip;
  return note;
}

/**
 * How often each session's note is sent to the store: at most once per interval
 * (`ttl / 100`) per session on this node, so a busy visitor costs no extra store writes and
 * the note is never more than an interval behind. Each node keeps its own marks.
 *
 * @example
 * const notes = new DeviceNotes(ttl / 100)
 * const device = notes.take(id, () => deviceNote(ua, undefined)) // undefined when not due
 */
export class DeviceNotes {
  // Insertion order = order of the marks, so the front is the oldest.
  private readonly marks = new Map<string, number>();

  /** @param every - the shortest time between two notes of one session, ms */
  constructor(private readonly every: number) {}

  /**
   * The note to send with a write or touch of `id` now, when one is due; the session is
   * then marked as noted.
   *
   * @param id - the session id
   * @param source - makes the note (called only when one is due)
   * @param now - epoch ms
   * @returns the note, or undefined when none is due (or the source knows nothing)
   */
  take(id: string, source: DeviceSource | undefined, now = Date.now()): DeviceNote | undefined {
    if (!source) return undefined;
    const last = this.marks.get(id);
    if (last !== undefined && now - last < this.every) return undefined;
    const note = source();
    if (note) this.mark(id, now);
    return note;
  }

  /**
   * Forgets that `id` was noted: the write that carried its note stored nothing (refused,
   * or no record), so the next one must carry it again.
   *
   * @param id - the session id
   */
  unmark(id: string): void {
    this.marks.delete(id);
  }

  private mark(id: string, now: number): void {
    this.marks.delete(id);
    // Marks older than an interval decide nothing any more.
    for (const [old, at] of this.marks) {
      if (now - at < this.every && this.marks.size < MAX_MARKS) break;
      this.marks.delete(old);
    }
    this.marks.set(id, now);
  }
}
