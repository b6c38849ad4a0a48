/**
 * What a MemoryStore remembers of ids whose record was created by adoption: a "born" mark
 * per id until its adoption window closes (the cookie's issue time + `min(ttl, absolute)`),
 * so that an id whose record ended can never be adopted again. After the window the issue
 * time alone refuses adoption, so the marks — the only memory of dead ids — are bounded by
 * the sessions created in one window. Under memory pressure the oldest marks may be dropped:
 * the watermark then refuses every adoption window that ended before the newest dropped one.
 */
import type { EndReason } from '../../../shared/index.js';

/** Estimated heap bytes of one mark (Map entry, id string, number), for the store's byte budget. */
export const BORN_MARK_BYTES = 160;

/**
 * The born marks of one MemoryStore.
 *
 * @example
 * const born = new BornMarks()
 * born.mark(id, issued + window)
 * born.ended(id, 'destroyed')
 * born.has(id, Date.now()) // true until the window closes
 */
export class BornMarks {
  // Insertion order = creation order, so the first entry is the oldest (dropped first).
  private readonly until = new Map<string, number>();
  private readonly reasons = new Map<string, EndReason>();
  private raised = 0;

  /** Adoption windows that ended at or before this time are refused (marks were dropped). */
  get watermark(): number {
    return this.raised;
  }

  /** Marks held. */
  get size(): number {
    return this.until.size;
  }

  /**
   * Records that `id` was born, until its adoption window closes.
   *
   * @param id - the session id
   * @param until - epoch ms when its adoption window closes
   */
  mark(id: string, until: number): void {
    this.until.set(id, until);
  }

  /**
   * Records why a born id's record ended (nothing for an id without a mark).
   *
   * @param id - the session id
   * @param reason - why
   */
  ended(id: string, reason: EndReason): void {
    if (this.until.has(id)) this.reasons.set(id, reason);
  }

  /**
   * Whether `id` was born within a window still open.
   *
   * @param id - the session id
   * @param now - epoch ms
   * @returns true when marked
   */
  has(id: string, now: number): boolean {
    const until = this.until.get(id);
    return until !== undefined && now < until;
  }

  /**
   * Why a born id ended: the recorded reason, or `'expired'` when none was recorded.
   *
   * @param id - the session id (its record is gone)
   * @param now - epoch ms
   * @returns the reason, or undefined when `id` is not marked
   */
  reasonOf(id: string, now: number): EndReason | undefined {
    if (!this.has(id, now)) return undefined;
    return this.reasons.get(id) ?? 'expired';
  }

  /**
   * Drops the marks whose window has closed.
   *
   * @param now - epoch ms
   */
  sweep(now: number): void {
    for (const [id, until] of this.until) {
      if (now >= until) this.forget(id);
    }
  }

  /**
   * Drops the oldest mark and raises the watermark past its window (memory pressure).
   *
   * @returns false when there was none
   */
  dropOldest(): boolean {
    const oldest = this.until.entries().next();
    if (oldest.done) return false;
    const [id, until] = oldest.value;
    this.raised = Math.max(this.raised, until);
    this.forget(id);
    return true;
  }

  private forget(id: string): void {
    this.until.delete(id);
    this.reasons.delete(id);
  }
}
