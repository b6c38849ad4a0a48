import type { SessionEvents } from './types.js';

/** The events of one mirror. */
export interface Emitter<T> {
  /** Calls every listener of `event`; a listener that throws is reported, the others still run. */
  emit<E extends keyof SessionEvents<T>>(event: E, arg: Parameters<SessionEvents<T>[E]>[0]): void;
  /** Adds a listener; returns its remover. */
  on<E extends keyof SessionEvents<T>>(event: E, fn: SessionEvents<T>[E]): () => void;
}

/**
 * Makes the event hub of one mirror.
 *
 * @returns `emit` and `on`, both usable unbound
 * @example
 * const { emit, on } = emitter<{ n?: number }>()
 * on('status', (s) => console.log(s))
 */
export function emitter<T>(): Emitter<T> {
  const handlers: Record<string, Set<(arg: never) => void>> = {};
  return {
    emit(event, arg) {
      for (const fn of [...(handlers[event] ?? [])]) {
        try {
          (fn as (a: typeof arg) => void)(arg);
        } catch (err) {
          // A listener's bug must not leave the mirror half-updated; report it like the page would.
          setTimeout(() => {
            throw err;
          });
        }
      }
    },
    on(event, fn) {
      const set = (handlers[event] ??= new Set());
      set.add(fn);
      return () => void set.delete(fn);
    },
  };
}
