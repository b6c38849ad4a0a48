// The template of dist/index.d.cts, the types of `require('session-sync')`: rollup.config.mjs
// replaces the `// @exports` line with one `export import X = server.X;` per export of
// dist/server.d.cts.
//
// At run time `require('session-sync')` is the factory itself with every named export as a
// property, and `.default` (src/server/index.cjs). `export =` of a function merged with a
// namespace says exactly that, so all of these type-check:
//   import s = require('session-sync'); s(); s('/get/session', true); new s.MemoryStore()
//   const { createSessionSync } = require('session-sync')    (in JavaScript checked by TS)
//   import createSessionSync from 'session-sync'              (esModuleInterop)
// and `declare module 'session-sync' { interface SessionData { … } }` merges, through the
// namespace's alias, into the one SessionData that `req.session.val` uses.
import * as server from './server.cjs';

/**
 * Creates the session manager: one live session per visitor, shared by Express handlers,
 * Socket.IO handlers and the browser. The seed package's `(route, autoSync)` form works too.
 *
 * @param options - the options (all optional outside production), or the seed's route
 * @param autoSync - the seed's second argument (only with a route)
 * @returns the session manager
 * @example
 * const session = require('session-sync')({ secret: process.env.SESSION_SECRET })
 * app.use(session.express())
 * io.use(session.socketIO())
 */
declare function sessionSync(options?: server.SessionSyncOptions): server.SessionSync;
declare function sessionSync(route: string | null | false, autoSync?: boolean): server.SessionSync;

declare namespace sessionSync {
  // @exports
  export { sessionSync as default };
}

export = sessionSync;
