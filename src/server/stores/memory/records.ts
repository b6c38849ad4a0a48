/**
 * A MemoryStore's records: the table of sessions, the parsed data of the busy ones, the
 * user index and the device notes, with the bytes they take counted as they change. What a
 * record holds, never when it lives or ends (that is the store's business).
 */
import type { JsonObject } from '../../../shared/index.js';
import type { DeviceNote, UserSession } from '../store.js';
import { heapBytes, noteBytes, noteOf, RECORD_OVERHEAD } from './bytes.js';
import { HotData } from './hot.js';
import { SessionTable } from './table.js';
import { UserIndex } from './users.js';

// Sessions kept parsed at once (most recently used); the rest are parsed when read.
const HOT_SESSIONS = 1024;

/**
 * The records of a MemoryStore, addressed by slot (see `SessionTable`).
 *
 * @example
 * const records = new Records()
 * const slot = records.create('id', now, now + absolute)
 * records.write('id', slot, { n: 1 }, '{"n":1}')
 */
export class Records {
  /** The columns; reads of single fields go straight to it. */
  readonly table = new SessionTable();
  private readonly hot = new HotData(HOT_SESSIONS);
  private readonly users = new UserIndex();
  private textBytes = 0;
  private notesBytes = 0;

  /** Heap bytes of the records: text, notes, parsed copies and a fixed overhead each. */
  get bytes(): number {
    return this.textBytes + this.notesBytes + this.table.size * RECORD_OVERHEAD + this.hot.bytes;
  }

  /**
   * A new, empty record at version 0.
   *
   * @param id - the session id (must have none)
   * @param now - its creation time, epoch ms
   * @param deadline - its absolute deadline, epoch ms
   * @returns its slot
   */
  create(id: string, now: number, deadline: number): number {
    return this.table.add(id, '', now, deadline);
  }

  /**
   * The session's data: its parsed copy, or parsed from its text now (and kept).
   *
   * @param id - the session id
   * @param slot - its slot
   * @returns the data, frozen (shared with every reader)
   */
  data(id: string, slot: number): JsonObject {
    const kept = this.hot.get(id);
    if (kept) return kept;
    const text = this.table.text(slot);
    const data = JSON.parse(text) as JsonObject;
    this.hot.put(id, data, text);
    return data;
  }

  /**
   * Stores new data at the next version.
   *
   * @param id - the session id
   * @param slot - its slot
   * @param data - the data (frozen here: it is shared from now on)
   * @param text - the same as JSON text
   * @returns the new version
   */
  write(id: string, slot: number, data: JsonObject, text: string): number {
    const table = this.table;
    const version = table.version(slot) + 1;
    this.textBytes += heapBytes(text) - heapBytes(table.text(slot));
    table.write(slot, text, version);
    this.hot.put(id, data, text);
    return version;
  }

  /**
   * Files the record under its user (undefined: under none).
   *
   * @param id - the session id
   * @param slot - its slot
   * @param user - the user it names now
   */
  setUser(id: string, slot: number, user: string | undefined): void {
    this.users.move(id, this.table.user(slot), user);
    this.table.setUser(slot, user);
  }

  /**
   * Replaces the device note (its own column: no version, no history, no event).
   *
   * @param slot - the slot
   * @param device - the note
   * @returns how many bytes the records grew by (negative when they shrank)
   */
  note(slot: number, device: DeviceNote): number {
    const note = noteOf(device);
    const grew = noteBytes(note) - noteBytes(this.table.device(slot));
    this.notesBytes += grew;
    this.table.setDevice(slot, note);
    return grew;
  }

  /**
   * The record's creation time and idle deadline.
   *
   * @param slot - the slot
   * @returns `{ epoch, expires }`, epoch ms
   */
  times(slot: number): { epoch: number; expires: number } {
    return { epoch: this.table.epoch(slot), expires: this.table.expires(slot) };
  }

  /**
   * Activity: idle deadline = now + ttl, never past the absolute one.
   *
   * @param id - the session id
   * @param slot - its slot
   * @param now - epoch ms
   * @param ttl - the idle lifetime, ms
   */
  renew(id: string, slot: number, now: number, ttl: number): void {
    this.table.renew(id, slot, now, Math.min(now + ttl, this.table.deadline(slot)));
  }

  /**
   * The sessions filed under a user, as `sessionsOf` lists them.
   *
   * @param user - the user id
   * @param live - the slot of a live session, -1 for one that is not
   * @returns the entries
   */
  of(user: string, live: (id: string) => number): UserSession[] {
    const ids = this.users.of(user);
    if (!ids) return [];
    const table = this.table;
    const out: UserSession[] = [];
    for (const id of [...ids]) {
      const slot = live(id);
      if (slot < 0) continue;
      const entry: UserSession = {
        id,
        version: table.version(slot),
        lastActive: table.active(slot),
        createdAt: table.epoch(slot),
      };
      const device = table.device(slot);
      if (device) entry.device = { ...device };
      out.push(entry);
    }
    return out;
  }

  /**
   * Drops the parsed copy of the longest-unused session (only speed: it is parsed again).
   *
   * @returns false when there was none
   */
  dropOldestParsed(): boolean {
    return this.hot.dropOldest();
  }

  /**
   * Removes a record and everything kept beside it.
   *
   * @param id - the session id
   * @param slot - its slot
   */
  remove(id: string, slot: number): void {
    const table = this.table;
    this.users.move(id, table.user(slot), undefined);
    this.textBytes -= heapBytes(table.text(slot));
    this.notesBytes -= noteBytes(table.device(slot));
    table.remove(id, slot);
    this.hot.drop(id);
  }
}
