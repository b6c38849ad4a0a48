/**
 * For the tests of every session of one user (option `user`): the routes and socket
 * handlers an app with accounts has, and small helpers to sign devices in and watch their
 * sockets end.
 */
import * as assert from 'uvu/assert';
import type { Express } from 'express';
import type { Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { next, post, sleep, startSocketServer, type Jar, type SocketTestServer } from './socket-server.js';

/**
 * The routes and socket handlers an app with accounts has: sign-in after `regenerate()`
 * (against fixation), sign-out, "sign out everywhere else" over HTTP and over a socket.
 */
export function accountRoutes(app: Express): void {
  app.post('/sign-in', async (req, res, next) => {
    try {
      await req.session.regenerate();
      req.session.val.user = { id: (req.body as { id: string | number }).id };
      await req.session.synchronize();
      res.json({ id: req.session.id });
    } catch (err) {
      next(err);
    }
  });
  app.post('/sign-out', async (req, res) => {
    delete req.session.val.user;
    await req.session.synchronize();
    res.json({ ok: true });
  });
  app.post('/logout-others', async (req, res, next) => {
    try {
      res.json({ ended: await req.session.logoutOthers() });
    } catch (err) {
      next(err);
    }
  });
  // A visitor signing in and ending the others in one request, before any commit.
  app.post('/sign-in-alone', async (req, res, next) => {
    try {
      req.session.val.user = { id: (req.body as { id: string }).id };
      const ended = await req.session.logoutOthers();
      res.json({ ended });
    } catch (err) {
      next(err);
    }
  });
}

/** Socket handlers: `logout-others` (acks `{ ended }` or `{ error }`). */
export function accountHandlers(socket: ServerSocket): void {
  socket.on('logout-others', async (ack: (v: unknown) => void) => {
    try {
      ack({ ended: await socket.session.logoutOthers() });
    } catch (err) {
      ack({ error: String((err as Error).message) });
    }
  });
}

/** Signs a device in as `user`; answers the new session id (which the jar now holds). */
export async function signIn(jar: Jar, user: string | number): Promise<string> {
  const res = await jar.fetch('/sign-in', post({ id: user }));
  assert.is(res.status, 200, `sign-in answered ${res.status}`);
  const { id } = (await res.json()) as { id: string };
  assert.is(jar.id(), id, 'the jar holds the new id');
  return id;
}

/** Resolves once the socket got `session:ended` AND was disconnected by the server. */
export function endOf(socket: ClientSocket, ms = 3000): Promise<{ reason: string; disconnect: string }> {
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', (why) => resolve(why)));
  return next<{ reason: string }>(socket, 'session:ended', ms).then(async (ended) => {
    const why = await Promise.race([disconnected, sleep(ms).then(() => 'still connected')]);
    return { reason: ended.reason, disconnect: why };
  });
}

/** The ids of a `sessionsOf` answer, sorted. */
export const ids = (list: { id: string }[]): string[] => list.map((s) => s.id).sort();

/** The `session:patch` payloads among recorded frames. */
export const patches = (frames: { event: string; args: unknown[] }[]): any[] =>
  frames.filter((f) => f.event === 'session:patch').map((f) => f.args[0]);

/**
 * A server of ./socket-server.ts with the option `user: 'user.id'` and the account routes
 * and handlers.
 *
 * @param options - more session-sync options (a `store`, lifetimes)
 * @returns the server
 * @example
 * const t = await startAccounts({ ttl: 200 })
 */
export function startAccounts(options: SessionSyncOptions = {}): Promise<SocketTestServer> {
  return startSocketServer({ user: 'user.id', ...options }, { routes: accountRoutes, connection: accountHandlers });
}

/** Three devices of u1 and one of u2. */
export interface Devices {
  devices: [Jar, Jar, Jar];
  /** The session ids of the three devices, in order. */
  ids: [string, string, string];
  other: Jar;
  otherId: string;
}

/**
 * Signs in three devices as u1 and one as u2 on a server, the way an app does it.
 *
 * @param t - a server from {@link startAccounts}
 * @returns the jars and their session ids
 * @example
 * const { devices, ids, other } = await signInDevices(t)
 */
export async function signInDevices(t: SocketTestServer): Promise<Devices> {
  const devices: [Jar, Jar, Jar] = [t.visitor(), t.visitor(), t.visitor()];
  const list: string[] = [];
  for (const jar of devices) list.push(await signIn(jar, 'u1'));
  const other = t.visitor();
  const otherId = await signIn(other, 'u2');
  return { devices, ids: list as [string, string, string], other, otherId };
}
