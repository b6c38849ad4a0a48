/**
 * One visitor of a load: a cookie jar (one session), its socket clients, the node it sends HTTP
 * to, and the writes it got acknowledged. Every HTTP answer it receives goes to the capture.
 */
import type { Jar } from './http.js';
import type { LoadClient } from './mirror.js';
import type { Capture } from './reliability.js';

/** A write that was acknowledged: `path` holds `value` in the store afterwards. */
export interface Acked {
  path: string[];
  value: number;
}

/** One visitor: a jar (one session), its sockets, the node it talks HTTP to, its acked writes. */
export class Visitor {
  readonly clients: LoadClient[] = [];
  readonly acked: Acked[] = [];

  /**
   * @param jar - the cookie jar
   * @param base - the node its HTTP requests go to
   * @param capture - scans every body
   */
  constructor(
    readonly jar: Jar,
    public base: string,
    private readonly capture?: Capture,
  ) {}

  /** The session id (from the signed cookie). */
  get id(): string {
    return this.jar.id()!;
  }

  /**
   * An HTTP request to the visitor's node with its cookies; the whole answer is captured.
   *
   * @param path - the path
   * @param body - a JSON body (POST), or none (GET)
   * @param headers - extra headers
   * @returns status and parsed body (undefined when not JSON)
   */
  async http(
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any }> {
    const init: RequestInit =
      body === undefined
        ? { headers }
        : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
    const url = new URL(path, this.base).href;
    const res = await this.jar.fetch(url, init);
    const text = await res.text();
    if (this.capture) {
      const head = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
      this.capture.scan(`http ${path}`, head + '\n\n' + text);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed };
  }
}
