/**
 * A socket.io-client socket for a test visitor: websocket only, no reconnection, its own
 * connection, the visitor's cookie read from the jar at every handshake (so a reconnect
 * carries what the jar holds then), and kept in `clients` so the harness can close it.
 */
import {
  io as connectClient,
  type ManagerOptions,
  type Socket as ClientSocket,
  type SocketOptions,
} from 'socket.io-client';
import type { Jar } from './http.js';

/** socket.io-client options, plus whether to wait for `connect`. */
export interface VisitorSocketOptions extends Partial<ManagerOptions & SocketOptions> {
  /** Wait for `connect` (default true); false returns the socket at once. */
  wait?: boolean;
}

/**
 * Connects a visitor's socket.
 *
 * @param url - the server and namespace URL
 * @param jar - the visitor's cookies, or none
 * @param options - client options and `wait`
 * @param clients - where the socket is kept for closing
 * @param headers - more handshake headers (an Origin)
 * @returns the socket, once connected unless `wait` is false
 * @example
 * const socket = await connectVisitor(server.url, jar, {}, clients)
 */
export function connectVisitor(
  url: string,
  jar: Jar | undefined,
  options: VisitorSocketOptions,
  clients: ClientSocket[],
  headers: Record<string, string> = {},
): Promise<ClientSocket> {
  const { wait = true, ...rest } = options;
  if (jar) Object.defineProperty(headers, 'cookie', { enumerable: true, get: () => jar.header });
  const socket = connectClient(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: headers,
    ...rest,
  });
  clients.push(socket);
  if (!wait) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => reject(err));
  });
}
