/**
 * What this node last read or wrote of its busiest sessions, so the next apply to one of them
 * can go straight to the compare-and-set: one round trip instead of a read and then a write.
 *
 * Only a guess, never trusted: the apply script compares the version it was built on with the
 * record's, so a guess that another node (or an end) made stale answers `conflict`, and the
 * apply reads afresh and tries again. The compare includes the write's mark, not only the
 * version: a guess built on a write still in flight must fail when another node's write took
 * that version first. The data is kept as the JSON text Redis holds (a string
 * nobody can change under us), and the map is bounded: the least recently used guess goes first.
 */

import { randomBytes } from 'node:crypto';

/** A record as this node last saw it. */
export interface KnownRecord {
  /** Its version. */
  readonly version: number;
  /** The mark of the write that made that version ('' for none). */
  readonly mark: string;
  /** Its data, as the JSON text of the record's `d` field. */
  readonly text: string;
  /** The user it names, or '' for none. */
  readonly user: string;
}

// Random per process, then counted: no two writes anywhere get the same mark.
const PROCESS_MARK = randomBytes(6).toString('base64url');
let written = 0;

/**
 * A new write mark: stored beside the version by each write, compared beside it by the next.
 * The version alone does not tell two records apart: another node's write and the one this
 * node expects of its own write in flight both make version n+1.
 *
 * @returns the mark
 * @example
 * newWriteMark() // 'q3ZpX0aB1k'
 */
export function newWriteMark(): string {
  return PROCESS_MARK + (++written).toString(36);
}

/** How many sessions' records are remembered. A few thousand short texts: a few MB at most. */
export const KNOWN_RECORDS = 2048;

/**
 * The last-seen records of up to `max` sessions, least recently used dropped first.
 *
 * @example
 * const known = new KnownRecords()
 * known.remember(id, { version: 3, mark: newWriteMark(), text: '{"n":2}', user: '' })
 * known.of(id)?.version // 3
 */
export class KnownRecords {
  private readonly records = new Map<string, KnownRecord>();

  /** @param max - how many sessions to remember */
  constructor(private readonly max = KNOWN_RECORDS) {}

  /**
   * The record as last seen, if remembered.
   *
   * @param id - the session id
   * @returns the record, or undefined
   */
  of(id: string): KnownRecord | undefined {
    return this.records.get(id);
  }

  /**
   * Remembers a record just read or written.
   *
   * @param id - the session id
   * @param record - its version, data text and user
   */
  remember(id: string, record: KnownRecord): void {
    // A read that raced with this node's own write may come back older than it.
    if ((this.records.get(id)?.version ?? 0) > record.version) return;
    this.records.delete(id); // re-inserted last: the map's order is the use order
    this.records.set(id, record);
    if (this.records.size > this.max) this.records.delete(this.records.keys().next().value!);
  }

  /**
   * Forgets a session: it ended, or changed somewhere else.
   *
   * @param id - the session id
   */
  forget(id: string): void {
    this.records.delete(id);
  }

  /**
   * Forgets a session whose record moved past what this node knows (another node wrote it).
   *
   * @param id - the session id
   * @param version - the version it reached
   */
  saw(id: string, version: number): void {
    const known = this.records.get(id);
    if (known && known.version < version) this.records.delete(id);
  }
}
