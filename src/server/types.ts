/**
 * The types an app sees on `req.session` and `socket.session`: {@link SessionData} (augment it
 * with your session's shape) and the declaration merges into Express and Socket.IO. Nothing
 * inside the server imports this file, so the handles never depend on the app's types.
 */
import type { DefaultEventsMap } from 'socket.io';
import type { SessionData } from '../shared/index.js';
import type { HttpSession } from './http/http-session.js';
import type { SocketSession } from './socket/socket-session.js';

export type { SessionData };

/** `req.session` as typed for Express: the handle plus `val` (or your key) as {@link SessionData}. */
export type RequestSession = HttpSession & { val: SessionData } & { [key: string]: unknown };

/** `socket.session` as typed for Socket.IO: the handle plus `val` (or your key) as {@link SessionData}. */
export type SocketSessionOf = SocketSession & { val: SessionData } & { [key: string]: unknown };

// Socket.IO's own constraint type, which its package does not export.
interface EventsMap {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [event: string]: any;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The visitor's session (session-sync). */
      session: RequestSession;
    }
  }
}

declare module 'socket.io' {
  // Merges into Socket.IO's class, so its type parameters must be repeated exactly.
  interface Socket<
    ListenEvents extends EventsMap = DefaultEventsMap,
    EmitEvents extends EventsMap = ListenEvents,
    ServerSideEvents extends EventsMap = DefaultEventsMap,
    SocketData = any,
  > {
    /** The visitor's session (session-sync), set by `sync.socketIO()` / `sync.attach(io)`. */
    session: SocketSessionOf;
  }
}
