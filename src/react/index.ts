/**
 * `session-sync/react`: React bindings over the browser mirror (React ≥ 18, an optional
 * peer dependency). Built on `useSyncExternalStore`, so renders never tear; on a server
 * (`renderToString`, streaming) the hooks read the data the instance started with, and a
 * server-rendered page hydrates with that same data before it shows the mirror's current one.
 *
 * @packageDocumentation
 */
import { useCallback, useRef, useSyncExternalStore } from 'react';
import { session as defaultSession, type BrowserData, type Session, type Status } from '../browser/index.js';

type Selector<T, S> = (data: T) => S;

/**
 * Reads the session in a component and re-renders when what it reads changes.
 *
 * Three forms:
 * - `useSession()` — the whole data of the default `session`;
 * - `useSession(selector)` — a part of it; the component re-renders only when the selected
 *   value changes (`Object.is`), and unchanged branches keep their reference, so selecting
 *   an object is fine;
 * - `useSession(instance, selector?)` — the same over an instance from `createSession()`.
 *
 * The selector may be an inline arrow: it is re-run only when the data or the selector changed.
 *
 * @param instanceOrSelector - a mirror from `createSession()`, or the selector
 * @param maybeSelector - the selector, when the first argument is a mirror
 * @returns the data, or what the selector picked from it
 * @example
 * function Theme() {
 *   const theme = useSession((d) => d.prefs?.theme ?? 'light')
 *   return <button onClick={() => session.set('prefs.theme', theme === 'dark' ? 'light' : 'dark')}>{theme}</button>
 * }
 * @example
 * const cart = createSession<{ items?: string[] }>({ route: '/cart/session' })
 * function Count() {
 *   return <span>{useSession(cart, (d) => d.items?.length ?? 0)}</span>
 * }
 */
export function useSession<T extends object = BrowserData>(): T;
export function useSession<T extends object = BrowserData, S = T>(selector: Selector<T, S>): S;
export function useSession<T extends object, S = T>(instance: Session<T>, selector?: Selector<T, S>): S;
export function useSession<T extends object, S>(
  instanceOrSelector?: Session<T> | Selector<T, S>,
  maybeSelector?: Selector<T, S>,
): S | T {
  const instance = (typeof instanceOrSelector === 'object' ? instanceOrSelector : defaultSession) as Session<T>;
  const selector = typeof instanceOrSelector === 'function' ? instanceOrSelector : maybeSelector;
  // Memoized by (data, selector), one memo per source: React calls both readers more than
  // once per render and needs the same answer each time, or it loops.
  const memo = useRef<Record<'client' | 'server', { data: T; selector: typeof selector; value: S | T } | undefined>>({
    client: undefined,
    server: undefined,
  });
  const reader = (source: 'client' | 'server', get: () => T) => (): S | T => {
    const data = get();
    const last = memo.current[source];
    if (last && last.data === data && last.selector === selector) return last.value;
    const value = selector ? selector(data) : data;
    memo.current[source] = { data, selector, value };
    return value;
  };
  return useSyncExternalStore(
    instance.listen,
    reader('client', instance.getSnapshot),
    reader('server', instance.getServerSnapshot),
  );
}

/**
 * The mirror's status (`'loading'`, `'cached'`, `'live'`, `'offline'`, `'ended'`, `'error'`),
 * re-rendering when it changes: for a badge, or to tell "offline" from "logged out". A server
 * render, and the hydration of it, show `'loading'`.
 *
 * @param instance - a mirror from `createSession()`; default the default `session`
 * @returns the current status
 * @example
 * function Badge() {
 *   const status = useSessionStatus()
 *   return <span className={`badge ${status}`}>{status}</span>
 * }
 */
export function useSessionStatus<T extends object = BrowserData>(
  instance: Session<T> = defaultSession as Session<never>,
): Status {
  const subscribe = useCallback((fn: () => void) => instance.on('status', fn), [instance]);
  return useSyncExternalStore(subscribe, () => instance.status, serverStatus);
}

const serverStatus = (): Status => 'loading';
