/**
 * HTTP test helpers: an Express app served on a free loopback port, and a cookie jar around
 * Node's fetch that behaves like one browser visitor (cookies kept, expired ones dropped,
 * redirects followed by hand so every hop's `Set-Cookie` is seen).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** A running test server. */
export interface Served {
  /** `http://127.0.0.1:<port>` */
  url: string;
  server: Server;
  /** Closes the server and every open connection (so the test process can exit). */
  close(): Promise<void>;
}

/**
 * Serves an app on 127.0.0.1, port 0.
 *
 * @param app - the Express app (or any request listener)
 * @returns the base URL and the closer
 * @example
 * const { url, close } = await serve(app)
 */
export function serve(app: Express | ((req: never, res: never) => void)): Promise<Served> {
  return new Promise((resolve, reject) => {
    const server = (app as Express).listen(0, '127.0.0.1', (err?: Error) => {
      if (err) return reject(err);
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        server,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** One parsed `Set-Cookie` header. */
export interface SetCookie {
  name: string;
  value: string;
  /** Lower-cased attribute names → values (`''` for flags such as HttpOnly). */
  attributes: Record<string, string>;
  raw: string;
}

/**
 * Parses a `Set-Cookie` header value.
 *
 * @param raw - the header value
 * @returns the parsed cookie
 * @example
 * parseSetCookie('sid=abc; Path=/; HttpOnly').attributes.httponly // ''
 */
export function parseSetCookie(raw: string): SetCookie {
  const [pair, ...attrs] = raw.split(';');
  const eq = pair!.indexOf('=');
  const attributes: Record<string, string> = {};
  for (const attr of attrs) {
    const at = attr.indexOf('=');
    const name = (at < 0 ? attr : attr.slice(0, at)).trim().toLowerCase();
    attributes[name] = at < 0 ? '' : attr.slice(at + 1).trim();
  }
  return { name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attributes, raw };
}

function expired(cookie: SetCookie): boolean {
  if (cookie.attributes['max-age'] !== undefined) return Number(cookie.attributes['max-age']) <= 0;
  if (cookie.attributes.expires !== undefined) return Date.parse(cookie.attributes.expires) <= Date.now();
  return false;
}

/** Options of {@link Jar.fetch}: fetch's, plus following redirects by hand. */
export type JarInit = RequestInit & { follow?: boolean };

/**
 * One visitor: a cookie jar (one host, path `/` only — all our tests need) around fetch.
 *
 * @example
 * const ann = new Jar(url)
 * await ann.json('/get/session')
 */
export class Jar {
  readonly cookies = new Map<string, string>();
  /** The `Set-Cookie` headers of the last response (of the last hop, with `follow`). */
  lastSetCookies: SetCookie[] = [];

  /** @param base - the server's base URL */
  constructor(readonly base: string) {}

  /** The `Cookie` header this jar sends. */
  get header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /**
   * Fetches a path with this jar's cookies; stores the cookies of the answer.
   *
   * @param path - a path on the server
   * @param init - fetch options; `follow: true` follows redirects (each hop's cookies kept)
   * @returns the response
   */
  async fetch(path: string, init: JarInit = {}): Promise<Response> {
    const { follow, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (this.cookies.size > 0 && !headers.has('cookie')) headers.set('cookie', this.header);
    const res = await fetch(new URL(path, this.base), { ...rest, headers, redirect: 'manual' });
    this.lastSetCookies = res.headers.getSetCookie().map(parseSetCookie);
    for (const cookie of this.lastSetCookies) {
      if (expired(cookie)) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    if (follow && res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.arrayBuffer();
      return this.fetch(res.headers.get('location')!, { follow: true });
    }
    return res;
  }

  /**
   * Fetches and parses a JSON body (asserting nothing about the status).
   *
   * @param path - a path on the server
   * @param init - fetch options
   * @returns the parsed body
   */
  async json<T = any>(path: string, init: JarInit = {}): Promise<T> {
    const res = await this.fetch(path, init);
    return (await res.json()) as T;
  }

  /**
   * Fetches and returns status and text body.
   *
   * @param path - a path on the server
   * @param init - fetch options
   * @returns `{ status, body, res }`
   */
  async text(path: string, init: JarInit = {}): Promise<{ status: number; body: string; res: Response }> {
    const res = await this.fetch(path, init);
    return { status: res.status, body: await res.text(), res };
  }

  /** The session id held in the `sid` cookie (its first 43 characters), or undefined. */
  id(name = 'sid'): string | undefined {
    return this.cookies.get(name)?.slice(0, 43);
  }

  /** A copy of this visitor (same cookies), for "an attacker replays the old cookie". */
  clone(): Jar {
    const copy = new Jar(this.base);
    for (const [k, v] of this.cookies) copy.cookies.set(k, v);
    return copy;
  }
}

/** A session layer mounted on a served Express app. */
export interface TestApp<S> {
  sync: S;
  app: Express;
  url: string;
  /** A new visitor (empty cookie jar). */
  visitor(): Jar;
  /** Closes the server, then the session layer. */
  close(): Promise<void>;
}

/**
 * Builds an Express app with `sync.express(...)` mounted, lets the test add routes, serves it.
 * A final error handler answers `{ error, code, name }` with the error's status (or 500)
 * and records each error in `errors`.
 *
 * @param sync - the session layer (from createSessionSync)
 * @param routes - adds the test's routes to the app
 * @param mount - the middleware to mount (default `sync.express()`)
 * @returns the served app and a visitor factory
 * @example
 * const t = await startApp(createSessionSync({ secret }), (app) => app.get('/', ...))
 */
export async function startApp<S extends { express(): unknown; close(): Promise<void> }>(
  sync: S,
  routes: (app: Express, errors: unknown[]) => void,
  mount?: unknown,
): Promise<TestApp<S> & { errors: unknown[] }> {
  const { default: express } = await import('express');
  const app = express();
  const errors: unknown[] = [];
  app.use((mount ?? sync.express()) as Parameters<Express['use']>[0]);
  routes(app, errors);
  app.use((err: any, _req: unknown, res: any, _next: unknown) => {
    errors.push(err);
    res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code, name: err?.name });
  });
  const served = await serve(app);
  return {
    sync,
    app,
    url: served.url,
    errors,
    visitor: () => new Jar(served.url),
    close: async () => {
      await served.close();
      await sync.close();
    },
  };
}
