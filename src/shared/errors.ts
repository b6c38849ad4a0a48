/**
 * The closed set of error codes, the same over HTTP and Socket.IO.
 *
 * - `invalid`: a malformed message, op, path or value.
 * - `forbidden`: not allowed (a path outside `clientWritable`, a foreign Origin).
 * - `too_large`: past a limit (size, depth, op count, key length).
 * - `rate_limited`: too many mutations; retry later.
 * - `unauthenticated`: no valid session cookie where one is required.
 * - `unsupported_protocol`: the peer speaks another `PROTOCOL_VERSION`.
 * - `store_unavailable`: the session store failed or is unreachable.
 * - `ended`: the session was destroyed, expired or evicted meanwhile.
 * - `internal`: a bug on our side; the message says no more than that.
 */
export const ERROR_CODES = [
  'invalid',
  'forbidden',
  'too_large',
  'rate_limited',
  'unauthenticated',
  'unsupported_protocol',
  'store_unavailable',
  'ended',
  'internal',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status each code maps to (Express error handlers read `err.status`). */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid: 400,
  forbidden: 403,
  too_large: 413,
  rate_limited: 429,
  unauthenticated: 401,
  unsupported_protocol: 400,
  store_unavailable: 503,
  ended: 410,
  internal: 500,
};

/**
 * Tells whether a value is one of the error codes.
 *
 * @param value - anything
 * @returns true for a member of {@link ERROR_CODES}
 * @example
 * isErrorCode('forbidden') // true
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  // The status map has exactly the codes as keys (its type says so) and ships to browsers anyway.
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HTTP_STATUS, value);
}

/**
 * A runtime failure with a machine-readable `code` and the matching HTTP `status`.
 *
 * @example
 * try { await req.session.synchronize() } catch (err) {
 *   if (err instanceof SessionSyncError && err.code === 'store_unavailable') retryLater()
 * }
 */
export class SessionSyncError extends Error {
  // `declare`: set in the constructor only, so no class-field helper ships to browsers.
  /** One of {@link ERROR_CODES}. */
  declare readonly code: ErrorCode;
  /** The HTTP status for `code`, read by Express' final handler. */
  declare readonly status: number;
  /** Same as `status`, for http-errors compatible handlers. */
  declare readonly statusCode: number;
  /** Lets Express show the message to the client (it names no secret). */
  declare readonly expose: true;

  /**
   * @param code - one of {@link ERROR_CODES}
   * @param message - what went wrong, for a person
   * @param options - `cause`, as for `Error`
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionSyncError';
    Object.assign(this, { code, status: HTTP_STATUS[code], statusCode: HTTP_STATUS[code], expose: true });
  }
}
