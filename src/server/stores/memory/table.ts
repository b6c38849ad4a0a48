/**
 * Where a MemoryStore keeps its sessions, laid out for a small heap: one Map from id to a
 * slot number (a small integer, so no object per session), the numbers of every slot in
 * one Float64Array (unboxed, exact epoch ms), the data text in an array, and the user and
 * the device note each in another, made only once some session has one. The layout of
 * lru-cache, for the same reason.
 */
import type { DeviceNote } from '../store.js';

// Per slot: version, last activity, idle deadline, absolute deadline, creation (epoch ms).
const STRIDE = 5;
const VERSION = 0;
const ACTIVE = 1;
const EXPIRES = 2;
const DEADLINE = 3;
const EPOCH = 4;

/**
 * The sessions of a MemoryStore as columns. It stores what it is told; expiry and the
 * meaning of the fields are the store's business.
 *
 * @example
 * const table = new SessionTable()
 * const slot = table.add(id, '{"n":1}', Date.now(), Date.now() + 86_400_000)
 * table.version(slot) // 0
 */
export class SessionTable {
  // Insertion order = order of last activity: `renew` moves an entry to the end, so the
  // first entry is the longest idle.
  private readonly slots = new Map<string, number>();
  private numbers = new Float64Array(STRIDE * 1024);
  private readonly texts: string[] = [];
  private users: (string | undefined)[] | undefined;
  private devices: (DeviceNote | undefined)[] | undefined;
  private readonly free: number[] = [];

  /** Sessions held. */
  get size(): number {
    return this.slots.size;
  }

  /**
   * The slot of a session.
   *
   * @param id - the session id
   * @returns the slot, or -1 when there is none
   */
  find(id: string): number {
    return this.slots.get(id) ?? -1;
  }

  /**
   * Adds a session at version 0, active now and expiring now (the caller sets both).
   *
   * @param id - the session id (must not be held)
   * @param text - the data as JSON text
   * @param epoch - its creation time, epoch ms
   * @param deadline - the absolute deadline, epoch ms
   * @returns its slot
   */
  add(id: string, text: string, epoch: number, deadline: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.texts.length;
      if ((slot + 1) * STRIDE > this.numbers.length) {
        const grown = new Float64Array(this.numbers.length * 2);
        grown.set(this.numbers);
        this.numbers = grown;
      }
      this.texts.push(text);
      this.users?.push(undefined);
      this.devices?.push(undefined);
    } else {
      this.texts[slot] = text;
      if (this.users) this.users[slot] = undefined;
      if (this.devices) this.devices[slot] = undefined;
    }
    const at = slot * STRIDE;
    this.numbers[at + VERSION] = 0;
    this.numbers[at + ACTIVE] = 0;
    this.numbers[at + EXPIRES] = 0;
    this.numbers[at + DEADLINE] = deadline;
    this.numbers[at + EPOCH] = epoch;
    this.slots.set(id, slot);
    return slot;
  }

  /**
   * Removes a session and frees its slot.
   *
   * @param id - the session id
   * @param slot - its slot
   */
  remove(id: string, slot: number): void {
    this.slots.delete(id);
    this.texts[slot] = ''; // lets the old text go, keeps the array's element kind
    if (this.users) this.users[slot] = undefined;
    if (this.devices) this.devices[slot] = undefined;
    this.free.push(slot);
  }

  /**
   * Records activity: sets the last-active time and idle deadline, and makes the session
   * the most recently active.
   *
   * @param id - the session id
   * @param slot - its slot
   * @param active - now, epoch ms
   * @param expires - the idle deadline, epoch ms
   */
  renew(id: string, slot: number, active: number, expires: number): void {
    this.numbers[slot * STRIDE + ACTIVE] = active;
    this.numbers[slot * STRIDE + EXPIRES] = expires;
    this.slots.delete(id);
    this.slots.set(id, slot);
  }

  /**
   * The longest-idle session.
   *
   * @returns `[id, slot]`, or undefined when empty
   */
  oldest(): [string, number] | undefined {
    return this.slots.entries().next().value;
  }

  /**
   * Every session, longest idle first. Removing the current entry while iterating is safe.
   *
   * @returns `[id, slot]` pairs
   */
  entries(): IterableIterator<[string, number]> {
    return this.slots.entries();
  }

  /** @param slot - a slot @returns the data as JSON text */
  text(slot: number): string {
    return this.texts[slot]!;
  }

  /** @param slot - a slot @param text - the new data as JSON text @param version - its version */
  write(slot: number, text: string, version: number): void {
    this.texts[slot] = text;
    this.numbers[slot * STRIDE + VERSION] = version;
  }

  /** @param slot - a slot @returns its version */
  version(slot: number): number {
    return this.numbers[slot * STRIDE + VERSION]!;
  }

  /** @param slot - a slot @returns its last activity, epoch ms */
  active(slot: number): number {
    return this.numbers[slot * STRIDE + ACTIVE]!;
  }

  /** @param slot - a slot @returns its idle deadline, epoch ms */
  expires(slot: number): number {
    return this.numbers[slot * STRIDE + EXPIRES]!;
  }

  /** @param slot - a slot @returns its absolute deadline, epoch ms */
  deadline(slot: number): number {
    return this.numbers[slot * STRIDE + DEADLINE]!;
  }

  /** @param slot - a slot @returns its creation time, epoch ms */
  epoch(slot: number): number {
    return this.numbers[slot * STRIDE + EPOCH]!;
  }

  /** @param slot - a slot @returns its user, if any */
  user(slot: number): string | undefined {
    return this.users?.[slot];
  }

  /** @param slot - a slot @param user - its user, or undefined for none */
  setUser(slot: number, user: string | undefined): void {
    this.users = withCell(this.users, this.texts.length, slot, user);
  }

  /** @param slot - a slot @returns its device note, if any */
  device(slot: number): DeviceNote | undefined {
    return this.devices?.[slot];
  }

  /** @param slot - a slot @param note - its device note, or undefined for none */
  setDevice(slot: number, note: DeviceNote | undefined): void {
    this.devices = withCell(this.devices, this.texts.length, slot, note);
  }
}

// A column most stores never use is made on its first value: until then it costs nothing.
function withCell<T>(
  column: (T | undefined)[] | undefined,
  length: number,
  slot: number,
  value: T | undefined,
): (T | undefined)[] | undefined {
  if (!column) {
    if (value === undefined) return undefined;
    column = new Array<T | undefined>(length).fill(undefined);
  }
  column[slot] = value;
  return column;
}
