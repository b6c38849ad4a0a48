import type { JsonObject } from '../shared/index.js';
import { createSession } from './session.js';
import type { Session } from './types.js';

let instance: Session | undefined;

/**
 * The ready instance for the common case: same origin, `/get/session`, Socket.IO at `/`
 * with the default transports. Created on first use (importing the module does nothing),
 * so a page that never touches it opens no socket. Methods work unbound.
 *
 * @example
 * import { session } from 'session-sync/browser'
 * session.subscribe((data) => render(data))
 * const { set } = session
 * await set('prefs.theme', 'dark')
 */
export const session: Session<JsonObject> = /* @__PURE__ */ new Proxy({} as Session, {
  get: (_, key) => Reflect.get((instance ||= createSession()), key),
});
