/**
 * The subscribers of a MemoryStore's feed, called synchronously as events happen. A listener
 * that throws is logged and disturbs neither the store nor the other listeners.
 */
import { logger } from '../../log.js';
import type { StoreEvent } from '../store.js';

const debug = logger('memory-store');

/**
 * Listeners of store events.
 *
 * @example
 * const listeners = new Listeners()
 * const off = listeners.add((event) => console.log(event.type))
 * listeners.publish({ type: 'end', id, reason: 'destroyed' })
 */
export class Listeners {
  private readonly entries = new Set<(event: StoreEvent) => void>();

  /**
   * Adds a listener; one function added twice is two subscriptions.
   *
   * @param listener - called with each event
   * @returns the unsubscribe
   */
  add(listener: (event: StoreEvent) => void): () => void {
    const entry = (event: StoreEvent): void => listener(event);
    this.entries.add(entry);
    return () => {
      this.entries.delete(entry);
    };
  }

  /**
   * Calls every listener with the event.
   *
   * @param event - a change or an end
   */
  publish(event: StoreEvent): void {
    for (const listener of this.entries) {
      try {
        listener(event);
      } catch (err) {
        debug('a listener threw on %s of %s: %O', event.type, event.id, err);
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.entries.clear();
  }
}
