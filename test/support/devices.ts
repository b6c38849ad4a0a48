/**
 * For the tests of a user's devices (issue 16): an app with accounts plus the routes and
 * socket handlers that list and revoke devices, and visitors that present a browser's
 * `User-Agent` on every request and handshake, as a real device does.
 */
import type { Express } from 'express';
import type { Socket as ServerSocket } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { accountHandlers, accountRoutes } from './accounts.js';
import { Jar } from './http.js';
import { post, startSocketServer, type SocketTestServer } from './socket-server.js';

/** Real headers of current browsers (2024–2026 builds). */
export const AGENTS = {
  chromeMac:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  chromeWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  chromeIos:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  firefoxAndroid: 'Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  firefoxIos:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15',
  safariIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  safariIpad:
    'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  safariMac:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  edgeWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68',
  operaWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0',
  samsungAndroid:
    'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
  chromeOs:
    'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  headless:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.6478.126 Safari/537.36',
} as const;

/** The routes of the device list: `GET /devices`, `POST /revoke { tag }`. */
export function deviceRoutes(app: Express): void {
  accountRoutes(app);
  app.get('/devices', async (req, res, next) => {
    try {
      res.json(await req.session.devices());
    } catch (err) {
      next(err);
    }
  });
  app.post('/revoke', async (req, res, next) => {
    try {
      await req.session.revoke((req.body as { tag: string }).tag);
      res.json({ ok: true });
    } catch (err) {
      next(err);
    }
  });
}

/** Socket handlers: `devices` (acks the list) and `revoke` (tag; acks `{ ok }` or `{ error, code }`). */
export function deviceHandlers(socket: ServerSocket): void {
  accountHandlers(socket);
  socket.on('devices', async (ack: (v: unknown) => void) => {
    try {
      ack(await socket.session.devices());
    } catch (err) {
      ack({ error: String((err as Error).message), code: (err as { code?: string }).code });
    }
  });
  socket.on('revoke', async (tag: string, ack: (v: unknown) => void) => {
    try {
      await socket.session.revoke(tag);
      ack({ ok: true });
    } catch (err) {
      ack({ error: String((err as Error).message), code: (err as { code?: string }).code });
    }
  });
}

/**
 * A server with the option `user: 'user.id'` and the account and device routes and handlers.
 *
 * @param options - more session-sync options
 * @returns the server
 */
export function startDevices(options: SessionSyncOptions = {}): Promise<SocketTestServer> {
  return startSocketServer({ user: 'user.id', ...options }, { routes: deviceRoutes, connection: deviceHandlers });
}

/** A cookie jar that sends one `User-Agent` (and any other headers) on every request. */
export class Device extends Jar {
  constructor(
    base: string,
    public userAgent: string,
    public headers: Record<string, string> = {},
  ) {
    super(base);
  }

  override fetch(path: string, init: Parameters<Jar['fetch']>[1] = {}): ReturnType<Jar['fetch']> {
    const headers = new Headers(init.headers);
    headers.set('user-agent', this.userAgent);
    for (const [name, value] of Object.entries(this.headers)) headers.set(name, value);
    return super.fetch(path, { ...init, headers });
  }

  /** Signs in as `user` and answers the new session id. */
  async signIn(user: string): Promise<string> {
    const res = await this.fetch('/sign-in', post({ id: user }));
    if (res.status !== 200) throw new Error(`sign-in answered ${res.status}`);
    return ((await res.json()) as { id: string }).id;
  }

  /**
   * A socket of this device on `url` (default its own server): the jar's cookie and the
   * device's `User-Agent` on the handshake.
   */
  connect(url = this.base, headers: Record<string, string> = {}): Promise<ClientSocket> {
    const socket = connectClient(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { cookie: this.header, 'user-agent': this.userAgent, ...this.headers, ...headers },
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }
}
