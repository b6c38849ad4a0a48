/**
 * What a Socket.IO handshake request says about where it was sent: its scheme (for the
 * cookie's `Secure` flag) and its own origin (for the `Origin` check). Express answers
 * these for HTTP through `trust proxy`; handshakes never pass through Express, so the
 * option `trustProxy` decides whether `X-Forwarded-*` headers count.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

// The first value of a header a chain of proxies may have appended to ("https, http").
function firstValue(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined) return undefined;
  const first = text.split(',')[0]!.trim();
  return first === '' ? undefined : first;
}

/**
 * Whether a handshake came over HTTPS: a TLS connection, or, with `trustProxy`, a proxy
 * that says so in `X-Forwarded-Proto`.
 *
 * @param req - the handshake request
 * @param trustProxy - option `trustProxy`
 * @returns true for HTTPS
 * @example
 * isSecureHandshake(socket.request, false)
 */
export function isSecureHandshake(req: IncomingMessage, trustProxy: boolean): boolean {
  if (trustProxy) {
    const proto = firstValue(req.headers['x-forwarded-proto']);
    if (proto !== undefined) return proto.toLowerCase() === 'https';
  }
  return (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * The origin a handshake was addressed to, `<scheme>://<host>`: the page's own origin when
 * the page and the socket are served together.
 *
 * @param req - the handshake request
 * @param trustProxy - option `trustProxy` (use `X-Forwarded-Host` / `-Proto`)
 * @returns the origin, or undefined without a Host header
 * @example
 * handshakeOrigin(socket.request, false) // 'http://localhost:3000'
 */
export function handshakeOrigin(req: IncomingMessage, trustProxy: boolean): string | undefined {
  const host = (trustProxy ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? firstValue(req.headers.host);
  if (host === undefined) return undefined;
  return `${isSecureHandshake(req, trustProxy) ? 'https' : 'http'}://${host.toLowerCase()}`;
}
