import { createSession } from './session.js';
import type { BrowserData, Session } from './types.js';

let instance: Session | undefined;

/**
 * The ready instance for the common case: same origin, `/get/session`, Socket.IO at `/`
 * with the default transports. Created on first use (importing the module does nothing),
 * so a page that never touches it opens no socket. Methods work unbound.
 *
 * Rendered on a server (no `window`) it stays `{}` and `'loading'`: one instance serves every
 * request there, so it never holds a visitor's data. To render a visitor's session on the
 * server, make an instance per request with `createSession({ initial })`.
 *
 * @example
 * import { session } from 'session-sync/browser'
 * session.subscribe((data) => render(data))
 * const { set } = session
 * await set('prefs.theme', 'dark')
 */
export const session: Session<BrowserData> = /* @__PURE__ */ new Proxy({} as Session, {
  get: (_, key) => Reflect.get((instance ||= createSession()), key),
});
